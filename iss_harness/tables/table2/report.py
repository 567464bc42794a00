"""Table 2 as the paper prints it (RHN lambda sweep), every reproduced number beside the paper's.

Rows of this run are paired with the paper's rows by rank: the baseline with the baseline, the
k-th smallest lambda with the paper's k-th ISS row (so a scale that sweeps other lambdas still
lines up with the paper's sweep; at the paper scale the lambdas are the paper's and the pairing
is by value). Extra lambdas have no paper counterpart. Several seeds show as mean ± sd.
results/table2.csv holds every seed in tidy form (one line per setting x row x seed x metric).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from iss_harness.config import scale_settings
from iss_harness.tables.table2.rows import table2_rows, table2_seeds
from iss_harness.paper.tables import load_paper_tables, paired_paper_rows
from iss_harness.provenance import provenance_lines
from iss_harness.tasks.paths import scale_root, table_dir
from iss_harness.io import read_json
from iss_harness.tables.table2.rows import TABLE, paper_widths, row_settings, run_dir
from iss_harness.reporting.table_files import (
    Section, banner_facts, made_at, paper_size_timing, ptb_text,
    scale_line, tidy_frame, values_of, write_table_files,
)
from iss_harness.render import MISSING, fmt_mean_sd, fmt_millions, fmt_ms, fmt_ratio, format_pair

TIMING_NOTE = ("Times: the whole RHN LM (embedding, every micro-layer, tied softmax) at batch {batch} x {steps} "
               "steps on the CPU; baseline and compact models interleaved in one process, median of all calls, "
               "each model on its fastest path (threads x kernel); first seed only. Timings are not "
               "deterministic, perplexities and widths are (CPU, fixed seed).")


def collect(config: dict, results: Path) -> pd.DataFrame:
    paper = load_paper_tables()
    pairs = paired_paper_rows(table2_rows(config), paper.rows(TABLE))
    records = []

    def add(setting, row, seed, metric, value, paper_row, paper_column=None):
        cell = paper.cell(TABLE, paper_row, paper_column) if paper_row and paper_column else None
        records.append(dict(setting=setting, row=row, seed=seed, metric=metric, reproduced=value,
                            paper=cell.value if cell else None, paper_printed=cell.printed if cell else None,
                            paper_source=cell.source if cell else None,
                            paper_row=paper_row, paper_column=paper_column if cell else None))

    learned = read_json(table_dir(results, config, TABLE) / "timing_learned.json")
    first_seed = table2_seeds(config)[0]
    for row in table2_rows(config):
        partner = pairs[row]
        for seed in table2_seeds(config):
            m = read_json(run_dir(results, config, row, seed) / "metrics.json")
            add("this_run", row, seed, "lambda", m["lambda"], partner, "lambda")
            add("this_run", row, seed, "perplexity_valid", m["perplexity_valid"], partner, "perplexity_valid")
            add("this_run", row, seed, "perplexity_test", m["perplexity_test"], partner, "perplexity_test")
            add("this_run", row, seed, "width", m["width"], partner, "width")
            add("this_run", row, seed, "parameters", m["parameters"], partner, "parameters")
            add("this_run", row, seed, "mult_add_reduction", m["mult_add_reduction"], partner)
            if seed == first_seed:
                add("this_run", row, seed, "total_time_ms", learned["speedups"][row]["median_ms"], partner)
                add("this_run", row, seed, "speedup", learned["speedups"][row]["speedup"], partner)

    timed = paper_size_timing(config, results, TABLE, "costs")
    for row, width in paper_widths().items():
        cost = timed["costs"][row]  # counted on the models by the timing step
        add("paper_sizes", row, None, "width", width, row)  # an input here (from the paper file)
        add("paper_sizes", row, None, "parameters", cost["weights"], row, "parameters")
        add("paper_sizes", row, None, "mult_add_reduction", cost["mult_add_reduction"], row)
        add("paper_sizes", row, None, "total_time_ms", timed["speedups"][row]["median_ms"], row)
        add("paper_sizes", row, None, "speedup", timed["speedups"][row]["speedup"], row)
    return tidy_frame(records, config)


def _printed(frame: pd.DataFrame, row: str, metric: str, setting: str = "this_run") -> str:
    hit = frame[(frame.setting == setting) & (frame.row == row) & (frame.metric == metric)].paper_printed.dropna()
    return hit.iloc[0] if len(hit) else MISSING


def this_run_table(frame: pd.DataFrame, rows: list[str]) -> pd.DataFrame:
    lines = []
    for row in rows:
        v = lambda metric: values_of(frame, "this_run", row, metric)  # noqa: E731
        p = lambda metric: _printed(frame, row, metric)  # noqa: E731
        lines.append({
            "Method": "baseline" if row == "baseline" else "ISS*",
            "λ": format_pair(f"{v('lambda')[0]:g}", p("lambda")),
            "Perplexity (validate, test)": format_pair(
                f"({fmt_mean_sd(v('perplexity_valid'))}, {fmt_mean_sd(v('perplexity_test'))})",
                f"{p('perplexity_valid')}, {p('perplexity_test')}"),
            "RHN width": format_pair(fmt_mean_sd(v("width"), 1 if len(v("width")) > 1 else 0), p("width")),
            "Parameter #": format_pair(fmt_millions(sum(v("parameters")) / len(v("parameters")), 2), p("parameters")),
            "Total time": fmt_ms(v("total_time_ms")[0]),
            "Speedup": fmt_ratio(v("speedup")[0]),
        })
    return pd.DataFrame(lines)


def paper_sizes_table(frame: pd.DataFrame, rows: list[str]) -> pd.DataFrame:
    lines = []
    for row in rows:
        v = lambda metric: values_of(frame, "paper_sizes", row, metric)[0]  # noqa: E731
        lines.append({
            "Row": row.replace("lambda_", "λ = "),
            "RHN width": int(v("width")),
            "Parameter #": format_pair(fmt_millions(v("parameters")), _printed(frame, row, "parameters", "paper_sizes")),
            "Mult-add reduction": fmt_ratio(v("mult_add_reduction")),
            "Total time": fmt_ms(v("total_time_ms")),
            "Speedup": fmt_ratio(v("speedup")),
        })
    return pd.DataFrame(lines)


def banner(config: dict, results: Path) -> list[str]:
    seeds = table2_seeds(config)
    settings = scale_settings(config)
    table = settings[TABLE]
    timed, trained, issues = banner_facts(config, results, TABLE, table2_rows(config), seeds,
                                          lambda row, seed: run_dir(results, config, row, seed),
                                          lambda row: row_settings(config, row), first_row="baseline")
    return [
        scale_line(config, f"{ptb_text(settings)}; RHN width {table['width']}, depth {table['depth']}, "
                           f"{table['epochs']} epochs, best-validation weights; seeds {', '.join(map(str, seeds))}",
                   trained, timed),
        made_at(config, trained),
        "Each cell: reproduced value, the paper's value in parentheses (from config/paper_tables.yaml); ISS rows "
        "are paired with the paper's by rank of λ. Perplexity and width are exactly comparable only at the paper "
        "scale.",
    ] + provenance_lines(issues)


def build(config: dict, results: Path, reports: Path) -> pd.DataFrame:
    paper = load_paper_tables()
    frame = collect(config, results)
    footnotes = list(paper.table(TABLE).footnotes)
    timing = read_json(table_dir(results, config, TABLE) / "timing_learned.json")
    note = TIMING_NOTE.format(batch=timing["batch_size"], steps=timing["num_steps"])
    write_table_files(TABLE, "Table 2: Recurrent Highway Networks on PTB, ISS lambda sweep", frame, [
        Section("This run", this_run_table(frame, table2_rows(config)),
                "Table 2 reproduced: RHN on PTB, ISS lambda sweep (this run).", "tab:table2-run",
                banner(config, results), footnotes + [note], footnotes),
        Section("At the paper's widths (depth 10, random weights; geometry and latency need no training)",
                paper_sizes_table(frame, paper.rows(TABLE)), "Table 2 at the paper's widths (random weights).",
                "tab:table2-paper-sizes", [], [note.replace("; first seed only", "")], []),
    ], scale_root(results, config), reports)
    return frame
