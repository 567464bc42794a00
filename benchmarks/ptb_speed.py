"""Speed figures for Table 1 on this machine (prints them; not a test).

1. Training-step overhead of ISS at the paper's size (hidden 1500, embedding 1500, vocabulary
   10,000, batch 20 x 35): plain step vs + group-Lasso gradient vs + per-step zero threshold.
   Targets: penalty <= +5 %, penalty + threshold <= +10 %.
2. Inference speedup at the paper's sizes (batch 10 x 30): (1500,1500) vs (373,315) and (381,535),
   fastest path for each (threads x kernel). Paper: 10.59x and 7.10x; mult-add bound 7.48x, 5.01x.

Both are measured interleaved in one process (iss_harness.tasks.timing): ratios, not absolute times, are the result.

    python benchmarks/ptb_speed.py [--rounds 4] [--threads 1,2] [--skip-training] [--skip-inference]
"""
import torch

from _cli import main
from iss_harness.tasks import timing
from iss.counting import cost_summary
from iss_harness.models.lstm_lm import LSTMLanguageModel
from iss_harness.tables.table1.experiment import PAPER_VOCAB, paper_sizes


def training_overhead(rounds: int, threads: int) -> None:
    torch.manual_seed(0)
    model = LSTMLanguageModel(PAPER_VOCAB, 1500, [1500, 1500], keep_prob=0.35)
    tokens = torch.randint(0, PAPER_VOCAB, (36, 20))
    summary = timing.training_overhead(model, tokens, lam=0.00245, zero_threshold=1e-4, rounds=rounds, threads=threads)
    timing.print_training_overhead(summary, f"Training step, hidden 1500, batch 20 x 35, {threads} threads, {rounds} "
                                            f"interleaved rounds (targets: penalty <= +5 %, penalty + threshold <= +10 %)")


def inference_speedup(rounds: int, threads: list[int]) -> None:
    sizes = paper_sizes()
    torch.manual_seed(0)
    models = {row: LSTMLanguageModel(PAPER_VOCAB, 1500, hidden) for row, hidden in sizes.items()}
    tokens = torch.randint(0, PAPER_VOCAB, (30, 10))
    summary = timing.interleaved(timing.lm_candidates(models, tokens, threads), rounds=rounds, chunk_seconds=1.0)
    result = timing.speedups(summary, "baseline", ["iss_a", "iss_b"])
    print(f"\nInference, batch 10 x 30, threads {threads}, {rounds} interleaved rounds")
    for name, s in sorted(summary.items()):
        print(f"  {name:24s} {s['median_ms']:8.2f} ms  (p10 {s['p10_ms']:.2f}, p90 {s['p90_ms']:.2f}, {s['calls']} calls)")
    for row in ("iss_a", "iss_b"):
        reduction = cost_summary(models[row], models["baseline"])["mult_add_reduction"]
        r = result[row]
        same = ", ".join(f"{k}: {v:.2f}x" for k, v in sorted(r["same_path_speedup"].items()))
        print(f"  {sizes[row]}: speedup {r['speedup']:.2f}x (fastest paths {result['baseline']['path']} vs "
              f"{r['path']}); mult-add reduction {reduction:.2f}x; same path: {same}")


if __name__ == "__main__":
    main(__doc__, inference_speedup, training_overhead, rounds=4)
