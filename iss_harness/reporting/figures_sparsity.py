"""The paper's picture of ISS weight sparsity, for any model with LSTM layers.

The sparsity picture draws each LSTM layer's weights the way the paper (and TensorFlow)
lays them out: one kernel W = [W_ih^T ; W_hh^T] of shape [n_in + h, 4h], rows = the layer's
inputs then its recurrent inputs, columns = the 4h gate units in blocks i, f, g, o. Removing
hidden unit k of a layer then shows up as white stripes: its recurrent row n_in + k, its
four gate columns g*h + k, and row k of the next layer's kernel (where that layer reads it).
Which rows and columns a unit owns comes from the model's ``iss_families()``; this file
only knows how PyTorch parameters map into the kernel (transpose and stack).

This module turns a model into the picture's data (``sparsity_picture``);
``iss_harness.reporting.sparsity_plot`` draws it, as PNG (for reading) and PDF (for papers), each
atomically.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn

from iss.groups import removed_components
from iss_harness.reporting.sparsity_plot import pack_mask, plot_sparsity_picture


# ---- the LSTM kernel in TensorFlow layout ---------------------------------------------------------


def kernel_layout(model: nn.Module, layer: int) -> dict[str, int]:
    """{PyTorch parameter: first kernel row of its transposed block} for one LSTM layer.

    The kernel stacks weight_ih^T [n_in, 4h] on top of weight_hh^T [h, 4h]; a PyTorch row
    (gate unit) becomes a kernel column, a PyTorch column (input feature) a kernel row.
    """
    n_in = model.lstms[layer].weight_ih_l0.shape[1]
    return {f"lstms.{layer}.weight_ih_l0": 0, f"lstms.{layer}.weight_hh_l0": n_in}


def tf_kernel(model: nn.Module, layer: int) -> np.ndarray:
    """The layer's kernel [n_in + h, 4h] = [W_ih^T ; W_hh^T] as a float array."""
    params = dict(model.named_parameters())
    return np.concatenate([params[name].detach().cpu().numpy().T for name in kernel_layout(model, layer)], axis=0)


def removed_kernel_lines(model: nn.Module, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows [n_in + h], columns [4h]) bool: the kernel rows and columns that removed ISS
    components own, from ``model.iss_families()``.

    Rows: the recurrent row of every removed unit of this layer and the input row of every
    removed unit of the layer below (its consumer columns). Columns: the gate columns of
    every removed unit of this layer.
    """
    layout = kernel_layout(model, layer)
    n_rows, n_columns = tf_kernel(model, layer).shape
    rows, columns = np.zeros(n_rows, dtype=bool), np.zeros(n_columns, dtype=bool)
    families = model.iss_families()
    removed = removed_components(model, families)
    for family in families:
        dead = removed[family.name].nonzero().flatten()
        for part in family.parts:
            if part.param not in layout:
                continue
            owned = part.indices(family.size)[:, dead].reshape(-1).numpy()
            if part.dim == 0:  # PyTorch rows are gate units: kernel columns
                columns[owned] = True
            else:  # PyTorch columns are inputs: kernel rows, below those of earlier blocks
                rows[layout[part.param] + owned] = True
    return rows, columns


def removed_stripes(model: nn.Module, layer: int) -> np.ndarray:
    """Bool [n_in + h, 4h]: True wherever a removed ISS component owns a kernel element."""
    rows, columns = removed_kernel_lines(model, layer)
    return rows[:, None] | columns[None, :]


def _gate_rows(model: nn.Module, layer: int):
    """(family, slice): the ISS family whose units compute this layer's gates, and its slice of
    the layer's gate rows (the PyTorch rows that become kernel columns)."""
    layout = kernel_layout(model, layer)
    for family in model.iss_families():
        for part in family.parts:
            if part.param in layout and part.dim == 0:
                return family, part
    raise ValueError(f"no ISS family owns the gate rows of LSTM layer {layer + 1}")


def gate_block_starts(model: nn.Module, layer: int) -> list[int]:
    """First kernel column of each gate block, from the ISS description of the layer's units."""
    _, gates = _gate_rows(model, layer)
    return [gates.start + b * gates.block_stride for b in range(gates.blocks)]


# ---- the picture's data ---------------------------------------------------------------------------


def sparsity_picture(model: nn.Module, max_pixels: int = 600) -> dict:
    """What the sparsity figure shows, as JSON-ready data (``iss_harness.reporting.sparsity_plot``
    draws it): per LSTM layer the kernel's non-zero mask, the kernel outside the removed ISS
    components, the gate blocks and the counts; the decoder's non-zero mask."""
    layers = []
    for layer in range(len(model.lstms)):
        kernel = tf_kernel(model, layer)
        removed_rows, _ = removed_kernel_lines(model, layer)
        family, _ = _gate_rows(model, layer)
        n_inputs = kernel.shape[0] - family.size
        layers.append(dict(
            kernel=pack_mask(kernel != 0, max_pixels), kept=pack_mask(~removed_stripes(model, layer), max_pixels),
            gate_starts=gate_block_starts(model, layer), inputs=kernel_layout(model, layer)[f"lstms.{layer}.weight_hh_l0"],
            units=family.size, removed=int(removed_components(model, [family])[family.name].sum()),
            removed_inputs=int(removed_rows[:n_inputs].sum())))
    decoder = model.decoder.weight.detach().cpu().numpy().T != 0  # [h, V]: rows read the last LSTM's units
    return dict(max_pixels=max_pixels, layers=layers, decoder=pack_mask(decoder, max_pixels))


def plot_lstm_sparsity(model: nn.Module, out_stem: Path, title: str, max_pixels: int = 600) -> list[Path]:
    """The sparsity figure of ``model``: ``sparsity_picture`` drawn by ``plot_sparsity_picture``."""
    return plot_sparsity_picture(sparsity_picture(model, max_pixels), out_stem, title)
