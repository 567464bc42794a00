"""The public library (`import iss`) on users' own nn.LSTM models: components found by tracing or
declared, clear errors, penalty paths, threshold, shrink and cost."""
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import iss
from iss.groups import mask_removed_
from iss_harness.models.lstm_lm import LSTMLanguageModel


class LastStepClassifier(nn.Module):
    def __init__(self, bidirectional=False, layers=2, batch_first=True, hidden=12):
        super().__init__()
        self.embedding = nn.Embedding(50, 8)
        self.lstm = nn.LSTM(8, hidden, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), 3)

    def forward(self, tokens):
        out, _ = self.lstm(self.embedding(tokens))
        last = out[:, -1] if self.lstm.batch_first else out[-1]
        return self.head(self.dropout(last))


class FinalStateClassifier(nn.Module):
    """Reads h_n of both directions of the top layer: cat([h_n[-2], h_n[-1]])."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 9, num_layers=2, bidirectional=True)
        self.head = nn.Linear(18, 4)

    def forward(self, x):
        _, (h_n, _) = self.lstm(x)
        return self.head(torch.cat([h_n[-2], h_n[-1]], dim=-1))


class MeanPoolTagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(5, 7, batch_first=True)
        self.head = nn.Linear(7, 2)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(torch.tanh(out).mean(dim=1))


class EncoderDecoder(nn.Module):
    """Two nn.LSTM modules in a row: the second reads the first's output."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.LSTM(4, 10, bidirectional=True)
        self.decoder = nn.LSTM(20, 6, num_layers=2)
        self.head = nn.Linear(6, 3)

    def forward(self, x, state=None):
        h, _ = self.encoder(x)
        out, state = self.decoder(nn.functional.dropout(h, 0.1, self.training), state)
        return self.head(out), state


class PackedModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 8, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        padded, _ = pad_packed_sequence(out, batch_first=True)
        return self.head(padded)


class CustomHead(nn.Module):
    """The output goes through user arithmetic before the head: iss cannot tell what reads it."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 6)
        self.head = nn.Linear(6, 2)
        self.scale = nn.Parameter(torch.ones(6))

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out * self.scale)


def kill_units(model, families, fraction=0.5, seed=0):
    """Zero a random `fraction` of every family's components (at least one survives)."""
    generator = torch.Generator().manual_seed(seed)
    removed = {}
    for family in families:
        dead = torch.rand(family.size, generator=generator) < fraction
        dead[int(torch.randint(family.size, (1,), generator=generator))] = False
        removed[family.name] = dead
    mask_removed_(model, families, removed)
    return removed


def assert_shrink_is_exact(model, inputs, **kwargs):
    families = iss.components(model, **kwargs)
    removed = kill_units(model, families)
    compact = iss.shrink(model, families)
    model.eval(), compact.eval()
    with torch.no_grad():
        large, small = model(*inputs), compact(*inputs)
    large, small = (large[0], small[0]) if isinstance(large, tuple) else (large, small)
    assert torch.allclose(large, small, atol=1e-5), (large - small).abs().max()
    assert iss.sizes(compact, iss.components(compact, **kwargs)) == {n: int((~d).sum()) for n, d in removed.items()}
    return compact, families


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_last_step_classifier_is_traced_and_shrinks_exactly(bidirectional, batch_first):
    torch.manual_seed(0)
    model = LastStepClassifier(bidirectional, batch_first=batch_first)
    tokens = torch.randint(0, 50, (3, 5)) if batch_first else torch.randint(0, 50, (5, 3))
    compact, families = assert_shrink_is_exact(model, (tokens,))
    names = ["lstm.l0", "lstm.l0_reverse", "lstm.l1", "lstm.l1_reverse"] if bidirectional else ["lstm.l0", "lstm.l1"]
    assert [f.name for f in families] == names
    top = families[-1]
    assert iss.Slice("head.weight", dim=1, start=12 if bidirectional else 0) in top.parts
    assert isinstance(compact, LastStepClassifier) and compact.head.in_features < model.head.in_features


