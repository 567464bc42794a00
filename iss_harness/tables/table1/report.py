"""Table 1 as the paper prints it, every reproduced number beside the paper's.

Two tables, because two kinds of numbers answer different questions:
- "this run": the models trained at the selected scale (perplexity, learned ISS sizes, their
  weights, mult-add reduction and latency against this run's baseline);
- "paper sizes": the paper's published geometries with random weights (weight #, mult-add
  reduction, latency and speedup need no trained weights), comparable at every scale.
results/table1.csv holds both in tidy form (one line per row x metric x setting).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from iss_harness.config import scale_settings
from iss_harness.paper.tables import load_paper_tables
from iss_harness.provenance import provenance_lines
from iss_harness.tasks.paths import scale_root, table_dir
from iss_harness.io import read_json
from iss_harness.tables.table1.rows import (TABLE, paper_row, paper_sizes, row_dir, row_label, row_settings, seeds, start_row,
                             table_rows)
from iss_harness.reporting.table_files import (
    Section, banner_facts, made_at, paper_size_timing, ptb_text,
    scale_line, threads_text, tidy_frame, value_of, values_of, write_table_files,
)
from iss_harness.render import format_pair, fmt_fixed, fmt_mean_sd, fmt_millions, fmt_ms, fmt_ratio

TIMING_NOTE = ("Times: the whole LM (embedding, LSTMs, decoder, log-softmax) at batch 10 x 30 steps; baseline and "
               "compact models interleaved in one process, median of all calls, each model on its fastest path "
               "(threads x kernel). Timings are not deterministic (perplexities, ISS sizes and weight counts are: CPU, "
               "fixed seed); at the smoke scale the models are so small "
               "that speedups of this run are within noise, while the paper-size latencies are meaningful at "
               "every scale.")


def _paper(paper, row: str, column: str) -> str:
    return paper.cell(TABLE, paper_row(row), column).printed


def collect(config: dict, results: Path) -> pd.DataFrame:
    """Tidy records: setting (this_run | paper_sizes), row, metric, reproduced, paper value, printed,
    source and the paper file's column key (what `iss compare` checks)."""
    paper = load_paper_tables()
    records = []

    def add(setting, row, metric, value, paper_column=None, seed=None):
        cell = paper.cell(TABLE, paper_row(row), paper_column) if paper_column else None
        # A row started from the baseline is shown beside the paper's ISS row, but it is not that
        # row's procedure (the paper starts from scratch): no cell check for it.
        checked = paper_column if paper_row(row) == row else None
        records.append(dict(setting=setting, row=row, seed=seed, metric=metric, reproduced=value,
                            paper=cell.value if cell else None, paper_printed=cell.printed if cell else None,
                            paper_source=cell.source if cell else None, paper_column=checked))

    learned = read_json(table_dir(results, config, TABLE) / "timing_learned.json")
    all_seeds = seeds(config)
    for row in table_rows(config):
        for seed in all_seeds:
            m = read_json(row_dir(results, config, row, seed) / "metrics.json")
            add("this_run", row, "keep_prob", m["keep_prob"], "keep", seed)
            add("this_run", row, "lambda", m["lambda"], None, seed)
            add("this_run", row, "perplexity_valid", m["perplexity_valid"], "perplexity_valid", seed)
            add("this_run", row, "perplexity_test", m["perplexity_test"], "perplexity_test", seed)
            add("this_run", row, "iss_1st", m["iss_sizes"][0], "iss_1st", seed)
            add("this_run", row, "iss_2nd", m["iss_sizes"][1], "iss_2nd", seed)
            add("this_run", row, "weights", m["weights"], "weights", seed)
            add("this_run", row, "mult_add_reduction", m["mult_add_reduction"], "mult_add_reduction", seed)
            add("this_run", row, "mult_add_reduction_gemm", m["mult_add_reduction_gemm"], None, seed)
            if seed == all_seeds[0]:  # latency: the first seed's compact models
                add("this_run", row, "total_time_ms", learned["speedups"][row]["median_ms"], "total_time_ms", seed)
                add("this_run", row, "speedup", learned["speedups"][row]["speedup"], "speedup", seed)

    timed = paper_size_timing(config, results, TABLE, "costs")
    for row, hidden in paper_sizes().items():
        summary = timed["costs"][row]  # counted on the models by the timing step
        # The sizes are inputs here (taken from the paper file), so they get no paper column.
        add("paper_sizes", row, "iss_1st", hidden[0])
        add("paper_sizes", row, "iss_2nd", hidden[1])
        add("paper_sizes", row, "weights", summary["weights"], "weights")
        add("paper_sizes", row, "mult_add_reduction", summary["mult_add_reduction"], "mult_add_reduction")
        add("paper_sizes", row, "mult_add_reduction_gemm", summary["mult_add_reduction_gemm"])
        add("paper_sizes", row, "total_time_ms", timed["speedups"][row]["median_ms"], "total_time_ms")
        add("paper_sizes", row, "speedup", timed["speedups"][row]["speedup"], "speedup")
        add("paper_sizes", row, "fastest_path", timed["speedups"][row]["path"].split("|", 1)[1])
    return tidy_frame(records, config)


def _sizes(values: list) -> str:
    """ISS sizes: whole numbers for one seed, mean ± sd over several."""
    return str(int(values[0])) if len(values) == 1 else fmt_mean_sd(values, 1)


