"""The width experiment at a glance (reports/<scale>/figures/table1_width.{png,pdf}), drawn from the
report's tidy frame (torch-free):
- left: validation perplexity relative to the width's baseline against width, ISS and the direct
  design (mean ± sd over seeds), the baseline's seed spread around 1, and the paper's 1500-unit rows
  relative to the paper's baseline;
- middle: the gap direct design - ISS, in % of the width's baseline (paired by seed, mean ± sd);
  above 0, ISS is better; the paper's gap at 1500 for reference;
- right: how much room each width has: training against validation perplexity of the grid's
  baseline with the least dropout (eval mode, selection seed).
"""
from __future__ import annotations

import statistics
from pathlib import Path

import pandas as pd

from iss_harness.reporting.table_files import values_of
from iss_harness.tables.table1_width.rows import all_rows, row_name, seeds, widths

PAPER_WIDTH = 1500
STYLES = {"iss": dict(color="tab:blue", marker="o", label="ISS"),
          "direct": dict(color="tab:red", marker="D", label="direct design at ISS's sizes")}


def numbers(frame: pd.DataFrame, row: str, metric: str) -> list[float]:
    """One value per seed of a (row, metric) of the report's tidy frame."""
    return [float(v) for v in values_of(frame, "this_run", row, metric)]


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def paper_point() -> dict[str, float]:
    """The paper's Table 1 at 1500 units: ISS and direct design relative to its baseline (validation)."""
    from iss_harness.paper.tables import load_paper_tables
    paper = load_paper_tables()
    valid = {row: paper.cell("table1", row, "perplexity_valid").value for row in ("baseline", "iss_a", "direct")}
    return dict(iss=valid["iss_a"] / valid["baseline"], direct=valid["direct"] / valid["baseline"],
                gap=(valid["direct"] - valid["iss_a"]) / valid["baseline"])


def least_dropout_rows(config: dict) -> dict[int, str]:
    """{width: the grid's baseline row with the highest keep ratio} (the over-fitting measurement)."""
    best: dict[int, tuple[float, str]] = {}
    for row, spec in all_rows(config).items():
        if spec.get("grid") and spec["kind"] == "baseline":
            if spec["width"] not in best or spec["keep_prob"] > best[spec["width"]][0]:
                best[spec["width"]] = (spec["keep_prob"], row)
    return {width: row for width, (_, row) in best.items()}


def draw(frame: pd.DataFrame, config: dict, out_stem: Path) -> list[Path]:
    from iss_harness.reporting.plotting import plt, save_figure
    all_widths = widths(config)
    paper = paper_point()
    figure, (relative, gap, room) = plt.subplots(1, 3, figsize=(14, 4.2))
    for kind, style in STYLES.items():
        points = [_mean_sd(numbers(frame, row_name(w, kind), "relative_perplexity")) for w in all_widths]
        relative.errorbar(all_widths, [m for m, _ in points], yerr=[s for _, s in points], capsize=3, **style)
        relative.plot([PAPER_WIDTH], [paper[kind]], linestyle="none", marker="*", markersize=13,
                      color=style["color"], markeredgecolor="black", label=f"paper: {style['label']}")
    base = [_mean_sd(numbers(frame, row_name(w, "baseline"), "relative_perplexity")) for w in all_widths]
    relative.fill_between(all_widths, [1 - s for _, s in base], [1 + s for _, s in base], color="grey", alpha=0.25,
                          label="baseline (± sd over seeds)")
    relative.axhline(1.0, color="grey", linewidth=0.8)
    relative.set_ylabel("validation perplexity / width's baseline")

    gaps = []
    for w in all_widths:
        baseline_mean = statistics.mean(numbers(frame, row_name(w, "baseline"), "perplexity_valid"))
        gaps.append(_mean_sd([100 * g / baseline_mean for g in numbers(frame, f"w{w}", "direct_minus_iss")]))
    gap.errorbar(all_widths, [m for m, _ in gaps], yerr=[s for _, s in gaps], capsize=3, color="black", marker="o",
                 label=f"this run ({len(seeds(config))} seeds, paired)")
    gap.plot([PAPER_WIDTH], [100 * paper["gap"]], linestyle="none", marker="*", markersize=13, color="tab:orange",
             markeredgecolor="black", label="paper (one run)")
    gap.axhline(0.0, color="grey", linewidth=0.8)
    gap.set_ylabel("(direct − ISS) / baseline, %  (> 0: ISS better)")

    rows = least_dropout_rows(config)
    shown = [w for w in all_widths if w in rows]
    for metric, style in (("perplexity_train", dict(color="tab:green", marker="v", label="training (eval mode)")),
                          ("perplexity_valid", dict(color="tab:purple", marker="^", label="validation"))):
        room.plot(shown, [numbers(frame, rows[w], metric)[0] for w in shown], **style)
    keeps = sorted({all_rows(config)[rows[w]]["keep_prob"] for w in shown})
    room.set_ylabel(f"baseline perplexity, keep {', '.join(f'{k:g}' for k in keeps)}")

    for axis in (relative, gap, room):
        axis.set_xscale("log", base=2)
        ticks = [*all_widths, PAPER_WIDTH] if axis is not room else all_widths
        axis.set_xticks(ticks, [str(t) for t in ticks])
        axis.minorticks_off()
        axis.set_xlabel("LSTM width (both layers)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(f"ISS against the direct design as the LSTMs widen ({config['scale']} scale, "
                    f"PTB slice of the width experiment)", fontsize=10)
    figure.tight_layout()
    return save_figure(figure, Path(out_stem))