def test_final_state_of_both_directions_reaches_the_head_at_its_offsets():
    model = FinalStateClassifier()
    families = {f.name: f for f in iss.components(model)}
    assert iss.Slice("head.weight", dim=1, start=0) in families["lstm.l1"].parts
    assert iss.Slice("head.weight", dim=1, start=9) in families["lstm.l1_reverse"].parts
    assert not any(p.param == "head.weight" for p in families["lstm.l0"].parts)
    assert_shrink_is_exact(model, (torch.randn(7, 2, 6),))


@pytest.mark.parametrize("factory, inputs", [
    (MeanPoolTagger, lambda: (torch.randn(2, 5, 5),)),
    (EncoderDecoder, lambda: (torch.randn(6, 2, 4),)),
    (PackedModel, lambda: (torch.randn(3, 5, 3), torch.tensor([5, 2, 4]))),
])
def test_pooling_stacked_modules_and_packed_sequences_are_traced(factory, inputs):
    torch.manual_seed(1)
    assert_shrink_is_exact(factory(), inputs())


def test_encoder_output_is_read_by_both_directions_of_the_next_lstm_only_through_weight_ih():
    families = {f.name: f for f in iss.components(EncoderDecoder())}
    assert iss.Slice("decoder.weight_ih_l0", dim=1, start=10) in families["encoder.l0_reverse"].parts
    assert iss.Slice("head.weight", dim=1, start=0) in families["decoder.l1"].parts


def test_a_custom_head_gets_one_error_naming_the_lstm_and_the_declaration():
    model = CustomHead()
    with pytest.raises(iss.ConsumerNotFound) as caught:
        iss.components(model)
    message = str(caught.value)
    assert "'lstm'" in message and "consumers=" in message and "mul" in message
    # Declared, the description builds; whether the shrink is exact depends on the scale (one entry per
    # unit couples it to the units), which shrink(..., example_inputs=...) checks.
    families = iss.components(model, consumers={"lstm": "head"})
    assert iss.Slice("head.weight", dim=1, start=0) in families[0].parts