def this_run_table(frame: pd.DataFrame, paper, rows: list[str]) -> pd.DataFrame:
    lines = []
    for row in rows:
        v = lambda metric: value_of(frame, "this_run", row, metric)  # noqa: E731
        vs = lambda metric: values_of(frame, "this_run", row, metric)  # noqa: E731
        p = lambda column: _paper(paper, row, column)  # noqa: E731
        lines.append({
            "Method": row_label(row),
            "Dropout keep ratio": format_pair(fmt_fixed(v("keep_prob")), p("keep")),
            "λ": f"{v('lambda'):g}",
            "Perplexity (validate, test)": format_pair(
                f"({fmt_mean_sd(vs('perplexity_valid'))}, {fmt_mean_sd(vs('perplexity_test'))})",
                f"{p('perplexity_valid')}, {p('perplexity_test')}"),
            "ISS # in (1st, 2nd) LSTM": format_pair(f"({_sizes(vs('iss_1st'))}, {_sizes(vs('iss_2nd'))})",
                                                    f"{p('iss_1st')}, {p('iss_2nd')}"),
            "Weight #": format_pair(fmt_millions(sum(vs("weights")) / len(vs("weights")), 2), p("weights")),
            "Total time*": format_pair(fmt_ms(v("total_time_ms")), p("total_time_ms")),
            "Speedup": format_pair(fmt_ratio(v("speedup")), p("speedup")),
            "Mult-add reduction†": format_pair(fmt_ratio(sum(vs("mult_add_reduction")) / len(vs("mult_add_reduction"))),
                                               p("mult_add_reduction")),
        })
    return pd.DataFrame(lines)


KERNELS = {"onednn": "oneDNN", "aten": "ATen"}  # timing's kernel names as a reader knows them


def fastest_path_text(path: str) -> str:
    """A timing path "1T|onednn" (threads, kernel; iss_harness.tasks.timing) as "1 thread, oneDNN"."""
    threads, _, kernel = path.partition("|")
    return f"{threads_text(threads.removesuffix('T'))}, {KERNELS.get(kernel, kernel)}"


def paper_sizes_table(frame: pd.DataFrame, paper) -> pd.DataFrame:
    lines = []
    for row in ("baseline", "iss_a", "iss_b"):
        v = lambda metric: value_of(frame, "paper_sizes", row, metric)  # noqa: E731
        p = lambda column: _paper(paper, row, column)  # noqa: E731
        lines.append({
            "Method": row_label(row),
            "ISS # in (1st, 2nd) LSTM": f"({v('iss_1st')}, {v('iss_2nd')})",
            "Weight #": format_pair(fmt_millions(v("weights")), p("weights")),
            "Total time*": format_pair(fmt_ms(v("total_time_ms")), p("total_time_ms")),
            "Speedup": format_pair(fmt_ratio(v("speedup")), p("speedup")),
            "Mult-add reduction†": format_pair(fmt_ratio(v("mult_add_reduction")), p("mult_add_reduction")),
            "Mult-add reduction, GEMM only": fmt_ratio(v("mult_add_reduction_gemm")),
            "Fastest path": fastest_path_text(v("fastest_path")),
        })
    return pd.DataFrame(lines)


def banner(config: dict, results: Path) -> list[str]:
    all_seeds = seeds(config)
    settings = scale_settings(config)
    timed, trained, issues = banner_facts(config, results, TABLE, table_rows(config), all_seeds,
                                          lambda row, seed: row_dir(results, config, row, seed),
                                          lambda row: row_settings(config, row), first_row="iss_a")
    threads = sorted({c["threads"] for c in timed["candidates"].values()})
    return [
        scale_line(config, f"{ptb_text(settings)}, hidden {settings[TABLE]['hidden_size']}, "
                           f"{settings[TABLE]['epochs']} epochs", trained, timed,
                   f", threads tried {threads}, fastest path per model"),
        made_at(config, trained, all_seeds),
        "Each cell: reproduced value, the paper's value in parentheses (from config/paper_tables.yaml). "
        "Perplexity is exactly comparable only at the paper scale.",
    ] + provenance_lines(issues)


def start_notes(config: dict) -> list[str]:
    """A footnote for the rows that start ISS from the trained baseline, naming how long they train."""
    table = scale_settings(config)[TABLE]
    started = {row: row_settings(config, row).get("epochs", table["epochs"]) for row in table_rows(config)
               if start_row(row_settings(config, row))}
    if not started:
        return []
    epochs = ", ".join(f"{row} {n}" for row, n in started.items())
    return [f"ISS from baseline: the trained baseline of the same seed continued with group Lasso and the "
            f"threshold ({epochs} extra epochs; the original code's --restore_path, spec 1.7). The paper's ISS "
            f"rows start from scratch: shown beside them for reference, not checked against them."]


def build(config: dict, results: Path, reports: Path) -> pd.DataFrame:
    paper = load_paper_tables()
    frame = collect(config, results)
    footnotes = list(paper.table(TABLE).footnotes) + start_notes(config)
    write_table_files(TABLE, "Table 1: two stacked LSTMs on PTB (baseline vs ISS vs direct design)", frame, [
        Section("This run", this_run_table(frame, paper, table_rows(config)),
                "Table 1 reproduced: two stacked LSTMs on PTB (this run).", "tab:table1-run",
                banner(config, results), footnotes + [TIMING_NOTE], footnotes),
        Section("At the paper's sizes (random weights; geometry and latency need no training)",
                paper_sizes_table(frame, paper), "Table 1 at the paper's sizes (random weights).",
                "tab:table1-paper-sizes", [], [TIMING_NOTE], []),
    ], scale_root(results, config), reports)
    return frame
