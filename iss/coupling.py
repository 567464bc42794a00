"""Coupled units: one ISS component spanning several modules.

Units whose sizes must stay equal across modules are one component: unit k of every coupled family
is penalised as one group (one norm over all its weights in all modules), counts as removed only
when all of them are zero, and is removed from every module by shrink. Three kinds:

- a state handed over: ``dec(y, enc(x)[1])`` makes row r of the encoder's h_n [num_layers * D, B, h]
  the decoder's initial row r, so unit k of enc layer r // D, direction r % D is unit k of the
  decoder's same layer and direction (found by ``iss.consumers``, or declared: ``coupled=[("enc",
  "dec")]``);
- a residual stream: ``out = lstm2(out1)[0] + out1`` makes unit k of lstm1's top layer unit k of
  lstm2's top layer, and of whatever reads the sum (found by tracing, or ``coupled=[("lstm1.l0",
  "lstm2.l0")]``);
- an embedding tied to the output layer: ``decoder.weight = encoder.weight`` with ``decoder``
  reading an LSTM's top layer makes embedding dimension k (column k of ``encoder.weight``
  [vocab, dim], and the input column k of every module that reads the embedding) part of unit k.

The coupled families are merged into one :class:`iss.Family` whose parts are all the members'
parts, so the penalty, the count, the mask and the shrink need nothing else. A tensor that two
members name under two names (tied parameters) is penalised once: its slice under the second name
becomes a follower (cut by shrink, not penalised).
"""
from __future__ import annotations

from torch import nn

from iss.errors import InvalidDescription, NotSupported
from iss.groups import Family, Slice
from iss.hints import RECURRENT, param_name, untie_hint
from iss.lstm_families import input_columns


def tied_embeddings(modules: dict[str, nn.Module]) -> dict[str, str]:
    """{nn.Embedding name: the nn.Linear weight tied to its weight} (pytorch/examples' word model
    with ``tie_weights``): the Linear's input columns are the embedding's dimensions."""
    linears = {id(m.weight): name for name, m in modules.items() if isinstance(m, nn.Linear)}
    return {name: param_name(linears[id(m.weight)], "weight") for name, m in modules.items()
            if isinstance(m, nn.Embedding) and id(m.weight) in linears}


def embedding_families(modules: dict[str, nn.Module], embeddings: dict[str, str], readers,
                       families: list[Family]) -> tuple[list[Family], list[tuple[str, str]]]:
    """For every tied embedding whose Linear reads a family's units at columns s .. s + size - 1:
    a family of those embedding dimensions (column s + k of its weight, and column s + k of every
    module that reads the embedding, from ``readers[(name, 0, 0)]``) and the coupling of the two."""
    found, couplings = [], []
    for name, alias in embeddings.items():
        for family in families:
            for part in family.parts:
                if part.param != alias or part.dim != 1:
                    continue
                _check_exact_lookup(name, alias, modules[name])
                reads = [column for reader, start in readers.get((name, 0, 0), [])
                         for column in input_columns(modules, reader, start + part.start)]
                segment = f"{name}[{part.start}:{part.start + family.size}]"
                found.append(Family(segment, family.size, (Slice(param_name(name, "weight"), dim=1, start=part.start),
                                                           *reads)))
                couplings.append((family.name, segment))
    return found, couplings


def _check_exact_lookup(name: str, alias: str, embedding: nn.Embedding) -> None:
    if embedding.max_norm is not None:  # rows renormalised over all their dimensions: removing one changes the rest
        raise NotSupported(f"nn.Embedding {name!r} has max_norm={embedding.max_norm}: its rows are renormalised "
                           f"over all their dimensions, so removing one is not exact; untie it from {alias!r} "
                           f"to use ISS: {untie_hint(alias, param_name(name, 'weight'))}")


def declared_couplings(coupled, families: list[Family], modules: dict[str, nn.Module]) -> list[tuple[str, str]]:
    """``coupled=[("enc", "dec"), ("lstm1.l0", "lstm2.l0")]`` as pairs of family names. A family name
    stands for that family; the name of an nn.LSTM / nn.GRU for all its families in h_n's row order
    (layer, then direction), so that ``("enc", "dec")`` is the state hand-off."""
    names = [family.name for family in families]
    pairs = []
    for entry in coupled or ():
        if isinstance(entry, str) or len(entry) < 2:
            raise InvalidDescription(f"coupled: each entry is a tuple of two or more names, got {entry!r}")
        rows = [_members(name, names, modules) for name in entry]
        if len({len(r) for r in rows}) != 1:
            raise InvalidDescription(f"coupled: {entry!r} names {[len(r) for r in rows]} families each; coupled "
                                     f"modules pair their families one to one (the same layers and directions)")
        pairs += [pair for other in rows[1:] for pair in zip(rows[0], other)]
    return pairs


def _members(name: str, names: list[str], modules: dict[str, nn.Module]) -> list[str]:
    if name in names:
        return [name]
    members = [n for n in names if "+" not in n and n.rpartition(".")[0] == name]
    if isinstance(modules.get(name), RECURRENT) and members:
        return members
    raise InvalidDescription(f"coupled names {name!r}, which is neither an ISS family ({', '.join(names)}) nor an "
                             f"nn.LSTM / nn.GRU that has ISS families")


def coupled_families(families: list[Family], couplings, params: dict) -> list[Family]:
    """``families`` with every set of coupled families (the pairs of names in ``couplings``, joined
    transitively) merged into one named "a+b", at the place of its first member."""
    parent = {family.name: family.name for family in families}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for a, b in couplings:
        parent[root(b)] = root(a)
    groups: dict[str, list[Family]] = {}
    for family in families:
        groups.setdefault(root(family.name), []).append(family)
    merged = []
    for family in families:
        group = groups.pop(root(family.name), None)
        if group is not None:
            merged.append(group[0] if len(group) == 1 else _merge(group, params))
    return merged


def _merge(group: list[Family], params: dict) -> Family:
    """One family whose unit k is unit k of every member; a slice of a tensor that an earlier part
    names under another name (tied parameters) becomes a follower, so it is penalised once."""
    if len({family.size for family in group}) != 1:
        raise InvalidDescription(f"coupled families {[f.name for f in group]} have sizes "
                                 f"{[f.size for f in group]}: unit k of each must be one unit")
    parts: list[Slice] = []
    followers: list[Slice] = []
    seen: dict[tuple, Slice] = {}
    for family in group:
        for part in family.parts:
            tensor = params.get(part.param)
            key = (id(tensor), part.dim, part.start, part.blocks, part.block_stride) if tensor is not None else part
            if key not in seen:
                seen[key] = part
                parts.append(part)
            elif seen[key] != part:  # the same weights under another name: cut under both names
                followers.append(part)
        followers.extend(family.followers)
    return Family("+".join(f.name for f in group), group[0].size, tuple(parts), tuple(dict.fromkeys(followers)))

