"""One latency protocol for every table (design: "Timing").

Shared machines are noisy: neighbours come and go over minutes, so timing one model after
another produces nonsense ratios. Every candidate is therefore timed in short chunks,
round-robin in a shuffled order, for several rounds, in one process; we report the
median per-call time over all chunks and the ratios between candidates measured that way.
Thread counts are part of a candidate, set before each chunk and recorded.
"""
from __future__ import annotations

import platform
import random
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass
class Candidate:
    name: str
    fn: Callable[[], object]
    threads: int
    onednn: bool = True  # False runs ATen's own kernels (torch.backends.mkldnn disabled)


def _call(candidate: Candidate) -> None:
    with torch.backends.mkldnn.flags(enabled=candidate.onednn):
        candidate.fn()


def interleaved(candidates: list[Candidate], rounds: int = 5, chunk_seconds: float = 0.5,
                warmup_calls: int = 2, seed: int = 0, inference: bool = True) -> dict[str, dict]:
    """Per candidate: median / p10 / p90 milliseconds per call and the number of calls.
    ``inference=False`` keeps autograd on (for timing training steps)."""
    previous_threads = torch.get_num_threads()
    times: dict[str, list[float]] = {c.name: [] for c in candidates}
    order = list(candidates)
    rng = random.Random(seed)
    try:
        with torch.inference_mode(inference):
            for c in candidates:
                torch.set_num_threads(c.threads)
                for _ in range(warmup_calls):
                    _call(c)
            for _ in range(rounds):
                rng.shuffle(order)
                for c in order:
                    torch.set_num_threads(c.threads)
                    chunk_start = time.perf_counter()
                    while True:
                        t0 = time.perf_counter()
                        _call(c)
                        times[c.name].append(time.perf_counter() - t0)
                        if time.perf_counter() - chunk_start >= chunk_seconds:
                            break
    finally:
        torch.set_num_threads(previous_threads)
    summary = {}
    for c in candidates:
        ts = sorted(times[c.name])
        summary[c.name] = dict(median_ms=1e3 * statistics.median(ts), p10_ms=1e3 * ts[len(ts) // 10],
                               p90_ms=1e3 * ts[(9 * len(ts)) // 10], calls=len(ts), threads=c.threads,
                               onednn=c.onednn)
    return summary


def fastest(summary: dict[str, dict], prefix: str) -> tuple[str, dict]:
    """The fastest of the candidates whose name starts with ``prefix`` (one model, several paths)."""
    name = min((n for n in summary if n.startswith(prefix)), key=lambda n: summary[n]["median_ms"])
    return name, summary[name]


def machine_info() -> dict:
    info = dict(platform=platform.platform(), processor=platform.processor() or platform.machine(),
                cpu_capability=torch.backends.cpu.get_cpu_capability(), torch=torch.__version__,
                max_threads=torch.get_num_threads())
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


def lm_inference(model, tokens: torch.Tensor) -> Callable[[], torch.Tensor]:
    """The whole LM at inference: embedding, every recurrent layer, decoder and log-softmax."""
    model.eval()

    def run():
        logits, _ = model(tokens, model.init_state(tokens.shape[1]))
        return torch.log_softmax(logits, dim=-1)
    return run


def lm_candidates(models: dict[str, torch.nn.Module], tokens: torch.Tensor,
                  threads: list[int]) -> list[Candidate]:
    """Every (model, threads, kernel) combination: name "<model>|<threads>T|<kernel>"."""
    out = []
    for label, model in models.items():
        fn = lm_inference(model, tokens)
        for n in threads:
            for onednn in (True, False):
                kernel = "onednn" if onednn else "aten"
                out.append(Candidate(f"{label}|{n}T|{kernel}", fn, n, onednn))
    return out


def speedups(summary: dict[str, dict], baseline: str, others: list[str]) -> dict[str, dict]:
    """Speedup of each model over the baseline, fastest path for each, plus the same-path
    ratio at every thread count and kernel (so a reader sees how much the choice matters)."""
    base_name, base = fastest(summary, baseline + "|")
    result = {baseline: dict(path=base_name, median_ms=base["median_ms"], speedup=1.0)}
    for label in others:
        name, best = fastest(summary, label + "|")
        same_path = {}
        for cand in summary:
            if cand.startswith(label + "|"):
                path = cand.split("|", 1)[1]
                ref = summary.get(f"{baseline}|{path}")
                if ref:
                    same_path[path] = ref["median_ms"] / summary[cand]["median_ms"]
        result[label] = dict(path=name, median_ms=best["median_ms"], speedup=base["median_ms"] / best["median_ms"],
                             same_path_speedup=same_path)
    return result


def training_overhead(model, tokens: torch.Tensor, lam: float, zero_threshold: float, rounds: int, threads: int,
                      thresholded: list | None = None) -> dict[str, dict]:
    """ISS's cost in a training step of ``model`` on ``tokens`` [T + 1, B], interleaved: a plain
    step, + the group-Lasso gradient, + the element threshold, and each added operation alone
    (a steadier estimate of the overhead than the difference of two whole steps)."""
    import torch.nn.functional as F
    from iss.groups import add_group_lasso_grad_, zero_small_weights_
    params = [p for p in model.parameters() if p.requires_grad]
    thresholded = params if thresholded is None else thresholded
    families = model.iss_families()
    optimizer = torch.optim.SGD(params, lr=1e-3)  # tiny lr: the weights stay realistic over many steps
    steps, batch = tokens.shape[0] - 1, tokens.shape[1]
    model.train()

    def step(penalty: bool, threshold: bool):
        def run():
            logits, _ = model(tokens[:-1], model.init_state(batch))
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[1:].reshape(-1)) * steps
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if penalty:
                add_group_lasso_grad_(model, families, lam)
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            optimizer.step()
            if threshold:
                zero_small_weights_(thresholded, zero_threshold)
        return run

    for p in params:  # the isolated operations below need gradients to add to
        p.grad = torch.zeros_like(p)
    candidates = [Candidate("plain step", step(False, False), threads),
                  Candidate("step + penalty", step(True, False), threads),
                  Candidate("step + penalty + threshold", step(True, True), threads),
                  Candidate("penalty gradient alone", lambda: add_group_lasso_grad_(model, families, lam), threads),
                  Candidate("zero threshold alone", lambda: zero_small_weights_(thresholded, zero_threshold), threads)]
    return interleaved(candidates, rounds=rounds, chunk_seconds=0.0, warmup_calls=1, inference=False)
