"""ISS components of standard ``nn.LSTM`` modules, and the rebuild of a model with smaller ones.

One family per (LSTM module, layer, direction), named like PyTorch's parameters:
``"encoder.l0"``, ``"encoder.l0_reverse"``, ``"encoder.l1"``... Component k of layer l, direction d
(h = hidden_size, D = 2 if bidirectional else 1, PyTorch gate order i, f, g, o):

    weight_ih_l{l}{sfx}  [4h, n_in]  rows b*h + k, b = 0..3   (its four gates)
    weight_hh_l{l}{sfx}  [4h, h]     rows b*h + k              (its four gates)
                                     column k                  (h_{t-1}[k] re-entering)
    next layer l+1, every direction: weight_ih_l{l+1}{sfx'} [4h, D*h], column d*h + k
    top layer: each reader's input column offset + d*h + k    (nn.Linear.weight [out, in] or an
                                                               nn.LSTM's weight_ih_l0 [4h', in])
    followers (cut, not penalised): bias_ih / bias_hh rows b*h + k

One ``nn.LSTM`` has a single hidden size for all its layers and directions. When ISS leaves them
different numbers of units, the compact module keeps the largest number everywhere: the extra
units are dead ones kept (all their weights are zero, so the outputs are unchanged). Give each
layer its own single-layer ``nn.LSTM`` (as ``iss_harness.models.lstm_lm`` does) to shrink layers
independently.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from iss.groups import Family, Slice, shrunk_state_dict
from iss.consumers import Consumer, FamilyKey, Reader
from iss.errors import NotSupported

GATES = 4  # PyTorch gate order in nn.LSTM weight rows: i, f, g, o
GRU_GATES = 3  # PyTorch gate order in nn.GRU weight rows: r, z, n


def gates_of(module: nn.Module) -> int:
    """Gate blocks in the weight rows of an nn.LSTM (4) or nn.GRU (3)."""
    return GRU_GATES if isinstance(module, nn.GRU) else GATES


def check_supported(name: str, module: nn.Module) -> None:
    if isinstance(module, nn.LSTM) and module.proj_size > 0:
        raise NotSupported(f"nn.LSTM {name!r} has proj_size={module.proj_size}: ISS of projected LSTMs is not "
                           f"supported (the projection would be a second family per layer)")
    if isinstance(module, nn.RNN):
        raise NotSupported(f"nn.RNN {name!r}: only nn.LSTM and nn.GRU are supported; describe other "
                           f"recurrent modules with a model method iss_families() (see iss.groups)")


def lstm_unit_family(name: str, lstm: str, hidden: int, readers: tuple[Slice, ...] | list[Slice],
                     layer: int = 0, direction: int = 0, bias: bool = True,
                     followers: tuple[Slice, ...] = (), gates: int = GATES) -> Family:
    """The ISS family of one layer and direction of the ``nn.LSTM`` (or, with ``gates=3``, the
    ``nn.GRU``) at module path ``lstm``: the one place that knows which of its weights belong to unit k.

    Unit k owns rows b*hidden + k, b = 0..gates-1, of ``weight_ih_l{layer}`` [gates*h, n_in] and
    ``weight_hh_l{layer}`` [gates*h, h] (gate order i, f, g, o for an LSTM; r, z, n for a GRU), and
    column k of ``weight_hh_l{layer}``; ``readers`` are the column slices of whatever reads the
    layer's output. Gate biases (when ``bias``) and ``followers`` go with the unit when it is removed
    but are not penalised."""
    own = f"l{layer}{_suffix(direction)}"
    gate_rows = dict(dim=0, blocks=gates, block_stride=hidden)
    parts = [Slice(_param(lstm, f"weight_ih_{own}"), **gate_rows),
             Slice(_param(lstm, f"weight_hh_{own}"), **gate_rows),
             Slice(_param(lstm, f"weight_hh_{own}"), dim=1), *readers]
    biases = ((Slice(_param(lstm, f"bias_ih_{own}"), **gate_rows),
               Slice(_param(lstm, f"bias_hh_{own}"), **gate_rows)) if bias else ())
    return Family(name, hidden, tuple(_unique(parts)), (*biases, *followers))


def family_name(lstm: str, layer: int, direction: int) -> str:
    prefix = f"{lstm}." if lstm else ""
    return f"{prefix}l{layer}{'_reverse' if direction else ''}"


def _param(module_name: str, attribute: str) -> str:
    return f"{module_name}.{attribute}" if module_name else attribute


def _suffix(direction: int) -> str:
    return "_reverse" if direction else ""


def input_columns(modules: dict[str, nn.Module], reader: str, start: int) -> list[Slice]:
    """The column slices of ``reader``'s input weights that start at column ``start``."""
    module = modules[reader]
    if isinstance(module, nn.Linear):
        return [Slice(_param(reader, "weight"), dim=1, start=start)]
    if isinstance(module, (nn.LSTM, nn.GRU)):
        return [Slice(_param(reader, f"weight_ih_l0{_suffix(d)}"), dim=1, start=start)
                for d in range(2 if module.bidirectional else 1)]
    raise TypeError(f"{reader!r} reads an ISS LSTM's output but is a {type(module).__name__}; "
                    f"iss shrinks only nn.Linear, nn.LSTM and nn.GRU readers")


