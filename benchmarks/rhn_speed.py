"""Speed figures for Table 2 (RHN) on this machine: the training-step cost of ISS and the inference
speedup of the paper's widths.

Prints them; --record keeps them (not a test).

1. Training-step overhead of ISS at the paper's size (width 830, depth 10, vocabulary 10,000,
   batch 20 x 35, ISS dropouts): plain step vs + group-Lasso gradient vs + per-step zero
   threshold of the grouped weights (spec 1.6). Target: penalty + threshold <= +10 %.
2. Inference speedup of the paper's learned widths (726, 517, 403, 328) over width 830, batch
   10 x 30, fastest path for each; mult-add reduction beside it.

Interleaved in one process (iss_harness.tasks.timing): ratios, not absolute times, are the result. On a CPU a
width-830 training step takes seconds; keep --rounds small.

    python benchmarks/rhn_speed.py [--rounds 3] [--threads 1,2] [--skip-training] [--skip-inference] [--record]
"""
import torch

from _cli import main, overhead_section, paths_section
from iss_harness.tasks import timing
from iss.counting import cost_summary
from iss_harness.models.rhn import RHNLanguageModel
from iss_harness.tables.table2.experiment import PAPER_VOCAB, paper_widths

ISS_DROPOUT = {"x": 0.15, "i": 0.45, "h": 0.15, "o": 0.45}


def training_overhead(rounds: int, threads: int) -> list[dict]:
    torch.manual_seed(0)
    model = RHNLanguageModel(PAPER_VOCAB, 830, depth=10, dropout=ISS_DROPOUT)
    grouped = {part.param for family in model.iss_families() for part in family.parts}
    thresholded = [p for name, p in model.named_parameters() if name in grouped]
    tokens = torch.randint(0, PAPER_VOCAB, (36, 20))
    summary = timing.training_overhead(model, tokens, lam=0.005, zero_threshold=4e-4, rounds=rounds,
                                       threads=threads, thresholded=thresholded)
    return [overhead_section(summary, f"RHN training step, width 830, depth 10, batch 20 x 35, {threads} threads, "
                                      f"{rounds} interleaved rounds", "target: penalty + threshold at most +10 %")]


def inference_speedup(rounds: int, threads: list[int]) -> list[dict]:
    widths = paper_widths()
    torch.manual_seed(0)
    models = {row: RHNLanguageModel(PAPER_VOCAB, width, depth=10) for row, width in widths.items()}
    tokens = torch.randint(0, PAPER_VOCAB, (30, 10))
    summary = timing.interleaved(timing.lm_candidates(models, tokens, threads), rounds=rounds, chunk_seconds=1.0)
    result = timing.speedups(summary, "baseline", [row for row in widths if row != "baseline"])
    rows = [[str(widths[row]), result[row]["path"].split("|", 1)[1], f"{result[row]['median_ms']:.2f}",
             f"{result[row]['speedup']:.2f}x", f"{cost_summary(models[row], models['baseline'])['mult_add_reduction']:.2f}x"]
            for row in widths]
    title = f"RHN inference at the paper's widths, depth 10, batch 10 x 30, threads {threads}, {rounds} interleaved rounds"
    speedup = dict(title=title, columns=["Width", "Fastest path", "Median ms", "Speedup", "Mult-add reduction"],
                   rows=rows, notes=["Each model on its fastest path (threads | kernel); the speedup is over width 830."],
                   raw=result)
    return [speedup, paths_section(summary, "Every inference path timed")]


if __name__ == "__main__":
    main(__doc__, inference_speedup, training_overhead, rounds=3)
