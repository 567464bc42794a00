"""Table 1 of the paper: two stacked LSTMs on PTB, baseline vs ISS vs direct design.

Steps (each is one ``iss`` command and one Snakemake rule; every step writes files):
    train_row      results/<scale>/table1/<row>/model.pt, history.csv      (checkpointed, resumable)
    evaluate_row   results/<scale>/table1/<row>/metrics.json, compact.pt   (shrink + perplexity + cost)
    time_learned   results/<scale>/table1/timing_learned.json     (compact models of this run, interleaved)
    time_paper_sizes  results/<scale>/table1/timing_paper_sizes.json (paper's sizes, random weights)
    report.build  results/<scale>/table1.csv, reports/<scale>/table1.{md,tex}
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from iss import counting
from iss_harness.config import scale_settings
from iss_harness.tasks.lm import (
    evaluate_lm_row,
    ExperimentError,
    iss_sizes,
    load_corpus,
    load_model,
    save_model,
    time_models,
)
from iss_harness.models.lstm_lm import LSTMLanguageModel
from iss_harness.provenance import provenance
from iss_harness.tasks.paths import table_dir
from iss_harness.io import read_json, write_json_atomic, write_text_atomic
from iss_harness.tables.table1.rows import (PAPER_VOCAB, TABLE, paper_sizes, row_dir, row_settings, seeds, start_row,
                             table_rows)
from iss_harness.tables.table1.jobs import row_settings as job_settings
from iss_harness.tasks.train_lm import Schedule, TrainConfig, pick_device, seed_everything, tensor_digest, train


def row_hidden_sizes(config: dict, row: str, results: Path, seed: int) -> list[int]:
    """Explicit sizes, the sizes ISS learned in another row with the same seed (direct design), or
    the default."""
    settings = row_settings(config, row)
    if "hidden" in settings:
        return list(settings["hidden"])
    if settings.get("hidden_from") == "paper":  # the sizes the paper's ISS learned (first ISS row)
        return paper_sizes()["iss_a"]
    if "hidden_from" in settings:
        source = row_dir(results, config, settings["hidden_from"], seed) / "metrics.json"
        return list(read_json(source)["iss_sizes"])
    table = scale_settings(config)[TABLE]
    return [table["hidden_size"], table["hidden_size"]]


def build_model(config: dict, row: str, vocab_size: int, hidden: list[int]) -> LSTMLanguageModel:
    table = scale_settings(config)[TABLE]
    return LSTMLanguageModel(vocab_size, table["embedding_size"], hidden,
                             keep_prob=row_settings(config, row)["keep_prob"], init_scale=table["init_scale"])


def train_config(config: dict, row: str, seed: int, start: str = "scratch") -> TrainConfig:
    table = scale_settings(config)[TABLE]
    settings = row_settings(config, row)
    return TrainConfig(epochs=settings.get("epochs", table["epochs"]), start=start, batch_size=table["batch_size"], num_steps=table["num_steps"],
                       schedule=Schedule(**settings["schedule"]), lam=settings["lambda"],
                       zero_threshold=settings["zero_threshold"], clip_norm=table["clip_norm"],
                       eval_batch_size=table["eval"]["batch_size"], eval_num_steps=table["eval"]["num_steps"],
                       seed=seed,
                       checkpoint_seconds=config["runtime"].get("checkpoint_seconds", 600.0),
                       autocast_bf16=config["runtime"].get("precision") == "bf16-autocast")


def train_row(config: dict, row: str, seed: int, results: Path, restart: bool = False) -> Path:
    out = row_dir(results, config, row, seed)
    device = pick_device(config["runtime"]["device"])
    corpus = load_corpus(config)
    hidden = row_hidden_sizes(config, row, results, seed)
    seed_everything(seed)  # the initial weights depend on the seed only
    model = build_model(config, row, len(corpus.vocab), hidden)
    start = start_from_row(config, row, seed, results, model)
    print(f"[iss] table1/{row} seed {seed}: hidden {hidden}, vocabulary {len(corpus.vocab)}, "
          f"{counting.weight_count(model):,} weights, start: {start}", flush=True)
    result = train(model, corpus, train_config(config, row, seed, start), out, device, restart=restart)
    history = result["history"]
    write_text_atomic(out / "history.csv", pd.DataFrame(history).to_csv(index=False))
    save_model(model, out / "model.pt", provenance(config, device, seed=seed, determined_by=job_settings(config, row)),
               row_settings(config, row))
    return out / "model.pt"


def start_from_row(config: dict, row: str, seed: int, results: Path, model: LSTMLanguageModel) -> str:
    """Load the trained weights a row starts from (``iss_start: baseline``) into ``model``; return
    the start's label for the checkpoint digest: "scratch", or "baseline@<weights hash>"."""
    source_row = start_row(row_settings(config, row))
    if source_row is None:
        return "scratch"
    source = row_dir(results, config, source_row, seed) / "model.pt"
    if not source.is_file():
        raise ExperimentError(f"table1/{row} starts from the trained {source_row} row, but {source} is missing: "
                              f"train it first (snakemake {source})")
    trained, _ = load_model(source, torch.device("cpu"))
    try:
        model.load_state_dict(trained.state_dict())
    except RuntimeError as err:
        raise ExperimentError(f"table1/{row}: cannot start from {source}: its geometry "
                              f"{trained.geometry()} differs from this row's {model.geometry()} ({err})") from err
    return f"{source_row}@{tensor_digest(*model.state_dict().values())}"