def lstm_families(modules: dict[str, nn.Module], name: str, readers: dict[FamilyKey, list[Reader]]) -> list[Family]:
    """Families of the nn.LSTM ``name``; ``readers[(name, top layer, d)]`` lists who reads its output."""
    lstm = modules[name]
    check_supported(name, lstm)
    h, layers, directions = lstm.hidden_size, lstm.num_layers, 2 if lstm.bidirectional else 1
    families = []
    for layer in range(layers):
        for d in range(directions):
            # The next layer reads [fwd h | bwd h] in every direction; other readers read the top
            # layer's output, or any layer's final state (h_n[layer * D + d]).
            reads = [Slice(_param(name, f"weight_ih_l{layer + 1}{_suffix(e)}"), dim=1, start=d * h)
                     for e in range(directions)] if layer + 1 < layers else []
            reads += [part for reader, start in readers.get((name, layer, d), [])
                      for part in input_columns(modules, reader, start)]
            families.append(lstm_unit_family(family_name(name, layer, d), name, h, reads, layer, d, lstm.bias,
                                             gates=gates_of(lstm)))
    return families


def _unique(parts: list[Slice]) -> list[Slice]:
    return list(dict.fromkeys(parts))  # a module called twice reads the same columns twice


def declared_readers(lstm_name: str, lstm: nn.LSTM, declared) -> dict[FamilyKey, list[Reader]]:
    """``consumers[name]`` as readers: None or [] (the output leaves the model), a module name, a
    :class:`Consumer`, or a list of them. A declared reader reads [fwd h | bwd h] from its offset."""
    if declared is None:
        declared = []
    if isinstance(declared, (str, Consumer)):
        declared = [declared]
    consumers = [Consumer(c) if isinstance(c, str) else c for c in declared]
    if not all(isinstance(c, Consumer) for c in consumers):
        raise TypeError(f"consumers[{lstm_name!r}] must be a module name, iss.Consumer, a list of them or None; "
                        f"got {declared!r}")
    top = lstm.num_layers - 1
    return {(lstm_name, top, d): [(c.module, c.offset + d * lstm.hidden_size) for c in consumers]
            for d in range(2 if lstm.bidirectional else 1)}


