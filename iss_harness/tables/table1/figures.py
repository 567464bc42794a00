"""Table 1's figures: training curves of every row (validation perplexity, surviving units per layer)
and the ISS row's weight sparsity (``iss_harness.reporting.figures_sparsity``).
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.ticker import NullFormatter, ScalarFormatter

from iss_harness.io import read_json, write_json_atomic
from iss_harness.reporting.plotting import plt, require_file, save_figure
from iss_harness.reporting.sparsity_plot import plot_sparsity_picture
from iss_harness.tables.table1.rows import TABLE

LOG_SCALE_RATIO = 3.0  # perplexity axes go logarithmic when max/min exceeds this
# Table 1 row names as a reader should see them (the paper has two ISS rows: two lambdas).
ROW_LABELS = {"baseline": "baseline", "iss_a": "ISS (a)", "iss_b": "ISS (b)", "direct": "direct design",
              "iss_a_from_baseline": "ISS (a) from baseline", "iss_b_from_baseline": "ISS (b) from baseline"}
SPARSITY_ROW = "iss_a"  # the row whose weights the sparsity figure shows
# The sparsity figure's data, kept beside the model it was drawn from: a recorded run (no models)
# redraws the figure from it, without torch.
PICTURE = "sparsity_picture.json"


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


# ---- Table 1 ------------------------------------------------------------------------------------


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
        frame = pd.read_csv(require_file(seed_dir / "history.csv", "table1_train"))
        frames.append(frame.assign(seed=seed_dir.name[4:]))
    return pd.concat(frames, ignore_index=True)


def write_figures(config: dict, results: Path, reports: Path) -> list[Path]:
    """The Table 1 figures of this scale's results (the registry's ``figures`` step)."""
    from iss_harness.tasks.paths import scale_root
    return write_table1_figures(scale_root(results, config), reports)


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
    picture = sparsity_picture_of(sparsity_dir)
    written = plot_training_curves(histories, ROW_LABELS, figures_dir / "table1_training_curves",
                                   f"Table 1 (PTB, {scale} scale): training")
    written += plot_sparsity_picture(picture, figures_dir / "table1_iss_sparsity",
                                     f"Table 1 (PTB, {scale} scale): weights of {ROW_LABELS[SPARSITY_ROW]} "
                                     f"({sparsity_dir.name}) after training (masked model, before the shrink)")
    return written


def sparsity_picture_of(run: Path) -> dict:
    """The sparsity figure's data for a trained run: made from its model.pt (and kept as
    sparsity_picture.json beside it) when the model is there, else read from that file (a recorded run)."""
    model_path, picture_path = run / "model.pt", run / PICTURE
    if model_path.is_file() or not picture_path.is_file():
        from iss_harness.reporting.figures_sparsity import sparsity_picture
        from iss_harness.tasks.lm import load_model
        model, _ = load_model(require_file(model_path, "table1_train"), "cpu")
        write_json_atomic(picture_path, sparsity_picture(model))
    return read_json(picture_path)
