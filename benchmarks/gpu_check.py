"""Measure the paper-scale training throughput and latency on a GPU and project each table's wall time.

Run through benchmarks/gpu_check.sh (which first runs the tests marked `cuda`). Writes one JSON file:

* table1_training: words/s of the (1500, 1500) PTB LSTM at batch 20 x 35 in the harness's training
  loop, baseline and ISS (group-Lasso gradient + per-step zero threshold), fp32 and bf16 autocast;
* rhn_training / bidaf_training: steps/s of an ISS training step of the RHN (width 830, depth 10)
  and of BiDAF (the paper config, d = 100, batch 60, 256-token contexts);
* latency_ms: batch 10 x 30 inference of (1500,1500) / (373,315) / (381,535) on the GPU (cuDNN)
  and on the CPU of the same machine;
* projection_hours and suggested_resources (benchmarks/gpu_projection.py; no suggestion with --cpu).

`--dry` runs the same code at tiny sizes on the CPU in seconds (the test suite does, so this
script cannot rot). `--cpu` runs it at the paper's sizes on this machine's CPU (fp32 only, about 5
minutes on 2 cores): the projection for a machine without a GPU. `--record` (not with --dry) keeps
the measurements and projection in recorded/benchmarks/paper_scale_<cpu|gpu>.json for the page
reports/benchmarks.md (`iss benchmark-report`); gpu_check.sh passes it on. Each measurement is
bounded by a step count and a time budget (gpu_measure.Budget); at paper sizes on a GPU the whole
script stays within about 4 minutes.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_measure import (Budget, bidaf_training, lm_latency, lm_training, rhn_model,  # noqa: E402
                         table1_model)
from gpu_projection import project, projection_rows, suggest_resources  # noqa: E402
from _cli import finish, show, start  # noqa: E402

from iss_harness.config import load_config  # noqa: E402
from iss_harness.models.lstm_lm import LSTMLanguageModel  # noqa: E402
from iss_harness.tasks.timing import machine_info  # noqa: E402

LATENCY_SIZES = {"(1500, 1500)": [1500, 1500], "(373, 315)": [373, 315], "(381, 535)": [381, 535]}

# The paper scale's geometry (config/config.yaml scales.paper). BiDAF's batches are padded to their
# longest context: 256 tokens stands for a typical batch of 60 under sent_size_th 400 (SQuAD contexts
# average about 140 tokens); the word-table sizes stand for word_count_th 10 (trainable) and the GloVe
# words of the corpus (fixed) and change only the embedding lookups' cost. Estimates of shape, not data.
PAPER = dict(vocab=10_000, embedding=1500, hidden=1500, batch=20, steps=35, rhn_width=830, rhn_depth=10,
             qa_batch=60, qa_context=256, qa_question=30, qa_word=16, qa_hidden=100, qa_chars=300,
             qa_trainable_words=10_000, qa_fixed_words=80_000, latency_embedding=1500,
             latency_sizes=LATENCY_SIZES)
DRY = dict(vocab=200, embedding=16, hidden=16, batch=4, steps=5, rhn_width=12, rhn_depth=2,
           qa_batch=2, qa_context=12, qa_question=4, qa_word=4, qa_hidden=8, qa_chars=20,
           qa_trainable_words=50, qa_fixed_words=30, latency_embedding=16,
           latency_sizes={"(1500, 1500)": [16, 16], "(373, 315)": [6, 5], "(381, 535)": [6, 8]})

# Per measurement: warm-up steps, at most this many timed steps, about this many seconds.
# 4 x 25 s (Table 1) + 25 s (RHN) + 25 s (BiDAF) + 3 x 5 s (GPU latency) + 3 x 15 s (CPU latency)
# plus warm-ups and model building: about 4 minutes on a GPU.
PAPER_BUDGETS = dict(train=Budget(3, 400, 25.0), gpu_latency=Budget(5, 200, 5.0), cpu_latency=Budget(1, 30, 15.0))
DRY_BUDGETS = dict(train=Budget(1, 3, 1.0), gpu_latency=Budget(1, 3, 0.5), cpu_latency=Budget(1, 3, 0.5))
# On a CPU a paper-size step takes seconds (BiDAF: 10-25 s): one warm-up, then about 30 s per measurement.
CPU_BUDGETS = dict(train=Budget(1, 400, 30.0), gpu_latency=Budget(1, 3, 0.5), cpu_latency=Budget(1, 30, 15.0))


def measure(sizes: dict, budgets: dict, device: torch.device, precisions: tuple[str, ...] = ("fp32", "bf16")) -> dict:
    torch.manual_seed(0)
    table1 = {}
    for precision in precisions:
        for kind, lam, threshold in (("baseline", 0.0, 0.0), ("iss", 0.00245, 1e-4)):
            print(f"[gpu_check] Table 1 training, {kind}, {precision}", flush=True)
            table1[f"{kind}_{precision}"] = lm_training(table1_model(sizes), device, sizes["batch"], sizes["steps"],
                                                        lam, threshold, precision == "bf16", budgets["train"])
    print("[gpu_check] RHN training (ISS)", flush=True)
    rhn = lm_training(rhn_model(sizes), device, sizes["batch"], sizes["steps"], 0.005, 4e-4, False, budgets["train"],
                      weight_decay=1e-7, threshold_scope="groups")
    print("[gpu_check] BiDAF training (ISS)", flush=True)
    bidaf = bidaf_training(sizes, device, budgets["train"])
    models = {label: LSTMLanguageModel(sizes["vocab"], sizes["latency_embedding"], hidden)
              for label, hidden in sizes["latency_sizes"].items()}
    print("[gpu_check] latency, batch 10 x 30", flush=True)
    latency = {"cpu": lm_latency(models, torch.device("cpu"), 10, 30, budgets["cpu_latency"])}
    if device.type == "cuda":
        latency["gpu"] = lm_latency(models, device, 10, 30, budgets["gpu_latency"])
    return dict(table1_training=table1, rhn_training=rhn, bidaf_training=bidaf, latency_ms=latency)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry", action="store_true", help="tiny sizes on the CPU, seconds (a self-test)")
    parser.add_argument("--out", type=Path, default=None, help="default: gpu_check.json (gpu_check_cpu.json with --cpu)")
    parser.add_argument("--cuda-tests", default="not run", help="the outcome of the cuda tests, for the record")
    parser.add_argument("--cpu", action="store_true",
                        help="the paper's sizes on this machine's CPU, fp32 (minutes): the projection without a GPU")
    parser.add_argument("--record", action="store_true",
                        help="also write recorded/benchmarks/paper_scale_<cpu|gpu>.json (a clean checkout only)")
    args = parser.parse_args()
    if args.dry and (args.cpu or args.record):
        print("gpu_check: --dry measures tiny models: it goes with neither --cpu nor --record", file=sys.stderr)
        return 2
    if not (args.dry or args.cpu) and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; run it on a GPU, with --cpu for this machine's CPU, or with --dry "
              "for the CPU self-test", file=sys.stderr)
        return 2
    mode = "dry" if args.dry else "cpu" if args.cpu else "gpu"
    out = args.out or Path("gpu_check_cpu.json" if mode == "cpu" else "gpu_check.json")
    device = torch.device("cuda") if mode == "gpu" else torch.device("cpu")
    if args.dry:  # on shared CPUs a second thread's wake-ups cost up to a second per call
        torch.set_num_threads(1)
    run = start(args)
    started = time.perf_counter()
    budgets = {"dry": DRY_BUDGETS, "cpu": CPU_BUDGETS, "gpu": PAPER_BUDGETS}[mode]
    measured = measure(DRY if args.dry else PAPER, budgets, device, ("fp32",) if mode == "cpu" else ("fp32", "bf16"))
    projection = project(measured, load_config(overrides={"scale": "paper"}))
    peak_host_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes
    report = dict(
        mode=mode, device=str(device), machine=machine_info(),
        measured_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), cuda_tests=args.cuda_tests,
        sizes={k: v for k, v in (DRY if args.dry else PAPER).items() if k != "latency_sizes"},
        **measured, projection_hours=projection, peak_host_mb=peak_host_mb,
        peak_gpu_mb=torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None,
        # SLURM resources for the paper scale's GPU jobs: not from a CPU's throughput (days per job)
        suggested_resources=None if mode == "cpu" else suggest_resources(projection, peak_host_mb),
        seconds=time.perf_counter() - started)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    if args.dry:
        print("DRY RUN: tiny models on the CPU; these numbers only prove the script works.")
    sections = show(recorded_sections(report))
    if report["suggested_resources"]:
        print(f"suggested SLURM resources for training jobs (scales.paper.resources.train): "
              f"{report['suggested_resources']['train']}")
    print(f"wrote {out} in {report['seconds']:.0f} s")
    purpose = (f"The paper scale's training throughput and latency measured on {'a GPU' if mode == 'gpu' else 'this CPU'}"
               ", and each paper-scale table's training time projected from them.")
    finish(run, purpose, sections, name=f"paper_scale_{mode}", command=["--cpu"] if mode == "cpu" else [])
    return 0


def recorded_sections(report: dict) -> list[dict]:
    """The measurements and the projection as benchmark sections (iss_harness.reporting.benchmarks)."""
    where = f"{report['device']}, {report['machine']['max_threads']} threads"
    training = [[f"Table 1 {kind.replace('_', ', ')}", f"{run['words_per_second']:.0f}", f"{run['steps_per_second']:.3f}"]
                for kind, run in report["table1_training"].items()]
    training += [["Table 2 RHN (width 830, depth 10), ISS", f"{report['rhn_training']['words_per_second']:.0f}",
                  f"{report['rhn_training']['steps_per_second']:.3f}"],
                 ["Table 3 BiDAF (d = 100, batch 60), ISS", "–", f"{report['bidaf_training']['steps_per_second']:.3f}"]]
    hours = projection_rows(report["projection_hours"])
    latency = [[f"{label} on the {side}", f"{ms:.2f}"] for side, models in report["latency_ms"].items()
               for label, ms in models.items()]
    return [dict(title=f"Training throughput at the paper's sizes ({where})", columns=["Training", "Words/s", "Steps/s"],
                 rows=training, notes=["The harness's own training step (penalty and threshold in the ISS rows), "
                                       "random tokens."], raw={k: report[k] for k in ("table1_training", "rhn_training",
                                                                                      "bidaf_training", "sizes")}),
            dict(title="Projected paper-scale training time on this machine", columns=["Table", "Jobs",
                 "Hours per job (one seed)", "All jobs, one after another"], rows=hours,
                 notes=["Arithmetic, not a measurement: the paper config's work (rows x seeds x epochs or steps) over "
                        "the throughput above; evaluation, validation and checkpoints are left out, so these are "
                        "lower bounds."], raw=report["projection_hours"]),
            dict(title="Latency, batch 10 x 30 unrolled steps", columns=["Model", "Median ms"], rows=latency, notes=[],
                 raw=report["latency_ms"])]


if __name__ == "__main__":
    sys.exit(main())
