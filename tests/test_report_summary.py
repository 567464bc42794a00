"""The report's opening (iss_harness.reporting.summary): scope, methodology, results per claim, what
was easy and what was difficult, from a comparison.csv, results files with provenance, a claims file
and a configuration written in tmp_path."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from iss_harness.paper.claims import load_claims
from iss_harness.paper.compare import CSV_COLUMNS
from iss_harness.paper.tables import load_paper_tables
from iss_harness.reporting import report, report_sources, summary

KNOWN = "Measured here: the direct design wins on every seed (the words of the claims file)."
CLAIMS = [
    dict(id="keeps", statement="ISS keeps the perplexity: quoted from the abstract. More text.",
         source="Table 1", scales=["smoke", "mid"], margin="at most 10 % worse at mid",
         check=dict(kind="relation", table="table1", setting="this_run", left=dict(row="iss_a", metric="perplexity_valid"),
                    op="<=", right=dict(row="baseline", metric="perplexity_valid"), factor=1.1)),
    dict(id="direct_worse", statement="The direct design is worse. It trains from scratch.", source="Table 1",
         scales=["mid"], shown_at=["smoke"], margin="more than 1 point worse", known_failures={"mid": KNOWN},
         check=dict(kind="relation", table="table1", setting="this_run", left=dict(row="direct", metric="perplexity_valid"),
                    op=">", right=dict(row="iss_a", metric="perplexity_valid"))),
    dict(id="width_falls", statement="Widths fall with lambda", source="Table 2", scales=["mid"],
         margin="strictly decreasing: the margin of the claims file",
         check=dict(kind="monotone", table="table2", setting="this_run", metric="width",
                    rows=["baseline", "lambda_0.004"], direction="decreasing")),
    dict(id="bidaf", statement="Scores fall gradually", source="Table 3", scales=["paper"], margin="slack",
         check=dict(kind="monotone", table="table3", setting="this_run", metric="f1",
                    rows=["baseline", "iss_1"], direction="decreasing")),
    dict(id="never_compared", statement="A claim added after the comparison ran", source="Table 1", scales=["mid"],
         margin="m", check=dict(kind="relation", table="table1", setting="this_run",
                                left=dict(row="iss_a", metric="iss_1st"), op="<",
                                right=dict(row="baseline", metric="iss_1st"))),
]
ROWS = [  # the comparison's claim lines at mid: three seeds
    dict(kind="claim", id="keeps", scale="mid", n="3", status="pass", message="within the margin",
         reproduced_text="perplexity_valid(iss_a) 123.04 ± 1.04 (n=3); perplexity_valid(baseline) 117.81 ± 0.48 (n=3)"),
    dict(kind="claim", id="direct_worse", scale="mid", n="3", status="known fail",
         message="the comparison's own message, not the judgement", reproduced_text="perplexity_valid(direct) 120.48 ± 0.83 (n=3)"),
    dict(kind="claim", id="width_falls", scale="mid", n="3", status="fail", message="122 -> 123 is not decreasing",
         reproduced_text="width(baseline) 122.3 ± 2.1 (n=3)"),
    dict(kind="claim", id="bidaf", scale="mid", status="n/a", message="applies at paper; results at mid"),
    dict(kind="cell", id="table1/this_run/iss_a/perplexity_valid", scale="mid", status="n/a"),
]
CONFIG = {"scale": "mid", "scales": {"mid": {
    "table1": {"epochs": 5, "num_steps": 20, "rows": {"baseline": {"lambda": 0.0}, "iss_a_from_baseline": {"epochs": 2}}},
    "table2": {"epochs": 4},
    "table3": {"baseline": {"steps": 2500}, "iss": {"steps": 600}, "eval": {"batch_size": 64}},
}}}


def made(seconds: float, seed: int = 1234, threads: int = 1, device: str = "cpu (x86_64, AVX512)") -> dict:
    return dict(scale="mid", seed=seed, device=device, cpu="Test CPU @ 2GHz", threads=threads, wall_seconds=seconds)


def write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload), encoding="utf-8")


@pytest.fixture(scope="module")
def claims_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("claims") / "claims.yaml"
    path.write_text(yaml.safe_dump({"claims": CLAIMS}, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def claims(claims_file):
    return load_claims(claims_file, load_paper_tables())


@pytest.fixture
def results(tmp_path):
    """Table 1 run at mid (two seeds of one row, a timing file), Tables 2 and 3 not; the speed figure's file."""
    mid = tmp_path / "results" / "mid"
    write_json(mid / "table1" / "iss_a" / "seed1234" / "metrics.json",
               dict(training_provenance=made(100.0), provenance=made(5.0), shrink_max_abs_logprob_error=2e-6))
    write_json(mid / "table1" / "iss_a" / "seed1235" / "metrics.json",
               dict(training_provenance=made(120.0, seed=1235), provenance=made(6.0, seed=1235),
                    shrink_max_abs_logprob_error=1e-6))
    write_json(mid / "table1" / "timing_learned.json", dict(provenance=made(20.0, threads=2)))
    write_json(mid / "sparsity_speed.json", dict(provenance=made(40.0)))
    (mid / "table1.csv").write_text("scale,setting,row,metric,reproduced\nmid,this_run,iss_a,lambda,0\n")
    with (mid / "comparison.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(ROWS)
    return tmp_path / "results"


def lines_by_id(claims, rows=ROWS, scale="mid") -> dict[str, summary.ClaimLine]:
    return {line.id: line for line in summary.claim_lines(claims, rows, scale)}


def test_statuses_map_to_the_verdicts_of_a_reproducibility_report():
    assert summary.verdict_text("pass", "") == "reproduced"
    assert summary.verdict_text("fail", "") == summary.verdict_text("known fail", "") == "contradicted"
    assert summary.verdict_text("n/a", "") == "not testable at this scale"
    assert summary.verdict_text("missing", "") == "not run"
    assert summary.verdict_text("shown", "would pass (shown at smoke, not gated): x 1 < 2") == \
        "shown only (not gated at this scale), would pass"
    assert summary.verdict_text("shown", "would fail (shown at smoke, not gated): x").endswith("would fail")


def test_claim_lines_show_the_comparisons_numbers_and_seeds(claims):
    lines = lines_by_id(claims)
    assert [line.id for line in summary.claim_lines(claims, ROWS, "mid")] == [c["id"] for c in CLAIMS]
    keeps = lines["keeps"]
    assert keeps.statement == "ISS keeps the perplexity" and keeps.source == "Table 1"
    assert keeps.numbers == ("perplexity_valid(iss_a) 123.04 ± 1.04 (n=3); perplexity_valid(baseline) 117.81 ± 0.48 "
                             "(n=3) (each value mean ± sd over 3 seeds)")
    assert summary.claim_result_text(keeps).startswith("(mid): reproduced. Values: perplexity_valid(iss_a) 123.04")
    one_seed = summary.numbers_text(dict(reproduced_text="width(baseline) 128", n="1"))
    assert one_seed == "width(baseline) 128"
    assert lines["bidaf"].verdict == "not testable at this scale" and lines["bidaf"].numbers == ""
    assert lines["never_compared"].status == "missing" and lines["never_compared"].verdict == "not run"
    assert lines["direct_worse"].applies == "mid; shown at smoke"


def test_judgement_of_a_contradiction_comes_from_the_claims_file_only(claims):
    lines = lines_by_id(claims)
    assert lines["direct_worse"].judgement == KNOWN  # known_failures[mid], not the comparison's message
    assert "the comparison's own message" not in summary.claim_result_text(lines["direct_worse"])
    assert "strictly decreasing: the margin of the claims file" in lines["width_falls"].judgement  # a new failure
    assert lines["keeps"].judgement == lines["bidaf"].judgement == ""
    repro = summary.ReproSummary("mid", list(lines.values()), [], [], [])
    assert [line.id for line in repro.contradicted] == ["direct_worse", "width_falls"]
    assert summary.difficult_items(repro)[0] == f"direct_worse is contradicted at mid: {KNOWN}"
    assert summary.easy_items(repro) == ["Reproduced at mid: keeps (ISS keeps the perplexity)."]


def test_training_budget_is_read_from_the_configuration():
    settings = CONFIG["scales"]["mid"]
    assert summary.training_budget(settings["table1"]) == ["5 epochs", "iss_a_from_baseline: 2 epochs"]
    assert summary.training_budget(settings["table2"]) == ["4 epochs"]
    assert summary.training_budget(settings["table3"]) == ["baseline: 2500 steps", "iss: 600 steps"]
    assert summary.training_budget(None) == []


def test_wall_time_per_table_sums_its_jobs_and_names_the_longest(results):
    lines = report_sources.provenance_lines(results)
    totals = {total.table: total for total in report_sources.wall_totals(lines)}
    table1 = totals["table1"]
    assert (table1.scale, table1.jobs, table1.seconds) == ("mid", 5, pytest.approx(251.0))  # 2 x (train + eval) + timing
    assert table1.longest.label == "mid/table1/iss_a/seed1235/metrics.json (training)"
    assert totals["sparsity_speed"].jobs == 1 and "table2" not in totals
    assert report_sources.duration_text(52) == "52 s" and report_sources.duration_text(790) == "790 s (13.2 min)"


def test_a_resumed_training_counts_its_epochs_time_not_its_last_process(results):
    """wall_seconds counts the process that finished the training only; a checkpoint's resume loses
    the time before it. The epochs keep their seconds across a resume, so the report counts them."""
    resumed = results / "mid" / "table1" / "iss_a" / "seed1234"
    (resumed / "history.csv").write_text("epoch,seconds\n1,80.0\n2,90.0\n")  # 170 s of epochs, 100 s wall
    (results / "mid" / "table1" / "iss_a" / "seed1235" / "history.csv").write_text("epoch,seconds\n1,60.0\n2,50.0\n")
    lines = {line.file: line for line in report_sources.provenance_lines(results)}
    assert lines["mid/table1/iss_a/seed1234/metrics.json"].wall == "170 s (resumed: its epochs' time)"
    assert lines["mid/table1/iss_a/seed1235/metrics.json"].wall == "120 s"  # 110 s of epochs: not resumed
    table1 = {total.table: total for total in report_sources.wall_totals(list(lines.values()))}["table1"]
    assert table1.seconds == pytest.approx(251.0 + 70.0)  # the evaluation job keeps its own wall time
    assert table1.longest.label == "mid/table1/iss_a/seed1234/metrics.json (training, resumed)"
    # A history without per-epoch seconds (Table 3 logs steps) leaves the wall time alone.
    (resumed / "history.csv").write_text("step,loss\n250,8.1\n")
    assert report_sources.training_seconds(made(100.0), resumed / "history.csv") == (100.0, False)


def test_tables_not_run_are_said_and_every_table_gets_a_line(results, claims):
    sections = report_sources.table_sections(results / "mid", results.parent / "reports", load_paper_tables())
    repro = summary.gather_summary(CONFIG, results / "mid", sections, report_sources.provenance_lines(results), claims,
                                   ROWS)
    runs = {run.name: run for run in repro.tables}
    assert list(runs) == ["table1", "table2", "table3", "table1_width", "sparsity_speed"]
    assert runs["table1"].seeds == ["1234", "1235"] and runs["table1"].threads == ["1", "2"]
    assert runs["table1"].hardware == ["cpu (x86_64, AVX512), Test CPU @ 2GHz"]
    row = summary.method_row(runs["table3"])
    assert row["Training budget"] == "baseline: 2500 steps; iss: 600 steps" and row["Wall time"] == "not run"
    assert summary.not_run_text(repro) == "Not run at mid: table2, table3, table1_width (no results file of it records a job)."
    assert summary.method_row(runs["table1"])["Wall time"] == "251 s (4.2 min)"
    assert [e.table for e in repro.shrink] == ["table1"] and repro.shrink[0].largest == pytest.approx(2e-6)
    assert repro.expensive[0].label == "mid/table1/iss_a/seed1235/metrics.json (training)"


def test_a_report_regenerated_from_an_incomplete_record_says_what_each_table_covers(results, claims):
    covers = {"table1": "seeds 1234 of 1234, 1235, 1236; the others are not recorded yet",
              "table1_width": "not reported: its record lacks a piece its report needs (iss regenerate names it)"}
    config = {**CONFIG, "recorded": dict(manifest="recorded/mid/MANIFEST.json", date="2026-12-07", incomplete=covers)}
    sections = report_sources.table_sections(results / "mid", results.parent / "reports", load_paper_tables())
    repro = summary.gather_summary(config, results / "mid", sections, report_sources.provenance_lines(results), claims,
                                   ROWS)
    assert summary.not_run_text(repro) == (
        "Not run at mid: table2, table3, table1_width (no results file of it records a job). The record is incomplete "
        "(it is built a seed at a time): table1: seeds 1234 of 1234, 1235, 1236; the others are not recorded yet; "
        "table1_width: not reported: its record lacks a piece its report needs (iss regenerate names it).")


def test_report_opens_with_the_summary_in_both_formats(results, claims_file):
    reports = results.parent / "reports" / "mid"
    report.build(CONFIG, results, reports, claims_path=claims_file)
    md = (reports / "report.md").read_text(encoding="utf-8")
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert headings[:3] == ["## Reproducibility summary", "## Introduction", "## Comparison with the paper"]
    opening = md.split("## Introduction", 1)[0]
    for heading in ("### Scope", "### Methodology", "### Results per claim", "### What was easy",
                    "### What was difficult"):
        assert heading in opening
    assert "- **direct_worse** (mid): contradicted. Values: perplexity_valid(direct) 120.48 ± 0.83 (n=3)" in opening
    assert f"Judgement (config/claims.yaml): {KNOWN}" in opening
    assert "Not run at mid: table2, table3" in opening
    walls = md.split("## Provenance of every results file", 1)[1]
    assert "Wall time per table" in walls and "251 s (4.2 min)" in walls
    tex = (reports / "report.tex").read_text(encoding="utf-8")
    assert tex.index(r"\section{Reproducibility summary}") < tex.index(r"\section{Introduction}")
    assert r"\textbf{direct\_worse} (mid): contradicted." in tex and r"\subsection{What was difficult}" in tex


def test_a_regenerated_report_says_what_the_record_lacks_instead_of_a_command_to_run(results, claims_file):
    """Running the workflow does not fill a committed report's gaps; recording the missing pieces does."""
    reports = results.parent / "reports" / "mid"
    incomplete = {"table1_width": "not reported: its record lacks a piece its report needs (iss regenerate names it)"}
    config = {**CONFIG, "recorded": dict(manifest="recorded/mid/MANIFEST.json", date="2026-12-07", incomplete=incomplete)}
    report.build(config, results, reports, claims_path=claims_file)
    md = (reports / "report.md").read_text(encoding="utf-8")
    assert "snakemake reports/mid/table" not in md
    assert "Not reported yet: its recorded runs lack pieces its report needs (see Methodology)." in md
    assert "No run of it is recorded at mid." in md and "| no: no run of it is recorded at mid |" in md
    tex = (reports / "report.tex").read_text(encoding="utf-8")
    assert "snakemake reports/mid/table" not in tex and "No run of it is recorded at mid." in tex


def test_without_a_comparison_every_claim_is_not_run(tmp_path, claims):
    lines = summary.claim_lines(claims, None, "smoke")
    assert {line.verdict for line in lines} == {"not run"}
    assert summary.easy_items(summary.ReproSummary("smoke", lines, [], [], [])) == ["No claim was reproduced at smoke."]


def test_mixed_code_is_flagged_among_files_of_one_kind_only(tmp_path):
    """Pieces of a table trained by other code are named; a timing file, made by a process that
    loads the timing code, is not compared with the training runs (issue 24: pieces across commits)."""
    def write(relative: str, code: str):
        path = tmp_path / "mid" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"provenance": {"scale": "mid", "code_digest": code, "git_sha": "c" * 40}}))

    for seed in (1234, 1235):
        write(f"table1/baseline/seed{seed}/metrics.json", "a" * 16)
    write("table1/baseline/seed1236/metrics.json", "b" * 16)
    write("table1/timing_learned.json", "t" * 16)
    notes = {line.file: line.note for line in report_sources.provenance_lines(tmp_path)}
    assert notes["mid/table1/baseline/seed1236/metrics.json"] == "code bbbbbbbb differs from aaaaaaaa of most table1 metrics.json files"
    assert notes["mid/table1/timing_learned.json"] == notes["mid/table1/baseline/seed1234/metrics.json"] == ""
