"""Stacked-LSTM word language model of Zaremba et al. (2014), as used for the paper's Table 1.

    tokens [T, B] -> embedding [T, B, E] -> dropout
                  -> LSTM_1 (E -> h_1) -> dropout -> LSTM_2 (h_1 -> h_2) -> dropout ...
                  -> decoder (h_L -> V) logits [T, B, V]

Differences from a textbook PyTorch LM, each to match the original TensorFlow code (spec 1.1, 2.1):
- every layer is its own single-layer ``nn.LSTM`` so that layers can have different
  hidden sizes after ISS removal (a multi-layer nn.LSTM forces one size), and each still
  runs the fused cuDNN/oneDNN kernel;
- TF's BasicLSTMCell has one bias per gate and adds a constant ``forget_bias`` to the
  forget gate. PyTorch has two biases (b_ih, b_hh). We train b_ih (the TF bias) and keep
  b_hh frozen, holding the constant forget bias in its f block and zeros elsewhere, so
  the trainable parameter count equals the TF model's (66.0M at paper size);
- the embedding is untied and never reduced by ISS (spec 1.2);
- uniform(-0.04, 0.04) init everywhere except the LSTM biases, which start at 0.
"""
from __future__ import annotations

import torch
from torch import nn

from iss.groups import Family, Slice
from iss.lstm_families import lstm_unit_family

FORGET_BLOCK = 1


class LSTMLanguageModel(nn.Module):
    def __init__(self, vocab_size: int, embedding_size: int, hidden_sizes: list[int],
                 keep_prob: float = 1.0, init_scale: float = 0.04, forget_bias: float = 0.0):
        super().__init__()
        if not hidden_sizes or min(hidden_sizes) < 1:
            raise ValueError(f"hidden_sizes must be a non-empty list of positive sizes, got {hidden_sizes}")
        self.vocab_size = vocab_size
        self.embedding_size = embedding_size
        self.hidden_sizes = list(hidden_sizes)
        self.keep_prob = keep_prob
        self.init_scale = init_scale
        self.forget_bias = forget_bias

        self.embedding = nn.Embedding(vocab_size, embedding_size)
        inputs = [embedding_size] + self.hidden_sizes[:-1]
        self.lstms = nn.ModuleList(nn.LSTM(n_in, h) for n_in, h in zip(inputs, self.hidden_sizes))
        self.decoder = nn.Linear(self.hidden_sizes[-1], vocab_size)
        # Zaremba dropout: a fresh mask at every step on the embedding and each layer output.
        self.dropout = nn.Dropout(1.0 - keep_prob)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        for p in self.parameters():
            nn.init.uniform_(p, -self.init_scale, self.init_scale)
        for lstm, h in zip(self.lstms, self.hidden_sizes):
            lstm.bias_ih_l0.zero_()
            lstm.bias_hh_l0.zero_()
            lstm.bias_hh_l0[FORGET_BLOCK * h:(FORGET_BLOCK + 1) * h] = self.forget_bias
            lstm.bias_hh_l0.requires_grad_(False)

    def init_state(self, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Zero (h, c) per layer, each [1, B, h_l]."""
        weight = self.decoder.weight
        return [(weight.new_zeros(1, batch_size, h), weight.new_zeros(1, batch_size, h))
                for h in self.hidden_sizes]

    def forward(self, tokens: torch.Tensor, state):
        """tokens [T, B] -> (logits [T, B, V], new state). State is carried across windows."""
        x = self.dropout(self.embedding(tokens))
        new_state = []
        for lstm, layer_state in zip(self.lstms, state):
            x, layer_state = lstm(x, layer_state)
            x = self.dropout(x)
            new_state.append(layer_state)
        return self.decoder(x), new_state

    # ---- ISS ---------------------------------------------------------------------------
    def iss_families(self) -> list[Family]:
        """Component k of layer l (spec 1.2): its 4 gate rows in weight_ih and weight_hh
        (blocks i, f, g, o), its recurrent column k of weight_hh, and column k of the
        consumer's input weights (next layer's weight_ih, or the decoder). Gate biases follow
        the component when it is removed but are not penalised."""
        families = []
        for layer, h in enumerate(self.hidden_sizes):
            consumer = (f"lstms.{layer + 1}.weight_ih_l0" if layer + 1 < len(self.hidden_sizes)
                        else "decoder.weight")
            families.append(lstm_unit_family(f"lstm{layer + 1}", f"lstms.{layer}", h, [Slice(consumer, dim=1)]))
        return families

    def resized(self, sizes: dict[str, int]) -> "LSTMLanguageModel":
        """A fresh model of the same kind with other layer sizes ({"lstm1": h1, ...})."""
        hidden = [sizes.get(f"lstm{layer + 1}", h) for layer, h in enumerate(self.hidden_sizes)]
        return LSTMLanguageModel(self.vocab_size, self.embedding_size, hidden, self.keep_prob,
                                 self.init_scale, self.forget_bias)

    def geometry(self) -> dict:
        return dict(vocab_size=self.vocab_size, embedding_size=self.embedding_size,
                    hidden_sizes=self.hidden_sizes, keep_prob=self.keep_prob,
                    init_scale=self.init_scale, forget_bias=self.forget_bias)

    # Parameters used as lookup tables, not in matrix multiplies (excluded from mult-adds).
    lookup_parameters = ("embedding.weight",)
