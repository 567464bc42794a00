"""The paper's picture of ISS weight sparsity, for any model with LSTM layers.

The sparsity picture draws each LSTM layer's weights the way the paper (and TensorFlow)
lays them out: one kernel W = [W_ih^T ; W_hh^T] of shape [n_in + h, 4h], rows = the layer's
inputs then its recurrent inputs, columns = the 4h gate units in blocks i, f, g, o. Removing
hidden unit k of a layer then shows up as white stripes: its recurrent row n_in + k, its
four gate columns g*h + k, and row k of the next layer's kernel (where that layer reads it).
Which rows and columns a unit owns comes from the model's ``iss_families()``; this file
only knows how PyTorch parameters map into the kernel (transpose and stack).

Every figure is written as PNG (for reading) and PDF (for papers), each atomically.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from torch import nn

from iss.groups import removed_components
from iss_harness.reporting.plotting import BOUNDARY_STYLE, GATE_NAMES, MASK_COLORS, plt, save_figure


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


# ---- the sparsity figure --------------------------------------------------------------------------


def downsample_strides(shape: tuple[int, int], max_pixels: int) -> tuple[int, int]:
    """(row stride, column stride): keep every k-th row and column so that neither side exceeds
    max_pixels. Each side gets its own stride, so a short side (the decoder's h rows beside
    its V columns) keeps every row and with it every removed unit."""
    return tuple(max(1, math.ceil(side / max_pixels)) for side in shape)


def _show_mask(axis, mask: np.ndarray, max_pixels: int, aspect: str = "equal") -> tuple[int, int]:
    """Draw a bool mask (True = blue) in its full-size coordinates; return the strides used."""
    row_stride, column_stride = downsample_strides(mask.shape, max_pixels)
    rows, columns = mask.shape
    axis.imshow(mask[::row_stride, ::column_stride].astype(np.uint8), cmap=MASK_COLORS, vmin=0, vmax=1,
                interpolation="nearest", aspect=aspect, extent=(0, columns, rows, 0))
    return row_stride, column_stride


def _mark_kernel_blocks(axis, model: nn.Module, layer: int) -> None:
    """Gate blocks (i, f, g, o) along x, input and recurrent blocks along y, with dashed borders."""
    starts = gate_block_starts(model, layer)
    n_gates = model.lstms[layer].weight_ih_l0.shape[0]
    ends = starts[1:] + [n_gates]
    names = GATE_NAMES if len(starts) == len(GATE_NAMES) else [str(b) for b in range(len(starts))]
    axis.set_xticks([(a + b) / 2 for a, b in zip(starts, ends)], names)
    for start in starts[1:]:
        axis.axvline(start, **BOUNDARY_STYLE)
    n_in = kernel_layout(model, layer)[f"lstms.{layer}.weight_hh_l0"]
    n_rows = n_in + model.lstms[layer].weight_hh_l0.shape[1]
    axis.axhline(n_in, **BOUNDARY_STYLE)
    axis.set_yticks([n_in / 2, (n_in + n_rows) / 2], [f"input\n({n_in})", f"recurrent\n({n_rows - n_in})"])
    axis.tick_params(length=0)


def _sampling_note(strides: tuple[int, int]) -> str:
    """Say when the picture skips rows or columns, so white stripes are not taken as complete."""
    shown = [f"1 in {stride} {side}s" for stride, side in zip(strides, ("row", "column")) if stride > 1]
    return f", {' and '.join(shown)} shown" if shown else ""


def _plot_layer(mask_axis, stripes_axis, model: nn.Module, layer: int, max_pixels: int) -> None:
    kernel = tf_kernel(model, layer)
    removed_rows, _ = removed_kernel_lines(model, layer)
    family, _ = _gate_rows(model, layer)
    n_removed = int(removed_components(model, [family])[family.name].sum())
    rows, columns = kernel.shape
    name = f"LSTM {layer + 1}"

    strides = _show_mask(mask_axis, kernel != 0, max_pixels)
    density = float((kernel != 0).mean())
    mask_axis.set_title(f"{name} kernel [{rows} x {columns}]\n"
                        f"non-zero weights: {density:.0%}{_sampling_note(strides)}", fontsize=10)
    _mark_kernel_blocks(mask_axis, model, layer)

    _show_mask(stripes_axis, ~removed_stripes(model, layer), max_pixels)
    n_inputs = rows - family.size
    from_below = int(removed_rows[:n_inputs].sum())
    what = (f"+ input rows of the {from_below} units removed in LSTM {layer}" if from_below
            else "recurrent rows + gate columns of the removed units")
    stripes_axis.set_title(f"{name} removed ISS components (white): {n_removed} of {family.size} units\n{what}",
                           fontsize=10)
    _mark_kernel_blocks(stripes_axis, model, layer)


def _plot_decoder(axis, model: nn.Module, max_pixels: int) -> None:
    weight = model.decoder.weight.detach().cpu().numpy().T  # [h, V]: rows read the last LSTM's units
    mask = weight != 0
    strides = _show_mask(axis, mask, max_pixels, aspect="auto")  # [h, V] is far too wide for square pixels
    axis.set_title(f"decoder (softmax) weight, transposed [{mask.shape[0]} x {mask.shape[1]}]: "
                   f"non-zero weights: {mask.mean():.0%}{_sampling_note(strides)}", fontsize=10)
    axis.set_xlabel("vocabulary")
    axis.set_ylabel(f"LSTM {len(model.lstms)} unit")


def plot_lstm_sparsity(model: nn.Module, out_stem: Path, title: str, max_pixels: int = 600) -> list[Path]:
    """Per LSTM layer, the kernel's non-zero mask (top) and its removed ISS components (bottom);
    below them the decoder's non-zero mask. Writes ``out_stem.{png,pdf}``; returns their paths."""
    n_layers = len(model.lstms)
    figure = plt.figure(figsize=(5.5 * n_layers, 8.2), layout="constrained")
    grid = figure.add_gridspec(3, n_layers, height_ratios=[3, 3, 1.3])
    for layer in range(n_layers):
        _plot_layer(figure.add_subplot(grid[0, layer]), figure.add_subplot(grid[1, layer]), model, layer, max_pixels)
    _plot_decoder(figure.add_subplot(grid[2, :]), model, max_pixels)
    figure.suptitle(f"{title}\nblue = non-zero, white = zero; kernel = [W_ih^T ; W_hh^T], "
                    "columns in gate blocks i, f, g, o", fontsize=11)
    return save_figure(figure, out_stem)
