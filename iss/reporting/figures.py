"""Figures: Table 1 training curves and the paper's picture of ISS weight sparsity.

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

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.ticker import NullFormatter, ScalarFormatter  # noqa: E402
from torch import nn  # noqa: E402

from iss.groups import removed_components  # noqa: E402
from iss.io import replacing  # noqa: E402
from iss.tasks.lm import load_model  # noqa: E402
from iss.tasks.table1_rows import TABLE  # noqa: E402

FORMATS = ("png", "pdf")
PNG_DPI = 150
NONZERO_BLUE = "#1f4e9c"
MASK_COLORS = ListedColormap(["white", NONZERO_BLUE])  # 0 = zero weight, 1 = non-zero
BOUNDARY_STYLE = dict(color="#e07b00", linewidth=1.2, linestyle="--")  # orange: never mistaken for a weight
GATE_NAMES = ("i", "f", "g", "o")  # PyTorch's order of the gate blocks in nn.LSTM weights
LOG_SCALE_RATIO = 3.0  # perplexity axes go logarithmic when max/min exceeds this

# Table 1 row names as a reader should see them (the paper has two ISS rows: two lambdas).
ROW_LABELS = {"baseline": "baseline", "iss_a": "ISS (a)", "iss_b": "ISS (b)", "direct": "direct design",
              "iss_a_from_baseline": "ISS (a) from baseline", "iss_b_from_baseline": "ISS (b) from baseline"}
SPARSITY_ROW = "iss_a"  # the row whose weights the sparsity figure shows


# ---- files -------------------------------------------------------------------------------------


def save_figure(figure: plt.Figure, out_stem: Path) -> list[Path]:
    """Write ``out_stem.png`` and ``out_stem.pdf``; return both paths. Closes the figure."""
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    try:
        return [_save_atomic(figure, out_stem.with_name(f"{out_stem.name}.{fmt}")) for fmt in FORMATS]
    finally:
        plt.close(figure)


def _save_atomic(figure: plt.Figure, path: Path) -> Path:
    """Readers see the old file or the new one, never half of one."""
    fmt = path.suffix.lstrip(".")
    # No creation date or software version inside: the same figure gives the same bytes.
    metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None}
    with replacing(path) as temp:
        figure.savefig(temp, format=fmt, dpi=PNG_DPI, metadata=metadata)
    return path


# ---- training curves ---------------------------------------------------------------------------


def surviving_unit_columns(history: pd.DataFrame) -> list[str]:
    """The per-layer "units still alive" columns of a history (iss_lstm1, iss_lstm2, ...)."""
    return [column for column in history.columns if column.startswith("iss_")]


def is_iss_row(history: pd.DataFrame) -> bool:
    """A row trained with the group-Lasso penalty (the baseline and direct rows log 0)."""
    return "penalty" in history and bool((history["penalty"] > 0).any())


def _layer_label(column: str) -> str:
    return column.removeprefix("iss_").replace("lstm", "LSTM ")


def _use_plain_log_axis(axis, low: float, high: float) -> None:
    """Log scale with plain numbers (80, 100, 150) instead of 10^2 on the ticks."""
    axis.set_yscale("log")
    axis.set_yticks(_readable_log_ticks(low, high))
    axis.yaxis.set_major_formatter(ScalarFormatter())
    axis.yaxis.set_minor_formatter(NullFormatter())
    axis.yaxis.get_major_formatter().set_scientific(False)


def _readable_log_ticks(low: float, high: float) -> list[float]:
    # Perplexity usually spans less than a decade, where the default 1-2-5 log ticks leave
    # one or two labels: use denser steps there, and 1-2-5 for wider ranges.
    mantissas = (1, 1.5, 2, 3, 4, 5, 7) if high < 10 * low else (1, 2, 5)
    decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    return [m * 10 ** e for e in decades for m in mantissas if low * 0.9 <= m * 10 ** e <= high * 1.1]


def _mean_over_seeds(history: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series]:
    """Per epoch: mean and sample sd over the seeds in ``history`` (sd 0 for one seed)."""
    grouped = history.groupby("epoch")[column]
    return grouped.mean(), grouped.std().fillna(0.0)


def _plot_perplexity(axis, histories: dict[str, pd.DataFrame], labels: dict[str, str], colors: dict[str, str]) -> None:
    for row, history in histories.items():
        mean, sd = _mean_over_seeds(history, "valid_perplexity")
        seeds = history["seed"].nunique() if "seed" in history else 1
        label = labels.get(row, row) + (f" (mean ± sd, {seeds} seeds)" if seeds > 1 else "")
        axis.plot(mean.index, mean.values, marker="o", color=colors[row], label=label)
        if seeds > 1:
            axis.fill_between(mean.index, (mean - sd).values, (mean + sd).values, color=colors[row], alpha=0.2)
    values = pd.concat([h["valid_perplexity"] for h in histories.values()])
    if values.max() > LOG_SCALE_RATIO * values.min():
        _use_plain_log_axis(axis, values.min(), values.max())
    axis.set_xlabel("epoch")
    axis.set_ylabel("validation perplexity" + (" (log scale)" if axis.get_yscale() == "log" else ""))
    axis.set_title("Validation perplexity")
    axis.grid(True, which="major", alpha=0.3)
    axis.legend()


def _plot_surviving_units(axis, histories: dict[str, pd.DataFrame], labels: dict[str, str],
                          colors: dict[str, str]) -> None:
    iss_histories = {row: h for row, h in histories.items() if is_iss_row(h)}
    linestyles = ["-", "--", ":", "-."]
    for row, history in iss_histories.items():
        for layer, column in enumerate(surviving_unit_columns(history)):
            mean, _ = _mean_over_seeds(history, column)
            axis.plot(mean.index, mean.values, marker="o", color=colors[row],
                      linestyle=linestyles[layer % len(linestyles)],
                      label=f"{labels.get(row, row)}, {_layer_label(column)}")
    if not iss_histories:
        axis.text(0.5, 0.5, "no ISS rows", transform=axis.transAxes, ha="center", va="center")
    axis.set_ylim(bottom=0)  # from zero, so the height shows the fraction of units kept
    axis.set_xlabel("epoch")
    axis.set_ylabel("hidden units left (ISS size)")
    axis.set_title("Surviving units per LSTM layer (ISS rows)")
    axis.grid(True, alpha=0.3)
    if iss_histories:
        axis.legend()


def plot_training_curves(histories: dict[str, pd.DataFrame], labels: dict[str, str], out_stem: Path,
                         title: str) -> list[Path]:
    """Validation perplexity per epoch for every row, and the surviving units per layer per epoch
    of the rows trained with ISS. Writes ``out_stem.{png,pdf}``; returns their paths."""
    if not histories:
        raise ValueError("plot_training_curves needs at least one history")
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colors = {row: palette[i % len(palette)] for i, row in enumerate(histories)}  # one colour per row in both panels
    figure, (perplexity, units) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    _plot_perplexity(perplexity, histories, labels, colors)
    _plot_surviving_units(units, histories, labels, colors)
    for axis in (perplexity, units):
        axis.xaxis.get_major_locator().set_params(integer=True)  # epochs are whole numbers
    figure.suptitle(title)
    return save_figure(figure, out_stem)


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


# ---- Table 1 ------------------------------------------------------------------------------------


def _require(path: Path, rule: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; make it with `snakemake {path}` (rule {rule})")
    return path


def _rows_present(table_dir: Path) -> list[str]:
    """The table's rows (not the trade-off sweep's) that have a folder; if none has, all of them
    (so the error names one)."""
    present = [row for row in ROW_LABELS if (table_dir / row).is_dir()]
    return present or list(ROW_LABELS)


def _seed_dirs(row_dir: Path) -> list[Path]:
    """results/<scale>/table1/<row>/seed<N> folders, by seed; [row/seed?] if there is none yet."""
    found = sorted(row_dir.glob("seed*"), key=lambda path: int(path.name[4:]) if path.name[4:].isdigit() else -1)
    return [path for path in found if path.is_dir()] or [row_dir / "seed?"]


def _history_over_seeds(row_dir: Path) -> pd.DataFrame:
    frames = []
    for seed_dir in _seed_dirs(row_dir):
        frame = pd.read_csv(_require(seed_dir / "history.csv", "table1_train"))
        frames.append(frame.assign(seed=seed_dir.name[4:]))
    return pd.concat(frames, ignore_index=True)


def write_table1_figures(results_scale_dir: Path, reports_dir: Path) -> list[Path]:
    """Training curves of every Table 1 row present (mean ± sd over seeds) and the sparsity of the
    first ISS row's weights (first seed), from ``results/<scale>/table1``; written to
    ``reports_dir/figures``. Returns the paths written."""
    results_scale_dir, figures_dir = Path(results_scale_dir), Path(reports_dir) / "figures"
    table_dir = results_scale_dir / TABLE
    scale = results_scale_dir.name
    histories = {row: _history_over_seeds(table_dir / row) for row in _rows_present(table_dir)}
    # Rows started from the trained baseline continue its epochs: draw them after the baseline's.
    if "baseline" in histories:
        done = int(histories["baseline"].epoch.max())
        for row in [r for r in histories if r.endswith("_from_baseline")]:
            histories[row] = histories[row].assign(epoch=histories[row].epoch + done)
    sparsity_dir = _seed_dirs(table_dir / SPARSITY_ROW)[0]
    model, _ = load_model(_require(sparsity_dir / "model.pt", "table1_train"), "cpu")
    written = plot_training_curves(histories, ROW_LABELS, figures_dir / "table1_training_curves",
                                   f"Table 1 (PTB, {scale} scale): training")
    written += plot_lstm_sparsity(model, figures_dir / "table1_iss_sparsity",
                                  f"Table 1 (PTB, {scale} scale): weights of {ROW_LABELS[SPARSITY_ROW]} "
                                  f"({sparsity_dir.name}) after training (masked model, before the shrink)")
    return written


# ---- Table 2: RHN perplexity against width ----------------------------------------------------


def _sweep_points(frame: pd.DataFrame) -> pd.DataFrame:
    """Per row of this run: lambda, mean/sd of width and validation perplexity over seeds."""
    run = frame[frame.setting == "this_run"]
    wide = run.pivot_table(index=["row", "seed"], columns="metric", values="reproduced", aggfunc="first")
    wide = wide.apply(pd.to_numeric)
    grouped = wide.groupby(level="row")
    points = pd.DataFrame({
        "lambda": grouped["lambda"].first(),
        "width": grouped["width"].mean(), "width_sd": grouped["width"].std().fillna(0.0),
        "perplexity": grouped["perplexity_valid"].mean(),
        "perplexity_sd": grouped["perplexity_valid"].std().fillna(0.0),
    })
    return points.sort_values("lambda")


def plot_rhn_tradeoff(points: pd.DataFrame, paper_points: pd.DataFrame, scale: str, out_stem: Path) -> list[Path]:
    """Left: this run's validation perplexity against RHN width (error bars: sd over seeds).
    Right: both sweeps relative to their own baseline, so a small-scale run and the paper's
    830-wide model share one axis."""
    figure, (absolute, relative) = plt.subplots(1, 2, figsize=(11, 4.2))
    absolute.errorbar(points.width, points.perplexity, xerr=points.width_sd, yerr=points.perplexity_sd,
                      marker="o", color=NONZERO_BLUE, capsize=3, label=f"this run ({scale})")
    for _, p in points.iterrows():
        absolute.annotate(f"λ={p['lambda']:g}", (p.width, p.perplexity), textcoords="offset points",
                          xytext=(4, 4), fontsize=8)
    absolute.margins(x=0.1, y=0.1)  # room for the lambda labels
    absolute.set(xlabel="RHN width (ISS components left)", ylabel="validation perplexity",
                 title=f"This run ({scale} scale)")
    absolute.legend()
    for label, pts, style in (("this run", points, dict(color=NONZERO_BLUE, marker="o")),
                              ("paper (Table 2)", paper_points, dict(color="#c0392b", marker="s"))):
        base = pts[pts["lambda"] == 0]
        if base.empty:
            continue
        relative.plot(pts.width / float(base.width.iloc[0]), pts.perplexity / float(base.perplexity.iloc[0]),
                      label=label, **style)
    relative.axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
    relative.set(xlabel="width / baseline width", ylabel="validation perplexity / baseline's",
                 title="Relative to each sweep's baseline")
    relative.invert_xaxis()
    relative.legend()
    figure.suptitle("Table 2: RHN perplexity against width as λ grows")
    figure.tight_layout()
    return save_figure(figure, out_stem)


def write_table2_figures(table2_csv: Path, reports_dir: Path) -> list[Path]:
    """reports/figures/rhn_tradeoff.{png,pdf} from results/table2.csv and the paper file."""
    from iss.paper.tables import load_paper_tables
    frame = pd.read_csv(_require(Path(table2_csv), "table2_report"))
    paper = load_paper_tables()
    paper_points = pd.DataFrame([
        {"lambda": paper.cell("table2", row, "lambda").value, "width": paper.cell("table2", row, "width").value,
         "perplexity": paper.cell("table2", row, "perplexity_valid").value}
        for row in paper.rows("table2")])
    scale = str(frame.scale.iloc[0])
    return plot_rhn_tradeoff(_sweep_points(frame), paper_points, scale, Path(reports_dir) / "figures" / "rhn_tradeoff")
