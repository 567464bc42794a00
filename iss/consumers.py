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

Coupled units (a state handed to another LSTM/GRU as its initial state, an element-wise ``+``, ``-``
or ``*`` of two traced outputs of one layout, an embedding tied to a reading ``nn.Linear``) are
recorded as pairs of families, which ``iss.coupling`` merges into one component per unit pair.
Modules whose readers are declared are traced too, for their couplings and further readers.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
from torch import fx, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from iss.errors import ConsumerNotFound
from iss.hints import (COUPLED, INITIAL_STATE, NO_EXACT_SHRINK, NOT_SELECTED, RECURRENT, declaration_hint, stuck_hint,
                       untie_all)
from iss.tracing import trace, weighted_ancestor
from iss.unit_ops import (COUPLING, ELEMENTWISE, NORMALISATIONS, REDUCTION_FUNCTIONS, REDUCTIONS, UNIT_WISE_FUNCTIONS,
                          UNIT_WISE_METHODS, UNIT_WISE_MODULES, index_keeps_last_dim, state_row_index)


@dataclass(frozen=True)
class Consumer:
    """``module`` (the qualified name of an ``nn.Linear`` or ``nn.LSTM``) reads an LSTM's top-layer
    output [fwd h | bwd h] in its input columns ``offset .. offset + D*h - 1``."""

    module: str
    offset: int = 0


# (lstm name, layer, direction): one ISS family of an nn.LSTM; (embedding name, 0, 0) for a tied embedding.
FamilyKey = tuple[str, int, int]
# where a family's units are read: (consumer module name, first input column)
Reader = tuple[str, int]


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
    ndim: int | None    # None: unknown (packed data, advanced indexing, an embedding of any input)
    packed: bool = False  # a PackedSequence's data: an LSTM reading it returns packed features too


@dataclass(frozen=True)
class _Padded:          # pad_packed_sequence(...) -> (features, lengths)
    features: _Features




@dataclass(frozen=True)
class Traced:
    """What tracing found: who reads each family's units, and which families' units are coupled
    (pairs of keys whose unit k is one ISS component)."""

    readers: dict[FamilyKey, list[Reader]]
    couplings: tuple[tuple[FamilyKey, FamilyKey], ...]


def trace_readers(model: nn.Module, lstms: dict[str, nn.Module], embeddings: dict[str, str] | None = None,
                  declared: set[str] = frozenset()) -> Traced:
    """For each top-layer family of the given LSTMs/GRUs (name -> module): the (module name, first
    input column) pairs that read its units, and the couplings between families (a state handed
    from one to another, a residual sum), found by tracing ``model.forward``. ``embeddings``: tied
    nn.Embedding name -> the parameter tied to its weight; their outputs are followed too (key
    (name, 0, 0), width embedding_dim). ``declared``: the modules whose readers the user declared:
    where the walk stops on their output alone it moves on (and a model that does not trace at all
    needs no trace when every module is declared), except where no exact shrink exists."""
    undeclared = [name for name in lstms if name not in declared] or ([] if lstms else list(embeddings or {}))
    try:
        graph = trace(model)
    except Exception as error:  # noqa: BLE001 - any tracing failure gets the same advice
        if not undeclared and not embeddings:
            return Traced({}, ())
        first_line = str(error).splitlines()[0] if str(error) else ""
        raise ConsumerNotFound(
            f"could not trace {type(model).__name__}.forward to find what reads the output of "
            f"{', '.join(map(repr, undeclared or list(embeddings)))} ({type(error).__name__}: {first_line}); "
            f"{declaration_hint(undeclared, dict(model.named_modules())) if undeclared else untie_all(embeddings)}"
        ) from None
    search = _ReaderSearch(dict(model.named_modules()), lstms, embeddings or {}, set(declared))
    for node in graph.nodes:
        search.visit(node)
    return Traced(search.readers, tuple(search.couplings))


def _is_packed(value) -> bool:
    return isinstance(value, _Features) and value.packed


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
        self.node, self.value, self.names, self.why = node, value, _lstms_in(value), why


