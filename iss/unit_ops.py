"""How operations treat the last (hidden unit) dimension of a traced value, for the reader search of
``iss.consumers``: which keep the units apart and in order (unit-wise), which reduce another
dimension, which combine two values unit by unit, which mix them, and what an index keeps."""
from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import nn

UNIT_WISE_MODULES = (nn.Dropout, nn.AlphaDropout, nn.Identity, nn.ReLU, nn.ReLU6, nn.Tanh, nn.Sigmoid,
                     nn.GELU, nn.SiLU, nn.ELU, nn.CELU, nn.SELU, nn.LeakyReLU, nn.Hardtanh, nn.Softsign,
                     nn.Tanhshrink, nn.Mish, nn.Hardswish, nn.Hardsigmoid, nn.Softplus)
UNIT_WISE_FUNCTIONS = {torch.tanh, torch.relu, torch.sigmoid, torch.dropout, F.relu, F.relu6, F.gelu, F.silu,
                       F.elu, F.leaky_relu, F.dropout, F.tanh, F.sigmoid, F.hardtanh, F.softsign, F.mish,
                       torch.nn.functional.softplus}
UNIT_WISE_METHODS = {"contiguous", "relu", "tanh", "sigmoid", "clone", "float", "detach"}
REDUCTIONS = {"mean", "sum", "amax", "amin"}
REDUCTION_FUNCTIONS = {torch.mean: "mean", torch.sum: "sum", torch.amax: "amax", torch.amin: "amin"}
NORMALISATIONS = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm, nn.RMSNorm)
ELEMENTWISE = (operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.sub, torch.mul,
               torch.div, "add", "sub", "mul", "div")
# a + b, a - b, a * b of two traced values of one layout: unit k of each operand is unit k of the result.
COUPLING = (operator.add, operator.sub, operator.mul, torch.add, torch.sub, torch.mul, "add", "sub", "mul")


def state_row_index(index):
    """The row of h_n that ``h_n[index]`` takes whole: ``h[-2]``, ``h[-2, :, :]``, ``h[-2, ...]``."""
    if isinstance(index, tuple) and index and isinstance(index[0], int) and all(
            entry == slice(None) or entry is Ellipsis for entry in index[1:]):
        return index[0]
    return index


def index_keeps_last_dim(index, ndim: int | None) -> int | None | bool:
    """The result's ndim (None: unknown) if ``x[index]`` leaves the last dimension of an ``ndim``-d x
    whole, else False."""
    entries = index if isinstance(index, tuple) else (index,)
    if any(e is Ellipsis for e in entries):
        after = entries[entries.index(Ellipsis) + 1:]
        return False if any(e != slice(None) for e in after) else None
    if ndim is None:
        return False
    consumed = [e for e in entries if e is not None]
    if len(consumed) >= ndim and consumed[ndim - 1] != slice(None):
        return False
    if any(not isinstance(e, (int, slice)) for e in consumed):
        return None  # advanced indexing of leading dimensions: shape unknown, last dimension intact
    dropped = sum(isinstance(e, int) for e in consumed)
    return ndim - dropped + sum(e is None for e in entries)
