"""Table 2 of the paper: Recurrent Highway Networks on PTB, a sweep over the ISS strength lambda.

Every (row, seed) is its own job; rows are "baseline" (lambda 0, Zilly et al.'s dropouts) and
one "lambda_<value>" per configured lambda (dropouts x iss_dropout_multiplier, element threshold).
    train_row      results/<scale>/table2/<row>/seed<seed>/model.pt, history.csv  (best-validation weights)
    evaluate_row   .../metrics.json, compact.pt       (shrink, lossless check, perplexity, width, cost)
    time_learned   results/<scale>/table2/timing_learned.json      (compact models of the first seed)
    time_paper_sizes  results/<scale>/table2/timing_paper_sizes.json (the paper's widths, random weights)
    report.build  results/<scale>/table2.csv, reports/<scale>/table2.{md,tex}
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from iss import counting
from iss_harness.tables.table2.rows import table2_rows, table2_seeds
from iss_harness.tasks.lm import evaluate_lm_row, iss_sizes, load_corpus, load_model, save_model, time_models
from iss_harness.models.rhn import RHNLanguageModel
from iss_harness.provenance import provenance
from iss_harness.tasks.paths import table_dir
from iss_harness.io import write_json_atomic, write_text_atomic
from iss_harness.tables.table2.rows import PAPER_VOCAB, TABLE, paper_widths, row_settings, run_dir, settings
from iss_harness.tables.table2.jobs import row_settings as job_settings
from iss_harness.tasks.train_lm import Schedule, TrainConfig, pick_device, seed_everything, train

def build_model(config: dict, row: str, vocab_size: int, width: int | None = None) -> RHNLanguageModel:
    table = settings(config)
    return RHNLanguageModel(vocab_size, width or table["width"], depth=table["depth"],
                            dropout=row_settings(config, row)["dropout"], init_scale=table["init_scale"],
                            transform_bias=table["transform_bias"])


def train_config(config: dict, row: str, seed: int) -> TrainConfig:
    table = settings(config)
    row_cfg = row_settings(config, row)
    return TrainConfig(epochs=table["epochs"], batch_size=table["batch_size"], num_steps=table["num_steps"],
                       schedule=Schedule(**table["schedule"]), lam=row_cfg["lambda"],
                       zero_threshold=row_cfg["zero_threshold"], clip_norm=table["clip_norm"],
                       weight_decay=table["weight_decay"], threshold_scope="groups", keep_best=True,
                       eval_batch_size=table["eval"]["batch_size"], eval_num_steps=table["eval"]["num_steps"],
                       seed=seed, checkpoint_seconds=config["runtime"].get("checkpoint_seconds", 600.0),
                       autocast_bf16=config["runtime"].get("precision") == "bf16-autocast")


def train_row(config: dict, row: str, seed: int, results: Path, restart: bool = False) -> Path:
    out = run_dir(results, config, row, seed)
    device = pick_device(config["runtime"]["device"])
    corpus = load_corpus(config)
    seed_everything(seed)  # the initial weights depend on the seed only
    model = build_model(config, row, len(corpus.vocab))
    print(f"[iss] table2/{row} seed {seed}: width {model.hidden_sizes[0]}, depth {settings(config)['depth']}, "
          f"vocabulary {len(corpus.vocab)}, {counting.weight_count(model):,} weights", flush=True)
    result = train(model, corpus, train_config(config, row, seed), out, device, restart=restart)
    write_text_atomic(out / "history.csv", pd.DataFrame(result["history"]).to_csv(index=False))
    save_model(model, out / "model.pt", provenance(config, device, seed=seed, determined_by=job_settings(config, row)),
               row_settings(config, row))
    return out / "model.pt"


def evaluate_row(config: dict, row: str, seed: int, results: Path) -> dict:
    """Shrink the best-validation model, check the shrink is lossless, perplexity, width and counting."""
    table = settings(config)

    def baseline_geometry(vocab: int) -> RHNLanguageModel:
        return counting.build_on_meta(RHNLanguageModel, vocab, table["width"], depth=table["depth"])

    def describe(trained, compact, removed, row_cfg) -> dict:
        return dict(**{"lambda": row_cfg["lambda"]}, dropout=row_cfg["dropout"], trained_width=trained.hidden_sizes[0],
                    width=iss_sizes(removed)[0], parameters=counting.weight_count(compact))

    return evaluate_lm_row(config, TABLE, row, seed, run_dir(results, config, row, seed),
                           lambda: row_settings(config, row), baseline_geometry, describe,
                           headline=lambda m: f"width {m['width']}", determined_by=job_settings(config, row))


# ---- latency -------------------------------------------------------------------------------
def time_learned(config: dict, results: Path) -> dict:
    """Compact models of this run (first seed), baseline vs each lambda, on the CPU."""
    seed = table2_seeds(config)[0]
    models = {row: load_model(run_dir(results, config, row, seed) / "compact.pt", torch.device("cpu"))[0]
              for row in table2_rows(config)}
    report = time_models(config, models, models["baseline"].vocab_size)
    write_json_atomic(table_dir(results, config, TABLE) / "timing_learned.json", report)
    return report


def time_paper_sizes(config: dict, results: Path) -> dict:
    """The paper's widths at depth 10 with random weights: latency needs no trained weights."""
    torch.manual_seed(0)
    models = {row: RHNLanguageModel(PAPER_VOCAB, width, depth=10) for row, width in paper_widths().items()}
    report = dict(time_models(config, models, PAPER_VOCAB), costs=counting.costs_against(models))
    write_json_atomic(table_dir(results, config, TABLE) / "timing_paper_sizes.json", report)
    for row, s in report["speedups"].items():
        print(f"[iss] RHN width {models[row].hidden_sizes[0]}: {s['median_ms']:.2f} ms ({s['path']}), "
              f"speedup {s['speedup']:.2f}x")
    return report
