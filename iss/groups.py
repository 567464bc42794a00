"""ISS components: one description of "which weights belong to hidden unit k".

An Intrinsic Sparse Structure (ISS) component is everything a hidden unit owns: the
rows that compute its gates, the column through which its previous output re-enters
the recurrence, and the columns through which the next layer (or the softmax) reads it.
Removing the component removes all of them at once and leaves a smaller dense model.

A model describes its components as a list of `Family` objects (one per LSTM layer,
per direction, per RHN width...). Each family lists, as `Slice`s, where component k
lives inside each parameter tensor. Everything else in this package - the group-Lasso
penalty and its gradient, the element zero threshold, the count of removed components,
the shrink to a smaller model, the group-norm histogram - is derived from that list.
No other file knows which indices belong to unit k.

PyTorch layouts to keep in mind (they are easy to mix up):
    nn.LSTM.weight_ih_l0  [4h, n_in]   rows in gate blocks (i, f, g, o), block b row b*h + k
    nn.LSTM.weight_hh_l0  [4h, h]      same rows; column k reads h_{t-1}[k]
    nn.Linear.weight      [out, in]    column k reads input feature k
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from iss.errors import InvalidDescription, NotSupported

# Added once per group inside the square root, as in the original code (spec 1.5):
# keeps the gradient finite when a whole group is zero.
GROUP_NORM_EPS = 1e-8


@dataclass(frozen=True)
class Slice:
    """Where component k of a family lives inside one parameter.

    Component k owns the indices ``start + b * block_stride + k`` for ``b in range(blocks)``
    along dimension ``dim`` (0 = rows, 1 = columns) of parameter ``param``.
    LSTM gate rows: ``Slice(w_ih, dim=0, blocks=4, block_stride=h)`` (gate blocks i, f, g, o);
    a recurrent or consumer column: ``Slice(w, dim=1)``; a slot inside a concatenated input:
    ``Slice(w, dim=1, start=offset)``.
    """

    param: str
    dim: int
    start: int = 0
    blocks: int = 1
    block_stride: int = 0

    def indices(self, size: int) -> torch.Tensor:
        """LongTensor [blocks, size]: entry [b, k] is the index owned by component k in block b."""
        units = torch.arange(size)
        offsets = self.start + torch.arange(self.blocks) * self.block_stride
        return offsets[:, None] + units[None, :]


@dataclass(frozen=True)
class Family:
    """`size` components sharing one layout (e.g. the hidden units of one LSTM layer).

    parts:     penalised by the group Lasso, counted (a component is removed only when
               every element of every part is zero) and removed by the shrink.
    followers: removed by the shrink together with the component but neither penalised
               nor counted (the gate biases: the original code keeps biases out of groups).
    """

    name: str
    size: int
    parts: tuple[Slice, ...]
    followers: tuple[Slice, ...] = field(default_factory=tuple)


def _parameters_by_name(model: nn.Module, families: list[Family]) -> dict[str, torch.Tensor]:
    """The model's parameters by name (tied ones under each of their names), after checking that
    ``families`` describe this model."""
    params = dict(model.named_parameters(remove_duplicate=False))
    check_families(params, families, type(model).__name__)
    return params


def _covers_whole_dim(part: Slice, size: int, extent: int) -> bool:
    """Whether component indices 0..size-1 of ``part`` are exactly 0..extent-1 of its dimension."""
    return part.start == 0 and part.blocks * size == extent and (part.blocks == 1 or part.block_stride == size)


def check_families(params: dict[str, torch.Tensor], families: list[Family], model_name: str = "the model") -> None:
    """InvalidDescription unless every slice of every family lies inside a parameter of the model
    and every family owns a whole dimension of at least one of its parts (an LSTM layer's gate rows
    [4h] or recurrent columns [h]), which ties its size to the layer's width: families built from
    another model of another width are refused here instead of cutting the wrong weights."""
    names_of: dict[int, list[str]] = {}
    for name, tensor in params.items():
        names_of.setdefault(id(tensor), []).append(name)
    for family in families:
        whole = False
        sliced = {part.param for part in family.parts + family.followers}
        for part in family.parts + family.followers:
            tied = [name for name in names_of.get(id(params.get(part.param)), []) if name not in sliced]
            if tied:
                raise NotSupported(
                    f"ISS family {family.name!r} cuts {part.param!r}, which is tied to {tied[0]!r} (the same "
                    f"tensor): removing a unit would cut one and not the other, and tied weights couple the "
                    f"units to the other module's dimensions, which iss cannot shrink yet; untie them to use "
                    f"ISS: model.{part.param} = torch.nn.Parameter(model.{tied[0]}.detach().clone())")
            if part.param not in params:
                raise InvalidDescription(f"ISS family {family.name!r} names parameter {part.param!r}, which "
                                         f"{model_name} does not have (it has: {sorted(params)})")
            shape = params[part.param].shape
            if part.dim >= len(shape):
                raise InvalidDescription(f"ISS family {family.name!r} slices dimension {part.dim} of "
                                         f"{part.param!r}, which has shape {tuple(shape)}")
            last = part.start + (part.blocks - 1) * part.block_stride + family.size - 1
            if family.size > 0 and last >= shape[part.dim]:
                raise InvalidDescription(
                    f"ISS family {family.name!r} (size {family.size}) reaches index {last} of dimension "
                    f"{part.dim} of {part.param!r}, which has shape {tuple(shape)}: the families describe "
                    f"another model (another width); derive them from this one (iss.components(model))")
            whole = whole or (part in family.parts and _covers_whole_dim(part, family.size, shape[part.dim]))
        if not whole:
            raise InvalidDescription(
                f"ISS family {family.name!r} (size {family.size}) owns no whole dimension of any of its "
                f"parameters (an LSTM layer's gate rows or recurrent columns): its size is not the width "
                f"of the layer it describes, e.g. families built from another model; derive them from "
                f"this one (iss.components(model))")


def _squares_along(weight: torch.Tensor, dims: set[int], rows_per_chunk: int = 512) -> dict[int, torch.Tensor]:
    """Sums of squares per row (key 0) and/or per column (key 1) in one pass over memory.

    Row sums alone are one contiguous reduction. Column sums reduce across rows, 4-8x slower
    as one call on a CPU; we sum them over blocks of rows that stay in cache, and get the row
    sums of the same blocks on the way when both are needed.
    """
    weight = weight.detach()
    if weight.dim() == 1:
        return {0: weight.square()}
    if dims == {0}:
        return {0: torch.linalg.vector_norm(weight, dim=1).square()}
    columns = torch.zeros(weight.shape[1], device=weight.device, dtype=weight.dtype)
    rows = []
    for block in weight.split(rows_per_chunk):
        squared = block.square()
        columns += squared.sum(0)
        if 0 in dims:
            rows.append(squared.sum(1))
    return {1: columns, 0: torch.cat(rows)} if 0 in dims else {1: columns}


def group_squared_norms(model: nn.Module, families: list[Family],
                        params: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """||w_k||^2 for every component of every family: {family name: tensor [size]}.

    Elements where two parts of one component cross (for example W_hh[g*h + k, k], in
    both the gate rows and the recurrent column of unit k) are counted twice, exactly as
    the original code sums its row and column terms (spec 1.2, "double counting").
    """
    params = params or _parameters_by_name(model, families)
    needed: dict[str, set[int]] = {}
    for family in families:
        for part in family.parts:
            needed.setdefault(part.param, set()).add(part.dim)
    squares = {name: _squares_along(params[name], dims) for name, dims in needed.items()}
    norms = {}
    for family in families:
        first = params[family.parts[0].param]
        total = torch.zeros(family.size, device=first.device, dtype=first.dtype)
        for part in family.parts:
            idx = part.indices(family.size).to(total.device)
            total += squares[part.param][part.dim][idx].sum(0)
        norms[family.name] = total
    return norms


def group_lasso(model: nn.Module, families: list[Family], lam: float) -> torch.Tensor:
    """lambda * sum_k sqrt(||w_k||^2 + eps) as a differentiable 0-dim tensor (the autograd path;
    training uses the faster in-place ``add_group_lasso_grad_``, which computes the same gradient)."""
    params = _parameters_by_name(model, families)
    value = None
    for family in families:
        squares = None
        for part in family.parts:
            weight = params[part.param]
            per_index = weight.square() if weight.dim() == 1 else weight.square().sum(1 - part.dim)
            term = per_index[part.indices(family.size).to(weight.device)].sum(0)
            squares = term if squares is None else squares + term
        family_value = (squares + GROUP_NORM_EPS).sqrt().sum()
        value = family_value if value is None else value + family_value
    if value is None:
        return torch.zeros(())
    return lam * value


def group_lasso_value(model: nn.Module, families: list[Family], lam: float) -> float:
    """lambda * sum_k sqrt(||w_k||^2 + eps), no normalisation by group size (spec 1.5)."""
    norms = group_squared_norms(model, families)
    return float(lam * sum((sq + GROUP_NORM_EPS).sqrt().sum() for sq in norms.values()))


@torch.no_grad()
def add_group_lasso_grad_(model: nn.Module, families: list[Family], lam: float) -> torch.Tensor | float:
    """Add the group-Lasso sub-gradient to every ``.grad`` in place; return the penalty value
    (a 0-dim tensor, so a GPU training step does not wait for it).

    d/dw lambda*sqrt(||w_k||^2 + eps) = lambda * w / sqrt(||w_k||^2 + eps) for every element
    of group k (twice for doubly counted crossings, matching the value). Doing this by hand
    instead of through autograd costs one read for the norms and one read-modify-write for
    the gradient per weight matrix, instead of five or more passes: that keeps ISS training
    within a few per cent of plain training speed (benchmarks/ptb_speed.py).
    Call after ``loss.backward()`` and before gradient clipping, so the clip sees data +
    penalty gradients together as in the original code.
    """
    if lam == 0.0:
        return 0.0
    params = _parameters_by_name(model, families)
    norms = group_squared_norms(model, families, params)
    # One scale vector per (parameter, dimension): scale[i] = sum over the groups that own
    # row/column i of lambda / ||w_k||.
    scales: dict[tuple[str, int], torch.Tensor] = {}
    value = 0.0
    for family in families:
        group_norm = (norms[family.name] + GROUP_NORM_EPS).sqrt()
        value = value + group_norm.sum()
        coefficient = lam / group_norm
        for part in family.parts:
            weight = params[part.param]
            key = (part.param, part.dim)
            if key not in scales:
                scales[key] = torch.zeros(weight.shape[part.dim], device=weight.device, dtype=weight.dtype)
            idx = part.indices(family.size).to(weight.device)
            scales[key].index_add_(0, idx.reshape(-1), coefficient.repeat(part.blocks).to(weight.dtype))
    for name in {name for name, _ in scales}:
        weight = params[name]
        if weight.grad is None:
            weight.grad = torch.zeros_like(weight)
        _add_scaled_(weight.grad, weight, scales.get((name, 0)), scales.get((name, 1)))
    return lam * value


def _add_scaled_(grad: torch.Tensor, weight: torch.Tensor, row_scale, column_scale, rows_per_chunk: int = 512) -> None:
    """grad += weight * (row_scale[i] + column_scale[j]) in one pass over memory."""
    if weight.dim() == 1:
        grad.addcmul_(weight, row_scale)
    elif column_scale is None:
        grad.addcmul_(weight, row_scale[:, None])
    elif row_scale is None:
        grad.addcmul_(weight, column_scale[None, :])
    else:  # both: a block of rows at a time, so the combined scale stays small and in cache
        for g, w, r in zip(grad.split(rows_per_chunk), weight.split(rows_per_chunk), row_scale.split(rows_per_chunk)):
            g.addcmul_(w, r[:, None] + column_scale[None, :])


@torch.no_grad()
def zero_small_weights_(parameters, threshold: float) -> None:
    """Set every element with |w| <= threshold to exactly zero, in place (spec 1.6).

    The original zeroes |w| < threshold after every training step; hardshrink zeroes
    |w| <= threshold, which differs only for weights exactly at the threshold. It is one
    fused pass over memory.
    """
    if threshold <= 0:
        return
    for weight in parameters:
        torch.hardshrink(weight, threshold, out=weight)


@torch.no_grad()
def component_nonzero_counts(model: nn.Module, families: list[Family]) -> dict[str, torch.Tensor]:
    """Number of non-zero elements owned by each component (crossings counted twice)."""
    params = _parameters_by_name(model, families)
    counts = {}
    for family in families:
        total = torch.zeros(family.size, dtype=torch.long)
        for part in family.parts:
            weight = params[part.param]
            nonzero = weight != 0
            per_index = nonzero.sum(1 - part.dim) if weight.dim() == 2 else nonzero.long()
            total += per_index[part.indices(family.size).to(weight.device)].sum(0).cpu()
        counts[family.name] = total
    return counts


def removed_components(model: nn.Module, families: list[Family]) -> dict[str, torch.Tensor]:
    """{family: bool tensor [size]}: True where every element of every part is exactly zero.

    This is the strict rule of the original PTB code (all 6 parts zero, spec 1.7).
    """
    return {name: count == 0 for name, count in component_nonzero_counts(model, families).items()}


def surviving_sizes(removed: dict[str, torch.Tensor]) -> dict[str, int]:
    """ISS size of each family: how many components are left."""
    return {name: int((~dead).sum()) for name, dead in removed.items()}


@torch.no_grad()
def mask_removed_(model: nn.Module, families: list[Family], removed: dict[str, torch.Tensor]) -> None:
    """Zero every part of the removed components in place (the "masked large model")."""
    params = _parameters_by_name(model, families)
    for family in families:
        dead = removed[family.name].nonzero().flatten()
        for part in family.parts:
            weight = params[part.param]
            idx = part.indices(family.size)[:, dead].reshape(-1).to(weight.device)
            weight.index_fill_(part.dim, idx, 0.0)


def shrunk_state_dict(model: nn.Module, families: list[Family],
                      removed: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's state dict with every removed component's rows/columns cut out.

    Parameters and buffers not touched by any family are copied unchanged. The caller
    builds a model of the smaller geometry and loads this into it.
    """
    state = model.state_dict()
    drop: dict[tuple[str, int], set[int]] = {}
    for family in families:
        dead = removed[family.name].nonzero().flatten()
        for part in family.parts + family.followers:
            drop.setdefault((part.param, part.dim), set()).update(
                part.indices(family.size)[:, dead].reshape(-1).tolist())
    shrunk = {}
    for name, tensor in state.items():
        for dim in range(tensor.dim()):
            gone = drop.get((name, dim))
            if gone:
                keep = [i for i in range(tensor.shape[dim]) if i not in gone]
                tensor = tensor.index_select(dim, torch.tensor(keep, dtype=torch.long, device=tensor.device))
        shrunk[name] = tensor.detach().clone()
    return shrunk
