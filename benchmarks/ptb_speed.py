"""Speed figures for Table 1 on this machine (prints them; not a test).

1. Training-step overhead of ISS at the paper's size (hidden 1500, embedding 1500, vocabulary
   10,000, batch 20 x 35): plain step vs + group-Lasso gradient vs + per-step zero threshold.
   Targets: penalty <= +5 %, penalty + threshold <= +10 %.
2. Inference speedup at the paper's sizes (batch 10 x 30): (1500,1500) vs (373,315) and (381,535),
   fastest path for each (threads x kernel). Paper: 10.59x and 7.10x; mult-add bound 7.48x, 5.01x.

Both are measured interleaved in one process (iss.timing): ratios, not absolute times, are the result.

    python benchmarks/ptb_speed.py [--rounds 4] [--threads 1,2] [--skip-training] [--skip-inference]
"""
import argparse

import torch
import torch.nn.functional as F

from iss import timing
from iss.components import add_group_lasso_grad_, zero_small_weights_
from iss.cost import cost_summary
from iss.models.lstm_lm import LSTMLanguageModel
from iss.table1 import PAPER_VOCAB, paper_sizes


def training_overhead(rounds: int, threads: int) -> None:
    torch.manual_seed(0)
    model = LSTMLanguageModel(PAPER_VOCAB, 1500, [1500, 1500], keep_prob=0.35)
    params = [p for p in model.parameters() if p.requires_grad]
    families = model.iss_families()
    optimizer = torch.optim.SGD(params, lr=1e-3)  # tiny lr: the weights stay realistic over many steps
    tokens = torch.randint(0, PAPER_VOCAB, (36, 20))

    def step(penalty: bool, threshold: bool):
        def run():
            logits, _ = model(tokens[:-1], model.init_state(20))
            loss = F.cross_entropy(logits.reshape(-1, PAPER_VOCAB), tokens[1:].reshape(-1)) * 35
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if penalty:
                add_group_lasso_grad_(model, families, 0.00245)
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            optimizer.step()
            if threshold:
                zero_small_weights_(params, 1e-4)
        return run

    for p in params:  # the isolated operations below need gradients to add to
        p.grad = torch.zeros_like(p)
    candidates = [timing.Candidate("plain step", step(False, False), threads),
                  timing.Candidate("step + penalty", step(True, False), threads),
                  timing.Candidate("step + penalty + threshold", step(True, True), threads),
                  # The added work alone, interleaved with the same steps: a steadier estimate.
                  timing.Candidate("penalty gradient alone", lambda: add_group_lasso_grad_(model, families, 0.00245), threads),
                  timing.Candidate("zero threshold alone", lambda: zero_small_weights_(params, 1e-4), threads)]
    summary = timing.interleaved(candidates, rounds=rounds, chunk_seconds=0.0, warmup_calls=1, inference=False)
    base = summary["plain step"]["median_ms"]
    print(f"\nTraining step, hidden 1500, batch 20 x 35, {threads} threads, {rounds} interleaved rounds "
          f"(targets: penalty <= +5 %, penalty + threshold <= +10 %)")
    for name, s in summary.items():
        print(f"  {name:28s} {s['median_ms']:8.1f} ms  ({s['median_ms'] / base:+.1%} of a plain step, {s['calls']} calls)")
    alone = (summary["penalty gradient alone"]["median_ms"], summary["zero threshold alone"]["median_ms"])
    print(f"  overhead from the isolated operations: penalty {alone[0] / base:+.1%}, "
          f"penalty + threshold {sum(alone) / base:+.1%}")


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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--skip-inference", action="store_true")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    print(f"torch {torch.__version__}, {timing.machine_info()}")
    if not args.skip_inference:
        inference_speedup(args.rounds, threads)
    if not args.skip_training:
        training_overhead(args.rounds, max(threads))
