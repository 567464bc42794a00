"""The paper's BiDAF figure: a histogram of the vector lengths (L2 norms) of all ISS weight groups,
baseline against ISS.

Each row's evaluation step writes ``group_norms.json``: ||w_k||_2 of every component of the six
families (spec 1.4: gate rows, recurrent column and every downstream column of unit k), computed
from the weights the shrink saw (EMA weights after the test-time element threshold and the
structure coordinator). Exactly-zero groups (removed components) cannot sit on a logarithmic axis:
they are drawn as a bar at the left edge and counted in the legend.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from iss_harness.reporting.plotting import plt, save_figure

ROW_COLORS = ("#1f4e9c", "#e07b00", "#2a9d3c", "#b8336a", "#6b4c9a", "#8c564b", "#17becf")


def load_group_norms(path: Path) -> np.ndarray:
    """All group norms of one row (every family), from its group_norms.json."""
    saved = json.loads(Path(path).read_text())
    return np.concatenate([np.asarray(v, dtype=float) for v in saved["norms"].values()])


def plot_group_norms(norms: dict[str, np.ndarray], out_stem: Path, title: str, bins: int = 40) -> list[Path]:
    """Overlaid step histograms (log-spaced bins) of each labelled row's group norms."""
    positive = np.concatenate([v[v > 0] for v in norms.values()]) if norms else np.array([])
    low, high = (positive.min(), positive.max()) if positive.size else (1e-3, 1.0)
    if high <= low:
        high = low * 10
    edges = np.logspace(np.log10(low) - 0.05, np.log10(high) + 0.05, bins + 1)
    figure, axis = plt.subplots(figsize=(7.0, 4.4))
    for i, (label, values) in enumerate(norms.items()):
        color = ROW_COLORS[i % len(ROW_COLORS)]  # more rows than colours repeat them, never drop a row
        zeros = int((values == 0).sum())
        axis.hist(values[values > 0], bins=edges, histtype="step", linewidth=1.6, color=color,
                  label=f"{label}: {values.size} groups, {zeros} exactly 0")
        if zeros:  # side by side left of the axis' positive range, one bar per row
            at = edges[0] / 3.0 * 1.4 ** (i - len(norms) + 1)
            axis.bar(at, zeros, width=at * 0.3, color=color, alpha=0.6)
    if any((values == 0).any() for values in norms.values()):
        axis.axvline(edges[0] / 1.25, color="grey", linestyle="--", linewidth=0.8)
        axis.text(edges[0] / 3.0, axis.get_ylim()[1] * 0.97, "= 0", ha="center", va="top", fontsize=8)
    axis.set_xscale("log")
    axis.set_xlabel("L2 norm of an ISS weight group  (bar at the left: groups that are exactly 0)")
    axis.set_ylabel("number of groups")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=8, frameon=False)
    figure.tight_layout()
    return save_figure(figure, out_stem)


def write_figures(config: dict, results: Path, reports: Path) -> list[Path]:
    """The Table 3 figures of this scale's rows (the registry's ``figures`` step)."""
    from iss_harness.tables.table3.rows import scale_dir, table3_rows
    return write_bidaf_figures(scale_dir(results, config), table3_rows(config), reports, config["scale"])


def write_bidaf_figures(table_dir: Path, rows: list[str], reports_dir: Path, scale: str) -> list[Path]:
    """reports/figures/bidaf_group_norms.{png,pdf} from results/<scale>/table3/<row>/group_norms.json."""
    norms = {}
    for row in rows:
        path = Path(table_dir) / row / "group_norms.json"
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: evaluate row {row} first (snakemake {path})")
        norms[row] = load_group_norms(path)
    title = (f"BiDAF: L2 norms of all ISS weight groups (ModFwd1 ... OutBwd), {scale} scale\n"
             + " vs ".join(norms))
    return plot_group_norms(norms, Path(reports_dir) / "figures" / "bidaf_group_norms", title)
