"""Which layer reads the output of each ``nn.LSTM`` in a model: found by tracing, or declared.

ISS component k of an LSTM layer also owns column k of whatever reads that layer's output (the
next layer of the same ``nn.LSTM`` is known from the module itself; this file is about the top
layer). We trace the model's ``forward`` symbolically with ``torch.fx`` (``nn.LSTM`` and
``nn.Linear`` stay single calls) and follow each LSTM's output through operations that keep the
hidden units apart and in order in the last dimension:

- dropout, identity and element-wise activations (modules, functions, tensor methods);
- indexing that leaves the last dimension whole (``out[:, -1]``, ``out[-1]``, ``out[idx, lengths]``),
  one layer/direction of ``h_n`` (``h_n[-1]``), and sums, means, maxima over another dimension;
- ``torch.cat`` along the last dimension of several LSTM outputs (``cat([h_n[-2], h_n[-1]], -1)``);
- ``pack_padded_sequence`` / ``pad_packed_sequence``.

The features must end in an ``nn.Linear`` (column ``offset + j`` of its ``weight`` [out, in]) or an
``nn.LSTM`` (column ``offset + j`` of ``weight_ih_l0`` and ``weight_ih_l0_reverse``). Anything else
(user arithmetic, a LayerNorm that mixes units, the features returned by ``forward``) stops the
search with :class:`ConsumerNotFound`, naming the LSTM, the operation, and the one call that
declares the consumer instead: ``iss.components(model, consumers={"lstm": "head"})``.

The recurrent state (``h_n``, ``c_n``) may be returned and fed back in: it shrinks with its LSTM.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import operator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.nn.utils import rnn as rnn_utils
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from iss.errors import ConsumerNotFound

# The recurrent modules iss describes: their output's last dimension is [fwd h | bwd h] of the top layer.
RECURRENT = (nn.LSTM, nn.GRU)


@dataclass(frozen=True)
class Consumer:
    """``module`` (the qualified name of an ``nn.Linear`` or ``nn.LSTM``) reads an LSTM's top-layer
    output [fwd h | bwd h] in its input columns ``offset .. offset + D*h - 1``."""

    module: str
    offset: int = 0


# (lstm name, layer, direction): one ISS family of an nn.LSTM.
FamilyKey = tuple[str, int, int]
# where a family's units are read: (consumer module name, first input column)
Reader = tuple[str, int]

_UNIT_WISE_MODULES = (nn.Dropout, nn.AlphaDropout, nn.Identity, nn.ReLU, nn.ReLU6, nn.Tanh, nn.Sigmoid,
                      nn.GELU, nn.SiLU, nn.ELU, nn.CELU, nn.SELU, nn.LeakyReLU, nn.Hardtanh, nn.Softsign,
                      nn.Tanhshrink, nn.Mish, nn.Hardswish, nn.Hardsigmoid, nn.Softplus)
_UNIT_WISE_FUNCTIONS = {torch.tanh, torch.relu, torch.sigmoid, torch.dropout, F.relu, F.relu6, F.gelu, F.silu,
                        F.elu, F.leaky_relu, F.dropout, F.tanh, F.sigmoid, F.hardtanh, F.softsign, F.mish,
                        torch.nn.functional.softplus}
_UNIT_WISE_METHODS = {"contiguous", "relu", "tanh", "sigmoid", "clone", "float", "detach"}
_REDUCTIONS = {"mean", "sum", "amax", "amin"}
_REDUCTION_FUNCTIONS = {torch.mean: "mean", torch.sum: "sum", torch.amax: "amax", torch.amin: "amin"}


# ---- what a traced value is, as far as ISS cares ---------------------------------------------
@dataclass(frozen=True)
class _LSTMResult:      # the tuple (output, (h_n, c_n)) of one call; (output, h_n) for an nn.GRU
    lstm: str
    packed: bool
    gru: bool = False


@dataclass(frozen=True)
class _State:           # (h_n, c_n)
    lstm: str


@dataclass(frozen=True)
class _StateTensor:     # h_n or c_n: [num_layers * D, B, h]
    lstm: str


@dataclass(frozen=True)
class _Features:        # a tensor whose last dimension is these families' units, in this order
    segments: tuple[FamilyKey, ...]
    ndim: int | None    # None: unknown (packed data, advanced indexing)


@dataclass(frozen=True)
class _Padded:          # pad_packed_sequence(...) -> (features, lengths)
    features: _Features


def declaration_hint(names, modules: dict[str, nn.Module], reader: str | None = None) -> str:
    """The call that declares what reads ``names``' output, with this model's real module names:
    ``reader`` when the traced graph shows which module the output reaches, else the candidates."""
    if reader is not None:
        example = ", ".join(f"{name!r}: {reader!r}" for name in names)
        return (f"declare what reads it: iss.components(model, consumers={{{example}}}) "
                f"(iss.Consumer({reader!r}, offset) when other features come first in its input), or None "
                f"for an output that leaves the model (shrink then narrows it)")
    candidates = [n for n, m in modules.items() if isinstance(m, (nn.Linear, *RECURRENT)) and n not in names]
    none = ", ".join(f"{name!r}: None" for name in names)
    if not candidates:
        return (f"declare that the output leaves the model: iss.components(model, consumers={{{none}}}) "
                f"(shrink then narrows it)")
    example = ", ".join(f"{name!r}: {candidates[0]!r}" for name in names)
    return (f"declare what reads it: iss.components(model, consumers={{{example}}}) with the module that "
            f"reads the output (this model's nn.Linear / nn.LSTM / nn.GRU modules: "
            f"{', '.join(map(repr, candidates))}; iss.Consumer(name, offset) when other features come "
            f"first in its input), or consumers={{{none}}} when the output leaves the model")


COUPLED = "its units are coupled to other features"
NO_EXACT_SHRINK = "no exact shrink exists"
_NORMALISATIONS = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm, nn.RMSNorm)
_ELEMENTWISE = (operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.sub, torch.mul,
                torch.div, "add", "sub", "mul", "div")


def _keep_the_others(modules: dict[str, nn.Module], excluded) -> str:
    """The call that runs ISS on every LSTM/GRU except ``excluded``, or why there is none."""
    rest = [n for n, m in modules.items() if isinstance(m, RECURRENT) and n not in excluded]
    return f"iss.components(model, lstms={rest!r})" if rest else "this model has no other LSTM or GRU to shrink"


def left_out_hint(names, modules: dict[str, nn.Module]) -> str:
    """What to do when a module's units cannot be removed exactly: leave it out of ISS."""
    keep = _keep_the_others(modules, names)
    return (f"iss cannot shrink {', '.join(map(repr, names))} exactly: leave it out of ISS ({keep}), or change "
            f"the model so that only nn.Linear / nn.LSTM / nn.GRU modules read its units")


