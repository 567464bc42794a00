"""Recorded benchmarks: a benchmark run with --record keeps its sections and where it ran in
recorded/benchmarks/<name>.json, refuses a checkout with uncommitted code, and `iss benchmark-report`
renders reports/benchmarks.md from those files alone (the page CI checks against them)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from iss_harness.cli import main
from iss_harness.reporting.benchmarks import benchmarks_page, section_markdown

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=folder, check=True,
                   capture_output=True)


@pytest.fixture
def checkout(tmp_path):
    """A committed scratch checkout holding a copy of benchmarks/: a script records into, and names the
    git state of, the checkout it belongs to (benchmarks/_cli.ROOT), whatever the working folder."""
    shutil.copytree(REPO / "benchmarks", tmp_path / "benchmarks", ignore=shutil.ignore_patterns("__pycache__"))
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "benchmarks")
    _git(tmp_path, "commit", "-qm", "code")
    return tmp_path


def _denormal_states(folder: Path, *options: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, str(folder / "benchmarks" / "denormal_states.py"), "--rounds", "1", *options],
                          cwd=folder / "benchmarks", env=env, capture_output=True, text=True, timeout=300)


def _can_flush_denormals() -> bool:
    import torch
    return torch.set_flush_denormal(False)


@pytest.mark.skipif(not _can_flush_denormals(), reason="this CPU cannot flush denormals: the benchmark measures nothing")
def test_a_recorded_benchmark_keeps_its_sections_and_provenance_and_renders(checkout):
    done = _denormal_states(checkout, "--record")  # run from benchmarks/: the record still goes to the checkout's root
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
    with (checkout / "benchmarks" / "_cli.py").open("a") as code:
        code.write("# changed\n")
    done = _denormal_states(checkout, "--record")  # refused before it measures
    assert done.returncode != 0 and "has uncommitted changes" in done.stderr
    assert not (checkout / "recorded").exists()


def test_a_script_git_does_not_track_is_not_recorded(checkout):
    shutil.copy(checkout / "benchmarks" / "denormal_states.py", checkout / "benchmarks" / "new_benchmark.py")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, str(checkout / "benchmarks" / "new_benchmark.py"), "--record"],
                          cwd=checkout, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "git does not track" in done.stderr
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
    assert "git aaaaaaaaaa, 2026-12-07, CPU Some CPU (AVX512), torch 2.13.0, torch threads 2, load average 0.25" in page
    _record(tmp_path / "b", "paper_scale_gpu", made=dict(git_sha="b" * 40, created="2026-12-08", cpu="Host CPU",
                                                         machine=dict(cuda_device="NVIDIA H100", torch="2.13.0")))
    assert "git bbbbbbbbbb, 2026-12-08, GPU NVIDIA H100, CPU Host CPU (?)" in benchmarks_page(tmp_path / "b")
    assert "| plain       | 10.0        |" in page and "- a note" in page


def test_a_timing_path_in_a_cell_does_not_break_the_table():
    section = dict(title="Paths", columns=["Candidate", "Median ms"], rows=[["baseline|1T|onednn", "12.34"]])
    (row,) = [line for line in section_markdown(section).splitlines() if "baseline" in line]
    assert row.replace("\\|", "").count("|") == 3  # two cells: the path's bars are escaped


def test_benchmark_report_writes_the_page_and_names_a_bad_record(tmp_path, capsys):
    _record(tmp_path / "b", "ptb_speed")
    assert main(["benchmark-report", "--recorded", str(tmp_path / "b"), "--out", str(tmp_path / "page.md")]) == 0
    assert (tmp_path / "page.md").read_text().startswith("# Benchmarks")
    for changes, needs in [(dict(sections=[dict(title="x", rows=[])]), "needs sections[0].columns"),
                           (dict(sections=None), "needs sections (a list of at least one)"),
                           (dict(made="yesterday"), "needs made (an object)")]:
        _record(tmp_path / "b", "rhn_speed", **changes)
        assert main(["benchmark-report", "--recorded", str(tmp_path / "b"), "--out", str(tmp_path / "page.md")]) == 2
        error = capsys.readouterr().err.strip()
        assert error.endswith(f"rhn_speed.json: a benchmark record {needs}") and "\n" not in error
    (tmp_path / "b" / "rhn_speed.json").write_text("[1, 2]")
    assert main(["benchmark-report", "--recorded", str(tmp_path / "b"), "--out", str(tmp_path / "page.md")]) == 2
    assert "is a JSON object, not list" in capsys.readouterr().err
    assert main(["benchmark-report", "--recorded", str(tmp_path / "none"), "--out", str(tmp_path / "p.md")]) == 2
    assert "no recorded benchmark" in capsys.readouterr().err


def test_the_denormal_benchmark_runs_on_one_thread_only(checkout):
    """Its flushed candidate sets the float mode per call, which torch's worker threads do not see."""
    for threads in ("2", "1,2"):
        done = _denormal_states(checkout, "--threads", threads)
        assert done.returncode == 2 and "--threads must be 1" in done.stderr and "Traceback" not in done.stderr


def test_the_paper_scale_measured_on_a_cpu_is_recorded_as_a_benchmark(checkout, tmp_path, monkeypatch, capsys):
    """gpu_check.py --cpu --record, at the dry run's tiny sizes: a record the page renders, and no SLURM
    suggestion (a CPU's throughput says nothing about the GPU jobs' resources)."""
    import _cli
    import gpu_check
    monkeypatch.setattr(_cli, "ROOT", checkout)
    monkeypatch.setattr(gpu_check, "PAPER", gpu_check.DRY)
    monkeypatch.setattr(gpu_check, "CPU_BUDGETS", gpu_check.DRY_BUDGETS)
    out = tmp_path / "measured.json"
    monkeypatch.setattr(sys, "argv", [str(checkout / "benchmarks" / "gpu_check.py"), "--cpu", "--record", "--out", str(out)])
    assert gpu_check.main() == 0
    assert json.loads(out.read_text())["suggested_resources"] is None
    assert "suggested SLURM resources" not in capsys.readouterr().out
    record = json.loads((checkout / "recorded" / "benchmarks" / "paper_scale_cpu.json").read_text())
    assert record["command"] == "python benchmarks/gpu_check.py --cpu" and record["purpose"].endswith("projected from them.")
    assert [section["title"] for section in record["sections"]][1] == "Projected paper-scale training time on this machine"
    assert "## paper_scale_cpu" in benchmarks_page(checkout / "recorded" / "benchmarks")


def test_an_isolated_operation_adds_all_of_itself_to_a_step():
    """The overhead table's last column is what each candidate adds to a plain step: a whole step its
    difference, an isolated operation its whole time (not its difference, which read -96 %)."""
    import _cli
    medians = {"plain step": 1000.0, "step + penalty": 1030.0, "step + penalty + threshold": 1042.0,
               "penalty gradient alone": 37.0, "zero threshold alone": 11.0}
    section = _cli.overhead_section({name: dict(median_ms=ms, calls=4) for name, ms in medians.items()}, "t", "targets")
    assert [row[2] for row in section["rows"]] == ["+0.0 %", "+3.0 %", "+4.2 %", "+3.7 %", "+1.1 %"]
    assert section["notes"] == ["From the isolated operations: penalty +3.7 %, penalty + threshold +4.8 % of a "
                                "plain step (targets)."]
