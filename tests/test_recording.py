"""Recording finished runs into recorded/<scale>/ (iss_harness.recording, `iss record`): data files
only, each run checked against its provenance and the configuration's settings for its row."""
import json
from pathlib import Path

import pytest

from iss_harness.cli import main
from iss_harness.config import json_digest, load_config
from iss_harness.recording import MANIFEST, RecordRefused, record
from iss_harness.tables import load_tables

CLEAN_SHA = "c" * 40


@pytest.fixture
def config():
    return load_config(overrides={"scale": "smoke"})


@pytest.fixture
def table1(config):
    return load_tables(config)["table1"]


def made(config, table, row: str, **changes) -> dict:
    """The provenance a run of ``row`` made by committed code with the config's settings carries."""
    base = dict(git_sha=CLEAN_SHA, scale="smoke", seed=1234, code_digest="a" * 16, device="cpu", cpu="test cpu",
                threads=1, created="2026-12-07T00:00:00+00:00", wall_seconds=12.5,
                settings_digest=json_digest({"settings": table.job_settings(config, row)}))
    return {**base, **changes}


def write_run(results: Path, config, table, row: str, seed: int = 1234, **changes) -> Path:
    folder = results / "smoke" / "table1" / row / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    provenance = made(config, table, row, seed=seed, **changes)
    (folder / "metrics.json").write_text(json.dumps(dict(row=row, perplexity_valid=100.0, provenance=provenance,
                                                         training_provenance=provenance)))
    (folder / "history.csv").write_text("epoch,valid\n1,120\n")
    (folder / "model.pt").write_bytes(b"not data")
    return folder


def test_a_row_is_recorded_as_data_with_its_provenance(tmp_path, config, table1):
    results, into = tmp_path / "results", tmp_path / "recorded"
    write_run(results, config, table1, "baseline")
    (results / "smoke" / "logs").mkdir(parents=True)
    (results / "smoke" / "logs" / "table1_train_baseline_seed1234.log").write_text("log\n")
    done = record(config, table1, "baseline", 1234, results=results, into=into)
    recorded = sorted(p.relative_to(into).as_posix() for p in into.rglob("*") if p.is_file())
    assert recorded == ["smoke/MANIFEST.json", "smoke/table1/baseline/seed1234/history.csv",
                        "smoke/table1/baseline/seed1234/metrics.json"]  # no model, no log
    entry = json.loads((into / "smoke" / MANIFEST).read_text())["files"]["table1/baseline/seed1234/history.csv"]
    assert entry["git_sha"] == CLEAN_SHA and entry["code_digest"] == "a" * 16 and entry["wall_seconds"] == 12.5
    assert len(done.copied) == 2 and not done.notes
    manifest = (into / "smoke" / MANIFEST).read_text()
    again = record(config, table1, "baseline", 1234, results=results, into=into)
    assert not again.copied and len(again.unchanged) == 2
    assert (into / "smoke" / MANIFEST).read_text() == manifest  # nothing new: not even the "updated" date moves


@pytest.mark.parametrize("changes, expected", [
    (dict(git_sha=CLEAN_SHA + "-dirty"), "made from uncommitted changes"),
    (dict(scale="mid"), "made at scale 'mid'"),
    (dict(settings_digest="0" * 16), "other settings than the configuration now gives row 'baseline'"),
    (dict(settings_digest=None), "no settings digest"),
])
def test_a_run_that_does_not_belong_is_refused(tmp_path, config, table1, changes, expected):
    results = tmp_path / "results"
    write_run(results, config, table1, "baseline", **changes)
    with pytest.raises(RecordRefused, match=expected):
        record(config, table1, "baseline", 1234, results=results, into=tmp_path / "recorded")
    assert not (tmp_path / "recorded").exists()


def test_a_run_without_provenance_is_refused(tmp_path, config, table1):
    folder = write_run(tmp_path / "results", config, table1, "baseline")
    (folder / "metrics.json").write_text(json.dumps(dict(row="baseline")))
    with pytest.raises(RecordRefused, match="no provenance"):
        record(config, table1, "baseline", 1234, results=tmp_path / "results", into=tmp_path / "recorded")


