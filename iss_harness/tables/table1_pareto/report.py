"""Table 1's trade-off: validation perplexity against weight count and against speedup.

Does ISS beat designing the small model directly? One point per trained model, all relative to
this run's baseline (perplexity / baseline perplexity, weights / baseline weights), so the paper's
own rows, relative to the paper's baseline, sit on the same axes:
- ISS from scratch and ISS from the trained baseline: the sweep's rows (config `table1.pareto`,
  one seed) and the table's ISS rows (every seed: mean +- sd);
- the direct design trained at each learned size (sweep and table);
- the baseline (its seed spread around 1).
Inputs: results/<scale>/table1/<row>/seed<N>/metrics.json, timing_pareto.json, timing_learned.json.
Outputs: results/<scale>/table1/pareto.csv, reports/figures/table1_pareto.{png,pdf}.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from iss_harness.config import scale_settings, table_seeds
from iss_harness.tasks.paths import run_dir, table_dir
from iss_harness.io import read_json, write_text_atomic
from iss_harness.tables.table1.rows import TABLE, pareto_rows, start_row

# (kind, label, matplotlib style) in drawing order
KINDS = {
    "baseline": ("baseline", dict(color="black", marker="s")),
    "iss_scratch": ("ISS from scratch", dict(color="tab:blue", marker="o")),
    "iss_baseline": ("ISS from the trained baseline", dict(color="tab:green", marker="^")),
    "direct": ("direct design (at an ISS row's sizes)", dict(color="tab:red", marker="D")),
}


def kind_of(settings: dict) -> str:
    if settings["lambda"] > 0:
        return "iss_baseline" if start_row(settings) else "iss_scratch"
    return "direct" if ("hidden_from" in settings or "hidden" in settings) else "baseline"


def collect(config: dict, results: Path) -> pd.DataFrame:
    """One line per trained model: row, source (sweep | table), kind, lambda, seed, sizes,
    validation perplexity, weights, mult-add reduction and speedup (first seed's models only)."""
    folder = table_dir(results, config, TABLE)
    rows = {**{row: ("table", s) for row, s in scale_settings(config)[TABLE]["rows"].items()},
            **{row: ("sweep", s) for row, s in pareto_rows(config).items()}}
    speedups = {}
    for name in ("timing_learned.json", "timing_pareto.json"):
        if (folder / name).is_file():
            speedups.update({row: s["speedup"] for row, s in read_json(folder / name)["speedups"].items()})
    all_seeds = table_seeds(config, TABLE)
    records = []
    for row, (source, settings) in rows.items():
        for seed in (all_seeds if source == "table" else all_seeds[:1]):
            m = read_json(run_dir(results, config, TABLE, row, seed) / "metrics.json")
            records.append(dict(scale=config["scale"], row=row, source=source, kind=kind_of(settings),
                                **{"lambda": settings["lambda"]}, seed=seed, iss_1st=m["iss_sizes"][0],
                                iss_2nd=m["iss_sizes"][1], perplexity_valid=m["perplexity_valid"],
                                weights=m["weights"], mult_add_reduction=m["mult_add_reduction"],
                                speedup=speedups.get(row) if seed == all_seeds[0] else None))
    frame = pd.DataFrame.from_records(records)
    base = frame[frame.row == "baseline"]
    frame["relative_perplexity"] = frame.perplexity_valid / base.perplexity_valid.mean()
    frame["relative_weights"] = frame.weights / base.weights.mean()
    return frame


def paper_points() -> pd.DataFrame:
    """The paper's Table 1 rows relative to its baseline (from config/paper_tables.yaml)."""
    from iss_harness.paper.tables import load_paper_tables
    paper = load_paper_tables()
    value = lambda row, column: paper.cell(TABLE, row, column).value  # noqa: E731
    lines = [dict(row=row, relative_perplexity=value(row, "perplexity_valid") / value("baseline", "perplexity_valid"),
                  relative_weights=value(row, "weights") / value("baseline", "weights"),
                  speedup=value(row, "speedup"))
             for row in paper.rows(TABLE)]
    return pd.DataFrame.from_records(lines)


def plot(frame: pd.DataFrame, paper: pd.DataFrame, title: str, out_stem: Path) -> list[Path]:
    from iss_harness.reporting.plotting import plt, save_figure
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for axis, x, xlabel in ((axes[0], "relative_weights", "weights / baseline's"),
                            (axes[1], "speedup", "measured speedup against the baseline (first seed)")):
        for kind, (label, style) in KINDS.items():
            points = frame[(frame.kind == kind) & frame[x].notna()]
            if points.empty:
                continue
            # Mean +- sd over seeds per row (sweep rows have one seed: no bar).
            grouped = points.groupby("row").agg(x=(x, "mean"), y=("relative_perplexity", "mean"),
                                                sd=("relative_perplexity", "std")).fillna(0.0)
            axis.errorbar(grouped.x, grouped.y, yerr=grouped.sd, linestyle="none", capsize=3, label=label, **style)
        axis.plot(paper[x], paper.relative_perplexity, linestyle="none", marker="*", markersize=12,
                  color="tab:orange", label="the paper's rows (relative to its baseline)")
        for _, point in paper.iterrows():
            axis.annotate(f"paper {point.row}", (point[x], point.relative_perplexity), fontsize=7,
                          xytext=(4, 4), textcoords="offset points")
        axis.axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
        axis.set_xlabel(xlabel)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("validation perplexity / baseline's")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, fontsize=8, loc="lower center", ncol=3, frameon=False)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout(rect=(0, 0.1, 1, 1))
    return save_figure(figure, out_stem)


def build(config: dict, results: Path, reports: Path) -> list[Path]:
    frame = collect(config, results)
    csv_path = table_dir(results, config, TABLE) / "pareto.csv"
    write_text_atomic(csv_path, frame.to_csv(index=False))
    baseline = frame[frame.row == "baseline"].perplexity_valid
    title = (f"Table 1 trade-off, {config['scale']} scale: baseline validation perplexity "
             f"{baseline.mean():.2f}" + (f" ± {baseline.std():.2f} ({len(baseline)} seeds)" if len(baseline) > 1 else "")
             + f"; sweep at seed {table_seeds(config, TABLE)[0]}")
    return [csv_path, *plot(frame, paper_points(), title, Path(reports) / "figures" / "table1_pareto")]
