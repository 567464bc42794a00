"""Property tests: for random nn.LSTM configurations and random dead units, `iss.shrink` computes what
the masked model computes, keeps exactly the survivors, and `iss.cost` matches the closed form; and
for random architectures from the whole space (stacks, GRUs, packed, residual, encoder-decoder, tied)
the compact model computes what the masked model computes."""
import random

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import iss
from iss.groups import mask_removed_


class SequenceModel(nn.Module):
    """nn.LSTM -> nn.Linear over every step (sequence tagging) or the last step (classification)."""

    def __init__(self, input_size, hidden, layers, bidirectional, batch_first, bias, read_last):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden, num_layers=layers, bias=bias, batch_first=batch_first,
                            bidirectional=bidirectional)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), 3)
        self.read_last = read_last

    def forward(self, x):
        out, _ = self.lstm(x)
        if self.read_last:
            out = out[:, -1] if self.lstm.batch_first else out[-1]
        return self.head(out)


@st.composite
def configurations(draw):
    hidden = draw(st.integers(1, 40))
    layers = draw(st.integers(1, 3))
    bidirectional = draw(st.booleans())
    model_args = dict(input_size=draw(st.integers(1, 6)), hidden=hidden, layers=layers,
                      bidirectional=bidirectional, batch_first=draw(st.booleans()), bias=draw(st.booleans()),
                      read_last=draw(st.booleans()))
    survivors = []
    for _ in range(layers * (2 if bidirectional else 1)):
        # all-but-one, all, or a random non-empty subset of the units
        kind = draw(st.sampled_from(["one", "all", "random"]))
        if kind == "one":
            keep = {draw(st.integers(0, hidden - 1))}
        elif kind == "all":
            keep = set(range(hidden))
        else:
            keep = set(draw(st.lists(st.integers(0, hidden - 1), min_size=1, max_size=hidden)))
        survivors.append(keep)
    return model_args, survivors, draw(st.integers(0, 2**31 - 1))


def closed_form_cost(input_size, hidden, layers, bidirectional, bias, outputs=3):
    """Weights of an nn.LSTM + nn.Linear head: per layer and direction 4h(n_in + h) + 8h (two biases)."""
    directions = 2 if bidirectional else 1
    gemm = bias_elements = 0
    for layer in range(layers):
        n_in = input_size if layer == 0 else directions * hidden
        gemm += directions * 4 * hidden * (n_in + hidden)
        bias_elements += directions * 8 * hidden if bias else 0
    gemm += outputs * directions * hidden
    bias_elements += outputs
    return dict(weights=gemm + bias_elements, mult_adds_per_token=gemm + bias_elements, mult_adds_per_token_gemm=gemm)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configurations())
def test_shrink_equals_the_masked_model_and_keeps_the_survivors(configuration):
    model_args, survivors, seed = configuration
    torch.manual_seed(seed)
    model = SequenceModel(**model_args)
    families = iss.components(model)
    assert len(families) == len(survivors)
    removed = {f.name: torch.tensor([k not in keep for k in range(f.size)]) for f, keep in zip(families, survivors)}
    mask_removed_(model, families, removed)
    assert iss.sizes(model, families) == {f.name: len(keep) for f, keep in zip(families, survivors)}

    compact = iss.shrink(model, families)
    model.eval(), compact.eval()
    batch, steps = 2, 4
    shape = (batch, steps, model_args["input_size"]) if model_args["batch_first"] else (steps, batch, model_args["input_size"])
    x = torch.randn(shape)
    with torch.no_grad():
        assert torch.allclose(model(x), compact(x), atol=1e-5)

    # One nn.LSTM has one hidden size: the largest number of survivors, the rest are dead units kept.
    assert compact.lstm.hidden_size == max(len(keep) for keep in survivors)
    assert iss.sizes(compact) == iss.sizes(model, families)
    if len({len(keep) for keep in survivors}) == 1:
        assert all(not dead.any() for dead in iss.removed(compact).values())

    closed = closed_form_cost(model_args["input_size"], compact.lstm.hidden_size, model_args["layers"],
                              model_args["bidirectional"], model_args["bias"])
    assert iss.cost(compact) == closed


# ---- random architectures from the whole space --------------------------------------------------
# Stacks of nn.LSTM / nn.GRU blocks (layers, directions, batch_first), a packed first block, residual
# sums between blocks of one layout, an encoder whose final state starts a decoder, and a head tied
# to the embedding. The compact model must compute what the masked model computes.

VOCAB = 11


def recurrent(kind, inputs, hidden, layers, bidirectional, batch_first):
    return (nn.LSTM if kind == "lstm" else nn.GRU)(inputs, hidden, num_layers=layers, bidirectional=bidirectional,
                                                  batch_first=batch_first)


