"""Exponential moving average of the trainable weights, for evaluation (BiDAF, spec 2.5).

As TF's ``ExponentialMovingAverage(decay)`` without ``num_updates`` (the BiDAF setting, decay 0.999):
the shadow starts at the weights' current values and every ``update()`` does
``shadow -= (1 - decay) * (shadow - weight)``. Only parameters with ``requires_grad`` are averaged
(TF averages the trainable variables); frozen constants and buffers are left alone.

The original evaluates with the EMA weights and applies its element zero threshold to them after
loading (the average of a weight that became exactly 0 is small but not 0): do that with
``iss.groups.zero_small_weights_`` inside ``average_parameters()`` or after ``copy_to()``.
After an ISS shrink the shapes change: start a new average for the small model.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


class ExponentialMovingAverage:
    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"decay must be in [0, 1], got {decay}")
        self.model = model
        self.decay = decay
        self.shadow = {name: p.detach().clone() for name, p in self._trainable()}

    def _trainable(self):
        return [(name, p) for name, p in self.model.named_parameters() if p.requires_grad]

    @torch.no_grad()
    def update(self) -> None:
        """One step of the average; call after every optimiser step (and zero-out)."""
        for name, p in self._trainable():
            self.shadow[name].lerp_(p.detach(), 1.0 - self.decay)

    @torch.no_grad()
    def copy_to(self, model: nn.Module | None = None) -> None:
        """Overwrite the (or another same-geometry) model's trainable weights with the average."""
        params = dict((model or self.model).named_parameters())
        for name, value in self.shadow.items():
            params[name].copy_(value)

    @contextmanager
    def average_parameters(self):
        """Evaluate with the averaged weights; the training weights come back afterwards."""
        saved = {name: p.detach().clone() for name, p in self._trainable()}
        self.copy_to()
        try:
            yield self.model
        finally:
            with torch.no_grad():
                for name, p in self._trainable():
                    p.copy_(saved[name])

    def state_dict(self) -> dict:
        return dict(decay=self.decay, shadow={name: t.clone() for name, t in self.shadow.items()})

    def load_state_dict(self, state: dict) -> None:
        if set(state["shadow"]) != set(self.shadow):
            raise KeyError("EMA state names other parameters than the model's trainable ones")
        self.decay = state["decay"]
        for name, value in state["shadow"].items():
            self.shadow[name].copy_(value)
