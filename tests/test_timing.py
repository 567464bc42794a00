"""The latency protocol on trivial callables: interleaving, medians, fastest path, ratios."""
import time

import pytest
import torch

from iss_harness.tasks import timing
from iss_harness.models.lstm_lm import LSTMLanguageModel


def sleeper(seconds):
    return lambda: time.sleep(seconds)


def test_interleaved_times_every_candidate_and_restores_threads():
    before = torch.get_num_threads()
    summary = timing.interleaved([timing.Candidate("slow", sleeper(0.004), 1),
                                  timing.Candidate("fast", sleeper(0.001), 1)], rounds=3, chunk_seconds=0.02)
    assert torch.get_num_threads() == before
    assert summary["slow"]["median_ms"] > summary["fast"]["median_ms"] * 2
    assert all(s["calls"] >= 3 and s["p10_ms"] <= s["median_ms"] <= s["p90_ms"] for s in summary.values())


def test_speedups_pick_the_fastest_path_per_model_and_keep_same_path_ratios():
    summary = {"baseline|1T|onednn": {"median_ms": 100.0}, "baseline|2T|onednn": {"median_ms": 60.0},
               "small|1T|onednn": {"median_ms": 10.0}, "small|2T|onednn": {"median_ms": 8.0}}
    result = timing.speedups(summary, "baseline", ["small"])
    assert result["baseline"]["path"] == "baseline|2T|onednn"
    assert result["small"]["speedup"] == pytest.approx(60.0 / 8.0)
    assert result["small"]["same_path_speedup"] == {"1T|onednn": pytest.approx(10.0), "2T|onednn": pytest.approx(7.5)}


def test_lm_candidates_cover_models_threads_and_kernels():
    torch.manual_seed(0)
    models = {"baseline": LSTMLanguageModel(20, 8, [6, 6]), "small": LSTMLanguageModel(20, 8, [3, 2])}
    tokens = torch.randint(0, 20, (5, 2))
    candidates = timing.lm_candidates(models, tokens, [1, 2])
    assert sorted(c.name for c in candidates) == sorted(
        f"{m}|{t}T|{k}" for m in models for t in (1, 2) for k in ("onednn", "aten"))
    summary = timing.interleaved(candidates, rounds=1, chunk_seconds=0.0, warmup_calls=1)
    assert set(summary) == {c.name for c in candidates}
