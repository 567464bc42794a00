"""ISS: Intrinsic Sparse Structures for PyTorch LSTMs (Wen et al., ICLR 2018).

Group Lasso over whole hidden units drives units to exactly zero; ``shrink`` then builds a smaller
dense model of the same class from the surviving weights. For any model built from ``nn.LSTM``
(any ``num_layers``, ``bidirectional``, ``batch_first``, with or without bias) and the
``nn.Linear`` / ``nn.LSTM`` that reads it::

    import iss
    families = iss.components(model)          # one family per LSTM layer and direction
    reg = iss.GroupLasso(model, lam, families)
    ...
    loss.backward(); reg.add_grad_()          # or: (loss + reg()).backward()
    clip_grad_norm_(model.parameters(), 10); optimizer.step()
    iss.zero_small_(model, 1e-4, families)    # element threshold after every step
    ...
    iss.sizes(model)                          # {"lstm.l0": 37, "lstm.l1": 12, ...}
    compact = iss.shrink(model)               # smaller nn.LSTM / nn.Linear, same outputs
    iss.cost(compact, baseline=model)         # weights, mult-adds and their reduction

Component k of layer l, direction d of an ``nn.LSTM`` with hidden size h owns (PyTorch gate order
i, f, g, o): rows b*h + k (b = 0..3) of ``weight_ih_l{l}`` [4h, n_in] and ``weight_hh_l{l}`` [4h, h],
column k of ``weight_hh_l{l}``, and column d*h + k of whatever reads the layer's output (the next
layer's ``weight_ih`` [4h, D*h] in every direction, or a reading ``nn.Linear.weight`` [out, in]).
Gate biases go with the unit when it is removed but are not penalised. What reads the top layer is
found by tracing ``forward`` with torch.fx; where it cannot be told (the output goes through user
code), :class:`ConsumerNotFound` names the LSTM and the call that declares it:
``iss.components(model, consumers={"lstm": "head"})``. ``nn.GRU`` is shrunk the same way (gates r, z, n:
rows b*h + k, b = 0..2). ``nn.RNN`` and ``proj_size > 0``
raise :class:`NotSupported`.

Units whose sizes must stay equal across modules are one component (``iss.coupling``): an encoder's
final state handed to a decoder ("enc.l0+dec.l0"), a residual sum of two outputs, an embedding tied
to the ``nn.Linear`` that reads an LSTM ("rnn.l1+encoder[0:16]"). They are found by tracing, or
declared where the graph does not show them: ``iss.components(model, coupled=[("enc", "dec")])``.
"""
from __future__ import annotations

from iss.api import (GroupLasso, check_exact, components, cost, grouped_parameters, removed, shrink, sizes,
                     threshold_targets, zero_small_)
from iss.consumers import Consumer
from iss.errors import ConsumerNotFound, InvalidArgument, InvalidDescription, ISSError, NotExact, NotSupported
from iss.groups import Family, Slice

__version__ = "0.2.0"

__all__ = [
    "components", "GroupLasso", "zero_small_", "threshold_targets", "grouped_parameters", "removed", "sizes",
    "shrink", "check_exact", "cost", "Consumer", "Family", "Slice",
    "ISSError", "NotSupported", "ConsumerNotFound", "InvalidDescription", "InvalidArgument", "NotExact", "__version__",
]
