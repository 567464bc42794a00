"""``model.forward`` as a torch.fx graph, for the reader search of ``iss.consumers``.

The packing helpers of ``torch.nn.utils.rnn`` do not trace (they check lengths in Python), so they
are kept as single calls, whether the model imports them by name or writes their module path.
Arguments of ``forward`` that default to None are traced as None, so that ``if state is None:``
takes the usual branch.
"""
from __future__ import annotations

import contextlib
import functools
import inspect

from torch import fx, nn
from torch.nn.utils import rnn as rnn_utils
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


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


def trace(model: nn.Module) -> fx.Graph:
    # Arguments that default to None are traced as None, so `if state is None:` takes the usual branch.
    signature = inspect.signature(model.forward)
    concrete = {name: None for name, p in signature.parameters.items() if p.default is None}
    with _packing_helpers_as_leaves():
        return _Tracer().trace(model, concrete_args=concrete or None)


def weighted_ancestor(node, modules: dict[str, nn.Module], stop) -> str | None:
    """The first module with parameters (or parameter read with ``get_attr``) that ``node`` is computed
    from, not looking past calls of the modules in ``stop``; None when there is none (a forward
    argument, zeros of a constant shape)."""
    queue: list[fx.Node] = []
    fx.node.map_arg(node, lambda n: queue.append(n) or n)  # a node, or a tuple of them: (h0, c0)
    seen: set[fx.Node] = set()
    while queue:
        current = queue.pop(0)
        if current in seen:
            continue
        seen.add(current)
        if current.op == "get_attr":
            return str(current.target)
        if current.op == "call_module":
            if current.target in stop:
                continue
            if any(True for _ in modules[current.target].parameters()):
                return str(current.target)
        queue.extend(current.all_input_nodes)
    return None
