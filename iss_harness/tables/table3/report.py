"""Table 3 as the paper prints it (BiDAF on SQuAD), every reproduced number beside the paper's.

Two tables, as for Table 1:
- "this run": the models trained at the selected scale: official EM/F1 of the compact (shrunk)
  model on the evaluation questions, the ISS sizes of the six LSTMs, its weight # and its latency
  per question at batch 1 against this run's baseline;
- "paper sizes": the paper's published sizes at d = 100 with random weights: weight # (C fixed by
  the paper's 2.69M, spec 4.1) and latency at batch 1, comparable at every scale.

ISS rows are paired with the paper's by rank of lambda (iss_k with the paper's k-th ISS row).
results/table3.csv holds both in tidy form. The weight # of this run's rows carries no paper column
(its size is learned, and at small scales the model is not the paper's), so ``iss compare`` checks
weight # on the paper_sizes lines only.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from iss_harness.paper.tables import load_paper_tables, paired_paper_rows
from iss_harness.provenance import report_made
from iss_harness.io import read_json
from iss_harness.tables.table3.rows import CONTROL_ROW, TABLE, iss_rows, row_dir, scale_dir, settings, table3_rows
from iss_harness.tasks.paths import scale_root
from iss_harness.reporting.table_files import (Section, paper_size_timing, threads_text, tidy_frame, value_of,
                                               write_table_files)
from iss_harness.render import MISSING, fmt_fixed, fmt_millions, fmt_ms, fmt_ratio, format_pair

FAMILY_COLUMNS = (("ModFwd1", "modfwd1"), ("ModBwd1", "modbwd1"), ("ModFwd2", "modfwd2"), ("ModBwd2", "modbwd2"),
                  ("OutFwd", "outfwd"), ("OutBwd", "outbwd"))
TIMING_NOTE = ("Times: one question at a time (batch 1) through the whole model (char CNN, highway, every LSTM, "
               "attention, pointers, best-span decoding) on the CPU, {questions} fixed evaluation questions, "
               "baseline and compact models interleaved in one process, median of all calls, each model on its "
               "fastest path (threads x kernel). Timings are not deterministic; EM/F1 and sizes are (CPU, fixed seed).")
VARIANT_NOTE = {
    "paper": ("ISS variant 'paper' (the original groups): the a1i slot of the output LSTM's input is in no group, "
              "so a removed ModFwd2/ModBwd2 unit's bias-driven output is dropped with it and the shrink is slightly "
              "lossy (largest change of a start/end log-probability on a probe batch: {error}); EM/F1 are those of "
              "the shrunk model."),
    "exact": ("ISS variant 'exact': the a1i slot is in the ModFwd2/ModBwd2 groups, the shrink is lossless "
              "(largest change of a start/end log-probability on a probe batch: {error}); weight # lies slightly "
              "below the paper's formula."),
}
def paper_sizes_note(geometry: dict) -> str:
    """How the paper-size weight # is made; every number as the timing step counted it on the model
    (``iss_harness.tables.table3.experiment.paper_size_geometry``, in timing_paper_sizes.json)."""
    d, vw, vc = geometry["d"], geometry["vw"], geometry["vc"]
    return (f"Weight # at the paper's sizes: d = {d} with the paper variant (the a1i slot stays 2d wide, "
            f"spec 4.1) plus C = {geometry['fixed_weights']:,} for the char CNN, highway, contextual LSTM, attention "
            f"and trainable embeddings, chosen to match the paper's 2.69M ({d} VW + 8 VC = {d * vw + 8 * vc:,} "
            f"with VW = {vw}, VC = {vc}; the paper does not give its vocabulary). The exact variant's "
            f"counts are in results/table3.csv (weights_exact).")


def control_note(config: dict, rows: list[str]) -> list[str]:
    """The footnote of the control row, when the run has one."""
    if CONTROL_ROW not in rows:
        return []
    iss = settings(config)["iss"]
    return [f"‡ Control (not in the paper): the baseline's EMA weights fine-tuned exactly as the ISS rows "
            f"({iss['steps']} Adam steps, lr {iss['lr']}, input keep {iss['input_keep_prob']}, the same element "
            f"threshold) with λ = 0: the ISS rows' difference from it is what the group-Lasso penalty costs, their "
            f"difference from the baseline also holds what the fine-tuning itself changes."]


def collect(config: dict, results: Path) -> pd.DataFrame:
    paper = load_paper_tables()
    rows = table3_rows(config)
    # The control row is this harness's, not the paper's: paired with none of its rows, so no cell checks.
    pairs = {**paired_paper_rows(["baseline", *iss_rows(config)], paper.rows(TABLE)), CONTROL_ROW: None}
    records = []

    def add(setting, row, metric, value, paper_row, paper_column=None):
        cell = paper.cell(TABLE, paper_row, paper_column) if paper_row and paper_column else None
        records.append(dict(setting=setting, row=row, metric=metric, reproduced=value,
                            paper=cell.value if cell else None, paper_printed=cell.printed if cell else None,
                            paper_source=cell.source if cell else None,
                            paper_column=paper_column if cell else None, paper_row=paper_row))

    learned = read_json(scale_dir(results, config) / "timing_learned.json")
    for row in rows:
        partner = pairs[row]
        m = read_json(row_dir(results, config, row) / "metrics.json")
        add("this_run", row, "lambda", m["lambda"], partner)
        add("this_run", row, "em", m["em"], partner, "em")
        add("this_run", row, "f1", m["f1"], partner, "f1")
        for family, column in FAMILY_COLUMNS:
            add("this_run", row, column, m["iss_sizes"][family], partner, column)
        add("this_run", row, "weights", m["weights"], partner)  # learned geometry: no paper column (see above)
        add("this_run", row, "total_time_ms", learned["speedups"][row]["median_ms"], partner, "total_time_ms")
        add("this_run", row, "speedup", learned["speedups"][row]["speedup"], partner)
        add("this_run", row, "em_before_shrink", m["em_before_shrink"], partner)
        add("this_run", row, "f1_before_shrink", m["f1_before_shrink"], partner)
        add("this_run", row, "shrink_max_abs_logprob_error", m["shrink_max_abs_logprob_error"], partner)
        add("this_run", row, "iss_variant", m["iss_variant"], partner)

    timed = paper_size_timing(config, results, TABLE, "geometry")
    geometry = timed["geometry"]  # counted on the models by the timing step
    for row in paper.rows(TABLE):
        for family, column in FAMILY_COLUMNS:
            # inputs (from the paper file): no paper column
            add("paper_sizes", row, column, int(paper.cell(TABLE, row, column).value), row)
        add("paper_sizes", row, "weights", geometry["weights"][row], row, "weights")
        add("paper_sizes", row, "weights_exact", geometry["weights_exact"][row], row)
        add("paper_sizes", row, "total_time_ms", timed["speedups"][row]["median_ms"], row, "total_time_ms")
        add("paper_sizes", row, "speedup", timed["speedups"][row]["speedup"], row)
    return tidy_frame(records, config)


def _printed(frame: pd.DataFrame, setting: str, row: str, metric: str, paper, partner: str | None) -> str:
    """The paper's printed cell for this line's partner row (also for metrics without a paper column here)."""
    if partner is None:
        return MISSING
    return paper.cell(TABLE, partner, metric).printed


def fmt_count(count) -> str:
    """Weight counts: "2.69M" as the paper, "61.2k" below a million (small scales)."""
    if count is None:
        return MISSING
    return fmt_millions(count, 2) if count >= 1e6 else f"{count / 1e3:.1f}k"


def this_run_table(frame: pd.DataFrame, rows: list[str]) -> pd.DataFrame:
    paper = load_paper_tables()
    lines = []
    for row in rows:
        partner = _partner(frame, row)
        v = lambda metric: value_of(frame, "this_run", row, metric)  # noqa: E731
        p = lambda metric: _printed(frame, "this_run", row, metric, paper, partner)  # noqa: E731
        method = ("baseline" if row == "baseline" else "fine-tuned, λ = 0 (control)‡" if row == CONTROL_ROW
                  else f"ISS (λ = {float(v('lambda')):g})")
        line = {"Method": method, "EM": format_pair(fmt_fixed(v("em")), p("em")),
                "F1": format_pair(fmt_fixed(v("f1")), p("f1"))}
        for family, column in FAMILY_COLUMNS:
            line[family] = format_pair(str(int(v(column))), p(column))
        line["Weight #"] = format_pair(fmt_count(v("weights")), p("weights"))
        line["Total time*"] = format_pair(fmt_ms(v("total_time_ms")), p("total_time_ms"))
        lines.append(line)
    return pd.DataFrame(lines)


def _partner(frame: pd.DataFrame, row: str) -> str | None:
    hit = frame[(frame.setting == "this_run") & (frame.row == row)].paper_row.dropna()
    return hit.iloc[0] if len(hit) else None


def paper_sizes_table(frame: pd.DataFrame, rows: list[str]) -> pd.DataFrame:
    paper = load_paper_tables()
    base_ms = paper.cell(TABLE, "baseline", "total_time_ms").value
    lines = []
    for row in rows:
        v = lambda metric: value_of(frame, "paper_sizes", row, metric)  # noqa: E731
        paper_ms = paper.cell(TABLE, row, "total_time_ms").value
        lines.append({
            "Row": row,
            "ISS sizes (ModFwd1 ... OutBwd)": "/".join(str(int(v(column))) for _, column in FAMILY_COLUMNS),
            "Weight #": format_pair(fmt_count(v("weights")), paper.cell(TABLE, row, "weights").printed),
            "Total time*": format_pair(fmt_ms(v("total_time_ms")), paper.cell(TABLE, row, "total_time_ms").printed),
            "Speedup": format_pair(fmt_ratio(v("speedup")), fmt_ratio(base_ms / paper_ms)),
        })
    return pd.DataFrame(lines)


def banner(config: dict, results: Path) -> list[str]:
    table = settings(config)
    base = read_json(row_dir(results, config, "baseline") / "metrics.json")
    timed = read_json(scale_dir(results, config) / "timing_learned.json")
    trained = base.get("training_provenance") or base["provenance"]
    data = base["data"]
    if data["source"] == "dev_split":
        split = (f"SQuAD **dev-v1.1 split by article** (seed {data.get('split_seed')}): {data['train_articles']} "
                 f"articles ({data['train_questions']:,} questions, {data['train_kept']:,} kept for training) train, "
                 f"{data['eval_articles']} other articles ({data['eval_questions']:,} questions) are scored with the "
                 "official v1.1 metric; the paper trains on train-v1.1 and scores all of dev-v1.1")
    else:
        split = (f"SQuAD train-v1.1 ({data['train_kept']:,} of {data['train_questions']:,} questions kept for "
                 f"training), official v1.1 metric on dev-v1.1 ({data['eval_questions']:,} questions), as the paper")
    glove = f"GloVe 6B {data['glove_dim']}d fixed" if data["glove_dim"] else "learned word vectors"
    rows = [read_json(row_dir(results, config, row) / "metrics.json") for row in ["baseline", *iss_rows(config)]]
    variants = sorted({m["iss_variant"] for m in rows})
    b = base["settings"]  # what the weights were trained with (not what the config says now)
    iss = rows[-1]["settings"] if len(rows) > 1 else b
    ev = base["eval_settings"]
    model = (f"BiDAF d = {max(base['trained_sizes'].values())}, {glove}, char CNN {table['model']['char_filters']} "
             "filters")
    return [
        f"Scale: **{config['scale']}**. Data: {split}.",
        f"Model: {model}; baseline {b['steps']} Adam steps (lr {b['lr']}, batch {b['batch_size']}, EMA "
        f"{b['ema_decay']}, input keep {b['input_keep_prob']}); ISS rows fine-tuned {iss['steps']} steps from the "
        f"baseline's EMA weights (Adam restarted, lr {iss['lr']}, input keep {iss['input_keep_prob']}); element "
        f"threshold {b['zero_threshold']} after every step and {ev['zero_threshold']} on the loaded EMA weights, "
        f"structure coordinator {'on' if ev['structure_coordinator'] else 'off'}; ISS variant "
        f"{', '.join(variants)} (every number of this run).",
        f"Trained on {trained['device']} with {threads_text(trained['threads'])} at git {trained['git_sha']}, config "
        f"{trained['config_hash']}, torch {trained['versions']['torch']}; latency on "
        f"{timed['machine']['processor']} ({timed['machine']['cpu_capability']}); report {report_made(config)}.",
        "Each cell: reproduced value, the paper's value in parentheses (config/paper_tables.yaml); ISS rows are paired "
        "with the paper's by rank of λ (the paper does not print its λs). EM/F1 and sizes are comparable with the "
        "paper's only at the paper scale.",
    ]


def build(config: dict, results: Path, reports: Path) -> pd.DataFrame:
    paper = load_paper_tables()
    frame = collect(config, results)
    rows = table3_rows(config)
    sizes_note = paper_sizes_note(paper_size_timing(config, results, TABLE, "geometry")["geometry"])
    timing = read_json(scale_dir(results, config) / "timing_learned.json")
    errors = {}
    for row in rows:
        m = read_json(row_dir(results, config, row) / "metrics.json")
        errors.setdefault(m["iss_variant"], []).append(m["shrink_max_abs_logprob_error"])
    variant_notes = [VARIANT_NOTE[v].format(error=f"at most {max(e):.2g}") for v, e in errors.items()]
    timing_note = TIMING_NOTE.format(questions=timing["questions"])
    footnotes = list(paper.table(TABLE).footnotes) + variant_notes + [timing_note] + control_note(config, rows)
    title = paper.table(TABLE).title
    write_table_files(TABLE, f"Table 3: {title}", frame, [
        Section("This run", this_run_table(frame, rows), f"Table 3 reproduced: {title} (this run).", "tab:table3-run",
                banner(config, results), footnotes, footnotes),
        Section("At the paper's sizes (d = 100, random weights; weight # and latency need no training)",
                paper_sizes_table(frame, paper.rows(TABLE)), "Table 3 at the paper's sizes (d = 100, random weights).",
                "tab:table3-paper-sizes", [],
                [sizes_note, timing_note.replace("EM/F1 and sizes are (CPU, fixed seed)", "weight counts are exact")],
                [sizes_note]),
    ], scale_root(results, config), reports)
    return frame
