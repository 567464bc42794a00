"""Coupled units (issue 26): units whose sizes must stay equal across modules are one ISS component,
penalised as one group, dead only when dead everywhere, removed everywhere; found by tracing, or
declared with ``coupled=``; and what has no exact shrink is refused with a call that works."""
import math

import pytest
import torch
from torch import nn

import iss
from iss.groups import mask_removed_


def kill(model, families, name, units):
    """Zero every penalised weight of ``units`` of family ``name`` (as training would)."""
    removed = {f.name: torch.zeros(f.size, dtype=torch.bool) for f in families}
    removed[name][list(units)] = True
    mask_removed_(model, families, removed)


class EncoderDecoder(nn.Module):
    """The encoder's final (h, c) is the decoder's initial state (seq2seq without attention)."""

    def __init__(self, layers=2, bidirectional=False):
        super().__init__()
        self.enc = nn.LSTM(5, 8, num_layers=layers, bidirectional=bidirectional)
        self.dec = nn.LSTM(4, 8, num_layers=layers, bidirectional=bidirectional)
        self.head = nn.Linear(16 if bidirectional else 8, 3)

    def forward(self, x, y):
        _, state = self.enc(x)
        out, _ = self.dec(y, state)
        return self.head(out)


def test_a_state_hand_off_is_one_component_per_layer_and_direction():
    families = iss.components(EncoderDecoder(bidirectional=True))
    assert [f.name for f in families] == ["enc.l0+dec.l0", "enc.l0_reverse+dec.l0_reverse",
                                          "enc.l1+dec.l1", "enc.l1_reverse+dec.l1_reverse"]
    params = {part.param for part in families[0].parts}
    assert {"enc.weight_ih_l0", "enc.weight_hh_l0", "enc.weight_ih_l1", "dec.weight_ih_l0", "dec.weight_hh_l0",
            "dec.weight_ih_l1"} <= params


def test_a_coupled_unit_is_penalised_as_one_group_and_dead_only_when_dead_everywhere():
    torch.manual_seed(0)
    model = EncoderDecoder(layers=1)
    families = iss.components(model)
    (family,) = families
    norms = iss.GroupLasso(model, 1.0, families).norms()["enc.l0+dec.l0"]
    by_module = {}
    for side in (True, False):  # the encoder's weights, the decoder's and the head's
        own = iss.Family("x", 8, tuple(p for p in family.parts if p.param.startswith("enc.") == side))
        by_module[side] = iss.GroupLasso(model, 1.0, [own]).norms()["x"]
    assert torch.allclose(norms, (by_module[True] ** 2 + by_module[False] ** 2).sqrt())  # one norm over both

    with torch.no_grad():
        for part in family.parts:
            if part.param.startswith("enc."):  # unit 3 dead in the encoder only
                dict(model.named_parameters())[part.param].index_fill_(part.dim, part.indices(8)[:, 3], 0.0)
    assert not iss.removed(model, families)["enc.l0+dec.l0"][3]
    kill(model, families, "enc.l0+dec.l0", [3, 5])
    assert iss.removed(model, families)["enc.l0+dec.l0"].nonzero().flatten().tolist() == [3, 5]


@pytest.mark.parametrize("layers, bidirectional", [(1, False), (2, False), (1, True), (2, True)])
def test_an_encoder_decoder_shrinks_both_modules_exactly(layers, bidirectional):
    torch.manual_seed(layers)
    model = EncoderDecoder(layers, bidirectional).eval()
    families = iss.components(model)
    for i, family in enumerate(families):
        kill(model, families, family.name, [i, 6])
    x, y = torch.randn(5, 2, 5), torch.randn(3, 2, 4)
    compact = iss.shrink(model, families, example_inputs=(x, y))
    assert compact.enc.hidden_size == compact.dec.hidden_size == 6
    with torch.no_grad():
        assert torch.allclose(model(x, y), compact(x, y), atol=1e-5)


def test_an_lstm_state_handed_to_a_gru_and_a_bidirectional_encoder_to_a_deeper_decoder():
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc, self.dec = nn.LSTM(5, 6, bidirectional=True), nn.GRU(4, 6, num_layers=2)
            self.head = nn.Linear(6, 2)

        def forward(self, x, y):
            _, (h, _) = self.enc(x)
            out, _ = self.dec(y, h)  # h_n rows: (l0, fwd), (l0, bwd) -> (l0), (l1)
            return self.head(out)

    torch.manual_seed(0)
    model = Mixed().eval()
    families = iss.components(model)
    assert [f.name for f in families] == ["enc.l0+dec.l0", "enc.l0_reverse+dec.l1"]
    kill(model, families, "enc.l0+dec.l0", [0, 1])
    kill(model, families, "enc.l0_reverse+dec.l1", [2, 3, 4])
    compact = iss.shrink(model, families, example_inputs=(torch.randn(4, 2, 5), torch.randn(3, 2, 4)))
    assert compact.dec.hidden_size == 4


