"""Recurrent Highway Network word language model (Zilly et al. 2017), as used for the paper's Table 2.

    tokens [T, B] -> embedding E [T, B, w] -> word dropout (x) -> input dropout (i)
                  -> one RHN layer of `depth` micro-layers per time step, state s [B, w]
                  -> output dropout (o) -> tied softmax (E^T + softmax_bias) logits [T, B, V]

Cell, for every time step t and micro-layer l = 0..depth-1 (spec 1.3):

    pre_l = s*m_h @ W_l^T + b_l          [B, 2w]   (+ x_t*m_x*m_i @ U^T for l = 0 only)
    H_l   = tanh(pre_l[:, :w])                     candidate
    T_l   = sigmoid(pre_l[:, w:])                  transform gate (its bias starts at transform_bias)
    s     = (H_l - s) * T_l + s                    coupled carry; the un-dropped s is carried

The width of the input equals w because the embedding is tied to the softmax.

Parameters (PyTorch convention: rows are outputs, columns are inputs):

    embedding.weight   [V, w]    E: lookup table and, tied, the softmax weight
    softmax_bias       [V]       never touched by ISS
    input_weight       [2w, w]   U: reads x_t, micro-layer 0 only; rows 0..w-1 -> H_0, rows w..2w-1 -> T_0
    state_weights.{l}  [2w, w]   W_l: reads s, l = 0..depth-1; same row blocks (H_l, then T_l)
    biases.{l}         [2w]      b_l: H_l bias then T_l bias

H and T of one micro-layer share one matrix so that one GEMM computes both. The x part of
micro-layer 0 is computed for every step of the window in one GEMM before the time loop, and
the softmax in one GEMM after it.

Dropout (spec 2.4), drop probabilities in a dict with keys x, i, h, o (missing = 0). In
training mode, masks are sampled once per forward call (one BPTT window), per sequence in
the batch, with inverted scaling (kept entries divided by the keep probability):
- x: word dropout, a whole embedding vector dropped; one draw per word type and sequence,
  so repeated occurrences of a word in the window share it;
- i: one mask [B, w] on the input of micro-layer 0, the same at every step;
- h: one mask [B, w] on the state read by every micro-layer, the same at every micro-layer and step;
- o: one mask [B, w] on the output before the softmax, the same at every step.

ISS (spec 1.3): one family "rhn" of w components. Unit k owns column k of E (embedding
dimension k and, tied, its softmax weights), column k of U (input dimension k), column k of
every W_l (state dimension k), and rows k and w+k of U and every W_l (outputs H_l[k], T_l[k]).
Rows k and w+k of every b_l follow the unit when it is removed but are not penalised.
Removing unit k therefore shrinks the word-vector size too. Group size (crossings counted
twice): V + 8w + 4w(depth-1); 46,520 at V=10000, w=830, depth 10.
Parameter count: V*w + V + 2w^2 + depth*(2w^2 + 2w) = 22w^2 + 10020w + 10000 at V=10000, depth 10.

Init as in the original: uniform(-init_scale, init_scale) everywhere except the T-gate
biases, which start at transform_bias (-2.0).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from iss.groups import Family, Slice

DROPOUT_KEYS = ("x", "i", "h", "o")


class DropoutMasks(NamedTuple):
    """Masks of one window, already divided by the keep probability; None = no dropout."""

    x: torch.Tensor | None  # [T, B, 1]  per token, shared by repeated words of a sequence
    i: torch.Tensor | None  # [B, w]     input of micro-layer 0
    h: torch.Tensor | None  # [B, w]     state, at every micro-layer
    o: torch.Tensor | None  # [B, w]     output before the softmax


class RHNLanguageModel(nn.Module):
    def __init__(self, vocab_size: int, width: int, depth: int = 10, dropout: dict | None = None,
                 init_scale: float = 0.04, transform_bias: float = -2.0):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("width", width), ("depth", depth)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        dropout = dict(dropout or {})
        unknown = set(dropout) - set(DROPOUT_KEYS)
        if unknown:
            raise ValueError(f"unknown dropout keys {sorted(unknown)}; expected a subset of {list(DROPOUT_KEYS)}")
        for key, p in dropout.items():
            if not 0.0 <= float(p) < 1.0:
                raise ValueError(f"dropout[{key!r}] is a drop probability in [0, 1), got {p!r}")
        if init_scale < 0:
            raise ValueError(f"init_scale must be >= 0, got {init_scale!r}")
        self.vocab_size = vocab_size
        self.width = width
        self.depth = depth
        self.dropout = {key: float(dropout.get(key, 0.0)) for key in DROPOUT_KEYS}
        self.init_scale = float(init_scale)
        self.transform_bias = float(transform_bias)

        w = width
        self.embedding = nn.Embedding(vocab_size, w)                 # [V, w], tied softmax weight
        self.softmax_bias = nn.Parameter(torch.empty(vocab_size))     # [V]
        self.input_weight = nn.Parameter(torch.empty(2 * w, w))       # [2w, w] x -> (H_0, T_0)
        self.state_weights = nn.ParameterList(nn.Parameter(torch.empty(2 * w, w)) for _ in range(depth))
        self.biases = nn.ParameterList(nn.Parameter(torch.empty(2 * w)) for _ in range(depth))
        self.reset_parameters()

    @property
    def hidden_sizes(self) -> list[int]:
        return [self.width]

    @torch.no_grad()
    def reset_parameters(self) -> None:
        for p in self.parameters():
            nn.init.uniform_(p, -self.init_scale, self.init_scale)
        for bias in self.biases:
            bias[self.width:] = self.transform_bias

    def init_state(self, batch_size: int) -> torch.Tensor:
        """Zero state s [B, w]."""
        return self.input_weight.new_zeros(batch_size, self.width)

    def sample_masks(self, tokens: torch.Tensor) -> DropoutMasks:
        """Dropout masks for one window of tokens [T, B]; all None in eval mode."""
        if not self.training:
            return DropoutMasks(None, None, None, None)
        batch = tokens.shape[1]
        weight = self.input_weight

        def bernoulli(drop: float, *shape: int) -> torch.Tensor | None:
            if drop == 0.0:
                return None
            keep = 1.0 - drop
            return weight.new_empty(shape).bernoulli_(keep).div_(keep)

        x = bernoulli(self.dropout["x"], self.vocab_size, batch)      # [V, B]: one draw per word type and sequence
        if x is not None:
            x = x.gather(0, tokens).unsqueeze(-1)                     # [T, B, 1]
        return DropoutMasks(x=x,
                            i=bernoulli(self.dropout["i"], batch, self.width),
                            h=bernoulli(self.dropout["h"], batch, self.width),
                            o=bernoulli(self.dropout["o"], batch, self.width))

    def forward(self, tokens: torch.Tensor, state: torch.Tensor):
        """tokens [T, B] -> (logits [T, B, V], new state [B, w]). State is carried across windows."""
        masks = self.sample_masks(tokens)
        x = self.embedding(tokens)                                    # [T, B, w]
        if masks.x is not None:
            x = x * masks.x
        if masks.i is not None:
            x = x * masks.i
        # x part of micro-layer 0 for all steps at once, with b_0 folded in: [T, B, 2w]
        x_gates = F.linear(x, self.input_weight, self.biases[0])
        w = self.width
        s = state                                                     # [B, w]
        outputs = []
        for t in range(tokens.shape[0]):
            for l in range(self.depth):
                read = s if masks.h is None else s * masks.h
                bias = x_gates[t] if l == 0 else self.biases[l]
                gates = torch.addmm(bias, read, self.state_weights[l].t())  # [B, 2w]
                h = torch.tanh(gates[:, :w])
                transform = torch.sigmoid(gates[:, w:])
                s = torch.lerp(s, h, transform)                       # (h - s) * T + s
            outputs.append(s)
        out = torch.stack(outputs)                                    # [T, B, w]
        if masks.o is not None:
            out = out * masks.o
        logits = F.linear(out, self.embedding.weight, self.softmax_bias)  # [T, B, V], tied softmax
        return logits, s

    # ---- ISS ---------------------------------------------------------------------------
    def iss_families(self) -> list[Family]:
        """One family "rhn" of w units (spec 1.3); see the module docstring for the layout."""
        w = self.width
        outputs = dict(dim=0, blocks=2, block_stride=w)  # rows k (H) and w+k (T)
        parts = [Slice("embedding.weight", dim=1),
                 Slice("input_weight", dim=1),
                 Slice("input_weight", **outputs)]
        for l in range(self.depth):
            parts += [Slice(f"state_weights.{l}", dim=1), Slice(f"state_weights.{l}", **outputs)]
        followers = tuple(Slice(f"biases.{l}", **outputs) for l in range(self.depth))
        return [Family(name="rhn", size=w, parts=tuple(parts), followers=followers)]

    def resized(self, sizes: dict[str, int]) -> "RHNLanguageModel":
        """A fresh model of the same kind with another width ({"rhn": w})."""
        return RHNLanguageModel(**{**self.geometry(), "width": sizes.get("rhn", self.width)})

    def geometry(self) -> dict:
        return dict(vocab_size=self.vocab_size, width=self.width, depth=self.depth,
                    dropout=dict(self.dropout), init_scale=self.init_scale,
                    transform_bias=self.transform_bias)

    # The tied embedding is also the softmax GEMM, so its elements count as mult-adds.
    lookup_parameters = ()
