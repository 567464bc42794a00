"""The width experiment's steps: train and evaluate one row at one seed (rows: ``rows``).

Every row is Table 1's model, two stacked LSTMs of Zaremba et al. with an embedding as wide as
they are, trained by the same loop as Table 1 (``iss_harness.tasks.train_lm``) on the experiment's
own PTB slice (config ``table1_width.ptb``): small enough that the widest model has far more
weights than it needs.

    train_row     results/<scale>/table1_width/<row>/seed<N>/model.pt, history.csv   (resumable)
    evaluate_row  .../metrics.json, compact.pt: shrink (checked lossless), perplexity on validation,
                  test, and on the last training tokens in eval mode (the over-fitting gap)
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from iss import counting
from iss_harness.config import scale_settings
from iss_harness.io import write_text_atomic
from iss_harness.models.lstm_lm import LSTMLanguageModel
from iss_harness.provenance import provenance
from iss_harness.tables.table1_width.jobs import row_settings as job_settings
from iss_harness.tables.table1_width.rows import TABLE, check_seed, resolved_settings, row_dir, settings
from iss_harness.tasks.lm import evaluate_lm_row, iss_sizes, load_corpus, save_model
from iss_harness.tasks.train_lm import Schedule, TrainConfig, evaluate, pick_device, seed_everything, train


def slice_config(config: dict) -> dict:
    """The config as the shared language-model steps read it: the scale's `ptb` replaced by the
    experiment's own slice (load_corpus and evaluate_lm_row read the scale's). Training records
    the given config's hash; the evaluation's provenance hashes this view."""
    scale = scale_settings(config)
    return {**config, "scales": {**config["scales"], config["scale"]: {**scale, "ptb": scale[TABLE]["ptb"]}}}


def build_model(vocab_size: int, spec: dict) -> LSTMLanguageModel:
    return LSTMLanguageModel(vocab_size, spec["width"], spec["hidden"], keep_prob=spec["keep_prob"],
                             init_scale=spec["init_scale"])


def train_config(config: dict, spec: dict, seed: int) -> TrainConfig:
    table = settings(config)
    return TrainConfig(epochs=table["epochs"], batch_size=table["batch_size"], num_steps=table["num_steps"],
                       schedule=Schedule(**spec["schedule"]), lam=spec["lambda"],
                       zero_threshold=spec["zero_threshold"], clip_norm=spec["clip_norm"],
                       eval_batch_size=table["eval"]["batch_size"], eval_num_steps=table["eval"]["num_steps"],
                       seed=seed, checkpoint_seconds=config["runtime"].get("checkpoint_seconds", 600.0),
                       autocast_bf16=config["runtime"].get("precision") == "bf16-autocast")


def train_row(config: dict, row: str, seed: int, results: Path, restart: bool = False) -> Path:
    check_seed(config, row, seed)
    spec = resolved_settings(config, results, row, seed)
    out = row_dir(results, config, row, seed)
    device = pick_device(config["runtime"]["device"])
    corpus = load_corpus(slice_config(config))
    seed_everything(seed)  # the initial weights depend on the seed only
    model = build_model(len(corpus.vocab), spec)
    print(f"[iss] table1_width/{row} seed {seed}: hidden {spec['hidden']}, keep {spec['keep_prob']}, lambda "
          f"{spec['lambda']}, {counting.weight_count(model):,} weights, {len(corpus.train):,} training tokens",
          flush=True)
    result = train(model, corpus, train_config(config, spec, seed), out, device, restart=restart)
    write_text_atomic(out / "history.csv", pd.DataFrame(result["history"]).to_csv(index=False))
    save_model(model, out / "model.pt", provenance(config, device, seed=seed, determined_by=job_settings(config, row)),
               spec)
    return out / "model.pt"


def evaluate_row(config: dict, row: str, seed: int, results: Path) -> dict:
    """Shrink the trained model (checked lossless), score it on validation, test and the last
    `train_eval_tokens` training tokens (eval mode: no dropout), count it against its width's baseline."""
    check_seed(config, row, seed)
    table = settings(config)
    sliced = slice_config(config)
    device = pick_device(config["runtime"]["device"])
    corpus = load_corpus(sliced)
    # The last training tokens: PTB's training file opens with a list of rare words, no text.
    train_tokens = corpus.train[-table["train_eval_tokens"]:]

    def baseline_geometry(vocab: int) -> LSTMLanguageModel:
        width = resolved["width"]
        return counting.build_on_meta(LSTMLanguageModel, vocab, width, [width, width])

    def describe(trained, compact, removed, saved: dict) -> dict:
        return dict(kind=saved["kind"], width=saved["width"], keep_prob=saved["keep_prob"],
                    **{"lambda": saved["lambda"]}, trained_sizes=trained.hidden_sizes, iss_sizes=iss_sizes(removed),
                    perplexity_train=evaluate(compact, train_tokens, table["eval"]["batch_size"],
                                              table["eval"]["num_steps"], device))

    resolved = resolved_settings(config, results, row, seed)
    return evaluate_lm_row(sliced, TABLE, row, seed, row_dir(results, config, row, seed), lambda: resolved,
                              baseline_geometry, describe,
                              headline=lambda m: f"ISS sizes {m['iss_sizes']}, train perplexity {m['perplexity_train']:.2f}",
                              determined_by=job_settings(config, row))

