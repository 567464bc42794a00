"""What every language-model table shares: the corpus, saving and loading models, the checked
shrink, and latency of compact models. Table modules (table1: stacked LSTMs, table2: RHN) only
say which models to build and how to train them.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable

import torch
from torch import nn

import iss
from iss import counting
from iss.groups import surviving_sizes
from iss_harness.config import scale_settings
from iss_harness.data.fetch import fetch, resolve_mirror
from iss_harness.tasks.paths import ExperimentError  # noqa: F401  (raised here, importable from here as before)
from iss_harness.provenance import provenance
from iss_harness.data.ptb import Corpus
from iss_harness.io import load_torch, save_torch_atomic, write_json_atomic

# Saved models name their class; this table says where the class lives.
MODEL_CLASSES = {
    "LSTMLanguageModel": "iss_harness.models.lstm_lm",
    "RHNLanguageModel": "iss_harness.models.rhn",
    "BiDAF": "iss_harness.models.bidaf",
}


def load_corpus(config: dict) -> Corpus:
    """PTB at the config's scale (vocabulary size, token limits), verified and from the mirror if set."""
    ptb = scale_settings(config)["ptb"]
    files = fetch("ptb", Path(config["data"]["dir"]) / "ptb", mirror=resolve_mirror(config["data"].get("mirror")))
    return Corpus.from_files(files["ptb.train.txt"], files["ptb.valid.txt"], files["ptb.test.txt"],
                             vocab_size=ptb["vocab_size"], max_tokens=ptb["max_tokens"])


def save_model(model: nn.Module, path: Path, made_by: dict | None = None, settings: dict | None = None) -> None:
    """Weights, class and geometry, the row settings they were trained with and the job's provenance."""
    kind = type(model).__name__
    if kind not in MODEL_CLASSES:
        raise TypeError(f"save_model: {kind} is not registered in iss_harness.tasks.lm.MODEL_CLASSES")
    save_torch_atomic(dict(kind=kind, geometry=model.geometry(), state=model.state_dict(), provenance=made_by,
                     settings=settings), path)


def load_model(path: Path, device) -> tuple[nn.Module, dict]:
    """The model saved at ``path`` and what was saved with it (provenance, settings)."""
    saved = load_torch(path, f"delete it and rerun the workflow, which remakes it (snakemake --cores 2 {path})",
                       map_location=device)
    kind = saved.get("kind", "LSTMLanguageModel")  # files written before models named their class
    cls = getattr(importlib.import_module(MODEL_CLASSES[kind]), kind)
    model = cls(**saved["geometry"])
    model.load_state_dict(saved["state"])
    return model.to(device), dict(provenance=saved.get("provenance"), settings=saved.get("settings"))


def shrink_checked(trained: nn.Module, probe: torch.Tensor, label: str, lam: float) -> tuple[nn.Module, dict, float]:
    """The compact model of ``trained``, after checking that ISS left every family a unit and
    that the compact model computes the same log-probabilities on ``probe`` tokens [T, B].
    Returns (compact model, removed masks per family, max abs log-probability difference)."""
    families = iss.components(trained)
    removed = iss.removed(trained, families)
    emptied = [name for name, dead in removed.items() if bool(dead.all())]
    if emptied:
        raise ExperimentError(f"{label}: ISS removed every unit of {', '.join(emptied)}: the model no longer "
                              f"reads its input. Lower lambda (now {lam}) or raise the learning rate for "
                              f"this row in the config")
    compact = iss.shrink(trained, families, removed)
    trained.eval(), compact.eval()
    batch = probe.shape[1]
    with torch.no_grad():
        large_logits, _ = trained(probe, trained.init_state(batch))
        small_logits, _ = compact(probe, compact.init_state(batch))
    error = float((torch.log_softmax(large_logits, -1) - torch.log_softmax(small_logits, -1)).abs().max())
    if error > 1e-3:
        raise ExperimentError(f"{label}: the compact model's log-probabilities differ from the trained "
                              f"model's by {error:.2e}; the ISS description is inconsistent")
    return compact, removed, error


