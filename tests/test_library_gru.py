"""nn.GRU (gates r, z, n: rows k, h+k, 2h+k of weight_ih / weight_hh, recurrent column k) in every
combination of layers, directions and batch_first, mixed LSTM/GRU stacks, and a head that reads a
lower layer's final state: each shrinks with outputs equal to the masked model's."""
import itertools

import pytest
import torch
from torch import nn

import iss


class Stack(nn.Module):
    """A recurrent stack; the head reads the top layer's output, its last final state, or the first
    layer's final state (h_n[0], a lower layer of a 2-layer module)."""

    def __init__(self, kind, layers, bidirectional, batch_first, head):
        super().__init__()
        self.rnn = kind(5, 8, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
        self.read, self.directions, self.is_lstm = head, 2 if bidirectional else 1, kind is nn.LSTM
        self.head = nn.Linear(8 * (self.directions if head == "output" else 1), 3)

    def forward(self, x):
        out, state = self.rnn(x)
        h = state[0] if self.is_lstm else state  # (h_n, c_n) for an LSTM, h_n for a GRU
        if self.read == "output":
            return self.head(out)
        return self.head(h[-1] if self.read == "last_state" else h[0])


class Mixed(nn.Module):
    """An nn.LSTM feeding an nn.GRU feeding a head."""

    def __init__(self):
        super().__init__()
        self.lstm, self.gru, self.head = nn.LSTM(5, 8, bidirectional=True), nn.GRU(16, 6), nn.Linear(6, 3)

    def forward(self, x):
        return self.head(self.gru(self.lstm(x)[0])[0])


def kill_units(model, families, generator):
    """Zero the weights of a random third of each family's units (their penalised parts)."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for family in families:
            dead = torch.randperm(family.size, generator=generator)[: family.size // 3]
            for part in family.parts:
                index = part.indices(family.size)[:, dead].flatten()
                params[part.param].index_fill_(part.dim, index, 0.0)


CASES = [case for case in itertools.product((nn.GRU, nn.LSTM), (1, 2), (False, True), (False, True),
                                            ("output", "last_state", "lower_state"))
         if not (case[4] == "lower_state" and case[1] == 1)]


@pytest.mark.parametrize("kind, layers, bidirectional, batch_first, head", CASES)
def test_every_stack_shrinks_exactly(kind, layers, bidirectional, batch_first, head):
    torch.manual_seed(layers * 10 + bidirectional)
    model = Stack(kind, layers, bidirectional, batch_first, head).eval()
    families = iss.components(model)
    assert all(f.parts[0].blocks == (3 if kind is nn.GRU else 4) for f in families)
    kill_units(model, families, torch.Generator().manual_seed(1))
    x = torch.randn((2, 6, 5) if batch_first else (6, 2, 5))
    compact = iss.shrink(model, families, example_inputs=(x,))
    assert type(compact.rnn) is kind and compact.rnn.hidden_size < 8
    assert iss.cost(compact)["weights"] < iss.cost(model)["weights"]


def test_a_mixed_lstm_gru_stack_shrinks_exactly():
    torch.manual_seed(0)
    model = Mixed().eval()
    families = iss.components(model)
    assert [f.name for f in families] == ["lstm.l0", "lstm.l0_reverse", "gru.l0"]
    kill_units(model, families, torch.Generator().manual_seed(2))
    compact = iss.shrink(model, families, example_inputs=(torch.randn(7, 2, 5),))
    assert (compact.lstm.hidden_size, compact.gru.hidden_size, compact.gru.input_size) == (6, 4, 12)


def test_a_gru_penalty_and_threshold_act_on_its_three_gates():
    model = Stack(nn.GRU, 1, False, False, "output")
    families = iss.components(model)
    assert model.rnn.weight_ih_l0.shape[0] == 3 * 8
    penalty = iss.GroupLasso(model, 0.1, families)()
    penalty.backward()
    assert model.rnn.weight_hh_l0.grad.abs().sum() > 0
    iss.zero_small_(model, 10.0, families)  # every weight below 10: every unit dies
    assert iss.sizes(model, families) == {"rnn.l0": 0}


def test_nn_rnn_is_still_refused_with_an_iss_error():
    holder = nn.Module()
    holder.rnn = nn.RNN(4, 4)
    with pytest.raises(iss.NotSupported, match="nn.RNN 'rnn'"):
        iss.components(holder)