def coupled_hint(names, other: str, modules: dict[str, nn.Module]) -> str:
    """An LSTM's state handed to another as its initial state ties their sizes (coupled units)."""
    keep = _keep_the_others(modules, (*names, other))
    return (f"the units of {', '.join(map(repr, names))} and {other!r} are coupled and iss cannot shrink "
            f"coupled units yet: leave both out of ISS ({keep})")


def trace_readers(model: nn.Module, lstms: dict[str, nn.LSTM]) -> dict[FamilyKey, list[Reader]]:
    """For each top-layer family of the given LSTMs (name -> module): the (module name, first input
    column) pairs that read its units, found by tracing ``model.forward``."""
    try:
        graph = _trace(model)
    except Exception as error:  # noqa: BLE001 - any tracing failure gets the same advice
        first_line = str(error).splitlines()[0] if str(error) else ""
        raise ConsumerNotFound(
            f"could not trace {type(model).__name__}.forward to find what reads the output of "
            f"{', '.join(map(repr, lstms))} ({type(error).__name__}: {first_line}); "
            f"{declaration_hint(list(lstms), dict(model.named_modules()))}") from None
    search = _ReaderSearch(dict(model.named_modules()), lstms)
    for node in graph.nodes:
        search.visit(node)
    return search.readers