def test_a_model_that_cannot_be_traced_gets_the_same_advice():
    class Loop(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(3, 4)
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            out, _ = self.lstm(x)
            if out.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
                out = out * 2
            return self.head(out)

    with pytest.raises(iss.ConsumerNotFound, match=r"could not trace Loop\.forward.*consumers="):
        iss.components(Loop())
    assert len(iss.components(Loop(), consumers={"lstm": iss.Consumer("head")})) == 1


def test_features_returned_by_forward_must_be_declared_and_then_narrow():
    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(3, 6)

        def forward(self, x):
            return self.lstm(x)[0]

    model = Encoder()
    with pytest.raises(iss.ConsumerNotFound, match="returned by forward"):
        iss.components(model)
    families = iss.components(model, consumers={"lstm": None})
    kill_units(model, families)
    compact = iss.shrink(model, families)
    assert compact.lstm.hidden_size == iss.sizes(model, families)["lstm.l0"]


def test_layer_norm_between_lstm_and_head_is_refused():
    class Normed(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(3, 6)
            self.norm = nn.LayerNorm(6)
            self.head = nn.Linear(6, 2)

        def forward(self, x):
            return self.head(self.norm(self.lstm(x)[0]))

    with pytest.raises(iss.ConsumerNotFound, match="LayerNorm"):
        iss.components(Normed())


def test_unknown_consumer_keys_and_unsupported_modules_are_named():
    with pytest.raises(iss.InvalidDescription, match="'rnn'"):
        iss.components(LastStepClassifier(), consumers={"rnn": "head"})
    with pytest.raises(iss.NotSupported, match="proj_size"):
        iss.components(nn.Sequential(nn.LSTM(3, 6, proj_size=2)))
    plain = nn.Module()
    plain.rnn = nn.RNN(3, 4)
    with pytest.raises(iss.NotSupported, match="no nn.LSTM or nn.GRU; nn.RNN 'rnn' not supported"):
        iss.components(plain)
    with pytest.raises(iss.NotSupported, match="nn.RNN 'rnn'"):
        iss.components(plain, lstms=["rnn"])


def test_declared_consumers_reproduce_the_paper_language_models_own_description():
    model = LSTMLanguageModel(vocab_size=20, embedding_size=6, hidden_sizes=[5, 4])
    own = model.iss_families()
    declared = iss.components(model, consumers={"lstms.0": "lstms.1", "lstms.1": "decoder"})
    assert [f.parts for f in declared] == [f.parts for f in own]
    assert [f.followers for f in declared] == [f.followers for f in own]


def test_rebuild_keeps_frozen_parameters_frozen():
    model = LSTMLanguageModel(vocab_size=20, embedding_size=6, hidden_sizes=[5, 4])
    consumers = {"lstms.0": "lstms.1", "lstms.1": "decoder"}
    families = iss.components(model, consumers=consumers)
    kill_units(model, families)
    from iss.lstm_families import shrink_modules
    compact = shrink_modules(model, families, iss.removed(model, families))
    assert not compact.lstms[0].bias_hh_l0.requires_grad and compact.lstms[0].weight_ih_l0.requires_grad
    assert compact.hidden_sizes == model.hidden_sizes  # stored copy: why resized() exists for this class
    assert [lstm.hidden_size for lstm in compact.lstms] == list(iss.sizes(model, families).values())


def test_unequal_layers_of_one_lstm_keep_the_largest_size_and_stay_exact():
    torch.manual_seed(3)
    model = LastStepClassifier(bidirectional=True, layers=3, hidden=10)
    families = iss.components(model)
    survivors = {"lstm.l0": [1, 4], "lstm.l0_reverse": [2], "lstm.l1": [0, 1, 2, 9], "lstm.l1_reverse": [5],
                 "lstm.l2": [3], "lstm.l2_reverse": [0, 7]}
    removed = {name: torch.tensor([k not in keep for k in range(10)]) for name, keep in survivors.items()}
    mask_removed_(model, families, removed)
    compact = iss.shrink(model)
    assert compact.lstm.hidden_size == 4
    assert iss.sizes(compact) == {name: len(keep) for name, keep in survivors.items()}
    model.eval(), compact.eval()
    tokens = torch.randint(0, 50, (2, 6))
    assert torch.allclose(model(tokens), compact(tokens), atol=1e-5)


def test_group_lasso_autograd_value_and_in_place_gradient_agree():
    torch.manual_seed(4)
    model = EncoderDecoder()
    reg = iss.GroupLasso(model, 0.01)
    value = reg()
    value.backward()
    autograd = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    in_place = reg.add_grad_()
    assert float(in_place) == pytest.approx(float(value.detach()), rel=1e-6)
    for name, grad in autograd.items():
        assert torch.allclose(model.get_parameter(name).grad, grad, atol=1e-7), name
    norms = reg.norms()
    assert set(norms) == {f.name for f in reg.families}
    assert float(sum(n.sum() for n in norms.values())) * 0.01 == pytest.approx(float(value), rel=1e-4)


def test_zero_small_touches_only_grouped_weights_by_default():
    model = MeanPoolTagger()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1e-5)
    iss.zero_small_(model, 1e-4)
    assert (model.lstm.weight_ih_l0 == 0).all() and (model.head.weight == 0).all()
    assert (model.lstm.bias_ih_l0 != 0).all() and (model.head.bias != 0).all()
    iss.zero_small_(model, 1e-4, scope="all")
    assert (model.head.bias == 0).all()
    with pytest.raises(ValueError, match="scope"):
        iss.zero_small_(model, 1e-4, scope="some")


def test_cost_counts_lstm_weights_in_closed_form_and_embeddings_as_lookups():
    model = LastStepClassifier(bidirectional=True, layers=2, hidden=12)
    lstm = 2 * (4 * 12 * (8 + 12) + 8 * 12) + 2 * (4 * 12 * (24 + 12) + 8 * 12)
    head = 3 * 24 + 3
    counted = iss.cost(model)
    assert counted["weights"] == 50 * 8 + lstm + head
    assert counted["mult_adds_per_token"] == lstm + head
    assert counted["mult_adds_per_token_gemm"] == lstm + head - 2 * 2 * 8 * 12 - 3
    assert iss.cost(model, baseline=model)["mult_add_reduction"] == 1.0


def test_the_harness_config_imports_without_the_library_or_torch():
    """The workflow's torch-free modules no longer need a lazy library: they live in iss_harness."""
    code = ("import sys, iss_harness.config; assert 'torch' not in sys.modules, 'torch imported'; "
            "assert 'iss' not in sys.modules, 'the library was imported'; import iss; print(iss.__version__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