def probe_tokens(corpus: Corpus, device, steps: int = 20, batch: int = 4) -> torch.Tensor:
    """The first validation tokens as a [steps, batch] window (for the shrink check)."""
    return corpus.valid[: steps * batch].view(batch, steps).t().contiguous().to(device)


def iss_sizes(removed: dict[str, torch.Tensor]) -> list[int]:
    return list(surviving_sizes(removed).values())


def evaluate_lm_row(config: dict, table: str, row: str, seed: int, out: Path,
                    fallback_settings: Callable[[], dict], baseline_geometry: Callable[[int], nn.Module],
                    describe: Callable[[nn.Module, nn.Module, dict, dict], dict],
                    headline: Callable[[dict], str], determined_by: str | None = None) -> dict:
    """The evaluate step of a language-model table (1 and 2): shrink the trained row (checked
    lossless), score the compact model on validation and test, count it against the baseline's
    geometry, write compact.pt and metrics.json.

    ``fallback_settings()``: the row's settings when model.pt records none (older files);
    ``baseline_geometry(vocab)``: the baseline model, on the meta device; ``describe(trained,
    compact, removed, settings)``: the table's own fields (sizes, width, ...); ``headline(metrics)``
    starts the line printed to the job's log; ``determined_by``: the row's job settings, digested
    into the provenance (iss_harness.provenance.provenance)."""
    from iss_harness.tasks.train_lm import evaluate, pick_device
    device = pick_device(config["runtime"]["device"])
    settings_now = scale_settings(config)[table]
    corpus = load_corpus(config)
    trained, saved = load_model(out / "model.pt", device)
    settings = saved["settings"] or fallback_settings()  # what the weights were trained with, not the config now
    compact, removed, shrink_error = shrink_checked(trained, probe_tokens(corpus, device), f"{table}/{row}",
                                                    settings["lambda"])
    valid, test = settings_now["eval"], settings_now["test"]
    metrics = dict(
        table=table, row=row, seed=seed, **describe(trained, compact, removed, settings),
        perplexity_valid=evaluate(compact, corpus.valid, valid["batch_size"], valid["num_steps"], device),
        perplexity_test=evaluate(compact, corpus.test, test["batch_size"], test["num_steps"], device),
        shrink_max_abs_logprob_error=shrink_error,
        **counting.cost_summary(compact, baseline_geometry(len(corpus.vocab))),
        provenance=provenance(config, device, seed=seed, determined_by=determined_by), training_provenance=saved["provenance"],
        settings=settings)
    save_model(compact, out / "compact.pt", saved["provenance"], settings)
    write_json_atomic(out / "metrics.json", metrics)
    print(f"[iss] {table}/{row} seed {seed}: {headline(metrics)}, perplexity (valid, test) = "
          f"({metrics['perplexity_valid']:.2f}, {metrics['perplexity_test']:.2f}), weights {metrics['weights']:,}, "
          f"mult-add reduction {metrics['mult_add_reduction']:.2f}x", flush=True)
    return metrics


def time_models(config: dict, models: dict[str, nn.Module], vocab: int) -> dict:
    """Interleaved latency of whole LMs on random tokens (timing settings of the scale), each
    model against the one labelled "baseline"."""
    from iss_harness.tasks import timing
    settings = scale_settings(config)["timing"]
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, vocab, (settings["num_steps"], settings["batch_size"]), generator=generator)
    candidates = timing.lm_candidates(models, tokens, settings["threads"])
    summary = timing.interleaved(candidates, rounds=settings["rounds"], chunk_seconds=settings["chunk_seconds"])
    others = [label for label in models if label != "baseline"]
    return dict(batch_size=settings["batch_size"], num_steps=settings["num_steps"],
                sizes={label: m.hidden_sizes for label, m in models.items()},
                speedups=timing.speedups(summary, "baseline", others), candidates=summary,
                machine=timing.machine_info(),
                provenance=provenance(config, torch.device("cpu"), determined_by=repr(settings)))
