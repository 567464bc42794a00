"""benchmarks/gpu_check.sh --dry: the GPU check's own code at tiny sizes on the CPU, so it cannot rot
before a GPU runs it; and the projection's arithmetic against figures worked out by hand."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from gpu_projection import PTB_TRAIN_TOKENS, project, ptb_windows_per_epoch  # noqa: E402

from iss_harness.config import load_config  # noqa: E402

MODELS = ["(1500, 1500)", "(373, 315)", "(381, 535)"]


def test_dry_run_writes_every_measurement_and_projection(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1")
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--dry", "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert report["mode"] == "dry" and report["device"] == "cpu" and report["cuda_tests"] == "not run (--dry)"
    assert set(report["table1_training"]) == {"baseline_fp32", "iss_fp32", "baseline_bf16", "iss_bf16"}
    for run in [*report["table1_training"].values(), report["rhn_training"]]:
        assert run["words_per_second"] > 0 and run["steps_per_second"] > 0 and run["windows"] >= 1
    assert report["bidaf_training"]["steps_per_second"] > 0
    assert list(report["latency_ms"]) == ["cpu"]  # no GPU here: the CPU only
    assert list(report["latency_ms"]["cpu"]) == MODELS and all(ms > 0 for ms in report["latency_ms"]["cpu"].values())
    projection = report["projection_hours"]
    assert set(projection["table1"]) == {"fp32", "bf16"}
    assert list(projection["table1"]["fp32"]["jobs_hours"]) == ["baseline", "iss_a", "iss_b", "direct"]
    assert list(projection["table2"]["jobs_hours"])[0] == "baseline" and projection["table2"]["epochs"] == 500
    assert list(projection["table3"]["jobs_hours"])[0] == "baseline"
    train = report["suggested_resources"]["train"]
    assert train["gpu"] == 1 and train["runtime"] > 0 and train["mem_mb"] >= 4000
    assert "DRY RUN" in done.stdout and "Table 3 (fp32)" in done.stdout
    # the sections `--record` keeps (at --cpu or on a GPU), rendered as reports/benchmarks.md does
    from gpu_check import recorded_sections

    from iss_harness.reporting.benchmarks import section_markdown
    training, hours, latency = recorded_sections(report)
    assert [row[0] for row in training["rows"]][:2] == ["Table 1 baseline, fp32", "Table 1 iss, fp32"]
    assert [row[0] for row in hours["rows"]] == ["Table 1 (fp32)", "Table 1 (bf16)", "Table 2 (fp32, 500 epochs)",
                                                 "Table 3 (fp32)"]
    assert hours["rows"][-1][3] == f"{projection['table3']['total_hours']:.1f} h"
    assert len(latency["rows"]) == 3 and "Projected paper-scale training time" in section_markdown(hours)


def test_dry_goes_with_neither_cpu_nor_record(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--dry", "--record"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "neither --cpu nor --record" in done.stderr
    assert not (tmp_path / "recorded").exists()


def test_gpu_check_refuses_to_measure_without_cuda_unless_dry(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the real check would run")
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--out", str(tmp_path / "x.json")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no CUDA device" in done.stderr
    assert not (tmp_path / "x.json").exists()


def test_projection_is_the_config_work_over_the_measured_throughput():
    config = load_config(overrides={"scale": "paper"})
    paper = config["scales"]["paper"]
    measured = {"table1_training": {"baseline_fp32": {"words_per_second": 10_000.0},
                                    "iss_fp32": {"words_per_second": 5_000.0},
                                    "baseline_bf16": {"words_per_second": 20_000.0},
                                    "iss_bf16": {"words_per_second": 10_000.0}},
                "rhn_training": {"steps_per_second": 10.0}, "bidaf_training": {"steps_per_second": 2.0}}
    got = project(measured, config)
    # PTB at batch 20 x 35: 929,589 tokens -> 46,479 per stream -> 1,327 windows of 700 words
    assert ptb_windows_per_epoch(20, 35) == (PTB_TRAIN_TOKENS // 20 - 1) // 35 == 1327
    epoch_words = 1327 * 700
    assert got["table1"]["fp32"]["jobs_hours"]["baseline"] == pytest.approx(55 * epoch_words / 10_000 / 3600)
    assert got["table1"]["fp32"]["jobs_hours"]["iss_a"] == pytest.approx(55 * epoch_words / 5_000 / 3600)
    assert got["table1"]["bf16"]["total_hours"] == pytest.approx(got["table1"]["fp32"]["total_hours"] / 2)
    rows2 = 1 + len(paper["table2"]["lambdas"])
    assert got["table2"]["total_hours"] == pytest.approx(rows2 * 500 * 1327 / 10.0 / 3600)
    assert got["table3"]["jobs_hours"]["baseline"] == pytest.approx(paper["table3"]["baseline"]["steps"] / 2.0 / 3600)
    assert got["table3"]["jobs"] == 1 + len(paper["table3"]["lambdas"])
    fp32_only = {**measured, "table1_training": {k: v for k, v in measured["table1_training"].items() if "fp32" in k}}
    assert list(project(fp32_only, config)["table1"]) == ["fp32"]  # --cpu measures fp32 alone
