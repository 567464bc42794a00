"""End to end: the smoke DAG (Tables 1 and 2) on the real PTB slice from the data mirror.

Runs `snakemake` in a scratch copy of the workflow (so the checkout's results/ stay as they
are), then checks the report's shape and the paper's claims that must hold at any scale:
ISS removes units while keeping perplexity close to the baseline; geometry at the paper's
sizes reproduces the published weight counts and mult-add reductions exactly.
"""
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from doc_commands import HOW, all_blocks, executed
from workflow_copy import copy_workflow

from iss_harness.config import load_config, scale_settings

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e
# The settings the smoke pipeline runs with (the workflow copy reads the same config file).
SMOKE = scale_settings(load_config([REPO / "config" / "config.yaml"]), "smoke")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    if not os.environ.get("ISS_DATA_MIRROR"):
        pytest.skip("ISS_DATA_MIRROR is not set: the smoke pipeline needs the PTB files")
    work = tmp_path_factory.mktemp("smoke")
    copy_workflow(work)
    # The jobs run in the scratch folder: a relative mirror path must be resolved from here.
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               ISS_DATA_MIRROR=str(Path(os.environ["ISS_DATA_MIRROR"]).resolve()))
    # The default target (the tables), then the trade-off sweep and the width experiment on top of it
    # (their own targets), then the default target again: the comparison now reads the width results.
    for targets in ([], ["table1_pareto"], ["table1_width"], []):
        started = time.monotonic()
        # targets before --quiet, which takes several values
        done = subprocess.run(["snakemake", *targets, "--cores", "2", "--quiet", "rules"], cwd=work, env=env,
                              capture_output=True, text=True, timeout=3000)
        if done.returncode != 0:
            logs = "\n".join(f"== {p}\n{p.read_text()[-3000:]}" for p in sorted((work / "results").rglob("*.log")))
            pytest.fail(f"snakemake {' '.join(targets)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}\n{logs}")
        print(f"snakemake {' '.join(targets) or 'all'}: {time.monotonic() - started:.0f} s")
    return work


