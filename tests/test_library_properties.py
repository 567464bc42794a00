"""Property tests: for random nn.LSTM configurations and random dead units, `iss.shrink` computes what
the masked model computes, keeps exactly the survivors, and `iss.cost` matches the closed form."""
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
