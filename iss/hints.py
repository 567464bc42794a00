"""The calls that an ``iss.ISSError`` proposes, written with the user's real module names.

Every hint is a call that works on the model it is about: a ``consumers=`` declaration naming the
module the traced graph shows the output reaching, a ``coupled=`` declaration naming both ends of a
state hand-off, an ``lstms=`` list that leaves a module out of ISS, or the statement that unties
two tied parameters. Kept apart from the graph walk (``iss.consumers``) so that the walk says only
*where* it stopped and this file says *what to do*.
"""
from __future__ import annotations

from torch import fx, nn

# Why the reader search stopped (the start of its message), which decides the hint.
COUPLED = "its units are coupled to other features"
NO_EXACT_SHRINK = "no exact shrink exists"
INITIAL_STATE = "it is passed as an LSTM's initial state"
NOT_SELECTED = "its state is the initial state of a module left out of ISS"

# The recurrent modules iss describes: their output's last dimension is [fwd h | bwd h] of the top layer.
RECURRENT = (nn.LSTM, nn.GRU)


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


def stuck_hint(why: str, names, node: fx.Node, modules: dict[str, nn.Module], embeddings: dict[str, str],
               on_state: bool) -> str:
    """The call that works where the reader search stopped at ``node`` on the output of ``names``
    (``why``: its reason; ``on_state``: the value was a recurrent state; ``embeddings``: tied
    nn.Embedding -> the parameter tied to its weight)."""
    tied = [name for name in names if name in embeddings]
    if tied:
        alias = embeddings[tied[0]]
        return (f"{tied[0]!r} is tied to {alias!r}, and iss follows a tied embedding's output only into "
                f"nn.Linear / nn.LSTM / nn.GRU modules; untie them to use ISS: "
                f"{untie_hint(alias, param_name(tied[0], 'weight'))}")
    if why.startswith(NOT_SELECTED):
        return not_selected_hint(names, node.target, modules)
    if why.startswith((NO_EXACT_SHRINK, INITIAL_STATE)):
        return left_out_hint(names, modules)
    if on_state:
        return coupling_hint(names, downstream_reader(node, modules, names, RECURRENT), modules)
    reader = downstream_reader(node, modules, names)
    if why.startswith(COUPLED):
        return (f"{left_out_hint(names, modules)}; if the other operand broadcasts over the units (a mask of "
                f"shape [..., 1]), {declaration_hint(names, modules, reader)}")
    return declaration_hint(names, modules, reader)


def downstream_reader(node: fx.Node, modules: dict[str, nn.Module], names,
                       kinds: tuple = (nn.Linear, *RECURRENT)) -> str | None:
    """The first call of a module of ``kinds`` that ``node``'s value flows into (breadth first)."""
    queue, seen = [node], set()
    while queue:
        current = queue.pop(0)
        if current in seen:
            continue
        seen.add(current)
        module = modules.get(current.target) if current.op == "call_module" else None
        if isinstance(module, kinds) and current.target not in names:
            return current.target
        queue.extend(current.users)
    return None


def keep_the_others(modules: dict[str, nn.Module], excluded) -> str:
    """The call that runs ISS on every LSTM/GRU except ``excluded``, or why there is none."""
    rest = [n for n, m in modules.items() if isinstance(m, RECURRENT) and n not in excluded]
    return f"iss.components(model, lstms={rest!r})" if rest else "this model has no other LSTM or GRU to shrink"


def left_out_hint(names, modules: dict[str, nn.Module]) -> str:
    """What to do when a module's units cannot be removed exactly: leave it out of ISS."""
    keep = keep_the_others(modules, names)
    return (f"iss cannot shrink {', '.join(map(repr, names))} exactly: leave it out of ISS ({keep}), or change "
            f"the model so that only nn.Linear / nn.LSTM / nn.GRU modules read its units")


def not_selected_hint(names, other: str, modules: dict[str, nn.Module]) -> str:
    """A state handed to a recurrent module that ISS was told to leave alone: both or neither."""
    both = [n for n, m in modules.items() if isinstance(m, RECURRENT) and (n in names or n == other)]
    return (f"the units of {', '.join(map(repr, names))} and {other!r} are coupled (one ISS component per unit "
            f"pair): run ISS on both (iss.components(model, lstms={both!r}) or more), or leave both out "
            f"({keep_the_others(modules, (*names, other))})")


def coupling_hint(names, other: str | None, modules: dict[str, nn.Module]) -> str:
    """A recurrent state that reaches ``other`` through code iss cannot follow: declare the coupling."""
    if other is None:
        return left_out_hint(names, modules)
    declared = ", ".join(f"{name!r}: None" for name in names)
    pairs = ", ".join(f"({name!r}, {other!r})" for name in names)
    return (f"if it becomes the initial state of {other!r} unchanged, declare the coupling: iss.components(model, "
            f"consumers={{{declared}}}, coupled=[{pairs}]) (consumers: what reads the output, None when "
            f"only the state is used); otherwise {left_out_hint(names, modules)}")


def untie_hint(alias: str, tied: str) -> str:
    """The statement that unties ``alias`` from ``tied`` (runs with ``model`` and ``torch`` in scope)."""
    return f"model.{alias} = torch.nn.Parameter(model.{tied}.detach().clone())"


def untie_all(embeddings: dict[str, str]) -> str:
    """The statements that untie every tied embedding (ISS then needs no trace for them)."""
    return "untie the tied embeddings to use ISS: " + "; ".join(
        untie_hint(alias, param_name(name, "weight")) for name, alias in embeddings.items())


def param_name(module: str, attribute: str) -> str:
    return f"{module}.{attribute}" if module else attribute