class ResidualStack(nn.Module):
    """out = lstm2(out1)[0] + out1, then a third module on the sum: one residual stream."""

    def __init__(self):
        super().__init__()
        self.lstm1, self.lstm2, self.gru3 = nn.LSTM(5, 8), nn.LSTM(8, 8), nn.GRU(8, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        out1, _ = self.lstm1(x)
        out = self.lstm2(out1)[0] + out1
        out = self.gru3(out)[0] + out
        return self.head(out)


def test_a_residual_stream_is_one_component_across_the_stack_and_shrinks_exactly():
    torch.manual_seed(0)
    model = ResidualStack().eval()
    families = iss.components(model)
    assert [f.name for f in families] == ["lstm1.l0+lstm2.l0+gru3.l0"]
    assert iss.Slice("head.weight", dim=1) in families[0].parts
    kill(model, families, families[0].name, [1, 4, 7])
    x = torch.randn(6, 2, 5)
    compact = iss.shrink(model, families, example_inputs=(x,))
    assert (compact.lstm1.hidden_size, compact.lstm2.hidden_size, compact.gru3.hidden_size) == (5, 5, 5)
    assert compact.head.in_features == 5


class TiedWordLM(nn.Module):
    """pytorch/examples' word language model with tie_weights: decoder.weight is encoder.weight."""

    def __init__(self, ntoken=50, nhid=16, max_norm=None):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, nhid, max_norm=max_norm)
        self.rnn, self.decoder = nn.LSTM(nhid, nhid, 2), nn.Linear(nhid, ntoken)
        self.drop = nn.Dropout(0.2)
        self.decoder.weight = self.encoder.weight

    def forward(self, x):
        out, _ = self.rnn(self.drop(self.encoder(x)))
        return self.decoder(self.drop(out))


def test_a_tied_embedding_is_coupled_penalised_once_and_stays_tied_after_shrink():
    torch.manual_seed(0)
    model = TiedWordLM().eval()
    families = iss.components(model)
    assert [f.name for f in families] == ["rnn.l0", "rnn.l1+encoder[0:16]"]
    top = families[1]
    # the tied tensor is penalised once (decoder.weight), cut under both names (encoder.weight follows)
    assert [p.param for p in top.parts].count("decoder.weight") == 1
    assert "encoder.weight" not in [p.param for p in top.parts]
    assert iss.Slice("encoder.weight", dim=1) in top.followers
    assert iss.Slice("rnn.weight_ih_l0", dim=1) in top.parts  # the embedding's reader
    assert sum(p is model.encoder.weight for p in iss.grouped_parameters(model, families)) == 1
    penalty = iss.GroupLasso(model, 0.1, families)()
    penalty.backward()
    assert torch.isfinite(model.encoder.weight.grad).all()

    kill(model, families, top.name, [0, 5, 9])
    kill(model, families, "rnn.l0", [1, 2, 3])  # one nn.LSTM keeps its largest layer's count
    tokens = torch.randint(0, 50, (7, 3))
    compact = iss.shrink(model, families, example_inputs=(tokens,))
    assert compact.decoder.weight is compact.encoder.weight
    assert compact.encoder.embedding_dim == compact.rnn.input_size == compact.rnn.hidden_size == 13
    assert iss.sizes(compact) == {"rnn.l0": 13, "rnn.l1+encoder[0:13]": 13}


def test_declared_coupling_works_where_the_graph_does_not_show_it():
    class Bridged(EncoderDecoder):
        def forward(self, x, y):
            _, (h, c) = self.enc(x)
            out, _ = self.dec(y, (h.contiguous(), c.contiguous()))  # iss does not follow methods on a state
            return self.head(out)

    model = Bridged(layers=2)
    with pytest.raises(iss.ConsumerNotFound) as error:
        iss.components(model)
    call = str(error.value).split("declare the coupling: ", 1)[1].split(" (consumers:", 1)[0]
    assert call == "iss.components(model, consumers={'enc': None}, coupled=[('enc', 'dec')])"
    families = eval(call, {"iss": iss, "model": model})  # the hint is a call that works
    assert [f.name for f in families] == ["enc.l0+dec.l0", "enc.l1+dec.l1"]
    assert families == iss.components(model, consumers={"enc": None}, coupled=[("enc.l0", "dec.l0"),
                                                                                ("enc.l1", "dec.l1")])
    torch.manual_seed(0)
    kill(model, families, "enc.l1+dec.l1", [2])
    kill(model, families, "enc.l0+dec.l0", [4])
    iss.shrink(model.eval(), families, example_inputs=(torch.randn(4, 2, 5), torch.randn(3, 2, 4)))