def _is_packed(value) -> bool:
    return isinstance(value, _Features) and value.ndim is None


class _Tracer(fx.Tracer):
    """torch.fx tracer that keeps the packing helpers as single calls (they do not trace)."""

    def __init__(self):
        super().__init__(autowrap_functions=(pack_padded_sequence, pad_packed_sequence))


def _as_leaf(function):
    """``function`` recorded as one call when an argument is being traced (else called as usual)."""
    @functools.wraps(function)
    def leaf(*args, **kwargs):
        proxies = [a for a in (*args, *kwargs.values()) if isinstance(a, fx.Proxy)]
        if not proxies:
            return function(*args, **kwargs)
        return proxies[0].tracer.create_proxy("call_function", function, args, kwargs)
    return leaf


@contextlib.contextmanager
def _packing_helpers_as_leaves():
    """``nn.utils.rnn.pack_padded_sequence(...)`` written with its module path: autowrap_functions
    only covers the name-imported form, so the module's attributes are swapped while tracing."""
    saved = {name: getattr(rnn_utils, name) for name in ("pack_padded_sequence", "pad_packed_sequence")}
    try:
        for name, function in saved.items():
            setattr(rnn_utils, name, _as_leaf(function))
        yield
    finally:
        for name, function in saved.items():
            setattr(rnn_utils, name, function)


def _trace(model: nn.Module) -> fx.Graph:
    # Arguments that default to None are traced as None, so `if state is None:` takes the usual branch.
    signature = inspect.signature(model.forward)
    concrete = {name: None for name, p in signature.parameters.items() if p.default is None}
    with _packing_helpers_as_leaves():
        return _Tracer().trace(model, concrete_args=concrete or None)


def _node_args(node: fx.Node) -> list[fx.Node]:
    found: list[fx.Node] = []
    fx.node.map_arg((node.args, node.kwargs), lambda n: found.append(n) or n)
    return found


def _where(node: fx.Node) -> str:
    target = getattr(node.target, "__name__", node.target)
    return f"{node.op} {target!s} (graph node {node.name!r})"


def _lstms_in(value) -> list[str]:
    if isinstance(value, _Features):
        return sorted({key[0] for key in value.segments})
    if isinstance(value, _Padded):
        return _lstms_in(value.features)
    return [value.lstm]


class _Stuck(Exception):
    """Raised inside the graph walk; ``_ReaderSearch.visit`` turns it into ConsumerNotFound with a hint
    that names this model's modules."""

    def __init__(self, node: fx.Node, value, why: str):
        super().__init__(why)
        self.node, self.names, self.why = node, _lstms_in(value), why


def _downstream_reader(node: fx.Node, modules: dict[str, nn.Module], names) -> str | None:
    """The first nn.Linear / nn.LSTM / nn.GRU call that ``node``'s value flows into (breadth first)."""
    queue, seen = [node], set()
    while queue:
        current = queue.pop(0)
        if current in seen:
            continue
        seen.add(current)
        module = modules.get(current.target) if current.op == "call_module" else None
        if isinstance(module, (nn.Linear, *RECURRENT)) and current.target not in names:
            return current.target
        queue.extend(current.users)
    return None


