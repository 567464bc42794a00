"""Recorded benchmarks: a benchmark run with --record keeps its sections and where it ran in
recorded/benchmarks/<name>.json, refuses a checkout with uncommitted code, and `iss benchmark-report`
renders reports/benchmarks.md from those files alone (the page CI checks against them)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from iss_harness.cli import main
from iss_harness.reporting.benchmarks import benchmarks_page, section_markdown

REPO = Path(__file__).resolve().parent.parent


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=folder, check=True,
                   capture_output=True)


@pytest.fixture
def checkout(tmp_path):
    """A committed checkout to run a benchmark in (the benchmark reads its git state from the working folder)."""
    (tmp_path / "code.py").write_text("x = 1\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "code.py")
    _git(tmp_path, "commit", "-qm", "code")
    return tmp_path


def _denormal_states(folder: Path, *options: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / "denormal_states.py"), "--rounds", "1", *options],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300)


def test_a_recorded_benchmark_keeps_its_sections_and_provenance_and_renders(checkout):
    done = _denormal_states(checkout, "--record")
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads((checkout / "recorded" / "benchmarks" / "denormal_states.json").read_text())
    assert record["benchmark"] == "denormal_states" and record["command"] == "python benchmarks/denormal_states.py --rounds 1"
    assert len(record["made"]["git_sha"]) == 40 and record["made"]["load_average"] >= 0 and record["made"]["cpu"]
    (section,) = record["sections"]
    assert [row[0] for row in section["rows"]] == ["removed units' state zero", "state denormal",
                                                   "state denormal, flushed to zero"]
    assert section["rows"][0][2] == "1.00x" and set(section["raw"]) == {row[0] for row in section["rows"]}
    assert section_markdown(section) in done.stdout  # printed and recorded by the same code
    page = benchmarks_page(checkout / "recorded" / "benchmarks")
    assert "## denormal_states" in page and "`python benchmarks/denormal_states.py --rounds 1`" in page
    assert record["purpose"] == "Why ISS training at a strong lambda can be several times slower per step on an x86 CPU."
    assert section["rows"][1][1] in page


def test_a_checkout_with_uncommitted_code_is_not_recorded(checkout):
    (checkout / "code.py").write_text("x = 2\n")
    done = _denormal_states(checkout, "--record")  # refused before it measures
    assert done.returncode != 0 and "uncommitted changes" in done.stderr
    assert not (checkout / "recorded").exists()


def _record(folder: Path, name: str, **changes) -> None:
    record = dict(benchmark=name, purpose="What it measures.", command=f"python benchmarks/{name}.py",
                  made=dict(git_sha="a" * 40, created="2026-12-07T18:00:00+00:00", cpu="Some CPU",
                            machine=dict(cpu_capability="AVX512", torch="2.13.0", max_threads=2), load_average=0.25),
                  sections=[dict(title="Step", columns=["Candidate", "Median ms"], rows=[["plain", "10.0"]],
                                 notes=["a note"], raw={})])
    record.update(changes)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(record))


def test_the_page_lists_every_recorded_benchmark_in_name_order(tmp_path):
    _record(tmp_path / "b", "rhn_speed")
    _record(tmp_path / "b", "ptb_speed")
    page = benchmarks_page(tmp_path / "b")
    assert page.index("## ptb_speed") < page.index("## rhn_speed")
    assert "git aaaaaaaaaa, 2026-12-07, Some CPU (AVX512), torch 2.13.0, torch threads 2, load average 0.25" in page
    assert "| plain       | 10.0        |" in page and "- a note" in page


def test_benchmark_report_writes_the_page_and_names_a_bad_record(tmp_path, capsys):
    _record(tmp_path / "b", "ptb_speed")
    assert main(["benchmark-report", "--recorded", str(tmp_path / "b"), "--out", str(tmp_path / "page.md")]) == 0
    assert (tmp_path / "page.md").read_text().startswith("# Benchmarks")
    _record(tmp_path / "b", "rhn_speed", sections=[dict(title="x", rows=[])])
    assert main(["benchmark-report", "--recorded", str(tmp_path / "b"), "--out", str(tmp_path / "page.md")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.endswith("rhn_speed.json: a benchmark record needs sections[0].columns") and "\n" not in error
    assert main(["benchmark-report", "--recorded", str(tmp_path / "none"), "--out", str(tmp_path / "p.md")]) == 2
    assert "no recorded benchmark" in capsys.readouterr().err


def test_the_denormal_benchmark_runs_on_one_thread_only(checkout):
    """Its flushed candidate sets the float mode per call, which torch's worker threads do not see."""
    done = _denormal_states(checkout, "--threads", "2")
    assert done.returncode != 0 and "--threads must be 1" in done.stderr