@pytest.mark.parametrize("coupled, why", [([("enc", "nothing")], "'nothing', which is neither an ISS family"),
                                          ([("enc.l0", "dec")], r"names \[1, 2\] families each"),
                                          (["enc"], "each entry is a tuple of two or more names")])
def test_a_declared_coupling_that_does_not_fit_is_an_invalid_description(coupled, why):
    with pytest.raises(iss.InvalidDescription, match=why):
        iss.components(EncoderDecoder(), consumers={"enc": None, "dec": "head"}, coupled=coupled)


def test_a_state_handed_to_a_module_left_out_of_iss_is_refused_with_a_call_that_works():
    model = EncoderDecoder()
    with pytest.raises(iss.ConsumerNotFound, match="left out of ISS") as error:
        iss.components(model, lstms=["enc"])
    call = str(error.value).split("run ISS on both (", 1)[1].split(" or more)", 1)[0]
    assert call == "iss.components(model, lstms=['enc', 'dec'])"
    assert len(eval(call, {"iss": iss, "model": model})) == 2


def test_a_tied_embedding_with_max_norm_is_refused_with_an_untie_statement_that_works():
    model = TiedWordLM(max_norm=1.0)
    with pytest.raises(iss.NotSupported, match="max_norm=1.0: its rows are renormalised") as error:
        iss.components(model)
    exec(str(error.value).rsplit("to use ISS: ", 1)[1], {"model": model, "torch": torch})
    assert model.decoder.weight is not model.encoder.weight
    assert [f.name for f in iss.components(model)] == ["rnn.l0", "rnn.l1"]


def test_a_tied_embedding_read_by_code_iss_cannot_follow_gets_an_untie_statement_that_works():
    class Scaled(TiedWordLM):
        def forward(self, x):
            out, _ = self.rnn(torch.fft.fft(self.encoder(x), dim=-1).real)
            return self.decoder(out)

    model = Scaled()
    with pytest.raises(iss.ConsumerNotFound, match="'encoder' is tied to 'decoder.weight'") as error:
        iss.components(model)
    exec(str(error.value).rsplit("untie them to use ISS: ", 1)[1], {"model": model, "torch": torch})
    assert [f.name for f in iss.components(model)] == ["rnn.l0", "rnn.l1"]


def test_a_tied_weight_that_is_not_an_embedding_is_still_refused_with_an_untie_statement():
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.head, self.other = nn.LSTM(4, 6), nn.Linear(6, 3), nn.Linear(6, 3)
            self.other.weight = self.head.weight

        def forward(self, x, z):
            return self.head(self.lstm(x)[0]), self.other(z)

    model = TwoHeads()
    with pytest.raises(iss.NotSupported, match="'head.weight', which is tied to 'other.weight'") as error:
        iss.components(model)
    exec(str(error.value).rsplit("untie them to use ISS: ", 1)[1], {"model": model, "torch": torch})
    assert iss.Slice("head.weight", dim=1) in iss.components(model)[0].parts


def test_a_layer_norm_over_a_residual_stream_is_still_refused_with_a_call_that_works():
    class Normed(ResidualStack):
        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(8)

        def forward(self, x):
            out1, _ = self.lstm1(x)
            return self.head(self.norm(self.lstm2(out1)[0] + out1))

    model = Normed()
    with pytest.raises(iss.ConsumerNotFound, match="no exact shrink exists .*LayerNorm") as error:
        iss.components(model)
    call = str(error.value).split("leave it out of ISS (", 1)[1].split("), or change", 1)[0]
    assert call == "iss.components(model, lstms=['gru3'])"
    assert math.isfinite(float(iss.GroupLasso(model, 0.1, eval(call, {"iss": iss, "model": model}))()))