def test_pieces_made_by_other_code_are_recorded_and_named(tmp_path, config, table1):
    results, into = tmp_path / "results", tmp_path / "recorded"
    write_run(results, config, table1, "baseline")
    record(config, table1, "baseline", 1234, results=results, into=into)
    write_run(results, config, table1, "baseline", seed=1235, code_digest="b" * 16)
    done = record(config, table1, "baseline", 1235, results=results, into=into)
    assert done.copied and "made by code bbbbbbbbbbbbbbbb, other metrics.json of table1 by aaaaaaaaaaaaaaaa" in done.notes[0]
    # a timing file is made by a process that loads other code: compared only with timing files
    timing = results / "smoke" / "table1" / "timing_learned.json"
    timing.write_text(json.dumps(dict(provenance=made(config, table1, "baseline", code_digest="t" * 16))))
    again = record(config, table1, results=results, into=into)
    assert not again.notes and any(path.name == "timing_learned.json" for path in again.copied)


def test_a_recorded_file_is_replaced_only_when_asked(tmp_path, config, table1):
    results, into = tmp_path / "results", tmp_path / "recorded"
    folder = write_run(results, config, table1, "baseline")
    record(config, table1, "baseline", 1234, results=results, into=into)
    (folder / "history.csv").write_text("epoch,valid\n1,110\n")
    with pytest.raises(RecordRefused, match="already recorded with other contents; pass --replace"):
        record(config, table1, "baseline", 1234, results=results, into=into)
    record(config, table1, "baseline", 1234, results=results, into=into, replace=True)
    assert "110" in (into / "smoke" / "table1" / "baseline" / "seed1234" / "history.csv").read_text()


def test_a_whole_table_brings_its_timing_but_not_what_its_report_makes(tmp_path, config, table1):
    results, into = tmp_path / "results", tmp_path / "recorded"
    for row in ("baseline", "iss_a"):
        write_run(results, config, table1, row)
    top = results / "smoke" / "table1"
    (top / "timing_learned.json").write_text(json.dumps(dict(provenance=made(config, table1, "baseline"))))
    (top / "pareto.csv").write_text("row\n")
    record(config, table1, results=results, into=into)
    files = json.loads((into / "smoke" / MANIFEST).read_text())["files"]
    assert "table1/timing_learned.json" in files and "table1/pareto.csv" not in files
    assert "table1/iss_a/seed1234/metrics.json" in files


