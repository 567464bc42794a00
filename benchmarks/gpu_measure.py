"""The measurements of the GPU check (benchmarks/gpu_check.sh): training throughput and latency.

Every measurement is bounded twice, by a step count and by a time budget, so the whole check
stays within its minutes on any device: a warm-up (cuDNN picks its kernels, the allocator fills
its cache), then timed steps until the count or the budget is reached, with the device
synchronised before the clock is read.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

import iss
from iss.groups import zero_small_weights_
from iss_harness.models.bidaf import BiDAF, SquadBatch, span_loss
from iss_harness.models.lstm_lm import LSTMLanguageModel
from iss_harness.models.rhn import RHNLanguageModel
from iss_harness.data.ptb import batchify
from iss_harness.tasks.timing import lm_inference
from iss_harness.tasks.train_lm import Schedule, TrainConfig, train_epoch
from iss_harness.tables.table3.train import thresholded_parameters


@dataclass(frozen=True)
class Budget:
    """How long one measurement may run: at most `steps` timed steps and about `seconds`."""

    warmup: int
    steps: int
    seconds: float


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(step, device: torch.device, budget: Budget) -> dict:
    """Run `step()` warm-up + timed times; calls, calls per second and the median call in ms."""
    for _ in range(budget.warmup):
        step()
    synchronize(device)
    durations, started = [], time.perf_counter()
    while len(durations) < budget.steps and time.perf_counter() - started < budget.seconds:
        began = time.perf_counter()
        step()
        synchronize(device)
        durations.append(time.perf_counter() - began)
    return dict(calls=len(durations), per_second=len(durations) / sum(durations),
                median_ms=1000.0 * statistics.median(durations))


def lm_training(model, device: torch.device, batch_size: int, num_steps: int, lam: float, zero_threshold: float,
                bf16: bool, budget: Budget, weight_decay: float = 0.0, threshold_scope: str = "all") -> dict:
    """Words/s and steps/s of the harness's own training loop (iss_harness.tasks.train_lm.train_epoch) on random tokens."""
    model.to(device)
    cfg = TrainConfig(epochs=1, batch_size=batch_size, num_steps=num_steps, schedule=Schedule(lr=0.1), lam=lam,
                      zero_threshold=zero_threshold, weight_decay=weight_decay, threshold_scope=threshold_scope,
                      autocast_bf16=bf16, checkpoint_seconds=None)
    families = model.iss_families()
    trainable = [p for p in model.parameters() if p.requires_grad]
    thresholded = iss.threshold_targets(model, families, threshold_scope)
    optimizer = torch.optim.SGD(trainable, lr=0.1)
    vocab = model.embedding.num_embeddings

    def epoch(windows: int) -> dict:
        ids = torch.randint(0, vocab, (windows * num_steps * batch_size + batch_size,))
        stream = batchify(ids, batch_size).to(device)
        return train_epoch(model, stream, cfg, optimizer, 0, families, trainable, thresholded)

    epoch(budget.warmup)
    synchronize(device)
    probe = epoch(1)  # one window's time decides how many fit in the budget
    windows = max(1, min(budget.steps, int(budget.seconds * probe["words_per_second"] / (batch_size * num_steps))))
    result = epoch(windows)
    synchronize(device)
    return dict(words_per_second=result["words_per_second"],
                steps_per_second=result["words_per_second"] / (batch_size * num_steps), windows=windows)


def table1_model(sizes: dict) -> LSTMLanguageModel:
    return LSTMLanguageModel(sizes["vocab"], sizes["embedding"], [sizes["hidden"]] * 2, keep_prob=0.35)


def rhn_model(sizes: dict) -> RHNLanguageModel:
    return RHNLanguageModel(sizes["vocab"], sizes["rhn_width"], depth=sizes["rhn_depth"],
                            dropout={"x": 0.15, "i": 0.45, "h": 0.15, "o": 0.45})  # the ISS rows' dropouts


def random_squad_batch(sizes: dict, generator: torch.Generator) -> tuple[SquadBatch, torch.Tensor, torch.Tensor]:
    b, n, m, w = sizes["qa_batch"], sizes["qa_context"], sizes["qa_question"], sizes["qa_word"]
    words = sizes["qa_trainable_words"] + sizes["qa_fixed_words"]

    def ids(*shape, high):
        return torch.randint(1, high, shape, generator=generator)

    batch = SquadBatch(ids(b, n, high=words), ids(b, n, w, high=sizes["qa_chars"]), torch.ones(b, n, dtype=torch.bool),
                       ids(b, m, high=words), ids(b, m, w, high=sizes["qa_chars"]), torch.ones(b, m, dtype=torch.bool))
    start = torch.randint(0, n // 2, (b,), generator=generator)
    return batch, start, start + torch.randint(0, n // 2, (b,), generator=generator)


def bidaf_training(sizes: dict, device: torch.device, budget: Budget, lam: float = 0.001,
                   zero_threshold: float = 4e-4, threshold_scope: str = "original") -> dict:
    """Steps/s of one BiDAF ISS training step (forward, span loss, group Lasso, Adam, threshold),
    with the paper config's threshold scope (table3.threshold_scope) so the step costs what a
    paper-scale step costs."""
    generator = torch.Generator().manual_seed(0)
    fixed = torch.randn(sizes["qa_fixed_words"], sizes["qa_hidden"], generator=generator)
    model = BiDAF(sizes["qa_trainable_words"], sizes["qa_chars"], fixed_vectors=fixed, word_dim=sizes["qa_hidden"],
                  char_filters=sizes["qa_hidden"], hidden=sizes["qa_hidden"]).to(device).train()
    batch, start, end = random_squad_batch(sizes, generator)
    batch, start, end = batch.to(device), start.to(device), end.to(device)
    regularizer = iss.GroupLasso(model, lam, iss.components(model))
    thresholded = thresholded_parameters(model, threshold_scope)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)

    def step():
        start_logits, end_logits = model(batch)
        loss = span_loss(start_logits, end_logits, start, end)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        regularizer.add_grad_()
        optimizer.step()
        zero_small_weights_(thresholded, zero_threshold)

    return {"steps_per_second": timed(step, device, budget)["per_second"]}


def lm_latency(models: dict[str, torch.nn.Module], device: torch.device, batch_size: int, num_steps: int,
               budget: Budget) -> dict[str, float]:
    """Median latency (ms) of the whole LM at inference on `device` (embedding to log-softmax)."""
    out = {}
    for label, model in models.items():
        model = model.to(device)
        tokens = torch.randint(0, model.embedding.num_embeddings, (num_steps, batch_size), device=device)
        run = lm_inference(model, tokens)
        with torch.inference_mode():
            result = timed(run, device, budget)
        out[label] = result["median_ms"]
    return out
