"""Weight counts and multiply-adds from a model's geometry (spec 4.1).

Counts come from the parameters a model actually has, so they stay right for any
architecture that follows the conventions of ``iss_harness.models`` or is built from standard modules:
- weight #: every trainable parameter (frozen constants such as the LSTM forget-bias
  vector are not weights of the TF original either);
- mult-adds per token: every trainable matrix used in a matrix multiply contributes its
  element count (one multiply-add per weight per token); lookup tables (embeddings) do
  not. ``with_bias=True`` also counts one add per trainable bias element: this is the
  paper's definition (formula B, which gives 7.48x and 5.01x); ``with_bias=False`` is
  the pure-GEMM variant (formula A: 7.49x, 5.01x).

Geometry-only numbers need no trained weights: build the model on the ``meta`` device.
"""
from __future__ import annotations

import torch
from torch import nn


def weight_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def lookup_parameters(model: nn.Module) -> tuple[str, ...]:
    """Parameters read as lookup tables (no multiply-adds): what the model declares in
    ``lookup_parameters``, else the weights of its nn.Embedding / nn.EmbeddingBag modules."""
    if hasattr(model, "lookup_parameters"):
        return tuple(model.lookup_parameters)
    return tuple(f"{name}.weight" if name else "weight" for name, module in model.named_modules()
                 if isinstance(module, (nn.Embedding, nn.EmbeddingBag)))


def mult_adds_per_token(model: nn.Module, with_bias: bool = True) -> int:
    lookup = set(lookup_parameters(model))
    total = 0
    for name, p in model.named_parameters():
        if not p.requires_grad or name in lookup:
            continue
        if p.dim() >= 2 or with_bias:
            total += p.numel()
    return total


def build_on_meta(factory, *args, **kwargs) -> nn.Module:
    """Instantiate a model without allocating memory (for counting at paper sizes)."""
    with torch.device("meta"):
        return factory(*args, **kwargs)


def costs_against(models: dict[str, nn.Module], baseline: str = "baseline") -> dict[str, dict]:
    """``cost_summary`` of every model against ``models[baseline]``: what the timing steps record at
    the paper's sizes, so that the reports read geometry from results files instead of building models."""
    return {row: cost_summary(model, models[baseline]) for row, model in models.items()}


def cost_summary(model: nn.Module, baseline: nn.Module) -> dict:
    """Weight # and mult-add reduction of ``model`` against ``baseline`` (both formulas)."""
    return dict(
        weights=weight_count(model),
        mult_adds_per_token=mult_adds_per_token(model, with_bias=True),
        mult_adds_per_token_gemm=mult_adds_per_token(model, with_bias=False),
        mult_add_reduction=mult_adds_per_token(baseline, True) / mult_adds_per_token(model, True),
        mult_add_reduction_gemm=mult_adds_per_token(baseline, False) / mult_adds_per_token(model, False),
    )
