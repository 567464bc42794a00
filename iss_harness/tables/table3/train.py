"""Training BiDAF on SQuAD, with or without ISS, as the authors' fork does (spec 1.5, 1.6, 2.5).

One step:
    loss = mean_b CE(start) + mean_b CE(end)                   (span_loss; spec 1.5)
    backward; add lambda * group-Lasso sub-gradient in place   (iss.GroupLasso; lambda 0: baseline)
    Adam step (no clipping)
    zero every weight with |w| <= zero_threshold               (element-wise, every step, also for
                                                                the baseline: spec 1.6)
    update the exponential moving average of the weights       (decay ema_decay, spec 2.5)

Batches: each epoch is a random permutation of the training questions fixed by (seed, epoch),
cut into full batches. Every ``valid_every`` steps (and at the end) the EMA weights, with the element
threshold applied as the test applies it, answer the first ``valid_questions`` evaluation questions
(official EM/F1 rules) and their surviving ISS units are counted; with ``keep_best`` the
(thresholded) EMA weights of the best validation F1 are kept (``best.pt``), otherwise the last EMA
weights. Model selection thus looks at evaluation questions, as the original did with dev.

A checkpoint (weights, Adam, EMA, RNG states, step, history, best score) is written atomically at
every validation, every ``checkpoint_steps`` steps if set and at most every ``checkpoint_seconds``;
running the same command again resumes from it and, on the CPU with a fixed seed, ends with
exactly the weights of an uninterrupted run. A checkpoint of another configuration, model,
starting point or data is moved aside, never resumed.
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import ClassVar
from itertools import islice
from pathlib import Path

import torch

from iss_harness.data import squad_metric
import iss
from iss.groups import zero_small_weights_
from iss_harness.tasks.ema import ExponentialMovingAverage
from iss_harness.models.bidaf import span_loss
from iss_harness.data.squad import SquadDataset, best_spans
from iss_harness.tasks.train_lm import TrainingDiverged, load_checkpoint, restore_rng_states, rng_states, seed_everything
from iss_harness.tasks.training import TrainingSettings
from iss_harness.io import load_torch, save_torch_atomic

# Which weights the element threshold zeroes. "original": every trainable weight in the TF scopes
# prepro/* and main/* of the fork (contextual LSTM, attention, modeling and output LSTMs, pointer
# logits; not the embeddings, char CNN or highway layers, which live in scope emb/*), spec 1.6.
ORIGINAL_SCOPE_PREFIXES = ("ctx_fwd.", "ctx_bwd.", "attention.", "mod_fwd1.", "mod_bwd1.", "mod_fwd2.",
                           "mod_bwd2.", "start_logits.", "out_fwd.", "out_bwd.", "end_logits.")
THRESHOLD_SCOPES = ("original", "all", "groups")


@dataclass
class QATrainConfig(TrainingSettings):
    """BiDAF's training (Table 3): optimiser steps with an EMA of the weights."""
    NOT_WEIGHTS: ClassVar[tuple[str, ...]] = ("valid_", "checkpoint_")
    steps: int
    batch_size: int
    lr: float = 1e-3
    ema_decay: float = 0.999
    lam: float = 0.0
    zero_threshold: float = 4e-4
    threshold_scope: str = "original"
    keep_best: bool = True
    seed: int = 1234
    # Validation and checkpointing do not change the weights: left out of the digest.
    valid_every: int = 1000
    valid_questions: int = 500
    valid_batch_size: int = 64
    checkpoint_steps: int | None = None
    checkpoint_seconds: float | None = 600.0

    def digest(self, geometry: dict, data_digest: str, init_digest: str) -> str:
        return self.run_digest(geometry=geometry, data=data_digest, init=init_digest)