def test_the_declaration_hint_for_returned_features_keeps_the_coupling_and_narrows_exactly():
    """Declaring the readers no longer hides what tracing shows: the residual sum and the hand-off
    still couple the modules (followed literally, the old hint crashed the compact model)."""
    class ReturnsSum(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm1, self.lstm2 = nn.LSTM(5, 8), nn.GRU(8, 8)

        def forward(self, x):
            out1, _ = self.lstm1(x)
            return self.lstm2(out1)[0] + out1

    class ReturnsDecoded(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc, self.dec = nn.LSTM(5, 8), nn.LSTM(4, 8)

        def forward(self, x, y):
            return self.dec(y, self.enc(x)[1])[0]

    for model, inputs in ((ReturnsSum(), (torch.randn(6, 2, 5),)),
                          (ReturnsDecoded(), (torch.randn(5, 2, 5), torch.randn(3, 2, 4)))):
        with pytest.raises(iss.ConsumerNotFound, match="returned by forward") as error:
            iss.components(model)
        call = str(error.value).split("declare that the output leaves the model: ", 1)[1].split(" (shrink", 1)[0]
        families = eval(call, {"iss": iss, "model": model.eval()})
        assert len(families) == 1 and "+" in families[0].name, call
        kill(model, families, families[0].name, [1, 6])
        compact = iss.shrink(model, families)
        with torch.no_grad():  # the returned features narrow to the surviving units, which are unchanged
            assert torch.allclose(model(*inputs)[..., [0, 2, 3, 4, 5, 7]], compact(*inputs), atol=1e-5)


class Bridged(nn.Module):
    """A bidirectional GRU encoder whose state a Linear maps to the decoder's initial state."""

    def __init__(self, learned_state=False):
        super().__init__()
        self.enc, self.fc, self.dec = nn.GRU(5, 8, bidirectional=True), nn.Linear(16, 8), nn.GRU(4, 8)
        self.h0 = nn.Parameter(torch.zeros(1, 1, 8)) if learned_state else None
        self.head = nn.Linear(8, 3)

    def forward(self, x, y):
        _, h = self.enc(x)
        start = torch.tanh(self.fc(torch.cat((h[-2, :, :], h[-1, :, :]), dim=1))).unsqueeze(0)
        if self.h0 is not None:
            start = self.h0.expand(1, y.shape[1], 8).contiguous()
        return self.head(self.dec(y, start)[0])


@pytest.mark.parametrize("learned_state, source", [(False, "'fc'"), (True, "'h0'")])
def test_an_initial_state_computed_by_weights_iss_does_not_shrink_is_refused_with_a_call_that_works(
        learned_state, source):
    model = Bridged(learned_state).eval()
    with pytest.raises(iss.ConsumerNotFound, match=f"its initial state is computed by {source}") as error:
        iss.components(model)
    call = str(error.value).split("leave it out of ISS (", 1)[1].split("), or change", 1)[0]
    assert call == "iss.components(model, lstms=['enc'])"
    families = eval(call, {"iss": iss, "model": model})
    torch.manual_seed(0)
    for family in families:
        kill(model, families, family.name, [2, 3])
    compact = iss.shrink(model, families, example_inputs=(torch.randn(4, 2, 5), torch.randn(3, 2, 4)))
    assert compact.enc.hidden_size == 6 and compact.dec.hidden_size == 8


class WordLanguageModel(nn.Module):
    """pytorch/examples' word_language_model RNNModel with tie_weights, the state passed in by the
    caller; init_hidden reads the size from the module (the example stores nhid: see docs/library.md)."""

    def __init__(self, rnn_type, ntoken=30, nhid=8, nlayers=2):
        super().__init__()
        self.ntoken, self.drop = ntoken, nn.Dropout(0.5)
        self.encoder = nn.Embedding(ntoken, nhid)
        self.rnn = getattr(nn, rnn_type)(nhid, nhid, nlayers, dropout=0.5)
        self.decoder = nn.Linear(nhid, ntoken)
        self.decoder.weight = self.encoder.weight

    def forward(self, input, hidden):
        output, hidden = self.rnn(self.drop(self.encoder(input)), hidden)
        decoded = self.decoder(self.drop(output)).view(-1, self.ntoken)
        return nn.functional.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        zeros = next(self.parameters()).new_zeros(self.rnn.num_layers, bsz, self.rnn.hidden_size)
        return (zeros, zeros.clone()) if isinstance(self.rnn, nn.LSTM) else zeros


@pytest.mark.parametrize("rnn_type", ["LSTM", "GRU"])
def test_the_pytorch_examples_word_model_with_tied_weights_shrinks_exactly(rnn_type):
    torch.manual_seed(0)
    model = WordLanguageModel(rnn_type).eval()
    families = iss.components(model)
    assert [f.name for f in families] == ["rnn.l0", "rnn.l1+encoder[0:8]"]
    kill(model, families, "rnn.l1+encoder[0:8]", [0, 3, 7])
    kill(model, families, "rnn.l0", [1, 2, 3])
    compact = iss.shrink(model, families)
    assert compact.decoder.weight is compact.encoder.weight and compact.rnn.hidden_size == 5
    tokens = torch.randint(0, 30, (6, 3))
    with torch.no_grad():
        assert torch.allclose(model(tokens, model.init_hidden(3))[0], compact(tokens, compact.init_hidden(3))[0],
                              atol=1e-5)