class RandomNet(nn.Module):
    """tokens -> embed -> blocks (the first one packed, residual sums where the layouts agree)
    -> [decoder started from the last block's final state, reading embed(target)] -> head."""

    def __init__(self, arch):
        super().__init__()
        self.arch, bf, hidden = arch, arch["batch_first"], arch["hidden"]
        self.embed = nn.Embedding(VOCAB, arch["embed"])
        width, blocks = arch["embed"], []
        for kind, layers, bidirectional in arch["blocks"]:
            blocks.append(recurrent(kind, width, hidden, layers, bidirectional, bf))
            width = hidden * (2 if bidirectional else 1)
        self.blocks = nn.ModuleList(blocks)
        self.decoder = None
        if arch["decoder"]:
            kind, layers, bidirectional = arch["decoder"]
            self.decoder = recurrent(kind, arch["embed"], hidden, layers, bidirectional, bf)
            width = hidden * (2 if bidirectional else 1)
        self.head = nn.Linear(width, VOCAB)
        if arch["tied"]:
            self.head.weight = self.embed.weight

    def forward(self, tokens, lengths, target):
        bf = self.arch["batch_first"]
        x = self.embed(tokens)
        if self.arch["packed"]:
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=bf, enforce_sorted=False)
            out, state = self.blocks[0](packed)
            out = nn.utils.rnn.pad_packed_sequence(out, batch_first=bf)[0]
        else:
            out, state = self.blocks[0](x)
        for block, residual in zip(self.blocks[1:], self.arch["residual"]):
            new, state = block(out)
            out = new + out if residual else new
        if self.decoder is not None:
            # an LSTM hands (h, c) to an LSTM and h to a GRU
            handed = state[0] if isinstance(self.blocks[-1], nn.LSTM) and isinstance(self.decoder, nn.GRU) else state
            out, _ = self.decoder(self.embed(target), handed)
        if self.arch["last"]:
            out = out[:, -1] if bf else out[-1]
        return self.head(out)


def random_architecture(rng: random.Random) -> dict:
    hidden = rng.randint(2, 6)
    blocks = [(rng.choice(["lstm", "gru"]), rng.randint(1, 2), rng.random() < 0.5) for _ in range(rng.randint(1, 3))]
    # a residual sum needs the same layout on both sides: same directions (one hidden size for all blocks)
    residual = [rng.random() < 0.6 and blocks[i + 1][2] == blocks[i][2] for i in range(len(blocks) - 1)]
    decoder = None
    if rng.random() < 0.4:
        kind, layers, bidirectional = blocks[-1]
        rows = layers * (2 if bidirectional else 1)  # h_n rows: the decoder must have as many
        shapes = [(rows // d, d == 2) for d in (1, 2) if rows % d == 0]
        dec_layers, dec_bidirectional = rng.choice(shapes)
        dec_kind = "gru" if kind == "gru" else rng.choice(["lstm", "gru"])
        decoder = (dec_kind, dec_layers, dec_bidirectional)
    top = decoder or blocks[-1]
    tied = rng.random() < 0.4
    embed = hidden * (2 if top[2] else 1) if tied else rng.randint(2, 6)
    return dict(hidden=hidden, blocks=blocks, residual=residual, decoder=decoder, tied=tied, embed=embed,
                batch_first=rng.random() < 0.5, packed=rng.random() < 0.3, last=rng.random() < 0.5)


def random_inputs(arch, rng: random.Random):
    batch, steps = 3, rng.randint(2, 5)
    shape = (batch, steps) if arch["batch_first"] else (steps, batch)
    lengths = torch.tensor([steps] + [rng.randint(1, steps) for _ in range(batch - 1)])
    target_shape = (batch, 3) if arch["batch_first"] else (3, batch)
    return torch.randint(0, VOCAB, shape), lengths, torch.randint(0, VOCAB, target_shape)


@pytest.mark.parametrize("seed", range(60))
def test_random_architectures_shrink_to_what_the_masked_model_computes(seed):
    rng = random.Random(seed)
    torch.manual_seed(seed)
    arch = random_architecture(rng)
    model = RandomNet(arch).eval()
    families = iss.components(model)
    names = [f.name for f in families]
    if arch["decoder"]:  # the hand-off couples the last block with the decoder
        assert any(f"blocks.{len(arch['blocks']) - 1}." in n and "decoder." in n for n in names), (arch, names)
    if arch["tied"]:
        assert any("embed[" in n for n in names), (arch, names)
    removed = {}
    for family in families:
        dead = torch.tensor([rng.random() < 0.35 for _ in range(family.size)])
        dead[rng.randrange(family.size)] = False  # a recurrent module keeps at least one unit
        removed[family.name] = dead
    mask_removed_(model, families, removed)
    found = iss.removed(model, families)  # a coupled unit is dead when it is dead in every module
    assert all(torch.equal(found[name], removed[name]) for name in names)

    inputs = random_inputs(arch, rng)
    compact = iss.shrink(model, families, example_inputs=inputs)  # raises iss.NotExact naming a mismatch
    with torch.no_grad():
        assert torch.allclose(model(*inputs), compact(*inputs), atol=1e-5), arch
    if arch["tied"]:
        assert compact.head.weight is compact.embed.weight  # still tied after the shrink
