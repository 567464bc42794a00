"""Training a word-level language model with or without ISS (spec 1.5, 1.6, 2.1-2.3).

One epoch of truncated BPTT, as in the original TensorFlow code:
    for each window of num_steps tokens (state carried over, detached):
        loss = sum over steps of the batch-mean cross-entropy      (so lambda means the same)
        backward; add lambda * group-Lasso sub-gradient in place   (iss.components)
        clip the global norm of data + penalty gradients at clip_norm
        SGD step; zero every weight with |w| <= zero_threshold      (element-wise, each step)

A checkpoint (model, optimiser, RNG states, history) is written atomically after every
epoch; running the same command again resumes after the last finished epoch.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from iss.components import add_group_lasso_grad_, removed_components, surviving_sizes, zero_small_weights_
from iss.ptb import batchify, num_windows, windows


class TrainingDiverged(RuntimeError):
    pass


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
class TrainConfig:
    epochs: int
    batch_size: int
    num_steps: int
    schedule: Schedule
    lam: float = 0.0
    zero_threshold: float = 0.0
    clip_norm: float = 10.0
    eval_batch_size: int = 10
    eval_num_steps: int = 35
    seed: int = 1234

    def digest(self, model_geometry: dict | None = None, data_digest: str = "") -> str:
        """Identifies a training run: a checkpoint resumes only the run that wrote it. Validation
        settings are left out: they do not change the weights."""
        settings = {k: v for k, v in asdict(self).items() if not k.startswith("eval_")}
        key = dict(config=settings, geometry=model_geometry, data=data_digest)
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def tensor_digest(*tensors: torch.Tensor) -> str:
    """Content hash of token streams (so a checkpoint is never resumed on other data)."""
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


def save_atomic(obj, path: Path) -> None:
    """torch.save to a temporary name, flush to disk, then rename: a killed run never leaves a
    half-written file under the final name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def detach_state(state):
    return [tuple(s.detach() for s in layer) for layer in state]


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


def train_epoch(model, stream, cfg: TrainConfig, optimizer, epoch: int, families, trainable) -> dict:
    model.train()
    state = model.init_state(cfg.batch_size)
    total_loss, total_tokens, penalty = 0.0, 0, 0.0
    started = time.perf_counter()
    bar = tqdm(windows(stream, cfg.num_steps), total=num_windows(stream, cfg.num_steps),
               desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
               # in a log file (no terminal) a progress line every 30 s instead of every 2 s
               mininterval=2.0 if sys.stderr.isatty() else 30.0)
    for step, (inputs, targets) in enumerate(bar):
        if inputs.shape[0] < cfg.num_steps:
            break  # like the original, the last partial window of an epoch is not trained on
        state = detach_state(state)
        logits, state = model(inputs, state)
        mean_ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        if not torch.isfinite(mean_ce.detach()):
            raise TrainingDiverged(f"loss became {mean_ce.item()} at epoch {epoch + 1}, step {step + 1}; "
                                   f"the checkpoint of the last finished epoch is kept")
        # Sum over the unrolled steps, mean over the batch: the original's loss scale (spec 1.5).
        loss = mean_ce * inputs.shape[0]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        penalty = add_group_lasso_grad_(model, families, cfg.lam)
        torch.nn.utils.clip_grad_norm_(trainable, cfg.clip_norm)
        optimizer.step()
        zero_small_weights_(trainable, cfg.zero_threshold)
        total_loss += mean_ce.item() * targets.numel()
        total_tokens += targets.numel()
        if step % 50 == 0:
            bar.set_postfix(ppl=f"{math.exp(total_loss / total_tokens):.1f}", refresh=False)
    seconds = time.perf_counter() - started
    return dict(train_perplexity=math.exp(total_loss / total_tokens), penalty=float(penalty),
                seconds=seconds, words_per_second=total_tokens / seconds)


def train(model, corpus, cfg: TrainConfig, run_dir: Path, device, restart: bool = False) -> dict:
    """Train (or resume) and return the history. ``restart`` ignores an existing checkpoint."""
    run_dir = Path(run_dir)
    checkpoint_path = run_dir / "checkpoint.pt"
    if restart and checkpoint_path.exists():
        checkpoint_path.unlink()
        print(f"[iss] --restart: removed {checkpoint_path}", flush=True)
    seed_everything(cfg.seed)
    model.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=cfg.schedule.lr_at(0))
    families = model.iss_families()
    history: list[dict] = []
    start_epoch = 0
    digest = cfg.digest(model.geometry(), tensor_digest(corpus.train))
    if checkpoint_path.exists():
        # Loaded on the CPU: RNG states must stay CPU byte tensors; weights move with load_state_dict.
        ckpt = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        if ckpt["config_digest"] != digest:
            # Another configuration trained here: start over, but keep its checkpoint aside.
            stale = checkpoint_path.with_name("checkpoint.stale.pt")  # one kept, not one per change
            os.replace(checkpoint_path, stale)
            print(f"[iss] {checkpoint_path} belongs to another training configuration; moved it to "
                  f"{stale.name} and starting from scratch", flush=True)
    if checkpoint_path.exists():
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["torch_rng"])
        random.setstate(ckpt["python_rng"])
        if device.type == "cuda" and ckpt.get("cuda_rng") is not None:
            torch.cuda.set_rng_state_all(ckpt["cuda_rng"])
        history, start_epoch = ckpt["history"], ckpt["epoch"]
        print(f"[iss] resuming {run_dir} after epoch {start_epoch}", flush=True)

    stream = batchify(corpus.train, cfg.batch_size).to(device)
    for epoch in range(start_epoch, cfg.epochs):
        lr = cfg.schedule.lr_at(epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        row = dict(epoch=epoch + 1, lr=lr)
        row.update(train_epoch(model, stream, cfg, optimizer, epoch, families, trainable))
        row["valid_perplexity"] = evaluate(model, corpus.valid, cfg.eval_batch_size, cfg.eval_num_steps, device)
        row.update({f"iss_{name}": size for name, size in
                    surviving_sizes(removed_components(model, families)).items()})
        history.append(row)
        print(f"[iss] epoch {row['epoch']}: lr {lr:.4g} train ppl {row['train_perplexity']:.2f} "
              f"valid ppl {row['valid_perplexity']:.2f} "
              + " ".join(f"{k}={v}" for k, v in row.items() if k.startswith("iss_"))
              + f" ({row['words_per_second']:.0f} words/s)", flush=True)
        save_atomic(dict(model=model.state_dict(), optimizer=optimizer.state_dict(), epoch=epoch + 1,
                         history=history, config_digest=digest, torch_rng=torch.get_rng_state(),
                         python_rng=random.getstate(),
                         cuda_rng=torch.cuda.get_rng_state_all() if device.type == "cuda" else None),
                    checkpoint_path)
    return dict(history=history)