def test_report_has_every_row_and_column(smoke_run):
    md = (smoke_run / "reports" / "smoke" / "table1.md").read_text()
    for header in ("Dropout keep ratio", "Perplexity (validate, test)", "ISS # in (1st, 2nd) LSTM", "Weight #",
                   "Total time*", "Speedup", "Mult-add reduction†"):
        assert header in md
    assert md.count("| ISS ") >= 4 and "| direct design " in md and "| baseline " in md
    assert "Scale: **smoke**" in md and "Trained at git " in md and "report made at git " in md
    for name in ("training_curves", "iss_sparsity"):
        for ext in ("png", "pdf"):
            assert (smoke_run / "reports" / "smoke" / "figures" / f"table1_{name}.{ext}").stat().st_size > 1000
    tex = (smoke_run / "reports" / "smoke" / "table1.tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex


def test_iss_removes_units_and_keeps_perplexity_close(smoke_run):
    frame = pd.read_csv(smoke_run / "results" / "smoke" / "table1.csv")
    run = frame[frame.setting == "this_run"].set_index(["row", "metric"]).reproduced.astype(float)
    hidden = SMOKE["table1"]["hidden_size"]
    for row in ("iss_a", "iss_b"):
        assert run[(row, "iss_1st")] + run[(row, "iss_2nd")] < 2 * hidden * 0.9, f"{row} removed too few units"
        assert run[(row, "perplexity_valid")] < 1.2 * run[("baseline", "perplexity_valid")]
        assert run[(row, "weights")] < run[("baseline", "weights")]
        assert run[(row, "mult_add_reduction")] > 1.0
    # the direct design trains exactly the sizes ISS learned in row iss_a
    assert run[("direct", "iss_1st")] == run[("iss_a", "iss_1st")]
    assert run[("direct", "iss_2nd")] == run[("iss_a", "iss_2nd")]


def test_iss_from_baseline_row_is_labelled_and_starts_from_the_baseline(smoke_run):
    md = (smoke_run / "reports" / "smoke" / "table1.md").read_text()
    assert "| ISS from baseline " in md and "ISS from baseline: the trained baseline" in md
    frame = pd.read_csv(smoke_run / "results" / "smoke" / "table1.csv")
    started = frame[(frame.row == "iss_a_from_baseline") & (frame.setting == "this_run")]
    # shown beside the paper's ISS row, never checked against it
    assert started.paper_column.isna().all() and started[started.metric == "perplexity_valid"].paper.notna().all()
    log = (smoke_run / "results" / "smoke" / "logs" / "table1_train_iss_a_from_baseline_seed1234.log").read_text()
    assert "start: baseline@" in log


def test_pareto_figure_is_drawn_from_the_results_files(smoke_run):
    table_dir = smoke_run / "results" / "smoke" / "table1"
    frame = pd.read_csv(table_dir / "pareto.csv")
    assert set(frame.kind) == {"baseline", "iss_scratch", "iss_baseline", "direct"}
    assert {"sweep", "table"} == set(frame.source)
    for _, line in frame.iterrows():
        metrics = json.loads((table_dir / line.row / f"seed{line.seed}" / "metrics.json").read_text())
        assert line.perplexity_valid == metrics["perplexity_valid"] and line.weights == metrics["weights"]
    # every sweep row has its direct design at the sizes it learned
    sweep = frame[frame.source == "sweep"].set_index("row")
    for row in sweep.index[sweep.kind != "direct"]:
        direct = sweep.loc[row.replace("pareto_", "pareto_direct_")]
        assert (direct.iss_1st, direct.iss_2nd) == (sweep.loc[row].iss_1st, sweep.loc[row].iss_2nd)
    assert frame.speedup.notna().sum() >= len(sweep)
    for ext in ("png", "pdf"):
        assert (smoke_run / "reports" / "smoke" / "figures" / f"table1_pareto.{ext}").stat().st_size > 1000


def test_width_experiment_figure_and_claim_come_from_its_runs(smoke_run):
    from iss_harness.tables.table1_width.rows import all_rows, chosen_keep, runs
    config = load_config([REPO / "config" / "config.yaml"])
    results = smoke_run / "results"
    frame = pd.read_csv(results / "smoke" / "table1_width.csv", keep_default_na=False)
    widths = [entry["hidden"] for entry in SMOKE["table1_width"]["widths"]]
    for row, seed in runs(config):
        metrics = json.loads((results / "smoke" / "table1_width" / row / f"seed{seed}" / "metrics.json").read_text())
        spec = all_rows(config)[row]
        assert metrics["trained_sizes"][0] <= spec["width"] and metrics["perplexity_train"] > 1
        if spec["keep_prob"] == "chosen":  # trained with the grid's best keep ratio, as recorded
            assert metrics["keep_prob"] == chosen_keep(config, results, row)
        if spec["kind"] == "direct" and not spec.get("grid"):  # at the sizes ISS learned with the same seed
            iss = json.loads((results / "smoke" / "table1_width" / f"w{spec['width']}_iss" / f"seed{seed}" /
                              "metrics.json").read_text())
            assert metrics["trained_sizes"] == iss["iss_sizes"]
    gaps = frame[(frame.row == "widest") & (frame.metric == "direct_minus_iss")]
    assert len(gaps) == len(SMOKE["table1_width"]["seeds"])
    assert set(frame.row) >= {f"w{w}_{kind}" for w in widths for kind in ("baseline", "iss", "direct")}
    for ext in ("png", "pdf"):
        assert (smoke_run / "reports" / "smoke" / "figures" / f"table1_width.{ext}").stat().st_size > 1000
    comparison = pd.read_csv(results / "smoke" / "comparison.csv", keep_default_na=False).set_index("id")
    assert comparison.loc["iss_beats_direct_when_wide", "status"] == "shown"  # checked at smoke, not gated
    assert "## Table 1 across widths" in (smoke_run / "reports" / "smoke" / "report.md").read_text()


def test_geometry_at_paper_sizes_matches_the_paper(smoke_run):
    frame = pd.read_csv(smoke_run / "results" / "smoke" / "table1.csv")
    paper = frame[frame.setting == "paper_sizes"].set_index(["row", "metric"])
    for row, weights, reduction in (("baseline", "66.0M", "1.00"), ("iss_a", "21.8M", "7.48"), ("iss_b", "25.2M", "5.01")):
        assert f"{float(paper.reproduced[(row, 'weights')]) / 1e6:.1f}M" == weights
        assert f"{float(paper.reproduced[(row, 'mult_add_reduction')]):.2f}" == reduction
        assert paper.paper_printed[(row, "weights")] == weights
    assert float(paper.reproduced[("iss_a", "speedup")]) > 1.0


def test_rhn_sweep_width_falls_as_lambda_rises(smoke_run):
    """Table 2's shape at any scale: every ISS row removes units, width never grows with lambda,
    and the smallest lambda loses little perplexity."""
    frame = pd.read_csv(smoke_run / "results" / "smoke" / "table2.csv")
    run = frame[frame.setting == "this_run"]
    width = run[run.metric == "width"].groupby("row").reproduced.mean().astype(float)
    ppl = run[run.metric == "perplexity_valid"].groupby("row").reproduced.mean().astype(float)
    lambdas = run[run.metric == "lambda"].groupby("row").reproduced.first().astype(float).sort_values()
    widths = [width[row] for row in lambdas.index]
    assert lambdas.iloc[0] == 0.0 and widths[0] == SMOKE["table2"]["width"]  # the baseline keeps its width
    assert all(later <= earlier for earlier, later in zip(widths, widths[1:])), dict(zip(lambdas.index, widths))
    assert widths[-1] < widths[1] < widths[0]
    smallest = lambdas.index[1]
    assert ppl[smallest] < 1.15 * ppl["baseline"], dict(ppl)
    md = (smoke_run / "reports" / "smoke" / "table2.md").read_text()
    for header in ("λ", "Perplexity (validate, test)", "RHN width", "Parameter #", "Total time", "Speedup"):
        assert header in md
    assert "Scale: **smoke**" in md and "23.5M (23.5M)" in md and "5.7M (5.7M)" in md
    for ext in ("png", "pdf"):
        assert (smoke_run / "reports" / "smoke" / "figures" / f"rhn_tradeoff.{ext}").stat().st_size > 1000
    assert "\\toprule" in (smoke_run / "reports" / "smoke" / "table2.tex").read_text()


def test_bidaf_table_shrinks_the_six_lstms_and_scores_with_the_official_metric(smoke_run):
    """Table 3 at smoke: every ISS row removes units of the modeling/output LSTMs and has fewer
    weights than the baseline; EM/F1 are percentages; the paper-size weight counts match."""
    frame = pd.read_csv(smoke_run / "results" / "smoke" / "table3.csv")
    run = frame[frame.setting == "this_run"].set_index(["row", "metric"]).reproduced
    lstms = ("modfwd1", "modbwd1", "modfwd2", "modbwd2", "outfwd", "outbwd")
    iss_rows = sorted({row for row, _ in run.index if row.startswith("iss_")})
    assert iss_rows, "no ISS rows"
    for row in iss_rows:
        sizes = [int(float(run[(row, name)])) for name in lstms]
        assert all(size >= 1 for size in sizes) and sum(sizes) < sum(int(float(run[("baseline", n)])) for n in lstms)
        assert float(run[(row, "weights")]) < float(run[("baseline", "weights")])
    for row in ["baseline"] + iss_rows:
        assert 0.0 <= float(run[(row, "em")]) <= float(run[(row, "f1")]) <= 100.0
    paper = frame[frame.setting == "paper_sizes"].set_index(["row", "metric"]).reproduced.astype(float)
    for row, printed in (("baseline", 2.69e6), ("iss_1", 2.29e6), ("iss_2", 1.17e6), ("iss_3", 0.95e6), ("iss_4", 0.88e6)):
        assert abs(paper[(row, "weights")] - printed) <= 0.01e6, (row, paper[(row, "weights")])
    md = (smoke_run / "reports" / "smoke" / "table3.md").read_text()
    assert "Scale: **smoke**" in md and "split by article" in md and "ISS variant" in md
    for ext in ("png", "pdf"):
        assert (smoke_run / "reports" / "smoke" / "figures" / f"bidaf_group_norms.{ext}").stat().st_size > 1000


# Claims of config/claims.yaml evaluated on this run's trained numbers and gated at smoke.
TRAINED_CLAIMS_GATED_AT_SMOKE = ("iss_keeps_perplexity", "rhn_width_falls_with_lambda",
                                 "rhn_smallest_lambda_keeps_perplexity")


def test_the_trained_claims_checked_here_are_gated_at_smoke():
    """Keeps the list above true to config/claims.yaml (it applies at smoke, outcome not only shown)."""
    claims = {claim["id"]: claim for claim in yaml.safe_load((REPO / "config" / "claims.yaml").read_text())["claims"]}
    for name in TRAINED_CLAIMS_GATED_AT_SMOKE:
        claim = claims[name]
        assert "smoke" in claim["scales"] and "smoke" not in claim.get("shown_at", []), name
        assert "smoke" not in claim.get("known_failures", {}), name


def test_comparison_gate_passed(smoke_run):
    """Every cell and claim that applies at the smoke scale holds (the gate rule ran and passed)."""
    assert (smoke_run / "results" / "smoke" / "comparison.passed").exists()
    comparison = pd.read_csv(smoke_run / "results" / "smoke" / "comparison.csv", keep_default_na=False)
    assert not comparison[comparison.status.isin(["fail", "error"])].shape[0], comparison[
        comparison.status.isin(["fail", "error"])].to_string()
    # Identities (the baseline against itself, sizes that are inputs) are shown, never counted as passes.
    identities = comparison[comparison.status == "identity"]
    assert len(identities) and set(identities.row) <= {"baseline", "direct"}, identities.to_string()
    # The checks that depend on this run's training: the claims gated at smoke. Geometry cells pass
    # whatever the training did, so they do not count here.
    claims = comparison[comparison.kind == "claim"].set_index("id").status
    for claim in TRAINED_CLAIMS_GATED_AT_SMOKE:
        assert claims[claim] == "pass", (claim, claims.to_dict())


def test_one_page_report(smoke_run):
    md = (smoke_run / "reports" / "smoke" / "report.md").read_text()
    assert "Configured scale: **smoke**" in md and "## Comparison with the paper" in md
    assert "figures/speedup_vs_sparsity.png" in md and "figures/rhn_tradeoff.png" in md
    assert "`smoke/table1/baseline/seed1234/metrics.json`" in md and "`smoke/sparsity_speed.json`" in md
    assert "\\begin{document}" in (smoke_run / "reports" / "smoke" / "report.tex").read_text()


def test_every_documented_command_runs_as_written_on_the_smoke_run(smoke_run):
    """The commands of README.md and docs/ (tests/doc_commands.py), block by block in page order, in
    the finished smoke workspace: as written, or as a dry run where they would train or download."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               ISS_DATA_MIRROR=str(Path(os.environ["ISS_DATA_MIRROR"]).resolve()))
    ran = []
    for block in all_blocks():
        steps = [executed(c, HOW[c][0]) for c in block.commands
                 if block.not_runnable is None and HOW[c][0] in ("main", "run", "dry")]
        if not steps:
            continue
        done = subprocess.run(["bash", "-c", "set -e\n" + "\n".join(steps)], cwd=smoke_run, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{block.page.name}:{block.line}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        ran += [(step, done.stdout + done.stderr) for step in steps]
    main = [output for step, output in ran if step.endswith("snakemake --cores 8 -n")]
    assert main and "Nothing to be done" in main[0]  # the README's main job: nothing left after the run
    # The HTML report command, exactly as the README shows it (no --cores), wrote the report.
    html = (smoke_run / "reports" / "snakemake_report.html").read_text()
    for item in ("table1_training_curves.png", "rhn_tradeoff.png", "speedup_vs_sparsity.png", "report.md",
                 "comparison.md"):
        assert item in html


def test_rerun_is_a_no_op(smoke_run):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    dry = subprocess.run(["snakemake", "--cores", "2", "-n"], cwd=smoke_run, env=env, capture_output=True, text=True)
    assert dry.returncode == 0
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_adding_a_seed_or_a_lambda_runs_only_the_new_jobs(smoke_run):
    """A user extends the sweep in the config; the finished rows and seeds are not trained again."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    extra = smoke_run / "more_runs.yaml"
    extra.write_text("scales:\n  smoke:\n"
                     "    table1: {seeds: [1234, 1235]}\n"
                     "    table2: {seeds: [1234, 1235], lambdas: [0.005, 0.0075, 0.01, 0.015, 0.02]}\n")
    dry = subprocess.run(["snakemake", "--cores", "2", "-n", "--configfile", "config/config.yaml", str(extra)],
                         cwd=smoke_run, env=env, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr[-3000:]
    out = dry.stdout + dry.stderr
    blocks = re.split(r"\n(?:local)?rule ", out)[1:]
    trained = [line.split("wildcards:")[1].strip() for block in blocks
               if block.startswith(("table1_train:", "table2_train:"))
               for line in block.splitlines() if "wildcards:" in line]
    assert trained, out[-3000:]
    # Seed 1235 of every row, and the new lambda at seed 1234: nothing that already finished.
    assert all("seed=1235" in job or "row=lambda_0.02," in job for job in trained), trained
    # Table 1: its five smoke rows at seed 1235 (the sweep is not part of the default target).
    assert len(trained) == 5 + 6 + 1


def test_reports_regenerate_from_the_recorded_files_alone_without_torch(smoke_run, tmp_path):
    """The smoke run's data files, as `iss record` selects them (no models, logs or prepared data;
    copied directly: the scratch run is no git checkout, which `iss record` would refuse), make the
    same tables and comparison again with torch unavailable, and the same text twice."""
    from iss_harness.recording import piece_files
    from iss_harness.tables import load_tables
    config = load_config([REPO / "config" / "config.yaml"])
    results, recorded = smoke_run / "results", tmp_path / "recorded"
    tables = {table.results_folder: table for table in load_tables(config).values()}
    for table in tables.values():
        for path in piece_files(results, config, table, None, None):
            target = recorded / path.relative_to(results)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    shutil.copyfile(results / "smoke" / "sparsity_speed.json", recorded / "smoke" / "sparsity_speed.json")  # --measurement
    assert not list(recorded.rglob("*.pt")) and (recorded / "smoke" / "table1" / "iss_a" / "seed1234" / "sparsity_picture.json").is_file()
    (recorded / "smoke" / "MANIFEST.json").write_text(json.dumps({"files": {}, "updated": "2026-12-07T00:00:00+00:00"}))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    outputs = []
    for name in ("first", "second"):
        reports = tmp_path / name
        blocked = ("import sys; sys.modules['torch'] = None; from iss_harness.cli import main; "
                   f"sys.exit(main(['regenerate', '--recorded', {str(recorded)!r}, '--reports', {str(reports)!r}]))")
        done = subprocess.run([sys.executable, "-c", blocked], cwd=smoke_run, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0 and "skipped" not in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
        outputs.append({p.relative_to(reports).as_posix(): p.read_text() for p in reports.rglob("*")
                        if p.suffix in (".md", ".tex", ".csv")})
        assert (reports / "figures" / "table1_iss_sparsity.png").stat().st_size > 1000
        assert (reports / "figures" / "speedup_vs_sparsity.png").stat().st_size > 1000
    first, second = outputs
    assert first == second  # the text depends on the recorded files only
    for name in ("table1.md", "table2.md", "table3.md", "comparison.md", "report.md", "table1.csv", "comparison.csv"):
        assert name in first, sorted(first)
    verdicts = [pd.read_csv(io.StringIO(text), keep_default_na=False).set_index("id").status.to_dict()
                for text in (first["comparison.csv"], (results / "smoke" / "comparison.csv").read_text())]
    assert verdicts[0] == verdicts[1]  # every check of the run, with the same outcome
    assert first["table2.csv"] == (results / "smoke" / "table2.csv").read_text()
    assert "regenerated from the recorded runs" in first["report.md"]