class _ReaderSearch:
    """Walks the traced graph in order, tagging every value derived from an ISS LSTM's output."""

    def __init__(self, modules: dict[str, nn.Module], lstms: dict[str, nn.Module], embeddings: dict[str, str],
                 declared: set[str]):
        self.modules = modules
        self.lstms = self.selected = lstms  # every module ISS describes: a state handed to one of them is coupled
        self.declared = declared  # modules whose readers are declared: the walk moves on where it stops on them
        self.embeddings = embeddings  # tied nn.Embedding -> the parameter tied to its weight
        self.values: dict[fx.Node, object] = {}
        self.readers: dict[FamilyKey, list[Reader]] = {}
        self.couplings: list[tuple[FamilyKey, FamilyKey]] = []

    def visit(self, node: fx.Node) -> None:
        try:
            self._visit(node)
        except _Stuck as stuck:
            if self._excused(stuck):
                return
            stuck.names = self._coupled_with(stuck.names)  # leaving one out of ISS leaves all out
            where = f"the output of {', '.join(map(repr, stuck.names))} reaches {_where(stuck.node)}: {stuck.why}"
            raise ConsumerNotFound(f"{where}; {self._hint(stuck)}") from None

    def _excused(self, stuck: _Stuck) -> bool:
        """The walk stopped on the output of declared modules only, where a declaration can be exact."""
        return bool(stuck.names) and set(stuck.names) <= self.declared and not stuck.why.startswith(NO_EXACT_SHRINK)

    def _coupled_with(self, names: list[str]) -> list[str]:
        """``names`` and every module coupled to them so far, in the model's order."""
        found, grown = set(names), True
        while grown:
            pairs = [(a[0], b[0]) for a, b in self.couplings]
            more = {b for a, b in pairs if a in found} | {a for a, b in pairs if b in found}
            grown = not more <= found
            found |= more
        return [name for name in self.modules if name in found]

    def _hint(self, stuck: _Stuck) -> str:
        """The call that works instead, with this model's module names (``iss.hints``)."""
        return stuck_hint(stuck.why, stuck.names, stuck.node, self.modules, self.embeddings,
                          isinstance(stuck.value, (_State, _StateTensor)))

    def _visit(self, node: fx.Node) -> None:
        tagged = [a for a in _node_args(node) if a in self.values]
        if node.op == "call_module" and isinstance(self.modules.get(node.target), RECURRENT):
            self._lstm_call(node, tagged)
            return
        if node.op == "call_module" and node.target in self.embeddings:
            self.values[node] = _Features(((node.target, 0, 0),), None)  # [..., embedding_dim]
            return
        if node.op == "output":  # every returned value, not only the first
            for arg in tagged:
                try:
                    self._follow(node, self.values[arg])
                except _Stuck as stuck:
                    if not self._excused(stuck):
                        raise
            return
        if tagged:
            result = self._follow(node, self.values[tagged[0]])
            if result is not None:
                self.values[node] = result

    def _lstm_call(self, node: fx.Node, tagged: list[fx.Node]) -> None:
        """An nn.LSTM call reads ISS features through weight_ih_l0 (both directions); if it is an
        ISS LSTM itself, its result is tagged."""
        first = node.args[0] if node.args else node.kwargs.get("input")
        if node.target in self.lstms:
            packed = isinstance(first, fx.Node) and (
                first.target is pack_padded_sequence or _is_packed(self.values.get(first)))
            self.values[node] = _LSTMResult(node.target, packed, isinstance(self.lstms[node.target], nn.GRU))
            self._check_initial_state(node)
        for arg in tagged:
            value = self.values[arg]
            if arg is first and isinstance(value, _Features):
                self._add_readers(value, node.target)
            elif isinstance(value, (_State, _StateTensor)) and value.lstm == node.target:
                pass  # the LSTM's own state fed back in: it shrinks with the LSTM
            elif isinstance(value, (_State, _StateTensor)) and node.target in self.selected:
                self._hand_over(node, value.lstm, node.target)
            elif isinstance(value, (_State, _StateTensor)):
                raise _Stuck(node, value, f"{NOT_SELECTED} ({node.target!r}), which would tie two sizes")
            else:
                raise _Stuck(node, value, f"{INITIAL_STATE}, and iss can couple a state only to the module it "
                                          f"is handed to whole (h_n, c_n or (h_n, c_n), unchanged)")

    def _check_initial_state(self, node: fx.Node) -> None:
        """An initial state computed by a module with weights (a Linear bridge, a learned h0) has that
        module's width, which shrink does not change: the receiving module cannot lose units."""
        state = node.args[1] if len(node.args) > 1 else node.kwargs.get("hx")
        source = weighted_ancestor(state, self.modules, self.lstms)  # None for a state of an ISS module
        if source is not None:
            raise _Stuck(node, _StateTensor(node.target), f"{NO_EXACT_SHRINK} for it: its initial state is "
                                                          f"computed by {source!r}, whose width iss does not shrink")

    def _hand_over(self, node: fx.Node, source: str, target: str) -> None:
        """``source``'s final state is ``target``'s initial state: row r of h_n [num_layers * D, B, h]
        (layer r // D, direction r % D) is row r of the other's, so unit k of the two is one unit."""
        rows = [self.selected[n].num_layers * _directions(self.selected[n]) for n in (source, target)]
        if rows[0] != rows[1] or self.selected[source].hidden_size != self.selected[target].hidden_size:
            raise _Stuck(node, _StateTensor(source), f"{INITIAL_STATE} of another shape ({rows[0]} rows of "
                                                     f"{self.selected[source].hidden_size} units)")
        self.couplings += [(self._state_row(source, r), self._state_row(target, r)) for r in range(rows[0])]

    def _width(self, name: str) -> int:
        module = self.modules[name]
        return module.embedding_dim if isinstance(module, nn.Embedding) else module.hidden_size

    def _add_readers(self, features: _Features, consumer: str) -> None:
        column = 0
        for key in features.segments:
            self.readers.setdefault(key, []).append((consumer, column))
            column += self._width(key[0])

    def _combine(self, node: fx.Node):
        """``a + b``, ``a - b``, ``a * b`` of a traced value with a number (unit-wise) or with other
        traced values of the same layout (coupled); None when an operand is an untraced tensor."""
        operands = [*node.args[:2], *([node.kwargs["other"]] if "other" in node.kwargs else [])]
        traced = [self.values[a] for a in operands if isinstance(a, fx.Node) and a in self.values]
        others = [a for a in operands if not (isinstance(a, fx.Node) and a in self.values)]
        if not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in others):
            return None
        first = traced[0]
        if not isinstance(first, _Features):
            return None
        layout = [self._width(key[0]) for key in first.segments]
        for other in traced[1:]:
            if not isinstance(other, _Features) or [self._width(key[0]) for key in other.segments] != layout:
                raise _Stuck(node, first, f"{COUPLED} of another layout (iss couples two outputs unit by unit "
                                          f"only when their layers and directions line up)")
            for mine, theirs in zip(first.segments, other.segments):
                if mine[0] not in self.selected or theirs[0] not in self.selected:
                    raise _Stuck(node, first, f"{COUPLED} (an embedding's features combined element-wise)")
                if mine != theirs:
                    self.couplings.append((mine, theirs))
        ndims = [value.ndim for value in traced]
        return _Features(first.segments, None if None in ndims else max(ndims), any(v.packed for v in traced))

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
            if isinstance(module, UNIT_WISE_MODULES) and isinstance(value, _Features):
                return value
            if isinstance(module, NORMALISATIONS):
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
                if target in UNIT_WISE_FUNCTIONS:
                    return value
                if target in REDUCTION_FUNCTIONS:
                    return _reduce(node, value, node.args[1:], node.kwargs)
                if target is pack_padded_sequence:
                    return _Features(value.segments, None, packed=True)
                if target is pad_packed_sequence:
                    return _Padded(_Features(value.segments, 3))
        if node.op == "call_method" and isinstance(value, _Features) and first_is_tagged:
            if node.target in UNIT_WISE_METHODS:
                return value
            if node.target in REDUCTIONS:
                return _reduce(node, value, node.args[1:], node.kwargs)
        if node.target in COUPLING and isinstance(value, _Features):
            combined = self._combine(node)
            if combined is not None:
                return combined
        if (node.target in ELEMENTWISE and isinstance(value, _Features)
                and any(isinstance(a, fx.Node) and a not in self.values for a in node.args)):
            raise _Stuck(node, value, f"{COUPLED} when the other operand has one entry per unit (a residual "
                                      f"connection, a per-unit scale: their sizes must stay equal)")
        raise _Stuck(node, value, "iss cannot tell how this treats the hidden units")

    def _getitem(self, node: fx.Node, value, index):
        if isinstance(value, _LSTMResult):
            if index == 0:
                return _Features(self._top_segments(value.lstm), None, packed=True) if value.packed else \
                    _Features(self._top_segments(value.lstm), 3)
            if index == 1:
                return _StateTensor(value.lstm) if value.gru else _State(value.lstm)
        elif isinstance(value, _State) and index in (0, 1):
            return _StateTensor(value.lstm)
        elif isinstance(value, _Padded):
            return value.features if index == 0 else None
        elif isinstance(value, _StateTensor) and isinstance(state_row_index(index), int):
            return _Features((self._state_row(value.lstm, state_row_index(index)),), 2)
        elif isinstance(value, _Features):
            kept = index_keeps_last_dim(index, value.ndim)
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
        lstm = self.selected[name]
        layer, direction = divmod(row % (lstm.num_layers * _directions(lstm)), _directions(lstm))
        return name, layer, direction


def _directions(lstm: nn.LSTM) -> int:
    return 2 if lstm.bidirectional else 1


def _reduce(node: fx.Node, value: "_Features", args, kwargs):
    dim = kwargs.get("dim", args[0] if args else None)
    keepdim = kwargs.get("keepdim", args[1] if len(args) > 1 else False)
    if dim is None or value.ndim is None:
        raise _Stuck(node, value, "a reduction without a dimension (or of unknown shape) mixes the units")
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    if any(d % value.ndim == value.ndim - 1 for d in dims):
        raise _Stuck(node, value, "the reduction runs over the hidden units")
    return _Features(value.segments, value.ndim if keepdim else value.ndim - len(dims))
