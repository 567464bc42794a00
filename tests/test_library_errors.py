"""The library is never silently wrong: descriptions that do not fit the model, values that
cannot be meant and shrinks that are not exact are refused with an ``iss.ISSError``."""
import math

import pytest
import torch
from torch import nn

import iss


class Tagger(nn.Module):
    def __init__(self, hidden=8, layers=2):
        super().__init__()
        self.lstm = nn.LSTM(5, hidden, num_layers=layers)
        self.head = nn.Linear(hidden, 3)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out)


class EncoderDecoder(nn.Module):
    """The encoder's final (h, c) is the decoder's initial state: their units are coupled."""

    def __init__(self):
        super().__init__()
        self.enc, self.dec, self.head = nn.LSTM(5, 8), nn.LSTM(5, 8), nn.Linear(8, 3)

    def forward(self, x, y):
        _, state = self.enc(x)
        out, _ = self.dec(y, state)
        return self.head(out)


def kill_unit(model, family, k):
    params = dict(model.named_parameters())
    with torch.no_grad():
        for part in family.parts:
            params[part.param].index_fill_(part.dim, part.indices(family.size)[:, k], 0.0)


@pytest.mark.parametrize("other_width", [4, 16])
def test_families_of_another_width_are_refused_not_applied(other_width):
    model = Tagger(hidden=8)
    foreign = iss.components(Tagger(hidden=other_width))
    for call in (lambda: iss.GroupLasso(model, 0.1, foreign)(), lambda: iss.sizes(model, foreign),
                 lambda: iss.shrink(model, foreign)):
        with pytest.raises(iss.InvalidDescription, match="another model|owns no whole dimension"):
            call()


def test_a_family_naming_a_missing_parameter_is_an_invalid_description():
    family = iss.Family("x", 8, (iss.Slice("lstm.weight_hh_l7", dim=1),))
    with pytest.raises(iss.InvalidDescription, match="'lstm.weight_hh_l7', which Tagger does not have"):
        iss.sizes(Tagger(), [family])


@pytest.mark.parametrize("value", [math.nan, math.inf, -0.1, "0.1x"])
def test_lambda_and_threshold_that_cannot_be_meant_are_refused(value):
    model = Tagger()
    with pytest.raises(iss.InvalidArgument, match="lambda must be a"):
        iss.GroupLasso(model, value)
    with pytest.raises(iss.InvalidArgument, match="threshold must be a"):
        iss.zero_small_(model, value)
    weights = model.lstm.weight_hh_l0.detach().clone()
    assert torch.equal(weights, model.lstm.weight_hh_l0)  # nothing was thresholded


def test_every_refusal_is_an_iss_error_and_keeps_its_builtin_type():
    with pytest.raises(iss.ISSError):
        iss.components(nn.Sequential(nn.RNN(4, 4)))
    with pytest.raises(TypeError):  # NotSupported was a TypeError before the error family
        iss.components(nn.Sequential(nn.RNN(4, 4)))
    with pytest.raises(ValueError):
        iss.zero_small_(Tagger(), 0.1, scope="some")


def test_shrink_with_example_inputs_passes_an_exact_shrink():
    torch.manual_seed(0)
    model = Tagger()
    families = iss.components(model)
    kill_unit(model, families[0], 2)
    kill_unit(model, families[1], 5)
    x = torch.randn(6, 2, 5)
    compact = iss.shrink(model, families, example_inputs=(x,))
    assert compact.lstm.hidden_size == 7
    assert iss.check_exact(model, compact, families, iss.removed(model, families), (x,)) < 1e-5