def state_digest(model: torch.nn.Module) -> str:
    """Content hash of a model's state (the starting point of a fine-tuning run)."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def thresholded_parameters(model: torch.nn.Module, scope: str) -> list[torch.Tensor]:
    """The library's scopes, plus "original": the parameters the authors' code thresholds."""
    if scope == "original":
        return [p for name, p in model.named_parameters() if p.requires_grad and name.startswith(ORIGINAL_SCOPE_PREFIXES)]
    if scope not in THRESHOLD_SCOPES:
        raise ValueError(f"unknown threshold_scope {scope!r} (expected one of {THRESHOLD_SCOPES})")
    return iss.threshold_targets(model, scope=scope)


# ---- answering questions ------------------------------------------------------------------


@torch.no_grad()
def predict(model: torch.nn.Module, dataset: SquadDataset, batch_size: int, device,
            limit: int | None = None, max_span: int | None = None) -> dict[str, str]:
    """Question id -> answer text (best span, original context characters) for the first
    ``limit`` questions of ``dataset`` (all by default), without dropout."""
    # Batches of similar context length (less padding); answers are keyed by question id.
    count = len(dataset) if limit is None else min(limit, len(dataset))
    order = sorted(range(count), key=lambda i: len(dataset.encoded[i].context_words))
    dataset = SquadDataset([dataset.examples[i] for i in order], [dataset.encoded[i] for i in order],
                           dataset.limits, {})
    was_training = model.training
    model.eval()
    answers: dict[str, str] = {}
    try:
        for batch in dataset.batches(batch_size):
            moved = batch.to(device)
            start_logits, end_logits = model(moved)
            start, end, _ = best_spans(torch.softmax(start_logits.float(), -1), torch.softmax(end_logits.float(), -1),
                                       moved.context_mask, max_length=max_span)
            answers.update(dataset.predictions(batch.indices, start.tolist(), end.tolist()))
    finally:
        model.train(was_training)
    return answers


def score(dataset: SquadDataset, predictions: dict[str, str], limit: int | None = None) -> dict:
    """EM/F1 (percent) of ``predictions`` over the first ``limit`` questions of ``dataset``, with the
    official per-question rules (max over gold answers); ``squad_metric.evaluate`` on the data
    file gives the same numbers over all questions."""
    examples = dataset.examples[:limit] if limit is not None else dataset.examples
    em = f1 = 0.0
    for ex in examples:
        prediction = predictions.get(ex.qid)
        if prediction is None:
            continue
        em += squad_metric.max_over_answers(squad_metric.exact_match, prediction, ex.answers)
        f1 += squad_metric.max_over_answers(squad_metric.f1, prediction, ex.answers)
    n = max(1, len(examples))
    return dict(exact_match=100.0 * em / n, f1=100.0 * f1 / n, total=len(examples))


# ---- training -----------------------------------------------------------------------------


def _epoch_batches(train_set: SquadDataset, cfg: QATrainConfig, epoch: int):
    return train_set.batches(cfg.batch_size, shuffle=True, seed=cfg.seed + epoch, drop_last=True)


def train_qa(model, train_set: SquadDataset, valid_set: SquadDataset, cfg: QATrainConfig, run_dir: Path, device,
             data_digest: str, restart: bool = False, log=print) -> dict:
    """Train (or resume) ``model`` in place; it ends holding the EMA weights (best or last).
    Returns the history (one line per validation) and the best validation F1."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path, best_path = run_dir / "checkpoint.pt", run_dir / "best.pt"
    if restart and checkpoint_path.exists():
        checkpoint_path.unlink()
        log(f"[iss] --restart: removed {checkpoint_path}")
    per_epoch = train_set.num_batches(cfg.batch_size, drop_last=True)
    if per_epoch == 0:
        raise ValueError(f"{len(train_set)} training questions make no batch of {cfg.batch_size}")
    model.to(device)
    digest = cfg.digest(model.geometry(), data_digest, state_digest(model))
    seed_everything(cfg.seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=cfg.lr)
    families = iss.components(model)
    regularizer = iss.GroupLasso(model, cfg.lam, families)
    thresholded = thresholded_parameters(model, cfg.threshold_scope)
    ema = ExponentialMovingAverage(model, cfg.ema_decay)
    step, history, best = 0, [], -math.inf
    window = dict(loss=0.0, penalty=0.0, steps=0, seconds=0.0)

    ckpt = load_checkpoint(checkpoint_path, digest, log=log)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        ema.load_state_dict(ckpt["ema"])
        restore_rng_states(ckpt, device)
        step, history, best, window = ckpt["step"], ckpt["history"], ckpt["best"], ckpt["window"]
        log(f"[iss] resuming {run_dir} at step {step} of {cfg.steps}")

    def save_checkpoint() -> None:
        save_torch_atomic(dict(model=model.state_dict(), optimizer=optimizer.state_dict(), ema=ema.state_dict(),
                         step=step, history=history, best=best, window=window, config_digest=digest,
                         **rng_states(device)),
                    checkpoint_path)

    def validate() -> None:
        nonlocal best, window
        with ema.average_parameters():  # the training weights come back afterwards
            zero_small_weights_(thresholded, cfg.zero_threshold)  # as the test does with loaded EMA weights
            answers = predict(model, valid_set, cfg.valid_batch_size, device, limit=cfg.valid_questions)
            result = score(valid_set, answers, limit=cfg.valid_questions)
            sizes = iss.sizes(model, families)
            if cfg.keep_best and result["f1"] > best:
                best = result["f1"]
                save_torch_atomic({name: t.detach().cpu() for name, t in model.state_dict().items()}, best_path)
        line = dict(step=step, loss=window["loss"] / max(1, window["steps"]),
                    penalty=window["penalty"] / max(1, window["steps"]), valid_em=result["exact_match"],
                    valid_f1=result["f1"], steps_per_second=window["steps"] / max(1e-9, window["seconds"]),
                    **{f"iss_{name}": size for name, size in sizes.items()})
        history.append(line)
        log(f"[iss] step {step}/{cfg.steps}: loss {line['loss']:.3f} penalty {line['penalty']:.4f} valid EM "
            f"{line['valid_em']:.2f} F1 {line['valid_f1']:.2f} (EMA weights, {result['total']} questions) "
            + " ".join(f"{k}={v}" for k, v in line.items() if k.startswith("iss_"))
            + f" ({line['steps_per_second']:.2f} steps/s)")
        window = dict(loss=0.0, penalty=0.0, steps=0, seconds=0.0)

    model.train()
    last_save = time.perf_counter()
    epoch = step // per_epoch
    batches = islice(_epoch_batches(train_set, cfg, epoch), step % per_epoch, None)
    while step < cfg.steps:
        batch = next(batches, None)
        if batch is None:
            epoch += 1
            batches = _epoch_batches(train_set, cfg, epoch)
            continue
        started = time.perf_counter()
        batch = batch.to(device)
        start_logits, end_logits = model(batch)
        loss = span_loss(start_logits, end_logits, batch.answer_start, batch.answer_end)
        if not torch.isfinite(loss.detach()):
            raise TrainingDiverged(f"loss became {loss.item()} at step {step + 1}; the last checkpoint is kept")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        penalty = regularizer.add_grad_()
        optimizer.step()
        zero_small_weights_(thresholded, cfg.zero_threshold)
        ema.update()
        step += 1
        window["loss"] += float(loss.detach())
        window["penalty"] += float(penalty)
        window["steps"] += 1
        window["seconds"] += time.perf_counter() - started
        if step % cfg.valid_every == 0 or step == cfg.steps:
            validate()
            save_checkpoint()
            last_save = time.perf_counter()
        elif ((cfg.checkpoint_steps and step % cfg.checkpoint_steps == 0)
              or (cfg.checkpoint_seconds is not None and time.perf_counter() - last_save >= cfg.checkpoint_seconds)):
            save_checkpoint()
            last_save = time.perf_counter()

    ema.copy_to()
    if cfg.keep_best and best_path.exists():
        model.load_state_dict(load_torch(best_path, "rerun the training with --restart", map_location=device))
        log(f"[iss] kept the EMA weights of the best validation F1 ({best:.2f})")
    return dict(history=history, best_valid_f1=best if cfg.keep_best else None)
