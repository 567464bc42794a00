"""The width experiment reported: results/<scale>/table1_width.csv, reports/<scale>/table1_width.{md,tex}
and the figure reports/<scale>/figures/table1_width.{png,pdf} (torch-free).

The question: does ISS beat the direct design (the same sizes trained from scratch) once the LSTMs
are wider than the data needs, as the paper's 2 x 1500 model on PTB? Per width, every number is
relative to that width's own baseline, so the paper's point (its 1500-unit rows relative to its own
baseline, from config/paper_tables.yaml) sits on the same axes.

The tidy CSV holds, per width, the chosen rows at every reported seed and the grid rows at the
selection seed, and one row ``widest`` that the claim in config/claims.yaml reads: the per-seed gap
direct design - ISS in validation perplexity at the widest width (paired by seed) and its sd.
"""
from __future__ import annotations

import statistics
from pathlib import Path

import pandas as pd

from iss_harness.io import read_json
from iss_harness.provenance import provenance_lines
from iss_harness.render import fmt_fixed, fmt_mean_sd
from iss_harness.reporting.report_sources import HISTORY, recorded_jobs
from iss_harness.reporting.table_files import (Section, made_at, ptb_text, run_issues, threads_text, tidy_frame,
                                               write_table_files)
from iss_harness.tables.table1_width.figures import draw, numbers
from iss_harness.tables.table1_width.rows import (KINDS, TABLE, all_rows, resolved_settings, row_dir,
                                                  row_name, runs, seeds, settings, widths)
from iss_harness.tasks.paths import scale_root

METRICS = ("perplexity_valid", "perplexity_test", "perplexity_train", "keep_prob", "lambda", "weights")
WIDEST = "widest"  # the row the claim reads
GAP = "direct_minus_iss"


def read_runs(config: dict, results: Path) -> dict[tuple[str, int], dict]:
    """{(row, seed): metrics.json} of every run of the experiment, each file read once."""
    return {(row, seed): read_json(row_dir(results, config, row, seed) / "metrics.json") for row, seed in runs(config)}


def collect(config: dict, measured: dict[tuple[str, int], dict]) -> pd.DataFrame:
    """One record per (row, seed, metric); relative perplexities against the width's baseline mean."""
    records = []
    valid = {run: m["perplexity_valid"] for run, m in measured.items()}

    def add(row, seed, metric, value):
        records.append(dict(setting="this_run", row=row, seed="" if seed is None else str(seed), metric=metric,
                            reproduced=value))

    for (row, seed), m in measured.items():
        for metric in METRICS:
            add(row, seed, metric, m[metric])
        add(row, seed, "iss_1st", m["iss_sizes"][0])
        add(row, seed, "iss_2nd", m["iss_sizes"][1])
    for width in widths(config):
        base = statistics.mean(valid[row_name(width, "baseline"), s] for s in seeds(config))
        for kind in KINDS:
            for seed in seeds(config):
                add(row_name(width, kind), seed, "relative_perplexity", valid[row_name(width, kind), seed] / base)
        # direct design - ISS, paired by seed (positive: ISS is better)
        gaps = [valid[row_name(width, "direct"), seed] - valid[row_name(width, "iss"), seed] for seed in seeds(config)]
        for seed, gap in zip(seeds(config), gaps):
            add(f"w{width}", seed, GAP, gap)
            if width == widths(config)[-1]:
                add(WIDEST, seed, GAP, gap)
        if width == widths(config)[-1]:
            add(WIDEST, None, f"{GAP}_sd", statistics.stdev(gaps) if len(gaps) > 1 else 0.0)
    return tidy_frame(records, config)


def _units(values: list[float]) -> str:
    """Units left in a layer: "111" for one seed or equal seeds, "111 ± 4" over several."""
    mean = statistics.mean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.0f}" if spread == 0 else f"{mean:.0f} ± {spread:.0f}"


def summary_table(frame: pd.DataFrame, config: dict) -> pd.DataFrame:
    lines = []
    for width in widths(config):
        v = lambda kind, metric: numbers(frame, row_name(width, kind), metric)  # noqa: E731
        sizes = f"({_units(v('iss', 'iss_1st'))}, {_units(v('iss', 'iss_2nd'))})"
        lines.append({
            "Width": width,
            "Baseline keep": fmt_fixed(v("baseline", "keep_prob")[0]),
            "Baseline ppl": fmt_mean_sd(v("baseline", "perplexity_valid")),
            "ISS λ": f"{v('iss', 'lambda')[0]:g}",
            "ISS sizes": sizes,
            "ISS ppl": fmt_mean_sd(v("iss", "perplexity_valid")),
            "ISS / baseline": fmt_mean_sd(v("iss", "relative_perplexity"), 3),
            "Direct keep": fmt_fixed(v("direct", "keep_prob")[0]),
            "Direct ppl": fmt_mean_sd(v("direct", "perplexity_valid")),
            "Direct / baseline": fmt_mean_sd(v("direct", "relative_perplexity"), 3),
            "Direct − ISS": fmt_mean_sd(numbers(frame, f"w{width}", GAP)),
        })
    return pd.DataFrame(lines)


