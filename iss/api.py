"""The public ISS API (re-exported by ``iss``): derive, penalise, threshold, count, shrink, cost.

Every function takes the model and, optionally, its ``families`` (the list returned by
:func:`components`; pass it to skip re-deriving it on every call inside a training loop).
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from iss import groups as _core
from iss import counting as _cost
from iss.groups import Family
from iss.consumers import RECURRENT, trace_readers
from iss.coupling import coupled_families, declared_couplings, embedding_families, tied_embeddings
from iss.errors import ConsumerNotFound, InvalidArgument, InvalidDescription, NotExact, NotSupported, check_nonnegative
from iss.lstm_families import check_supported, declared_readers, family_name, lstm_families, shrink_modules


def components(model: nn.Module, consumers: dict | None = None, lstms: list[str] | None = None,
               coupled: list[tuple[str, ...]] | None = None) -> list[Family]:
    """The ISS components of ``model``: one :class:`iss.Family` per LSTM or GRU layer and direction,
    or per set of coupled layers.

    A model that describes itself (a method ``iss_families()``, as the paper's three models do) gets
    its own description. Otherwise every ``nn.LSTM`` and ``nn.GRU`` (or the ones named in ``lstms``)
    gets one family per layer and direction ("lstm.l0", "lstm.l0_reverse", ...; layout in
    ``iss.lstm_families``).
    What reads each LSTM's top-layer output is found by tracing ``forward`` (``iss.consumers``), or
    taken from ``consumers``: ``{"lstm": "head"}`` (an nn.Linear or nn.LSTM reading it from input
    column 0), ``{"lstm": iss.Consumer("head", offset=16)}``, a list of those, or ``{"lstm": None}``
    when the output leaves the model (shrink then narrows it). Raises :class:`ConsumerNotFound`
    naming the LSTM and this call when neither works, and :class:`NotSupported` for nn.RNN or
    ``proj_size > 0``.

    Units whose sizes must stay equal across modules are one component ("enc.l0+dec.l0"; see
    ``iss.coupling``): a state handed to another module as its initial state, a residual sum of two
    outputs and an embedding tied to the Linear that reads an LSTM are found by tracing; where the
    graph does not show it, declare it: ``coupled=[("enc", "dec")]`` (every layer and direction of
    the two, in h_n's row order) or ``coupled=[("lstm1.l0", "lstm2.l0")]`` (families by name).
    """
    if consumers is None and lstms is None and coupled is None and hasattr(model, "iss_families"):
        return model.iss_families()
    modules = dict(model.named_modules())
    consumers = dict(consumers or {})
    selected = _selected_lstms(model, modules, lstms)
    unknown = sorted(set(consumers) - set(selected))
    if unknown:
        raise InvalidDescription(f"consumers names {unknown}, which are not ISS LSTMs of {type(model).__name__} "
                       f"(its nn.LSTM modules: {sorted(selected) or 'none'})")
    readers = {}
    for name, declared in consumers.items():
        readers.update(declared_readers(name, selected[name], declared))
    embeddings = tied_embeddings(modules)
    # Declared modules are traced too: their readers add to the declared ones, and a state hand-off or
    # a residual sum couples them as it does any other; where the walk stops on them, it moves on.
    traced = trace_readers(model, selected, embeddings, declared=set(consumers))
    for key, found in traced.readers.items():
        readers[key] = list(dict.fromkeys([*readers.get(key, []), *found]))
    couplings = [(family_name(*a), family_name(*b)) for a, b in traced.couplings]
    families = [family for name in selected for family in lstm_families(modules, name, readers)]
    tied, tie_couplings = embedding_families(modules, embeddings, readers, families)
    couplings += tie_couplings + declared_couplings(coupled, families, modules)
    params = dict(model.named_parameters(remove_duplicate=False))
    families = coupled_families(families + tied, couplings, params)
    _core.check_families(params, families, type(model).__name__)
    return families


def _selected_lstms(model: nn.Module, modules: dict[str, nn.Module], names: list[str] | None) -> dict[str, nn.LSTM]:
    if names is not None:
        missing = [n for n in names if n not in modules]
        if missing:
            raise InvalidDescription(f"lstms names {missing}, which {type(model).__name__} does not have")
        for name in names:
            check_supported(name, modules[name])
            if not isinstance(modules[name], RECURRENT):
                raise NotSupported(f"lstms: {name!r} is a {type(modules[name]).__name__}, not an nn.LSTM or nn.GRU")
        return {name: modules[name] for name in names}
    selected = {name: m for name, m in modules.items() if isinstance(m, RECURRENT)}
    for name, module in selected.items():
        check_supported(name, module)
    if not selected:
        others = [f"nn.RNN {n!r}" for n, m in modules.items() if isinstance(m, nn.RNN)]
        raise NotSupported(f"{type(model).__name__} has no nn.LSTM or nn.GRU" +
                           (f"; {', '.join(others)} not supported" if others else ""))
    return selected


class GroupLasso:
    """lambda * sum over ISS components of sqrt(||w_k||^2 + 1e-8): the structured penalty.

    The loss it is added to should be summed over the unrolled steps, as the original code did, for
    lambda to have the paper's scale. Two equivalent ways to use it:

        loss = data_loss + reg()          # autograd (simple, any optimiser)
        loss.backward()

        loss.backward(); reg.add_grad_()  # in-place sub-gradient after backward (fast path, a few %
                                          # over plain training); clip and step afterwards
    """

    def __init__(self, model: nn.Module, lam: float, families: list[Family] | None = None):
        self.model, self.lam = model, check_nonnegative("GroupLasso: lambda", lam)
        self.families = components(model) if families is None else families

    def __call__(self) -> torch.Tensor:
        return _core.group_lasso(self.model, self.families, self.lam)

    def add_grad_(self):
        """Add the penalty's sub-gradient to every ``.grad`` in place; return the penalty value."""
        return _core.add_group_lasso_grad_(self.model, self.families, self.lam)

    @torch.no_grad()
    def norms(self) -> dict[str, torch.Tensor]:
        """{family: ||w_k|| per component} (crossings counted twice, as in the penalty)."""
        return {n: sq.sqrt() for n, sq in _core.group_squared_norms(self.model, self.families).items()}


def grouped_parameters(model: nn.Module, families: list[Family] | None = None) -> list[torch.Tensor]:
    """The parameters that hold some ISS component's penalised weights."""
    families = components(model) if families is None else families
    names = {part.param for family in families for part in family.parts}
    # by tensor, not by name: a tied parameter is listed once, under whichever name the family uses
    grouped = {id(p) for name, p in model.named_parameters(remove_duplicate=False) if name in names}
    return [p for p in model.parameters() if id(p) in grouped]


def zero_small_(model: nn.Module, threshold: float, families: list[Family] | None = None,
                scope: str = "groups") -> None:
    """Set every weight with |w| <= threshold to exactly zero (after each optimiser step), so that
    group Lasso's small weights become whole removed units. ``scope``: see ``threshold_targets``."""
    _core.zero_small_weights_(threshold_targets(model, families, scope), check_nonnegative("zero_small_: threshold", threshold))


THRESHOLD_SCOPES = ("groups", "all")


def threshold_targets(model: nn.Module, families: list[Family] | None = None,
                      scope: str = "groups") -> list[torch.Tensor]:
    """The parameters ``zero_small_`` thresholds: "groups" (the trainable parameters that hold ISS
    components, the default) or "all" (every trainable parameter)."""
    if scope == "all":
        return [p for p in model.parameters() if p.requires_grad]
    if scope == "groups":
        return [p for p in grouped_parameters(model, families) if p.requires_grad]
    raise InvalidArgument(f"threshold_scope must be one of {', '.join(THRESHOLD_SCOPES)}, got {scope!r}")


def removed(model: nn.Module, families: list[Family] | None = None) -> dict[str, torch.Tensor]:
    """{family: bool [size]}: True where every weight of the component is exactly zero."""
    return _core.removed_components(model, components(model) if families is None else families)


def sizes(model: nn.Module, families: list[Family] | None = None) -> dict[str, int]:
    """{family: surviving units}."""
    return _core.surviving_sizes(removed(model, families))


def shrink(model: nn.Module, families: list[Family] | None = None,
           removed: dict[str, torch.Tensor] | None = None, example_inputs: tuple | None = None,
           rtol: float = 1e-4, atol: float = 1e-5) -> nn.Module:
    """The compact model: same class, smaller ``nn.LSTM``s and reading ``nn.Linear``s, the surviving
    weights copied in; in eval mode its outputs equal the large model's with the removed components
    zeroed. ``removed`` defaults to the strict rule (every weight of the component exactly zero).

    The families are first checked against ``model`` (parameters, slices inside their tensors,
    sizes that are the layers' widths: :class:`InvalidDescription`). Given ``example_inputs`` (a
    tuple of positional arguments of ``forward``), the compact model's outputs are compared with
    the masked model's in eval mode, and :class:`NotExact` names the first output that differs by
    more than ``atol + rtol * |expected|``: pass them, and a shrink that is not exact never goes
    unnoticed.

    A model with its own ``iss_families()`` must also provide ``resized(sizes)`` (a fresh model of
    the smaller geometry); others are rebuilt module by module (``iss.lstm_families``), which assumes
    ``forward`` reads sizes from its modules (``self.lstm.hidden_size``), not from stored copies."""
    families = components(model) if families is None else families
    if removed is None:
        removed = _core.removed_components(model, families)
    if hasattr(model, "resized"):
        compact = model.resized(_core.surviving_sizes(removed))
        state = _core.shrunk_state_dict(model, families, removed)
        expected = compact.state_dict()
        for name, tensor in state.items():
            if expected[name].shape != tensor.shape:
                raise ValueError(f"shrink: {name} has shape {tuple(tensor.shape)} after cutting, but the smaller "
                                 f"model expects {tuple(expected[name].shape)}; the ISS description of "
                                 f"{type(model).__name__} and its resized() disagree")
        compact.load_state_dict(state)
    else:
        compact = shrink_modules(model, families, removed)
    compact = compact.to(next(model.parameters()).device).train(model.training)
    if example_inputs is not None:
        check_exact(model, compact, families, removed, example_inputs, rtol, atol)
    return compact


@torch.no_grad()
def check_exact(model: nn.Module, compact: nn.Module, families: list[Family], removed: dict[str, torch.Tensor],
                example_inputs: tuple, rtol: float = 1e-4, atol: float = 1e-5) -> float:
    """The largest output difference between ``compact`` and ``model`` with its removed components
    zeroed, in eval mode on ``example_inputs``; NotExact naming the first output beyond tolerance."""
    if not isinstance(example_inputs, tuple):
        example_inputs = (example_inputs,)
    masked = copy.deepcopy(model)
    _core.mask_removed_(masked, families, removed)
    expected = _flat_outputs(masked.eval()(*example_inputs))
    try:
        got = _flat_outputs(compact.eval()(*example_inputs))
    except Exception as error:  # noqa: BLE001 - any failure of the compact forward means the shrink is wrong
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise NotExact(f"shrink: the compact model fails on the example inputs ({type(error).__name__}: "
                       f"{first_line}): something reads the removed units that the ISS description does not "
                       f"name, or their sizes are coupled to other features (a residual connection, a "
                       f"normalisation over the units, a state handed to another LSTM)") from None
    finally:
        compact.train(model.training)
    if [path for path, _ in expected] != [path for path, _ in got]:
        raise NotExact(f"shrink: the compact model returns outputs {[p for p, _ in got]}, the model "
                       f"{[p for p, _ in expected]}")
    worst = 0.0
    for (path, want), (_, have) in zip(expected, got):
        if want.shape != have.shape:
            raise NotExact(f"shrink: {path} has shape {tuple(have.shape)} in the compact model, "
                           f"{tuple(want.shape)} in the model: its width depends on removed units")
        difference = (have.double() - want.double()).abs()
        beyond = difference > atol + rtol * want.double().abs()
        if bool(beyond.any()):
            index = tuple(int(i) for i in beyond.nonzero()[0])
            raise NotExact(f"shrink: {path} differs from the masked model's by {float(difference.max()):.3g} "
                           f"(first at index {index}): the ISS description misses a reader of a removed unit, "
                           f"or units are coupled across modules (declare the reader, or keep those units)")
        worst = max(worst, float(difference.max()) if difference.numel() else 0.0)
    return worst


def _flat_outputs(output, path: str = "output") -> list[tuple[str, torch.Tensor]]:
    """Every floating-point tensor of a forward's output, with its place (output[0][1], output['h'])."""
    if isinstance(output, torch.Tensor):
        return [(path, output)] if output.is_floating_point() else []
    if isinstance(output, dict):
        return [item for key in output for item in _flat_outputs(output[key], f"{path}[{key!r}]")]
    if isinstance(output, (tuple, list)):  # PackedSequence and other named tuples too
        return [item for i, value in enumerate(output) for item in _flat_outputs(value, f"{path}[{i}]")]
    return []


def cost(model: nn.Module, baseline: nn.Module | None = None) -> dict:
    """Weights and multiply-adds per token (one per weight of every matrix used in a product;
    embedding lookups are free). ``mult_adds_per_token`` also counts one add per bias element
    (the paper's definition), ``mult_adds_per_token_gemm`` does not. With ``baseline``: the
    reductions against it too."""
    if baseline is not None:
        return _cost.cost_summary(model, baseline)
    return dict(weights=_cost.weight_count(model),
                mult_adds_per_token=_cost.mult_adds_per_token(model, with_bias=True),
                mult_adds_per_token_gemm=_cost.mult_adds_per_token(model, with_bias=False))


__all__ = ["components", "GroupLasso", "zero_small_", "threshold_targets", "grouped_parameters", "removed", "sizes",
           "shrink", "check_exact", "cost"]