def pad_to_one_size(modules: dict[str, nn.Module], families: list[Family],
                    removed: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keep dead units so that every layer and direction of one nn.LSTM keeps the same number
    (the largest): a single nn.LSTM has one hidden size. A coupled family (``iss.coupling``) spans
    several modules, so a unit kept for one is kept in all of them: repeated until no module needs
    more (survivors only grow, so it ends). Returns the adjusted removal masks."""
    touching: dict[str, list[Family]] = {}
    for family in families:
        for lstm in _owners(family, modules):
            touching.setdefault(lstm, []).append(family)
    adjusted = dict(removed)
    changed = True
    while changed:
        changed = False
        for group in touching.values():
            keep = max(int((~adjusted[f.name]).sum()) for f in group)
            for family in group:
                dead = adjusted[family.name]
                missing = keep - int((~dead).sum())
                if missing > 0:  # keep the first `missing` dead units (all their weights are zero: exact)
                    dead = dead.clone()
                    dead[dead.nonzero().flatten()[:missing]] = False
                    adjusted[family.name], changed = dead, True
    return adjusted


def _owners(family: Family, modules: dict[str, nn.Module]) -> list[str]:
    """The nn.LSTM / nn.GRU modules whose units a family is: those whose gate rows it owns
    ("a.b.weight_ih_l0", dim 0 -> "a.b"); readers' columns (dim 1) do not count."""
    owners = []
    for part in family.parts:
        module, _, attribute = part.param.rpartition(".")
        if part.dim == 0 and attribute.startswith("weight_ih_l") and isinstance(modules.get(module), (nn.LSTM, nn.GRU)):
            owners.append(module)
    return list(dict.fromkeys(owners))


def rebuilt(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """A copy of ``model`` in which every nn.LSTM and nn.Linear whose weights changed shape is
    replaced by one of the new shape, loaded with ``state``; everything else is unchanged."""
    if isinstance(model, (nn.LSTM, nn.GRU)):  # a bare recurrent module (its output leaves the "model")
        compact = _resized_module("", model, state)
        compact.load_state_dict(state)
        return compact.train(model.training)
    compact = copy.deepcopy(model)
    for name, module in list(compact.named_modules()):
        params = {n: p for n, p in module.named_parameters(recurse=False)}
        if not any(state[_param(name, n)].shape != p.shape for n, p in params.items()):
            continue
        replacement = _resized_module(name, module, state)
        for n, p in replacement.named_parameters(recurse=False):
            p.requires_grad_(params[n].requires_grad)
        _set_submodule(compact, name, replacement)
    compact.load_state_dict(state)
    _retie(model, compact)
    for module in compact.modules():
        if isinstance(module, (nn.LSTM, nn.GRU)):
            module.flatten_parameters()
    return compact


def _retie(model: nn.Module, compact: nn.Module) -> None:
    """Parameters that are one tensor in ``model`` (``decoder.weight = encoder.weight``) are one
    tensor in ``compact`` too: a rebuilt module gets a parameter of its own, which would untie them."""
    names_of: dict[int, list[str]] = {}
    for name, parameter in model.named_parameters(remove_duplicate=False):
        names_of.setdefault(id(parameter), []).append(name)
    for first, *aliases in names_of.values():
        for alias in aliases:
            module, _, attribute = alias.rpartition(".")
            setattr(compact.get_submodule(module) if module else compact, attribute, compact.get_parameter(first))


def _resized_module(name: str, module: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    factory = dict(device=next(module.parameters()).device, dtype=next(module.parameters()).dtype)
    if isinstance(module, (nn.LSTM, nn.GRU)):
        w_ih, w_hh = state[_param(name, "weight_ih_l0")], state[_param(name, "weight_hh_l0")]
        if w_hh.shape[1] == 0:
            raise NotSupported(f"shrink: every unit of {type(module).__name__} {name!r} was removed, and a "
                               f"recurrent module with no units cannot be built; lower lambda or the threshold")
        return type(module)(w_ih.shape[1], w_hh.shape[1], num_layers=module.num_layers, bias=module.bias,
                            batch_first=module.batch_first, dropout=module.dropout,
                            bidirectional=module.bidirectional, **factory)
    if isinstance(module, nn.Linear):
        weight = state[_param(name, "weight")]
        return nn.Linear(weight.shape[1], weight.shape[0], bias=module.bias is not None, **factory)
    if isinstance(module, nn.Embedding):  # an embedding tied to a reader of coupled units
        weight = state[_param(name, "weight")]
        return nn.Embedding(weight.shape[0], weight.shape[1], padding_idx=module.padding_idx,
                            scale_grad_by_freq=module.scale_grad_by_freq, sparse=module.sparse, **factory)
    raise TypeError(f"shrink: the weights of {name!r} ({type(module).__name__}) change shape, but iss rebuilds "
                    f"only nn.LSTM, nn.GRU, nn.Linear and nn.Embedding modules")


def _set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, child, module)


def shrink_modules(model: nn.Module, families: list[Family], removed: dict[str, torch.Tensor]) -> nn.Module:
    """The compact copy of a model built from standard modules (no ``resized()`` of its own)."""
    if not families:
        return copy.deepcopy(model)
    modules = dict(model.named_modules())
    removed = pad_to_one_size(modules, families, removed)
    return rebuilt(model, shrunk_state_dict(model, families, removed))