def evaluate_row(config: dict, row: str, seed: int, results: Path) -> dict:
    """Shrink the trained model, check the shrink is lossless, measure perplexity and counting."""
    table = scale_settings(config)[TABLE]

    def baseline_geometry(vocab: int) -> LSTMLanguageModel:
        return counting.build_on_meta(LSTMLanguageModel, vocab, table["embedding_size"], [table["hidden_size"]] * 2)

    def describe(trained, compact, removed, settings) -> dict:
        return dict(keep_prob=settings["keep_prob"], **{"lambda": settings["lambda"]},
                    trained_sizes=trained.hidden_sizes, iss_sizes=iss_sizes(removed))

    return evaluate_lm_row(config, TABLE, row, seed, row_dir(results, config, row, seed),
                           lambda: row_settings(config, row), baseline_geometry, describe,
                           headline=lambda m: f"ISS sizes {m['iss_sizes']}", determined_by=job_settings(config, row))


# ---- latency -------------------------------------------------------------------------------
def time_learned(config: dict, results: Path) -> dict:
    """Compact models of this run (first seed), baseline vs each row, on the CPU (latency as in the paper)."""
    return time_rows(config, results, table_rows(config), "timing_learned.json")


def time_rows(config: dict, results: Path, rows: list[str], name: str) -> dict:
    seed = seeds(config)[0]
    models = {row: load_model(row_dir(results, config, row, seed) / "compact.pt", torch.device("cpu"))[0]
              for row in rows}
    report = time_models(config, models, models["baseline"].vocab_size)
    write_json_atomic(table_dir(results, config, TABLE) / name, report)
    return report


def time_paper_sizes(config: dict, results: Path) -> dict:
    """The paper's sizes with random weights: latency needs no trained weights."""
    sizes = paper_sizes()
    torch.manual_seed(0)
    models = {row: LSTMLanguageModel(PAPER_VOCAB, sizes["baseline"][0], hidden) for row, hidden in sizes.items()}
    report = dict(time_models(config, models, PAPER_VOCAB), costs=counting.costs_against(models))
    write_json_atomic(table_dir(results, config, TABLE) / "timing_paper_sizes.json", report)
    for row, s in report["speedups"].items():
        print(f"[iss] paper sizes {sizes[row]}: {s['median_ms']:.2f} ms ({s['path']}), speedup {s['speedup']:.2f}x")
    return report