def grid_table(frame: pd.DataFrame, config: dict, results: Path) -> pd.DataFrame:
    """The keep-ratio grid at the selection seed: validation and (eval-mode) training perplexity of
    the final weights, and the epoch of the best validation perplexity (over-fitting: before the last)."""
    selection_seed = settings(config)["selection_seed"]
    lines = []
    for row, spec in all_rows(config).items():
        if not spec.get("grid"):
            continue
        valid, train = numbers(frame, row, "perplexity_valid")[0], numbers(frame, row, "perplexity_train")[0]
        sizes = f"({int(numbers(frame, row, 'iss_1st')[0])}, {int(numbers(frame, row, 'iss_2nd')[0])})"
        history = pd.read_csv(row_dir(results, config, row, selection_seed) / "history.csv")
        best = history.loc[history.valid_perplexity.idxmin()]
        lines.append({"Width": spec["width"], "Row": spec["kind"], "Sizes": sizes, "Keep": fmt_fixed(spec["keep_prob"]),
                      "Valid ppl": f"{valid:.2f}", "Train ppl (eval mode)": f"{train:.2f}",
                      "Valid / train": f"{valid / train:.2f}",
                      "Best valid (epoch)": f"{best.valid_perplexity:.2f} ({int(best.epoch)} of {len(history)})"})
    return pd.DataFrame(lines)


def wall_seconds(config: dict, results: Path, measured: dict[tuple[str, int], dict]) -> tuple[float, float]:
    """(sum over every job, the longest training job) of the recorded wall times; a training resumed
    from its checkpoint counts its epochs' time (report_sources.recorded_jobs)."""
    jobs = [job for (row, seed), m in measured.items()
            for job in recorded_jobs(f"{row}/seed{seed}", m, row_dir(results, config, row, seed) / HISTORY)]
    return (sum(job.seconds or 0.0 for job in jobs),
            max((job.seconds or 0.0 for job in jobs if job.step == "training"), default=0.0))


def budget_line(config: dict, results: Path, measured: dict[tuple[str, int], dict]) -> str:
    """The measured job time against the budget the experiment is sized for (config `budget`)."""
    budget = settings(config).get("budget")
    total, longest = wall_seconds(config, results, measured)
    timed = (f"Job wall time: {total / 3600:.2f} h in all ({len(measured)} runs, training and evaluation, "
             f"one thread each), the longest training job {longest / 60:.1f} min")
    if not budget:
        return timed + "."
    wall = total / 3600 / budget["cores"]
    return (f"{timed}: about {wall:.2f} h on {budget['cores']} cores. Budget: at most {budget['job_minutes']:g} min "
            f"per training job ({'kept' if longest <= 60 * budget['job_minutes'] else 'exceeded'}), about "
            f"{budget['hours']:g} h in all ({'kept' if wall <= budget['hours'] else 'exceeded'}).")


def banner(config: dict, results: Path, measured: dict[tuple[str, int], dict]) -> list[str]:
    table = settings(config)
    first = measured[row_name(widths(config)[0], "baseline"), seeds(config)[0]]
    trained = first.get("training_provenance") or first["provenance"]
    issues = run_issues(config, [(f"{TABLE}/{row}/seed{seed}", row_dir(results, config, row, seed),
                                  resolved_settings(config, results, row, seed), seed) for row, seed in runs(config)])
    return [
        f"Scale: **{config['scale']}** ({ptb_text(table)}; widths {widths(config)}, {table['epochs']} epoch(s) per "
        f"row, {len(seeds(config))} seeds). Trained on {trained['device']} with {threads_text(trained['threads'])}. "
        + budget_line(config, results, measured),
        made_at(config, trained, seeds(config)),
        f"Keep ratios of the baseline and the direct design chosen from {table['keep_grid']} on validation, by "
        f"runs at seed {table['selection_seed']} (not a reported seed); ISS keeps {table['iss']['keep_prob']}. "
        "Ratios are to the mean of the width's baseline seeds; Direct − ISS is paired by seed (positive: ISS "
        "is better).",
    ] + provenance_lines(issues)


def build(config: dict, results: Path, reports: Path) -> list[Path]:
    measured = read_runs(config, results)
    frame = collect(config, measured)
    lines = banner(config, results, measured)
    write_table_files(TABLE, "Table 1 across widths: ISS against the direct design", frame, [
        Section("Chosen rows, every seed", summary_table(frame, config),
                "ISS against the direct design as the LSTMs widen (mean ± sd over seeds).", "tab:table1-width",
                lines, [], []),
        Section("The keep-ratio grid (selection seed)", grid_table(frame, config, results),
                "The keep-ratio grid of the width experiment.", "tab:table1-width-grid", [], [], []),
    ], scale_root(results, config), reports)
    return [scale_root(results, config) / f"{TABLE}.csv", *draw(frame, config, Path(reports) / "figures" / TABLE)]

