"""The paper's ISS sparsity picture drawn from its data (torch-free), so a recorded run redraws it
without the model: ``iss_harness.reporting.figures_sparsity.sparsity_picture`` makes the data from
a trained model, the figures step keeps it beside the model (``sparsity_picture.json``), and this
module draws it.

The data is what the figure shows: per LSTM layer the kernel's non-zero mask and the removed ISS
components, each already downsampled to at most ``max_pixels`` a side (every k-th row and column),
with the full shape, the strides, the gate blocks and the counts for the titles; then the decoder's
mask. Masks are stored as packed bits (``pack_mask``).
"""
from __future__ import annotations

import base64
import math
from pathlib import Path

import numpy as np

from iss_harness.reporting.plotting import BOUNDARY_STYLE, GATE_NAMES, MASK_COLORS, plt, save_figure


def downsample_strides(shape: tuple[int, int], max_pixels: int) -> tuple[int, int]:
    """(row stride, column stride): keep every k-th row and column so that neither side exceeds
    max_pixels. Each side gets its own stride, so a short side (the decoder's h rows beside
    its V columns) keeps every row and with it every removed unit."""
    return tuple(max(1, math.ceil(side / max_pixels)) for side in shape)


def pack_mask(mask: np.ndarray, max_pixels: int) -> dict:
    """A bool mask [rows, columns], downsampled for the picture, as JSON: full shape, strides, the
    fraction of True in the full mask, and the shown pixels as base64 packed bits."""
    strides = downsample_strides(mask.shape, max_pixels)
    shown = np.asarray(mask[::strides[0], ::strides[1]], dtype=bool)
    return dict(shape=list(mask.shape), strides=list(strides), density=float(mask.mean()), shown=list(shown.shape),
                bits=base64.b64encode(np.packbits(shown.reshape(-1))).decode("ascii"))


def unpack_mask(packed: dict) -> np.ndarray:
    """The shown pixels of a ``pack_mask`` result, as a bool array."""
    rows, columns = packed["shown"]
    bits = np.unpackbits(np.frombuffer(base64.b64decode(packed["bits"]), dtype=np.uint8))[: rows * columns]
    return bits.reshape(rows, columns).astype(bool)


def _show(axis, packed: dict, aspect: str = "equal") -> None:
    """Draw a packed mask (True = blue) in its full-size coordinates."""
    rows, columns = packed["shape"]
    axis.imshow(unpack_mask(packed).astype(np.uint8), cmap=MASK_COLORS, vmin=0, vmax=1,
                interpolation="nearest", aspect=aspect, extent=(0, columns, rows, 0))


def _sampling_note(strides) -> str:
    """Say when the picture skips rows or columns, so white stripes are not taken as complete."""
    shown = [f"1 in {stride} {side}s" for stride, side in zip(strides, ("row", "column")) if stride > 1]
    return f", {' and '.join(shown)} shown" if shown else ""


def _mark_kernel_blocks(axis, layer: dict) -> None:
    """Gate blocks (i, f, g, o) along x, input and recurrent blocks along y, with dashed borders."""
    starts, n_in, n_rows = layer["gate_starts"], layer["inputs"], layer["kernel"]["shape"][0]
    ends = starts[1:] + [layer["kernel"]["shape"][1]]
    names = GATE_NAMES if len(starts) == len(GATE_NAMES) else [str(b) for b in range(len(starts))]
    axis.set_xticks([(a + b) / 2 for a, b in zip(starts, ends)], names)
    for start in starts[1:]:
        axis.axvline(start, **BOUNDARY_STYLE)
    axis.axhline(n_in, **BOUNDARY_STYLE)
    axis.set_yticks([n_in / 2, (n_in + n_rows) / 2], [f"input\n({n_in})", f"recurrent\n({n_rows - n_in})"])
    axis.tick_params(length=0)


def _plot_layer(mask_axis, stripes_axis, layer: dict, number: int) -> None:
    kernel, name = layer["kernel"], f"LSTM {number}"
    rows, columns = kernel["shape"]
    _show(mask_axis, kernel)
    mask_axis.set_title(f"{name} kernel [{rows} x {columns}]\n"
                        f"non-zero weights: {kernel['density']:.0%}{_sampling_note(kernel['strides'])}", fontsize=10)
    _mark_kernel_blocks(mask_axis, layer)
    _show(stripes_axis, layer["kept"])
    from_below = layer["removed_inputs"]
    what = (f"+ input rows of the {from_below} units removed in LSTM {number - 1}" if from_below
            else "recurrent rows + gate columns of the removed units")
    stripes_axis.set_title(f"{name} removed ISS components (white): {layer['removed']} of {layer['units']} units\n{what}",
                           fontsize=10)
    _mark_kernel_blocks(stripes_axis, layer)


def _plot_decoder(axis, decoder: dict, n_layers: int) -> None:
    rows, columns = decoder["shape"]
    _show(axis, decoder, aspect="auto")  # [h, V] is far too wide for square pixels
    axis.set_title(f"decoder (softmax) weight, transposed [{rows} x {columns}]: "
                   f"non-zero weights: {decoder['density']:.0%}{_sampling_note(decoder['strides'])}", fontsize=10)
    axis.set_xlabel("vocabulary")
    axis.set_ylabel(f"LSTM {n_layers} unit")


def plot_sparsity_picture(picture: dict, out_stem: Path, title: str) -> list[Path]:
    """Per LSTM layer, the kernel's non-zero mask (top) and its removed ISS components (bottom);
    below them the decoder's non-zero mask. Writes ``out_stem.{png,pdf}``; returns their paths."""
    layers = picture["layers"]
    figure = plt.figure(figsize=(5.5 * len(layers), 8.2), layout="constrained")
    grid = figure.add_gridspec(3, len(layers), height_ratios=[3, 3, 1.3])
    for index, layer in enumerate(layers):
        _plot_layer(figure.add_subplot(grid[0, index]), figure.add_subplot(grid[1, index]), layer, index + 1)
    _plot_decoder(figure.add_subplot(grid[2, :]), picture["decoder"], len(layers))
    figure.suptitle(f"{title}\nblue = non-zero, white = zero; kernel = [W_ih^T ; W_hh^T], "
                    "columns in gate blocks i, f, g, o", fontsize=11)
    return save_figure(figure, out_stem)
