"""Training a word-level language model with or without ISS (spec 1.5, 1.6, 2.1-2.3).

One epoch of truncated BPTT, as in the original TensorFlow code:
    for each window of num_steps tokens (state carried over, detached):
        loss = sum over steps of the batch-mean cross-entropy      (so lambda means the same)
        backward; add lambda * group-Lasso sub-gradient in place   (iss.GroupLasso)
        clip the global norm of data + penalty gradients at clip_norm
        SGD step; zero every weight with |w| <= zero_threshold      (element-wise, each step)

A checkpoint (model, optimiser, RNG states, history, and inside an epoch the data position
and the carried recurrent state) is written atomically after every epoch and every
``checkpoint_seconds`` within one; running the same command again resumes where the last
checkpoint left off and, on the CPU with a fixed seed, ends with exactly the same weights.
"""
from __future__ import annotations

import hashlib
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from typing import ClassVar
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

import iss
from iss.groups import zero_small_weights_
from iss_harness.tasks.training import TrainingSettings
from iss_harness.io import load_torch, save_torch_atomic
from iss_harness.data.ptb import batchify, num_windows, windows
from iss_harness.tasks.paths import TrainingDiverged  # noqa: F401  (raised here; defined torch-free for the CLI)


@dataclass
class Schedule:
    """Learning rate per epoch (epoch index i starts at 0).

    kind "zaremba": lr * decay^-max(i + 1 - decay_start, 0)   (baseline, direct design: spec 2.2, 2.3)
    kind "step":    lr * factor^floor(i / every)              (ISS rows: x0.1 every 18 epochs, spec 2.1)
    """
    kind: str = "zaremba"
    lr: float = 1.0
    decay: float = 1.15
    decay_start: int = 14
    factor: float = 0.1
    every: int = 18

    def lr_at(self, epoch: int) -> float:
        if self.kind == "zaremba":
            return self.lr / self.decay ** max(epoch + 1 - self.decay_start, 0)
        if self.kind == "step":
            return self.lr * self.factor ** (epoch // self.every)
        raise ValueError(f"unknown learning-rate schedule kind {self.kind!r} (expected 'zaremba' or 'step')")


@dataclass
class TrainConfig(TrainingSettings):
    """A language model's training (Tables 1 and 2): epochs of BPTT windows over a token stream."""
    NOT_WEIGHTS: ClassVar[tuple[str, ...]] = ("eval_", "checkpoint_seconds")
    epochs: int
    batch_size: int
    num_steps: int
    schedule: Schedule
    lam: float = 0.0
    zero_threshold: float = 0.0
    clip_norm: float = 10.0
    # L2 coefficient: loss += weight_decay * sum(w^2) / 2 over all trainable weights, added to the
    # gradient before clipping as in the original RHN code (spec 2.4); 0 for the PTB LSTMs.
    weight_decay: float = 0.0
    # Which weights the element threshold zeroes: "all" trainable ones (PTB, spec 1.6) or only
    # those inside ISS groups ("groups": RHN, whose code thresholds the variables of its group file).
    threshold_scope: str = "all"
    # Keep the weights of the epoch with the best validation perplexity (RHN's model selection)
    # instead of the last epoch's (Zaremba's PTB runs).
    keep_best: bool = False
    # Mixed precision: the forward pass in bfloat16 autocast (weights, gradients, penalty, clipping
    # and threshold stay float32). Off by default: it changes the numerics the paper's numbers
    # were made with; turn it on only after checking a row stays within its tolerance.
    autocast_bf16: bool = False
    # Where the initial weights came from: "scratch" (the seed's initialisation) or a label with a
    # content hash of the weights it started from, so a checkpoint never resumes a run that started
    # elsewhere.
    start: str = "scratch"
    eval_batch_size: int = 10
    eval_num_steps: int = 35
    seed: int = 1234
    # A checkpoint inside an epoch at most this often (None: only at epoch ends). Does not change
    # the weights, so it is not part of the digest.
    checkpoint_seconds: float | None = 600.0

    def digest(self, model_geometry: dict | None = None, data_digest: str = "") -> str:
        """Identifies a training run: a checkpoint resumes only the run that wrote it. Validation
        and checkpointing settings are left out: they do not change the weights."""
        return self.run_digest(geometry=model_geometry, data=data_digest)


def tensor_digest(*tensors: torch.Tensor) -> str:
    """Content hash of tensors: token streams, starting weights (a checkpoint is never resumed on
    other data or from another start)."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def pick_device(requested: str = "auto") -> torch.device:
    """"auto" takes CUDA when present; says which device it chose."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {requested!r} was requested but CUDA is not available on this machine")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"[iss] device: {device} ({name}), torch threads: {torch.get_num_threads()}", flush=True)
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def detach_state(state):
    """The recurrent state with its autograd history cut (any nesting of lists/tuples of tensors)."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    return type(state)(detach_state(s) for s in state)


def state_to(state, device):
    if isinstance(state, torch.Tensor):
        return state.to(device)
    return type(state)(state_to(s, device) for s in state)


@torch.no_grad()
def evaluate(model, data: torch.Tensor, batch_size: int, num_steps: int, device) -> float:
    """Perplexity exp(mean per-token cross-entropy) over a 1-D token stream, no dropout."""
    model.eval()
    stream = batchify(data, batch_size).to(device)
    state = model.init_state(batch_size)
    total, count = 0.0, 0
    for inputs, targets in windows(stream, num_steps):
        logits, state = model(inputs, state)
        total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                       reduction="sum"))
        count += targets.numel()
    return math.exp(total / count)


@dataclass
class EpochProgress:
    """Where an epoch stands after ``step`` windows: enough to continue it after a kill."""
    step: int = 0
    state: object = None          # the recurrent state carried into window ``step`` (None: zeros)
    total_loss: float = 0.0       # sum of per-token cross-entropies so far
    total_tokens: int = 0
    seconds: float = 0.0          # training time spent on this epoch so far


def train_epoch(model, stream, cfg: TrainConfig, optimizer, epoch: int, families, trainable,
                thresholded=None, progress: EpochProgress | None = None, save_progress=None) -> dict:
    """One epoch from ``progress`` (default: its start). ``save_progress(progress)`` is called at
    most every ``cfg.checkpoint_seconds`` between two windows, when weights, optimiser, RNG and
    ``progress`` together describe the run exactly."""
    model.train()
    progress = progress or EpochProgress()
    state = progress.state if progress.state is not None else model.init_state(cfg.batch_size)
    total_loss, total_tokens, penalty = progress.total_loss, progress.total_tokens, 0.0
    thresholded = trainable if thresholded is None else thresholded
    regularizer = iss.GroupLasso(model, cfg.lam, families)
    started = time.perf_counter() - progress.seconds
    last_save = time.perf_counter()
    bar = tqdm(windows(stream, cfg.num_steps), total=num_windows(stream, cfg.num_steps),
               desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
               # in a log file (no terminal) a progress line every 30 s instead of every 2 s
               mininterval=2.0 if sys.stderr.isatty() else 30.0)
    for step, (inputs, targets) in enumerate(bar):
        if step < progress.step:
            continue  # done before the checkpoint this epoch resumed from
        if inputs.shape[0] < cfg.num_steps:
            break  # like the original, the last partial window of an epoch is not trained on
        state = detach_state(state)
        with torch.autocast(inputs.device.type, dtype=torch.bfloat16, enabled=cfg.autocast_bf16):
            logits, state = model(inputs, state)
            mean_ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))
        if not torch.isfinite(mean_ce.detach()):
            raise TrainingDiverged(f"loss became {mean_ce.item()} at epoch {epoch + 1}, step {step + 1}; "
                                   f"the last checkpoint is kept")
        # Sum over the unrolled steps, mean over the batch: the original's loss scale (spec 1.5).
        loss = mean_ce * inputs.shape[0]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        penalty = regularizer.add_grad_()
        if cfg.weight_decay:
            torch._foreach_add_([p.grad for p in trainable], trainable, alpha=cfg.weight_decay)
        torch.nn.utils.clip_grad_norm_(trainable, cfg.clip_norm)
        optimizer.step()
        zero_small_weights_(thresholded, cfg.zero_threshold)
        total_loss += mean_ce.item() * targets.numel()
        total_tokens += targets.numel()
        if step % 50 == 0:
            bar.set_postfix(ppl=f"{math.exp(total_loss / total_tokens):.1f}", refresh=False)
        if (save_progress is not None and cfg.checkpoint_seconds is not None
                and time.perf_counter() - last_save >= cfg.checkpoint_seconds):
            save_progress(EpochProgress(step + 1, detach_state(state), total_loss, total_tokens,
                                        time.perf_counter() - started))
            last_save = time.perf_counter()
    seconds = time.perf_counter() - started
    return dict(train_perplexity=math.exp(total_loss / total_tokens), penalty=float(penalty),
                seconds=seconds, words_per_second=total_tokens / seconds)


def rng_states(device) -> dict:
    """Every random generator a training step draws from, to store in a checkpoint."""
    return dict(torch_rng=torch.get_rng_state(), python_rng=random.getstate(),
                cuda_rng=torch.cuda.get_rng_state_all() if device.type == "cuda" else None)


def restore_rng_states(ckpt: dict, device) -> None:
    torch.set_rng_state(ckpt["torch_rng"])
    random.setstate(ckpt["python_rng"])
    if device.type == "cuda" and ckpt.get("cuda_rng") is not None:
        torch.cuda.set_rng_state_all(ckpt["cuda_rng"])


def load_checkpoint(path: Path, digest: str, log=print) -> dict | None:
    """The checkpoint at ``path`` if it belongs to the run ``digest`` identifies, else None. One
    written by another configuration is moved aside (one kept, not one per change), never resumed.
    Loaded on the CPU: RNG states must stay CPU byte tensors; weights move with load_state_dict."""
    if not path.exists():
        return None
    ckpt = load_torch(path, "rerun the training with --restart (or delete the file) to start this row afresh",
                      map_location="cpu")
    if ckpt["config_digest"] == digest:
        return ckpt
    stale = path.with_name("checkpoint.stale.pt")
    os.replace(path, stale)
    log(f"[iss] {path} belongs to another training configuration, model or data; moved it to "
        f"{stale.name} and starting from scratch")
    return None


def train(model, corpus, cfg: TrainConfig, run_dir: Path, device, restart: bool = False) -> dict:
    """Train (or resume) and return the history. ``restart`` ignores an existing checkpoint.
    With ``cfg.keep_best`` the model ends with the weights of its best validation epoch
    (kept in ``run_dir/best.pt``)."""
    run_dir = Path(run_dir)
    checkpoint_path = run_dir / "checkpoint.pt"
    best_path = run_dir / "best.pt"
    if restart and checkpoint_path.exists():
        checkpoint_path.unlink()
        print(f"[iss] --restart: removed {checkpoint_path}", flush=True)
    seed_everything(cfg.seed)
    model.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=cfg.schedule.lr_at(0))
    families = iss.components(model)
    thresholded = iss.threshold_targets(model, families, cfg.threshold_scope)
    history: list[dict] = []
    start_epoch, progress, best = 0, None, math.inf
    digest = cfg.digest(model.geometry(), tensor_digest(corpus.train))
    ckpt = load_checkpoint(checkpoint_path, digest, log=lambda text: print(text, flush=True))
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        restore_rng_states(ckpt, device)
        history, start_epoch, best = ckpt["history"], ckpt["epoch"], ckpt.get("best_valid", math.inf)
        progress = ckpt.get("progress")
        if progress is not None:  # a plain dict in the file (weights-only loadable)
            progress = EpochProgress(**{**progress, "state": state_to(progress["state"], device)})
        where = f"epoch {start_epoch + 1}, window {progress.step + 1}" if progress else f"epoch {start_epoch + 1}"
        print(f"[iss] resuming {run_dir} at {where}", flush=True)

    def save_checkpoint(epoch_done: int, progress: EpochProgress | None) -> None:
        if progress is not None:
            progress = {**vars(progress), "state": state_to(progress.state, "cpu")}
        save_torch_atomic(dict(model=model.state_dict(), optimizer=optimizer.state_dict(), epoch=epoch_done,
                         progress=progress, history=history, best_valid=best, config_digest=digest,
                         **rng_states(device)),
                    checkpoint_path)

    stream = batchify(corpus.train, cfg.batch_size).to(device)
    for epoch in range(start_epoch, cfg.epochs):
        lr = cfg.schedule.lr_at(epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        row = dict(epoch=epoch + 1, lr=lr)
        row.update(train_epoch(model, stream, cfg, optimizer, epoch, families, trainable, thresholded,
                               progress, save_progress=lambda p, e=epoch: save_checkpoint(e, p)))
        progress = None
        row["valid_perplexity"] = evaluate(model, corpus.valid, cfg.eval_batch_size, cfg.eval_num_steps, device)
        row.update({f"iss_{name}": size for name, size in
                    iss.sizes(model, families).items()})
        if cfg.keep_best and row["valid_perplexity"] < best:
            best = row["valid_perplexity"]
            save_torch_atomic(model.state_dict(), best_path)
        history.append(row)
        print(f"[iss] epoch {row['epoch']}: lr {lr:.4g} train ppl {row['train_perplexity']:.2f} "
              f"valid ppl {row['valid_perplexity']:.2f} "
              + " ".join(f"{k}={v}" for k, v in row.items() if k.startswith("iss_"))
              + f" ({row['words_per_second']:.0f} words/s)", flush=True)
        save_checkpoint(epoch + 1, None)
    if cfg.keep_best and best_path.exists():
        model.load_state_dict(load_torch(best_path, "rerun the training with --restart", map_location=device))
        print(f"[iss] kept the weights of the best validation epoch (perplexity {best:.2f})", flush=True)
    return dict(history=history, best_valid=best if cfg.keep_best else None)
