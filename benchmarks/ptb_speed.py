"""Speed figures for Table 1 on this machine: the training-step cost of ISS and the inference
speedup at the paper's sizes.

Prints them; --record keeps them (not a test).

1. Training-step overhead of ISS at the paper's size (hidden 1500, embedding 1500, vocabulary
   10,000, batch 20 x 35): plain step vs + group-Lasso gradient vs + per-step zero threshold.
   Targets: penalty <= +5 %, penalty + threshold <= +10 %.
2. Inference speedup at the paper's sizes (batch 10 x 30): (1500,1500) vs (373,315) and (381,535),
   fastest path for each (threads x kernel). Paper: 10.59x and 7.10x; mult-add bound 7.48x, 5.01x.

Both are measured interleaved in one process (iss_harness.tasks.timing): ratios, not absolute times, are the result.

    python benchmarks/ptb_speed.py [--rounds 4] [--threads 1,2] [--skip-training] [--skip-inference] [--record]
"""
import torch

from _cli import main, overhead_section, paths_section
from iss_harness.tasks import timing
from iss.counting import cost_summary
from iss_harness.models.lstm_lm import LSTMLanguageModel
from iss_harness.tables.table1.experiment import PAPER_VOCAB, paper_sizes


def training_overhead(rounds: int, threads: int) -> list[dict]:
    torch.manual_seed(0)
    model = LSTMLanguageModel(PAPER_VOCAB, 1500, [1500, 1500], keep_prob=0.35)
    tokens = torch.randint(0, PAPER_VOCAB, (36, 20))
    summary = timing.training_overhead(model, tokens, lam=0.00245, zero_threshold=1e-4, rounds=rounds, threads=threads)
    return [overhead_section(summary, f"Training step, hidden 1500, batch 20 x 35, {threads} threads, {rounds} "
                                      "interleaved rounds", "targets: penalty at most +5 %, penalty + threshold at most +10 %")]


def inference_speedup(rounds: int, threads: list[int]) -> list[dict]:
    sizes = paper_sizes()
    torch.manual_seed(0)
    models = {row: LSTMLanguageModel(PAPER_VOCAB, 1500, hidden) for row, hidden in sizes.items()}
    tokens = torch.randint(0, PAPER_VOCAB, (30, 10))
    summary = timing.interleaved(timing.lm_candidates(models, tokens, threads), rounds=rounds, chunk_seconds=1.0)
    result = timing.speedups(summary, "baseline", ["iss_a", "iss_b"])
    rows = []
    for row in sizes:
        r = result[row]
        reduction = cost_summary(models[row], models["baseline"])["mult_add_reduction"]
        same = ", ".join(f"{k}: {v:.2f}x" for k, v in sorted(r.get("same_path_speedup", {}).items())) or "–"
        rows.append([str(tuple(sizes[row])), r["path"].split("|", 1)[1], f"{r['median_ms']:.2f}", f"{r['speedup']:.2f}x",
                     f"{reduction:.2f}x", same])
    title = f"Inference at the paper's sizes, batch 10 x 30, threads {threads}, {rounds} interleaved rounds"
    speedup = dict(title=title, columns=["LSTM sizes", "Fastest path", "Median ms", "Speedup", "Mult-add reduction",
                                         "Speedup on the same path"], rows=rows,
                   notes=["Each model on its fastest path (threads | kernel); the speedup is over (1500, 1500) on its own."],
                   raw=result)
    return [speedup, paths_section(summary, "Every inference path timed")]


if __name__ == "__main__":
    main(__doc__, inference_speedup, training_overhead, rounds=4)