def test_the_command_line_refuses_in_one_line(tmp_path, config, table1, monkeypatch, capsys):
    write_run(tmp_path / "results", config, table1, "baseline", git_sha=CLEAN_SHA + "-dirty")
    argv = ["--results", str(tmp_path / "results"), "record", "--table", "table1", "--row", "baseline",
            "--into", str(tmp_path / "recorded")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "uncommitted changes" in err and "Traceback" not in err
    assert main(argv + ["--seed", "1234"]) == 2 and "uncommitted changes" in capsys.readouterr().err
    assert main(["record", "--table", "table1", "--seed", "1234"]) == 2
    assert "--seed needs --row" in capsys.readouterr().err


def test_the_speed_measurement_is_recorded_with_its_provenance(tmp_path, config, monkeypatch, capsys):
    """sparsity_speed.json belongs to no table: `iss record --measurement sparsity_speed` records it with
    the same provenance checks (tests/test_e2e_smoke.py regenerates its figure from a recorded copy)."""
    from iss_harness.recording import record_measurement
    results, into = tmp_path / "results", tmp_path / "recorded"
    with pytest.raises(RecordRefused, match=r"sparsity_speed.json does not exist \(run `iss sparsity-speed` first\)"):
        record_measurement(config, "sparsity_speed", results=results, into=into)
    (results / "smoke").mkdir(parents=True)
    measured = results / "smoke" / "sparsity_speed.json"
    measured.write_text(json.dumps(dict(rows=[], provenance=dict(git_sha=CLEAN_SHA + "-dirty", scale="smoke"))))
    with pytest.raises(RecordRefused, match="uncommitted changes"):
        record_measurement(config, "sparsity_speed", results=results, into=into)
    measured.write_text(json.dumps(dict(rows=[], provenance=dict(git_sha=CLEAN_SHA, scale="smoke", wall_seconds=3.0))))
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    assert main(["record", "--measurement", "sparsity_speed", "--results", str(results), "--into", str(into)]) == 0
    manifest = json.loads((into / "smoke" / MANIFEST).read_text())
    assert manifest["files"]["sparsity_speed.json"]["table"] == "sparsity_speed"
    assert manifest["files"]["sparsity_speed.json"]["wall_seconds"] == 3.0
    with pytest.raises(SystemExit):
        main(["record", "--measurement", "sparsity_speed", "--table", "table1", "--into", str(into)])
    assert "not allowed with argument" in capsys.readouterr().err


def test_regenerating_clears_what_an_earlier_run_left_in_the_scale_s_reports(tmp_path):
    from iss_harness.regenerate import clear_generated
    reports = tmp_path / "reports" / "mid"
    (reports / "figures").mkdir(parents=True)
    stale = [reports / "table1.md", reports / "comparison.csv", reports / "figures" / "table1_pareto.png"]
    kept = [reports / "notes.txt", reports / "figures" / "README"]
    for path in stale + kept:
        path.write_text("x")
    clear_generated(tmp_path / "reports" / "other", "mid")  # a folder not named after the scale: untouched
    clear_generated(reports, "mid")
    assert not any(path.exists() for path in stale) and all(path.exists() for path in kept)


def _table_whose_report_needs(recorded_seeds: set[int]):
    """A table with seeds 1234-1236 whose report step, like the real ones, fails with
    FileNotFoundError when a seed it is asked for has no recorded run; it returns what it was given."""
    from iss_harness.config import table_seeds
    from iss_harness.tables.registry import Table

    def report(config, request):
        seeds = table_seeds(config, "table1")
        if not set(seeds) <= recorded_seeds:
            raise FileNotFoundError(f"{request.results}/smoke/table1/baseline/seed{max(seeds)}/metrics.json does not "
                                    f"exist: run the step that produces it first")
        request.seen.append((seeds, config["recorded"].get("covers", "")))
        return [Path("table1.md")]

    step = type("Step", (), {"__call__": lambda self, config, request: report(config, request)})()
    return Table(name="table1", rows=lambda config: ["baseline"], seeds=lambda config: table_seeds(config, "table1"),
                 steps={"report": step})


def _stamped(config, table) -> dict:
    """The smoke config with seeds 1234-1236, as regenerate passes it on (``recorded`` added)."""
    return {**table.with_seeds(config, [1234, 1235, 1236]), "recorded": dict(manifest="m", date="2026-12-07")}


@pytest.mark.parametrize("recorded_seeds, reported, covers", [
    ({1234, 1235, 1236}, [1234, 1235, 1236], None),
    ({1234, 1235}, [1234, 1235], "seeds 1234, 1235 of 1234, 1235, 1236; the others are not recorded yet"),
    ({1234, 1236}, [1234], "seeds 1234 of 1234, 1235, 1236; the others are not recorded yet"),
])
def test_an_incomplete_record_is_reported_over_its_complete_seeds_and_says_so(config, recorded_seeds, reported, covers):
    """Issue 24: a scale is recorded a seed at a time; until every seed is in, a table's report covers
    the first seeds that are complete, and its header and the one-page report say which."""
    from types import SimpleNamespace

    from iss_harness.provenance import report_made
    from iss_harness.regenerate import Regenerated, report_table
    table = _table_whose_report_needs(recorded_seeds)
    stamped = _stamped(config, table)
    request, done = SimpleNamespace(seen=[], results=Path("results"), reports=Path("no-reports")), Regenerated()
    report_table(table, stamped, request, done)
    assert request.seen == [(reported, covers or "")] and done.written == [Path("table1.md")] and not done.skipped
    assert done.incomplete == done.partial == ({"table1": covers} if covers else {})
    assert stamped["scales"]["smoke"]["table1"]["seeds"] == [1234, 1235, 1236]  # the caller's config is left alone
    header = report_made({**stamped, "recorded": {**stamped["recorded"], "covers": covers or ""}})
    assert header.endswith(f"; incomplete record: {covers}" if covers else "last recorded 2026-12-07)")


def test_a_table_with_no_complete_seed_is_skipped_and_named(config):
    """The skip names the recorded file the record lacks, not the scratch copy or a command that runs it."""
    from types import SimpleNamespace

    from iss_harness.regenerate import SCRATCH, Regenerated, report_table
    table = _table_whose_report_needs({1235})
    done = Regenerated()
    report_table(table, _stamped(config, table), SimpleNamespace(seen=[], results=SCRATCH, reports=Path("no-reports")), done)
    assert not done.written and done.skipped == {
        "table1": "its record lacks recorded/smoke/table1/baseline/seed1236/metrics.json (iss record the run that makes it)"}
    assert done.incomplete["table1"].startswith("not reported") and done.partial == {}


def test_a_failed_attempt_leaves_nothing_behind(config, tmp_path):
    """A table whose report is written but whose figures lack a recorded file is skipped, and the
    report it wrote is removed: otherwise the one-page report would list the table as built."""
    from types import SimpleNamespace

    from iss_harness.regenerate import Regenerated, report_table
    from iss_harness.tables.registry import Table

    request = SimpleNamespace(results=tmp_path / "results", reports=tmp_path / "reports")
    request.reports.mkdir()
    (request.reports / "earlier.md").write_text("kept")

    def report(config, request):
        (request.reports / "table1.md").write_text("half a report")
        return request.reports / "table1.md"

    def figures(config, request):
        raise FileNotFoundError(f"{request.results}/smoke/table1/timing.json does not exist")

    step = lambda function: type("Step", (), {"__call__": lambda self, c, r: function(c, r)})()
    table = Table(name="table1", rows=lambda c: ["baseline"], seeds=None,
                  steps={"report": step(report), "figures": step(figures)})
    done = Regenerated()
    report_table(table, {**config, "recorded": dict(manifest="m", date="2026-12-07")}, request, done)
    assert done.skipped and not done.written
    assert sorted(path.name for path in request.reports.iterdir()) == ["earlier.md"]


def test_a_record_is_restored_into_results_to_be_continued(tmp_path, config, table1):
    """Issue 24: a record is continued in a fresh clone or on another machine: `iss restore` copies the
    recorded files back (checked against the manifest, newer than the data, never over a local
    file), so that the workflow runs only the pieces that are not recorded."""
    import os
    import time

    from iss_harness.recording import restore
    made_here, into, elsewhere = tmp_path / "results", tmp_path / "recorded", tmp_path / "clone" / "results"
    write_run(made_here, config, table1, "baseline")
    write_run(made_here, config, table1, "iss_a")
    record(config, table1, results=made_here, into=into)
    local = elsewhere / "smoke" / "table1" / "iss_a" / "seed1234" / "history.csv"
    local.parent.mkdir(parents=True)
    local.write_text("this machine's own run\n")
    before = time.time() - 1
    done = restore(config, table1, recorded=into, results=elsewhere)
    restored = sorted(path.relative_to(elsewhere).as_posix() for path in done.copied)
    assert restored == ["smoke/table1/baseline/seed1234/history.csv", "smoke/table1/baseline/seed1234/metrics.json",
                        "smoke/table1/iss_a/seed1234/metrics.json"]  # data only: no model, no manifest
    assert done.kept == [local] and local.read_text() == "this machine's own run\n"
    stamps = {os.path.getmtime(path) for path in done.copied}
    assert len(stamps) == 1 and stamps.pop() >= before  # newer than the data; no restored run newer than another
    assert not restore(config, load_tables(config)["table2"], recorded=into, results=elsewhere).copied
    (into / "smoke" / "table1" / "baseline" / "seed1234" / "metrics.json").write_text("{}")
    (elsewhere / "smoke" / "table1" / "baseline" / "seed1234" / "metrics.json").unlink()
    with pytest.raises(RecordRefused, match="differs from its sha256"):
        restore(config, recorded=into, results=elsewhere)


def test_restore_without_a_record_says_so(tmp_path, capsys):
    assert main(["--scale", "mid", "restore", "--recorded", str(tmp_path / "nothing"), "--results", str(tmp_path / "r")]) == 2
    assert "no run of scale 'mid' is recorded" in capsys.readouterr().err
