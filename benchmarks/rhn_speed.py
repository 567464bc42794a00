"""Speed figures for Table 2 (RHN) on this machine (prints them; not a test).

1. Training-step overhead of ISS at the paper's size (width 830, depth 10, vocabulary 10,000,
   batch 20 x 35, ISS dropouts): plain step vs + group-Lasso gradient vs + per-step zero
   threshold of the grouped weights (spec 1.6). Target: penalty + threshold <= +10 %.
2. Inference speedup of the paper's learned widths (726, 517, 403, 328) over width 830, batch
   10 x 30, fastest path for each; mult-add reduction beside it.

Interleaved in one process (iss_harness.tasks.timing): ratios, not absolute times, are the result. On a CPU a
width-830 training step takes seconds; keep --rounds small.

    python benchmarks/rhn_speed.py [--rounds 3] [--threads 1,2] [--skip-training] [--skip-inference]
"""
import torch

from _cli import main
from iss_harness.tasks import timing
from iss.counting import cost_summary
from iss_harness.models.rhn import RHNLanguageModel
from iss_harness.tables.table2.experiment import PAPER_VOCAB, paper_widths

ISS_DROPOUT = {"x": 0.15, "i": 0.45, "h": 0.15, "o": 0.45}


def training_overhead(rounds: int, threads: int) -> None:
    torch.manual_seed(0)
    model = RHNLanguageModel(PAPER_VOCAB, 830, depth=10, dropout=ISS_DROPOUT)
    grouped = {part.param for family in model.iss_families() for part in family.parts}
    thresholded = [p for name, p in model.named_parameters() if name in grouped]
    tokens = torch.randint(0, PAPER_VOCAB, (36, 20))
    summary = timing.training_overhead(model, tokens, lam=0.005, zero_threshold=4e-4, rounds=rounds,
                                       threads=threads, thresholded=thresholded)
    timing.print_training_overhead(summary, f"RHN training step, width 830, depth 10, batch 20 x 35, {threads} "
                                            f"threads, {rounds} interleaved rounds (target: penalty + threshold <= +10 %)")


def inference_speedup(rounds: int, threads: list[int]) -> None:
    widths = paper_widths()
    torch.manual_seed(0)
    models = {row: RHNLanguageModel(PAPER_VOCAB, width, depth=10) for row, width in widths.items()}
    tokens = torch.randint(0, PAPER_VOCAB, (30, 10))
    summary = timing.interleaved(timing.lm_candidates(models, tokens, threads), rounds=rounds, chunk_seconds=1.0)
    others = [row for row in widths if row != "baseline"]
    result = timing.speedups(summary, "baseline", others)
    print(f"\nRHN inference, batch 10 x 30, threads {threads}, {rounds} interleaved rounds")
    for row in others:
        reduction = cost_summary(models[row], models["baseline"])["mult_add_reduction"]
        print(f"  width {widths[row]}: speedup {result[row]['speedup']:.2f}x ({result[row]['path']}), "
              f"mult-add reduction {reduction:.2f}x")


if __name__ == "__main__":
    main(__doc__, inference_speedup, training_overhead, rounds=3)
