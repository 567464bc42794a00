"""BiDAF (Seo et al. 2017) for SQuAD, as in the ISS authors' fork used for the paper's Table 3 (spec 1.4, 2.5).

Shapes (B batch, N context length, M question length, W characters per word, d = ``hidden``):

    context words [B, N], chars [B, N, W]          question words [B, M], chars [B, M, W]
      -> char CNN: char embedding (dc=8) -> dropout(keep_prob) -> Conv1d(dc -> 100, width 5, no padding)
         -> ReLU -> max over character positions          [.., 100]      (BiDAF's conv1d: relu, then max)
      -> concat [char CNN; word vector]                   [.., 100 + dw]  (char first, as in BiDAF)
      -> 2 highway layers, each: t = relu(W_t x + b_t), g = sigmoid(W_g x + b_g), x <- g*t + (1-g)*x
      -> contextual BiLSTM (d per direction, shared by context and question; no ISS)
                                                          h [B, N, 2d], u [B, M, 2d]
      -> attention flow: S_ij = w.[h_i; u_j; h_i*u_j] + b (tri-linear, masked),
         c2q u~_i = softmax_j(S_ij) u,  q2c h~ = softmax_i(max_j S_ij) h (tiled over i)
                                                          p0 = [h; u~; h*u~; h*h~]   [B, N, 8d]
      -> modeling layer   g0 = BiLSTM(p0)  (ModFwd1 / ModBwd1)           [B, N, a0+b0]
                          g1 = BiLSTM(g0)  (ModFwd2 / ModBwd2)           [B, N, a1+b1]
      -> start logits     Linear([g1; p0] -> 1), masked                  [B, N]
      -> a1i = sum_i softmax(start)_i g1_i, tiled over positions         [B, N, a1+b1]
      -> output layer     g2 = BiLSTM([p0; g1; a1i; g1*a1i]) (OutFwd / OutBwd)   [B, N, a2+b2]
      -> end logits       Linear([g2; p0] -> 1), masked                  [B, N]

Masked logit positions hold ``torch.finfo(dtype).min`` (a large negative, never -inf, so softmax of an
all-masked row stays finite). Masks must be prefix masks: the valid tokens of every row come first.

Conventions that make the weight count equal the TF original's (spec 4.1):
- every LSTM direction is its own single-layer ``nn.LSTM`` (ISS gives fw and bw different sizes);
  TF's BasicLSTMCell has one bias per gate and a constant forget bias (1.0, TF's default, in BiDAF):
  ``bias_ih`` is the trained TF bias, ``bias_hh`` is frozen and holds the forget bias in its f block;
- word vectors: ids ``[0, n_trainable_words)`` index a trainable table (NULL, UNK and the frequent
  non-GloVe words, as in BiDAF where they come first), ids ``[n_trainable_words, + n_fixed_words)``
  index a fixed GloVe buffer (not a parameter, so not a weight). With ``n_fixed_words=0`` every word
  is trainable (small scales without GloVe);
- all Linear/Conv layers have biases, as TF BiDAF's ``linear``/``conv1d``.
  At d=100, dw=100: char CNN 8*5*100+100 = 4,100; highway 2*2*(200*200+200) = 160,800; contextual
  BiLSTM 2*((200+100)*400+400) = 240,800; attention 600+1 = 601 (together 406,301);
  g0 2*((800+100)*400+400) = 720,800; g1 2*((200+100)*400+400) = 240,800; start logits 1,001;
  g2 2*((1400+100)*400+400) = 1,200,800; end logits 1,001 (together 2,164,402);
  plus 100*VW trainable word vectors and 8*VC character vectors: 2,570,703 + 100 VW + 8 VC.

Backward directions read each sequence's valid part reversed (the same per-length flip as TF's
``reverse_sequence`` in ``bidirectional_dynamic_rnn``); padding stays after the valid part, so it never
reaches a valid output. Forward directions run over the padding after the valid part, which cannot
reach valid outputs either. Outputs at padded positions are set to 0, as TF's dynamic_rnn does.

Dropout as in the fork (spec 2.5): ``keep_prob`` on the character embeddings before the CNN;
``input_keep_prob`` on the input of every LSTM direction (a separate mask per direction, as each TF
cell has its own DropoutWrapper) and on the inputs of both pointer-logit layers; none in the highway
layers or the attention. Initialisation as TF's defaults: glorot-uniform weights (computed from the
TF kernel shapes), zero biases; trainable word vectors N(0, 1) as BiDAF's preprocessing draws them.

ISS (spec 1.4): six families, one per one-direction LSTM of g0, g1, g2. ``iss_variant`` chooses how the
g1 families treat the a1i slot of g2's input:
- ``"paper"``: as the original groups: the a1i slot is in no group. The shrunk model keeps that slot
  at its full width (``a1i_width``, 2d), so weight counts follow the paper (g2 input 1000 + 2(a1+b1)).
  The a1i vector of the surviving g1 units is placed into its original slot positions through the
  frozen 0/1 matrix ``a1i_placement`` [a1i_width, a1+b1] (identity before any removal; its columns
  follow the g1 units through the shrink). The columns of removed units read 0 in the shrunk model,
  whereas in the large model a removed g1 unit still emits sigma(b_o)*tanh(c_k) (bias driven, not 0)
  into a1i: the shrink is exact only if those outputs are 0 (e.g. the unit's g-gate bias is 0).
- ``"exact"``: the a1i slot columns are in the g1 groups as well; the shrink is lossless and the
  counts are slightly below the paper's (g2 input 800 + 3(a1+b1)).

Rebuilding a saved model: ``BiDAF(**geometry)`` then ``load_state_dict(state)``. ``geometry()`` holds the
number of fixed vectors, not the vectors: they are a persistent buffer (``fixed_word_vectors``) and
come back with the state dict.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch import nn
from torch.nn import functional as F

from iss.groups import Family, Slice
from iss.lstm_families import GATES, lstm_unit_family

FORGET_BLOCK = 1
FAMILIES = ("ModFwd1", "ModBwd1", "ModFwd2", "ModBwd2", "OutFwd", "OutBwd")
MODULES = dict(zip(FAMILIES, ("mod_fwd1", "mod_bwd1", "mod_fwd2", "mod_bwd2", "out_fwd", "out_bwd")))
VARIANTS = ("paper", "exact")


@dataclass
class SquadBatch:
    """Model inputs (``forward`` reads only these six attributes, so ``iss_harness.data.squad.SquadBatch`` works too).
    Word ids index the concatenated vocabulary (trainable words first, then fixed
    GloVe words); character id 0 is the padding (NULL) character. Masks are True on real tokens and
    must be prefix masks.

    context_words [B, N] long, context_chars [B, N, W] long, context_mask [B, N] bool,
    question_words [B, M] long, question_chars [B, M, W] long, question_mask [B, M] bool.
    """

    context_words: torch.Tensor
    context_chars: torch.Tensor
    context_mask: torch.Tensor
    question_words: torch.Tensor
    question_chars: torch.Tensor
    question_mask: torch.Tensor

    def to(self, device) -> "SquadBatch":
        return SquadBatch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


class Highway(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.transform = nn.Linear(width, width)
        self.gate = nn.Linear(width, width)

    def forward(self, x):
        gate = torch.sigmoid(self.gate(x))
        return gate * F.relu(self.transform(x)) + (1 - gate) * x


def _reversal_index(mask: torch.Tensor) -> torch.Tensor:
    """[B, T] index that reverses the first length_b positions of row b and keeps the rest."""
    steps = torch.arange(mask.shape[1], device=mask.device)
    flipped = mask.sum(1, keepdim=True) - 1 - steps[None, :]
    return torch.where(flipped >= 0, flipped, steps[None, :])


def _take(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return x.gather(1, index[..., None].expand(-1, -1, x.shape[-1]))


def _masked(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return logits.masked_fill(~mask, torch.finfo(logits.dtype).min)


def _glorot_(weight: torch.Tensor, fan_in: int, fan_out: int) -> None:
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    nn.init.uniform_(weight, -limit, limit)


class BiDAF(nn.Module):
    def __init__(self, n_trainable_words: int, n_chars: int, fixed_vectors: torch.Tensor | None = None,
                 n_fixed_words: int | None = None, word_dim: int = 100, char_dim: int = 8,
                 char_filters: int = 100, char_width: int = 5, highway_layers: int = 2, hidden: int = 100,
                 iss_sizes: dict[str, int] | None = None, iss_variant: str = "paper",
                 a1i_width: int | None = None, keep_prob: float = 0.8, input_keep_prob: float = 0.8,
                 forget_bias: float = 1.0):
        super().__init__()
        if fixed_vectors is not None:
            if n_fixed_words is not None and n_fixed_words != fixed_vectors.shape[0]:
                raise ValueError(f"n_fixed_words={n_fixed_words} but fixed_vectors has {fixed_vectors.shape[0]} rows")
            if fixed_vectors.shape[1] != word_dim:
                raise ValueError(f"fixed_vectors are {fixed_vectors.shape[1]}-d, word_dim is {word_dim}")
            n_fixed_words = fixed_vectors.shape[0]
        n_fixed_words = n_fixed_words or 0
        if n_trainable_words < 1:
            raise ValueError("n_trainable_words must be >= 1 (the NULL and UNK words are trainable)")
        if iss_variant not in VARIANTS:
            raise ValueError(f"iss_variant must be one of {VARIANTS}, got {iss_variant!r}")
        sizes = {name: hidden for name in FAMILIES}
        unknown = set(iss_sizes or {}) - set(FAMILIES)
        if unknown:
            raise ValueError(f"unknown ISS families {sorted(unknown)}; expected {FAMILIES}")
        sizes.update(iss_sizes or {})
        if min(sizes.values()) < 1:
            raise ValueError(f"every ISS size must be >= 1, got {sizes}")
        a0, b0, a1, b1, a2, b2 = (sizes[name] for name in FAMILIES)
        if iss_variant == "exact":
            if a1i_width not in (None, a1 + b1):
                raise ValueError(f"the exact variant's a1i slot is a1+b1={a1 + b1} wide, got a1i_width={a1i_width}")
            a1i_width = None
        else:
            # default: the full model's g1 width (2d), so a model built directly with ISS sizes has the
            # geometry of one shrunk from the full model
            a1i_width = max(2 * hidden, a1 + b1) if a1i_width is None else a1i_width
            if a1i_width < a1 + b1:
                raise ValueError(f"a1i_width={a1i_width} is narrower than the g1 output a1+b1={a1 + b1}")

        self.n_trainable_words, self.n_fixed_words, self.n_chars = n_trainable_words, n_fixed_words, n_chars
        self.word_dim, self.char_dim, self.char_filters, self.char_width = word_dim, char_dim, char_filters, char_width
        self.highway_layers, self.hidden = highway_layers, hidden
        self.iss_sizes, self.iss_variant, self.a1i_width = sizes, iss_variant, a1i_width
        self.keep_prob, self.input_keep_prob, self.forget_bias = keep_prob, input_keep_prob, forget_bias

        d, p0 = hidden, 8 * hidden
        self.word_embedding = nn.Embedding(n_trainable_words, word_dim)
        self.register_buffer("fixed_word_vectors", torch.zeros(n_fixed_words, word_dim))
        self.char_embedding = nn.Embedding(n_chars, char_dim)
        self.char_conv = nn.Conv1d(char_dim, char_filters, char_width)
        width = char_filters + word_dim
        self.highway = nn.ModuleList(Highway(width) for _ in range(highway_layers))
        self.ctx_fwd, self.ctx_bwd = nn.LSTM(width, d, batch_first=True), nn.LSTM(width, d, batch_first=True)
        self.attention = nn.Linear(6 * d, 1)  # columns [h; u; h*u], each 2d
        self.mod_fwd1, self.mod_bwd1 = nn.LSTM(p0, a0, batch_first=True), nn.LSTM(p0, b0, batch_first=True)
        self.mod_fwd2, self.mod_bwd2 = nn.LSTM(a0 + b0, a1, batch_first=True), nn.LSTM(a0 + b0, b1, batch_first=True)
        self.start_logits = nn.Linear(a1 + b1 + p0, 1)  # columns [g1; p0]
        g2_in = p0 + 2 * (a1 + b1) + self.a1i_slot_width  # columns [p0; g1; a1i; g1*a1i]
        self.out_fwd, self.out_bwd = nn.LSTM(g2_in, a2, batch_first=True), nn.LSTM(g2_in, b2, batch_first=True)
        self.end_logits = nn.Linear(a2 + b2 + p0, 1)  # columns [g2; p0]
        if iss_variant == "paper":
            self.a1i_placement = nn.Parameter(torch.eye(a1i_width, a1 + b1), requires_grad=False)
        self.char_dropout = nn.Dropout(1.0 - keep_prob)
        self.input_dropout = nn.Dropout(1.0 - input_keep_prob)
        self.reset_parameters()
        if fixed_vectors is not None:
            with torch.no_grad():
                self.fixed_word_vectors.copy_(fixed_vectors)

    @property
    def a1i_slot_width(self) -> int:
        return self.a1i_width if self.a1i_width is not None else self.iss_sizes["ModFwd2"] + self.iss_sizes["ModBwd2"]

    def lstms(self) -> dict[str, nn.LSTM]:
        """Every one-direction LSTM by module name (contextual ones included)."""
        return {name: getattr(self, name) for name in ("ctx_fwd", "ctx_bwd", *MODULES.values())}

    @torch.no_grad()
    def reset_parameters(self) -> None:
        nn.init.normal_(self.word_embedding.weight)
        _glorot_(self.char_embedding.weight, self.n_chars, self.char_dim)
        _glorot_(self.char_conv.weight, self.char_dim * self.char_width, self.char_filters * self.char_width)
        linears = [self.attention, self.start_logits, self.end_logits]
        linears += [layer for hw in self.highway for layer in (hw.transform, hw.gate)]
        for linear in linears:
            _glorot_(linear.weight, linear.in_features, linear.out_features)
            linear.bias.zero_()
        self.char_conv.bias.zero_()
        for lstm in self.lstms().values():
            h = lstm.hidden_size
            for weight in (lstm.weight_ih_l0, lstm.weight_hh_l0):  # one TF kernel [(n_in + h), 4h]
                _glorot_(weight, lstm.input_size + h, GATES * h)
            lstm.bias_ih_l0.zero_()
            lstm.bias_hh_l0.zero_()
            lstm.bias_hh_l0[FORGET_BLOCK * h:(FORGET_BLOCK + 1) * h] = self.forget_bias
            lstm.bias_hh_l0.requires_grad_(False)

    # ---- forward -----------------------------------------------------------------------
    def _word_vectors(self, ids: torch.Tensor) -> torch.Tensor:
        if self.n_fixed_words == 0:
            return self.word_embedding(ids)
        trainable = self.word_embedding(ids.clamp(max=self.n_trainable_words - 1))
        fixed = F.embedding((ids - self.n_trainable_words).clamp(min=0), self.fixed_word_vectors)
        return torch.where((ids < self.n_trainable_words)[..., None], trainable, fixed)

    def _embed(self, words: torch.Tensor, chars: torch.Tensor) -> torch.Tensor:
        """words [B, T], chars [B, T, W] -> highway output [B, T, char_filters + word_dim]."""
        if chars.shape[-1] < self.char_width:  # a valid convolution needs at least one window
            chars = F.pad(chars, (0, self.char_width - chars.shape[-1]))
        batch, length, word_len = chars.shape
        c = self.char_dropout(self.char_embedding(chars))
        c = c.reshape(batch * length, word_len, self.char_dim).transpose(1, 2)
        c = F.relu(self.char_conv(c)).amax(-1).reshape(batch, length, self.char_filters)
        x = torch.cat([c, self._word_vectors(words)], -1)
        for layer in self.highway:
            x = layer(x)
        return x

    def _direction(self, lstm: nn.LSTM, x: torch.Tensor, mask: torch.Tensor, reverse: torch.Tensor | None):
        x = self.input_dropout(x)
        if reverse is not None:
            x = _take(x, reverse)
        out, _ = lstm(x)
        if reverse is not None:
            out = _take(out, reverse)
        return out.masked_fill(~mask[..., None], 0.0)

    def _bilstm(self, fwd: nn.LSTM, bwd: nn.LSTM, x, mask, reverse):
        return torch.cat([self._direction(fwd, x, mask, None), self._direction(bwd, x, mask, reverse)], -1)

    def _attention_flow(self, h, u, context_mask, question_mask) -> torch.Tensor:
        """h [B, N, 2d], u [B, M, 2d] -> p0 [B, N, 8d]."""
        w_h, w_u, w_hu = self.attention.weight[0].split(h.shape[-1])
        similarity = ((h * w_hu) @ u.transpose(1, 2) + (h @ w_h)[:, :, None] + (u @ w_u)[:, None, :]
                      + self.attention.bias)
        similarity = _masked(similarity, context_mask[:, :, None] & question_mask[:, None, :])
        c2q = torch.softmax(similarity, -1) @ u
        q2c = torch.softmax(similarity.amax(-1), -1)[:, None, :] @ h  # [B, 1, 2d], tiled by broadcasting
        return torch.cat([h, c2q, h * c2q, h * q2c], -1)

    def forward(self, batch: SquadBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """batch: any object with the six ``SquadBatch`` input attributes.
        -> (start logits [B, N], end logits [B, N]); masked positions hold finfo(dtype).min."""
        cmask, qmask = batch.context_mask.bool(), batch.question_mask.bool()
        c_rev, q_rev = _reversal_index(cmask), _reversal_index(qmask)
        context = self._embed(batch.context_words, batch.context_chars)
        question = self._embed(batch.question_words, batch.question_chars)
        h = self._bilstm(self.ctx_fwd, self.ctx_bwd, context, cmask, c_rev)  # contextual LSTM, shared
        u = self._bilstm(self.ctx_fwd, self.ctx_bwd, question, qmask, q_rev)
        p0 = self._attention_flow(h, u, cmask, qmask)
        g0 = self._bilstm(self.mod_fwd1, self.mod_bwd1, p0, cmask, c_rev)
        g1 = self._bilstm(self.mod_fwd2, self.mod_bwd2, g0, cmask, c_rev)
        start = _masked(self.start_logits(self.input_dropout(torch.cat([g1, p0], -1))).squeeze(-1), cmask)
        a1i = torch.softmax(start, -1)[:, None, :] @ g1  # [B, 1, a1+b1]
        slot = a1i if self.iss_variant == "exact" else a1i @ self.a1i_placement.T
        g2_in = torch.cat([p0, g1, slot.expand(-1, g1.shape[1], -1), g1 * a1i], -1)
        g2 = self._bilstm(self.out_fwd, self.out_bwd, g2_in, cmask, c_rev)
        end = _masked(self.end_logits(self.input_dropout(torch.cat([g2, p0], -1))).squeeze(-1), cmask)
        return start, end

    # ---- ISS ---------------------------------------------------------------------------
    def iss_families(self) -> list[Family]:
        """Six families (spec 1.4) in PyTorch layout. Component k of one direction owns its 4 gate rows
        in weight_ih and weight_hh (blocks i, f, g, o), column k of its weight_hh, and every downstream
        column that reads its output:
          ModFwd1/ModBwd1 (g0): the g0 slot columns of both g1 directions' weight_ih;
          ModFwd2/ModBwd2 (g1): the start-logit column, and in both g2 directions' weight_ih the g1 slot
                                and the g1*a1i slot (variant "exact": also the a1i slot);
          OutFwd/OutBwd (g2):   the end-logit column.
        Gate biases (and, in the paper variant, the a1i placement column) follow removals unpenalised."""
        s = self.iss_sizes
        a0, a1, a2 = s["ModFwd1"], s["ModFwd2"], s["OutFwd"]
        g1_width, p0 = a1 + s["ModBwd2"], 8 * self.hidden
        g1_slot, a1i_slot, product_slot = p0, p0 + g1_width, p0 + g1_width + self.a1i_slot_width

        def consumers(offset: int, *targets: tuple[str, int]) -> tuple[Slice, ...]:
            return tuple(Slice(param, dim=1, start=start + offset) for param, start in targets)

        both_g1 = lambda start: (("mod_fwd2.weight_ih_l0", start), ("mod_bwd2.weight_ih_l0", start))  # noqa: E731
        both_g2 = lambda start: (("out_fwd.weight_ih_l0", start), ("out_bwd.weight_ih_l0", start))  # noqa: E731
        g1_reads = [("start_logits.weight", 0), *both_g2(g1_slot), *both_g2(product_slot)]
        if self.iss_variant == "exact":
            g1_reads += both_g2(a1i_slot)
        downstream = {
            "ModFwd1": consumers(0, *both_g1(0)),
            "ModBwd1": consumers(a0, *both_g1(0)),
            "ModFwd2": consumers(0, *g1_reads),
            "ModBwd2": consumers(a1, *g1_reads),
            "OutFwd": consumers(0, ("end_logits.weight", 0)),
            "OutBwd": consumers(a2, ("end_logits.weight", 0)),
        }
        extra_followers = {}
        if self.iss_variant == "paper":
            extra_followers = {"ModFwd2": (Slice("a1i_placement", dim=1, start=0),),
                               "ModBwd2": (Slice("a1i_placement", dim=1, start=a1),)}
        families = []
        for name in FAMILIES:
            families.append(lstm_unit_family(name, MODULES[name], s[name], downstream[name],
                                             followers=extra_followers.get(name, ())))
        return families

    def resized(self, sizes: dict[str, int]) -> "BiDAF":
        """A fresh model with other ISS sizes ({"ModFwd1": a0, ...}; missing families keep theirs).
        The paper variant keeps its a1i slot width; the exact variant's follows a1+b1. The fixed
        vectors are zeros until a state dict is loaded (``shrink`` does that)."""
        geometry = self.geometry()
        geometry["iss_sizes"] = {**self.iss_sizes, **sizes}
        return BiDAF(**geometry)

    def geometry(self) -> dict:
        """JSON-able constructor arguments. Rebuild with ``BiDAF(**geometry)`` and load the state dict,
        which carries the fixed word vectors (buffer ``fixed_word_vectors``)."""
        return dict(n_trainable_words=self.n_trainable_words, n_chars=self.n_chars,
                    n_fixed_words=self.n_fixed_words, word_dim=self.word_dim, char_dim=self.char_dim,
                    char_filters=self.char_filters, char_width=self.char_width,
                    highway_layers=self.highway_layers, hidden=self.hidden, iss_sizes=dict(self.iss_sizes),
                    iss_variant=self.iss_variant, a1i_width=self.a1i_width, keep_prob=self.keep_prob,
                    input_keep_prob=self.input_keep_prob, forget_bias=self.forget_bias)

    # Parameters used as lookup tables, not in matrix multiplies (excluded from mult-adds).
    lookup_parameters = ("word_embedding.weight", "char_embedding.weight")


def span_loss(start_logits: torch.Tensor, end_logits: torch.Tensor, start: torch.Tensor, end: torch.Tensor):
    """The original's data loss: mean_b CE(start) + mean_b CE(end) (spec 1.5); start, end [B] long."""
    return F.cross_entropy(start_logits.float(), start) + F.cross_entropy(end_logits.float(), end)

