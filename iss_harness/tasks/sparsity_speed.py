"""The paper's motivating picture, measured here: structured against non-structured sparsity.

One LSTM layer's matrix multiply at inference, the paper's 1500-unit layer by default: the kernel
W [4h, n_in + h] (= [6000, 3000]) times the stacked input and state X [n_in + h, batch]. At each
sparsity s (the fraction of W's weights that are zero) it is timed four ways:

* ``dense``: the full matrix, once (the reference every speedup divides);
* ``structured``: ISS removes whole units. Keeping u = round(h * sqrt(1 - s)) of the layer's units,
  and the same fraction of its inputs (the previous ISS layer's units), leaves a smaller *dense*
  matrix [4u, u * (n_in + h) / h]: (1 - s) of the weights in one ordinary GEMM;
* ``csr`` / ``csr_int64``: non-structured sparsity, the same number of non-zeros at random
  positions, as a ``torch.sparse_csr_tensor`` (int32 indices, and int64 as ``to_sparse_csr``
  makes them) times the dense X;
* ``dense_masked``: the full matrix with those zeros stored (a dense kernel gains nothing).

The structured shape is rounded to whole units, so its sparsity differs slightly from the target;
the random masks use exactly the structured matrix's number of weights, so each level compares
equal non-zero counts. Every candidate is timed with ``iss_harness.tasks.timing.interleaved`` (short chunks,
round-robin in shuffled order, median per call) in one process at each configured thread count.

``measure`` writes ``results/<scale>/sparsity_speed.json`` (shapes, medians, speedups over the
dense reference, machine and provenance); ``iss_harness.reporting.figures_speed`` draws
``reports/figures/speedup_vs_sparsity`` from that file only.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import torch

from iss_harness.config import ConfigError, scale_settings
from iss_harness.provenance import provenance
from iss_harness.io import read_json, write_json_atomic
from iss_harness.tasks.paths import scale_root
from iss_harness.tasks.sparsity_kinds import KINDS, RESULT_NAME
from iss_harness.tasks.timing import Candidate, interleaved, machine_info



def settings_of(config: dict) -> dict:
    settings = scale_settings(config).get("sparsity_speed")
    if settings is None:
        raise ConfigError(f"scales.{config['scale']}.sparsity_speed is not set in the configuration")
    return settings


def structured_shape(hidden: int, inputs: int, sparsity: float) -> tuple[int, tuple[int, int]]:
    """Units kept and the smaller dense kernel's shape [4u, n_in' + u] at target ``sparsity``."""
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    units = max(1, round(hidden * math.sqrt(1.0 - sparsity)))
    kept_inputs = max(1, round(inputs * units / hidden))
    return units, (4 * units, kept_inputs + units)


def random_ranks(shape: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """A random permutation of 0..numel-1 laid out as ``shape``: ``ranks < k`` keeps exactly k weights
    at uniformly random positions, and the masks of the levels are nested (as pruning's are)."""
    return torch.randperm(shape[0] * shape[1], generator=generator).view(shape)


def with_int32_indices(csr: torch.Tensor) -> torch.Tensor:
    """The same CSR matrix with int32 row pointers and column indices (``to_sparse_csr`` makes int64)."""
    return torch.sparse_csr_tensor(csr.crow_indices().to(torch.int32), csr.col_indices().to(torch.int32),
                                   csr.values(), csr.shape, check_invariants=False)


class Product:
    """``matrix @ x`` as a zero-argument call (what the timing protocol runs); keeps its operands."""

    def __init__(self, matrix: torch.Tensor, x: torch.Tensor):
        self.matrix, self.x = matrix, x

    def __call__(self) -> torch.Tensor:
        return self.matrix @ self.x


def build_levels(hidden: int, inputs: int, batch: int, sparsities: list[float], seed: int = 0):
    """The dense reference and, per sparsity level, its record and {kind: zero-argument product}."""
    generator = torch.Generator().manual_seed(seed)
    full_shape = (4 * hidden, inputs + hidden)
    weight = torch.randn(full_shape, generator=generator) * 0.04
    x = torch.randn(full_shape[1], batch, generator=generator)
    ranks = random_ranks(full_shape, generator)
    levels = []
    for target in sparsities:
        units, shape = structured_shape(hidden, inputs, target)
        nonzeros = shape[0] * shape[1]
        small = torch.randn(shape, generator=generator) * 0.04
        small_x = torch.randn(shape[1], batch, generator=generator)
        masked = weight * (ranks < nonzeros)
        with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state": known, and measured
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            csr = masked.to_sparse_csr()
        products = {
            "structured": Product(small, small_x),
            "csr": Product(with_int32_indices(csr), x),
            "csr_int64": Product(csr, x),
            "dense_masked": Product(masked, x),
        }
        record = dict(target_sparsity=target, sparsity=1.0 - nonzeros / weight.numel(), units_kept=units,
                      structured_shape=list(shape), nonzeros=nonzeros)
        levels.append((record, products))
    return Product(weight, x), levels


def _name(kind: str, target: float | None, threads: int) -> str:
    return f"{kind}|{threads}T" if target is None else f"{kind}|s={target:g}|{threads}T"


def measure(config: dict, results: Path, seed: int = 0) -> dict:
    """Time every (kind, sparsity, threads) candidate, interleaved; write and return the result."""
    s = settings_of(config)
    report = measure_products(s["hidden_size"], s["input_size"], s["batch_size"], list(s["sparsities"]),
                              list(s["threads"]), s["rounds"], s["chunk_seconds"], seed)
    report["provenance"] = provenance(config, torch.device("cpu"), seed=seed)
    report["settings"] = dict(s)
    path = scale_root(results, config) / RESULT_NAME
    write_json_atomic(path, report)
    print(summary_text(report))
    print(f"[iss] wrote {path}")
    return report


def measure_products(hidden: int, inputs: int, batch: int, sparsities: list[float], threads: list[int],
                     rounds: int, chunk_seconds: float, seed: int = 0) -> dict:
    """The measurement without files: the same JSON-ready dict ``measure`` writes (less provenance)."""
    dense, levels = build_levels(hidden, inputs, batch, sparsities, seed)
    candidates = []
    for n in threads:
        candidates.append(Candidate(_name("dense", None, n), dense, n))
        for record, products in levels:
            candidates += [Candidate(_name(kind, record["target_sparsity"], n), products[kind], n) for kind in KINDS]
    summary = interleaved(candidates, rounds=rounds, chunk_seconds=chunk_seconds, warmup_calls=2, seed=seed)
    points = []
    for n in threads:
        reference = summary[_name("dense", None, n)]["median_ms"]
        reference_p10 = summary[_name("dense", None, n)]["p10_ms"]  # the same from the fast tenth of calls
        for record, _ in levels:
            for kind in KINDS:
                timed = summary[_name(kind, record["target_sparsity"], n)]
                points.append(dict(record, kind=kind, threads=n, median_ms=timed["median_ms"],
                                   p10_ms=timed["p10_ms"], p90_ms=timed["p90_ms"], calls=timed["calls"],
                                   dense_ms=reference, speedup=reference / timed["median_ms"],
                                   speedup_p10=reference_p10 / timed["p10_ms"]))
    return dict(
        layer=dict(hidden_size=hidden, input_size=inputs, batch_size=batch,
                   weight_shape=[4 * hidden, inputs + hidden], x_shape=[inputs + hidden, batch]),
        protocol=dict(rounds=rounds, chunk_seconds=chunk_seconds, threads=threads,
                      note="all candidates interleaved in one process; median per call; speedup = dense "
                           "median / candidate median at the same thread count; speedup_p10 = the same "
                           "ratio of 10th percentiles (less sensitive to a loaded machine)"),
        dense={str(n): summary[_name("dense", None, n)] for n in threads},
        points=points, candidates=summary, machine=machine_info())


def summary_text(report: dict) -> str:
    """A plain-text table of the speedups (also what the CLI prints)."""
    layer = report["layer"]
    lines = [f"speedup over the dense [{layer['weight_shape'][0]} x {layer['weight_shape'][1]}] x "
             f"[{layer['x_shape'][0]} x {layer['x_shape'][1]}] product (median per call):"]
    for n in report["protocol"]["threads"]:
        lines.append(f"  {n} thread(s): dense {report['dense'][str(n)]['median_ms']:.2f} ms")
        lines.append("    sparsity  " + "  ".join(f"{kind:>12s}" for kind in KINDS))
        by_level: dict[float, dict[str, float]] = {}
        for p in report["points"]:
            if p["threads"] == n:
                by_level.setdefault(p["sparsity"], {})[p["kind"]] = p["speedup"]
        for sparsity, speed in sorted(by_level.items()):
            lines.append(f"    {sparsity:8.1%}  " + "  ".join(f"{speed[kind]:11.2f}x" for kind in KINDS))
    return "\n".join(lines)