def test_coupled_state_hand_off_is_caught_when_the_units_differ():
    """Encoder and decoder each lose one unit, different ones: the hand-off pairs the wrong units.
    Without example inputs this shrink returned outputs off by about 0.02 without a word. Declaring
    the readers no longer hides the hand-off from tracing; a description written by hand that misses
    the coupling (one family per module) is what example_inputs must catch."""
    torch.manual_seed(0)
    model = EncoderDecoder()
    (coupled,) = iss.components(model, consumers={"enc": None, "dec": "head"})
    assert coupled.name == "enc.l0+dec.l0"
    families = {f"{side}.l0": iss.Family(f"{side}.l0", 8, *(tuple(p for p in parts if p.param.startswith("enc.") == own)
                                                          for parts in (coupled.parts, coupled.followers)))
                for side, own in (("enc", True), ("dec", False))}  # the head's columns go with the decoder
    kill_unit(model, families["enc.l0"], 1)
    kill_unit(model, families["dec.l0"], 2)
    x, y = torch.randn(4, 2, 5), torch.randn(3, 2, 5)
    with pytest.raises(iss.NotExact, match=r"shrink: output differs from the masked model's by .*first at index"):
        iss.shrink(model, list(families.values()), example_inputs=(x, y))


def test_an_output_whose_width_depends_on_removed_units_is_caught():
    class AlsoReturnsStates(Tagger):
        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out), out

    torch.manual_seed(0)
    model = AlsoReturnsStates(layers=1)
    families = iss.components(model, consumers={"lstm": "head"})
    kill_unit(model, families[0], 3)
    with pytest.raises(iss.NotExact, match=r"output\[1\] has shape \(6, 2, 7\) in the compact model"):
        iss.shrink(model, families, example_inputs=(torch.randn(6, 2, 5),))


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp, self.lstm, self.head = nn.Linear(5, 8), nn.LSTM(8, 8), nn.Linear(8, 3)

    def forward(self, x):
        x = self.inp(x)
        out, _ = self.lstm(x)
        return self.head(out + x)


class Normed(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm, self.norm, self.head = nn.LSTM(5, 8), nn.LayerNorm(8), nn.Linear(8, 3)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(self.norm(out))


@pytest.mark.parametrize("model, why", [(Residual, "coupled to other features .*residual"),
                                        (Normed, "no exact shrink exists .*LayerNorm")])
def test_models_with_no_exact_shrink_are_refused_with_a_reason(model, why):
    with pytest.raises(iss.ConsumerNotFound, match=why) as error:
        iss.components(model())
    assert "leave" in str(error.value)  # the option that works: keep those units out of ISS


def test_declaring_a_reader_past_a_normalisation_is_still_refused():
    """Tracing runs on declared modules too: no declaration makes a LayerNorm over the units exact."""
    with pytest.raises(iss.ConsumerNotFound, match="no exact shrink exists .*LayerNorm"):
        iss.components(Normed(), consumers={"lstm": "head"})


@pytest.mark.parametrize("model", [Residual])
def test_following_a_wrong_declaration_is_caught_by_the_exactness_check(model):
    """Declaring the head anyway (the old hint) made a compact model that crashed on its first call.
    (A per-unit operand may broadcast over the units, so the declaration is taken at its word.)"""
    torch.manual_seed(0)
    large = model()
    families = iss.components(large, consumers={"lstm": "head"})
    kill_unit(large, families[0], 2)
    with pytest.raises(iss.NotExact, match="the compact model fails on the example inputs"):
        iss.shrink(large, families, example_inputs=(torch.randn(4, 2, 5),))


def test_the_hint_names_the_module_the_output_reaches():
    class Projected(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.proj = nn.LSTM(5, 8), nn.Linear(8, 3)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.proj(torch.fft.rfft(out, dim=-1).real)  # user code iss cannot follow

    with pytest.raises(iss.ConsumerNotFound) as error:
        iss.components(Projected())
    assert "consumers={'lstm': 'proj'}" in str(error.value)


def test_module_path_packing_and_full_slices_of_the_state_are_traced():
    class Packed(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.head = nn.LSTM(5, 8, batch_first=True), nn.Linear(8, 3)

        def forward(self, x, lengths):
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            _, (h, _) = self.lstm(packed)
            return self.head(h[-1, :, :])

    families = iss.components(Packed())
    assert [part.param for part in families[0].parts][-1] == "head.weight"