class _ReaderSearch:
    """Walks the traced graph in order, tagging every value derived from an ISS LSTM's output."""

    def __init__(self, modules: dict[str, nn.Module], lstms: dict[str, nn.LSTM]):
        self.modules = modules
        self.lstms = lstms
        self.values: dict[fx.Node, object] = {}
        self.readers: dict[FamilyKey, list[Reader]] = {}

    def visit(self, node: fx.Node) -> None:
        try:
            self._visit(node)
        except _Stuck as stuck:
            where = f"the output of {', '.join(map(repr, stuck.names))} reaches {_where(stuck.node)}: {stuck.why}"
            if stuck.why.startswith("it is passed as an LSTM's initial state"):
                hint = coupled_hint(stuck.names, stuck.node.target, self.modules)
            elif stuck.why.startswith(NO_EXACT_SHRINK):
                hint = left_out_hint(stuck.names, self.modules)
            elif stuck.why.startswith(COUPLED):
                reader = _downstream_reader(stuck.node, self.modules, stuck.names)
                hint = (f"{left_out_hint(stuck.names, self.modules)}; if the other operand broadcasts over the "
                        f"units (a mask of shape [..., 1]), {declaration_hint(stuck.names, self.modules, reader)}")
            else:
                reader = _downstream_reader(stuck.node, self.modules, stuck.names)
                hint = declaration_hint(stuck.names, self.modules, reader)
            raise ConsumerNotFound(f"{where}; {hint}") from None

    def _visit(self, node: fx.Node) -> None:
        tagged = [a for a in _node_args(node) if a in self.values]
        if node.op == "call_module" and isinstance(self.modules.get(node.target), RECURRENT):
            self._lstm_call(node, tagged)
            return
        if tagged:
            result = self._follow(node, self.values[tagged[0]])
            if result is not None:
                self.values[node] = result

    def _lstm_call(self, node: fx.Node, tagged: list[fx.Node]) -> None:
        """An nn.LSTM call reads ISS features through weight_ih_l0 (both directions); if it is an
        ISS LSTM itself, its result is tagged."""
        first = node.args[0] if node.args else node.kwargs.get("input")
        for arg in tagged:
            value = self.values[arg]
            if arg is first and isinstance(value, _Features):
                self._add_readers(value, node.target)
            elif isinstance(value, (_State, _StateTensor)) and value.lstm == node.target:
                pass  # the LSTM's own state fed back in: it shrinks with the LSTM
            else:
                raise _Stuck(node, value, "it is passed as an LSTM's initial state, which would tie two sizes")
        if node.target in self.lstms:
            packed = isinstance(first, fx.Node) and (
                first.target is pack_padded_sequence or _is_packed(self.values.get(first)))
            self.values[node] = _LSTMResult(node.target, packed, isinstance(self.lstms[node.target], nn.GRU))

    def _add_readers(self, features: _Features, consumer: str) -> None:
        column = 0
        for key in features.segments:
            self.readers.setdefault(key, []).append((consumer, column))
            column += self.lstms[key[0]].hidden_size

    def _follow(self, node: fx.Node, value) -> object | None:
        """What ``node`` computes from a tagged input; records readers; raises when it cannot tell."""
        first_is_tagged = bool(node.args) and node.args[0] in self.values
        if node.op == "output":
            if isinstance(value, (_State, _StateTensor)):
                return None  # returned state: the caller feeds it back, it shrinks with the LSTM
            raise _Stuck(node, value, "the features are returned by forward()")
        if node.op == "call_module":
            module = self.modules[node.target]
            if isinstance(module, nn.Linear) and isinstance(value, _Features) and first_is_tagged:
                self._add_readers(value, node.target)
                return None
            if isinstance(module, _UNIT_WISE_MODULES) and isinstance(value, _Features):
                return value
            if isinstance(module, _NORMALISATIONS):
                raise _Stuck(node, value, f"{NO_EXACT_SHRINK} ({type(module).__name__} over the units: its "
                                          f"statistics and its per-unit weights change when units are removed)")
            raise _Stuck(node, value, f"iss does not know how {type(module).__name__} treats the hidden units")
        if node.op == "call_function":
            target = node.target
            if target is operator.getitem:
                return self._getitem(node, value, node.args[1])
            if target in (torch.cat, torch.concat):
                return self._concatenate(node)
            if isinstance(value, _Features) and first_is_tagged:
                if target in _UNIT_WISE_FUNCTIONS:
                    return value
                if target in _REDUCTION_FUNCTIONS:
                    return _reduce(node, value, node.args[1:], node.kwargs)
                if target is pack_padded_sequence:
                    return _Features(value.segments, None)
                if target is pad_packed_sequence:
                    return _Padded(_Features(value.segments, 3))
        if node.op == "call_method" and isinstance(value, _Features) and first_is_tagged:
            if node.target in _UNIT_WISE_METHODS:
                return value
            if node.target in _REDUCTIONS:
                return _reduce(node, value, node.args[1:], node.kwargs)
        if (node.target in _ELEMENTWISE and isinstance(value, _Features)
                and any(isinstance(a, fx.Node) and a not in self.values for a in node.args)):
            raise _Stuck(node, value, f"{COUPLED} when the other operand has one entry per unit (a residual "
                                      f"connection, a per-unit scale: their sizes must stay equal)")
        raise _Stuck(node, value, "iss cannot tell how this treats the hidden units")

    def _getitem(self, node: fx.Node, value, index):
        if isinstance(value, _LSTMResult):
            if index == 0:
                return _Features(self._top_segments(value.lstm), None if value.packed else 3)
            if index == 1:
                return _StateTensor(value.lstm) if value.gru else _State(value.lstm)
        elif isinstance(value, _State) and index in (0, 1):
            return _StateTensor(value.lstm)
        elif isinstance(value, _Padded):
            return value.features if index == 0 else None
        elif isinstance(value, _StateTensor) and isinstance(_state_row_index(index), int):
            return _Features((self._state_row(value.lstm, _state_row_index(index)),), 2)
        elif isinstance(value, _Features):
            kept = _index_keeps_last_dim(index, value.ndim)
            if kept is not False:
                return _Features(value.segments, kept)
        raise _Stuck(node, value, f"the index {index!r} may select hidden units")

    def _concatenate(self, node: fx.Node):
        tensors = node.args[0]
        dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
        parts = [self.values.get(t) for t in tensors]
        tagged = next(p for p in parts if p is not None)
        if not all(isinstance(p, _Features) and p.ndim is not None for p in parts):
            raise _Stuck(node, tagged, "it is concatenated with features iss cannot size")
        ndim = parts[0].ndim
        if dim % ndim != ndim - 1 or any(p.ndim != ndim for p in parts):
            raise _Stuck(node, tagged, "the concatenation is not along the last dimension")
        return _Features(tuple(key for p in parts for key in p.segments), ndim)

    def _top_segments(self, name: str) -> tuple[FamilyKey, ...]:
        lstm = self.lstms[name]
        return tuple((name, lstm.num_layers - 1, d) for d in range(_directions(lstm)))

    def _state_row(self, name: str, row: int) -> FamilyKey:
        """h_n[row] is layer row // D, direction row % D (PyTorch's layout of h_n)."""
        lstm = self.lstms[name]
        layer, direction = divmod(row % (lstm.num_layers * _directions(lstm)), _directions(lstm))
        return name, layer, direction


def _state_row_index(index):
    """The row of h_n that ``h_n[index]`` takes whole: ``h[-2]``, ``h[-2, :, :]``, ``h[-2, ...]``."""
    if isinstance(index, tuple) and index and isinstance(index[0], int) and all(
            entry == slice(None) or entry is Ellipsis for entry in index[1:]):
        return index[0]
    return index


def _directions(lstm: nn.LSTM) -> int:
    return 2 if lstm.bidirectional else 1


def _index_keeps_last_dim(index, ndim: int | None) -> int | None | bool:
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


def _reduce(node: fx.Node, value: "_Features", args, kwargs):
    dim = kwargs.get("dim", args[0] if args else None)
    keepdim = kwargs.get("keepdim", args[1] if len(args) > 1 else False)
    if dim is None or value.ndim is None:
        raise _Stuck(node, value, "a reduction without a dimension (or of unknown shape) mixes the units")
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    if any(d % value.ndim == value.ndim - 1 for d in dims):
        raise _Stuck(node, value, "the reduction runs over the hidden units")
    return _Features(value.segments, value.ndim if keepdim else value.ndim - len(dims))
