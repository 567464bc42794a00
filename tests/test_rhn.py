"""The RHN language model: equations, paper costs, ISS groups, shrink, dropout; tiny CPU models."""
import json
import random

import pytest
import torch

from iss.groups import (GROUP_NORM_EPS, add_group_lasso_grad_, group_lasso_value, group_squared_norms, mask_removed_, removed_components)
from iss import shrink
from iss.counting import build_on_meta, mult_adds_per_token, weight_count
from iss_harness.models.rhn import RHNLanguageModel


def tiny_model(width=5, depth=3, vocab=11, dropout=None, seed=0):
    torch.manual_seed(seed)
    return RHNLanguageModel(vocab, width, depth, dropout=dropout, init_scale=0.5)


def reference_forward(model, tokens, state, masks):
    """Slow reference written out from the equations (spec 1.3): per step and per
    micro-layer, H and T from separate slices, the softmax per step."""
    w, V = model.width, model.vocab_size
    E = model.embedding.weight
    U = model.input_weight
    ones = torch.ones(tokens.shape[1], w)
    m_x = masks.x if masks.x is not None else torch.ones(*tokens.shape, 1)
    m_i, m_h, m_o = (m if m is not None else ones for m in (masks.i, masks.h, masks.o))
    s = state
    logits = []
    for t in range(tokens.shape[0]):
        x = E[tokens[t]] * m_x[t] * m_i                                   # [B, w]
        for l in range(model.depth):
            W, b = model.state_weights[l], model.biases[l]
            pre_h = (s * m_h) @ W[:w].T + b[:w]
            pre_t = (s * m_h) @ W[w:].T + b[w:]
            if l == 0:
                pre_h = pre_h + x @ U[:w].T
                pre_t = pre_t + x @ U[w:].T
            H, T = torch.tanh(pre_h), torch.sigmoid(pre_t)
            s = (H - s) * T + s
        logits.append((s * m_o) @ E.T + model.softmax_bias)
    out = torch.stack(logits)
    assert out.shape == (tokens.shape[0], tokens.shape[1], V)
    return out, s


# ---- forward -----------------------------------------------------------------------------------
def test_shapes_and_forward_match_written_out_equations():
    model = tiny_model().eval()
    tokens = torch.randint(0, 11, (6, 3))
    state = torch.randn(3, 5) * 0.5
    with torch.no_grad():
        logits, new_state = model(tokens, state)
        ref_logits, ref_state = reference_forward(model, tokens, state, model.sample_masks(tokens))
    assert logits.shape == (6, 3, 11) and new_state.shape == (3, 5)
    torch.testing.assert_close(logits, ref_logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(new_state, ref_state, rtol=1e-5, atol=1e-5)
    assert model.init_state(4).shape == (4, 5) and not model.init_state(4).any()


def test_parameter_names_and_shapes():
    model = RHNLanguageModel(13, 4, depth=2)
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    assert shapes == {"embedding.weight": (13, 4), "softmax_bias": (13,), "input_weight": (8, 4),
                      "state_weights.0": (8, 4), "state_weights.1": (8, 4), "biases.0": (8,), "biases.1": (8,)}
    assert model.hidden_sizes == [4]
    assert RHNLanguageModel.lookup_parameters == ()


def test_transform_bias_initialised_and_rest_uniform():
    model = RHNLanguageModel(20, 6, depth=4, init_scale=0.04, transform_bias=-2.0)
    for bias in model.biases:
        assert torch.equal(bias[6:], torch.full((6,), -2.0))
        assert bias[:6].abs().max() <= 0.04
    for name, p in model.named_parameters():
        if not name.startswith("biases."):
            assert p.abs().max() <= 0.04 and p.std() > 0.01, name


def test_geometry_roundtrip_and_resized():
    model = RHNLanguageModel(17, 6, depth=3, dropout={"x": 0.15, "o": 0.45}, init_scale=0.1, transform_bias=-1.5)
    geometry = json.loads(json.dumps(model.geometry()))
    assert geometry["dropout"] == {"x": 0.15, "i": 0.0, "h": 0.0, "o": 0.45}
    rebuilt = RHNLanguageModel(**geometry)
    assert rebuilt.geometry() == model.geometry()
    small = model.resized({"rhn": 2})
    assert small.geometry() == {**model.geometry(), "width": 2}
    assert model.resized({}).width == 6


@pytest.mark.parametrize("kwargs", [dict(vocab_size=0), dict(width=0), dict(depth=0), dict(width=2.5),
                                    dict(dropout={"y": 0.1}), dict(dropout={"h": 1.0}), dict(dropout={"o": -0.1}),
                                    dict(init_scale=-1.0)])
def test_invalid_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        RHNLanguageModel(**{**dict(vocab_size=10, width=4), **kwargs})


# ---- cost (spec 4.1) ---------------------------------------------------------------------------
@pytest.mark.parametrize("width, paper", [(830, "23.5M"), (726, "18.9M"), (517, "11.1M"),
                                          (403, "7.6M"), (328, "5.7M")])
def test_weight_count_matches_paper_table2(width, paper):
    model = build_on_meta(RHNLanguageModel, 10000, width)
    n = weight_count(model)
    assert n == 22 * width ** 2 + 10020 * width + 10000
    assert f"{n / 1e6:.1f}M" == paper
    # tied embedding = softmax GEMM: every weight is a mult-add (biases as adds)
    assert mult_adds_per_token(model, with_bias=True) == n
    assert mult_adds_per_token(model, with_bias=False) == n - 10000 - 10 * 2 * width


# ---- ISS groups (spec 1.3) ---------------------------------------------------------------------
def explicit_group(model, k):
    """Unit k's group written out by hand (PyTorch layout), crossings appearing twice."""
    w = model.width
    pieces = [model.embedding.weight[:, k], model.input_weight[:, k], model.input_weight[[k, w + k]].flatten()]
    for W in model.state_weights:
        pieces += [W[:, k], W[[k, w + k]].flatten()]
    return torch.cat(pieces)


def test_group_size_at_paper_geometry_is_46520():
    model = build_on_meta(RHNLanguageModel, 10000, 830)
    params = dict(model.named_parameters())
    (family,) = model.iss_families()
    assert family.name == "rhn" and family.size == 830
    per_unit = sum(part.blocks * params[part.param].shape[1 - part.dim] for part in family.parts)
    assert per_unit == 46_520 == 10000 + 2 * (830 + 830 + 1660) + 18 * (830 + 830)


@pytest.mark.parametrize("width, depth, vocab", [(3, 1, 7), (5, 3, 11)])
def test_group_of_all_ones_model_has_formula_size(width, depth, vocab):
    model = RHNLanguageModel(vocab, width, depth)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
    sizes = group_squared_norms(model, model.iss_families())["rhn"]
    expected = vocab + 2 * (width + width + 2 * width) + 2 * (depth - 1) * 2 * width
    assert sizes.tolist() == [expected] * width
    assert explicit_group(model, 0).numel() == expected


def test_penalty_value_and_gradient_match_autograd_reference():
    model = tiny_model(width=4, depth=3, vocab=9)
    lam = 0.37
    ref = lam * sum(torch.sqrt((explicit_group(model, k) ** 2).sum() + GROUP_NORM_EPS) for k in range(4))
    ref.backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    assert set(expected) == {"embedding.weight", "input_weight", "state_weights.0", "state_weights.1",
                             "state_weights.2"}
    model.zero_grad(set_to_none=True)
    families = model.iss_families()
    value = add_group_lasso_grad_(model, families, lam)
    assert float(value) == pytest.approx(float(ref.detach()), rel=1e-5)
    assert group_lasso_value(model, families, lam) == pytest.approx(float(ref.detach()), rel=1e-5)
    params = dict(model.named_parameters())
    for name, grad in expected.items():
        torch.testing.assert_close(params[name].grad, grad, rtol=1e-5, atol=1e-7)
    assert model.softmax_bias.grad is None and all(b.grad is None for b in model.biases)


# ---- shrink ------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_shrunk_model_equals_masked_large_model(seed):
    rng = random.Random(seed)
    width, depth, vocab = rng.randint(2, 9), rng.randint(1, 4), rng.randint(5, 15)
    model = tiny_model(width, depth, vocab, dropout={"x": 0.2, "i": 0.3, "h": 0.2, "o": 0.3}, seed=seed)
    n_dead = width - 1 if seed % 3 == 0 else rng.randint(0, width - 1)  # sometimes all but one
    chosen = set(rng.sample(range(width), n_dead))
    dead = torch.tensor([k in chosen for k in range(width)])
    mask_removed_(model, model.iss_families(), {"rhn": dead})
    assert removed_components(model, model.iss_families())["rhn"].tolist() == dead.tolist()
    small = shrink(model)
    n = width - n_dead
    assert small.width == n and small.hidden_sizes == [n] and small.depth == depth
    assert small.dropout == model.dropout
    assert dict((k, tuple(p.shape)) for k, p in small.named_parameters()) == dict(
        (k, tuple(p.shape)) for k, p in RHNLanguageModel(vocab, n, depth).named_parameters())
    assert weight_count(small) == weight_count(RHNLanguageModel(vocab, n, depth))

    model.eval()
    small.eval()
    alive = (~dead).nonzero().flatten()
    state = torch.randn(3, width) * 0.5
    tokens = torch.randint(0, vocab, (2, 7, 3))
    with torch.no_grad():
        big_state, small_state = state, state[:, alive]
        for window in tokens:  # two windows: the carried state must agree on the surviving units
            big_logits, big_state = model(window, big_state)
            small_logits, small_state = small(window, small_state)
            torch.testing.assert_close(torch.log_softmax(small_logits, -1), torch.log_softmax(big_logits, -1),
                                       rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(small_state, big_state[:, alive], rtol=1e-5, atol=1e-5)


# ---- dropout (spec 2.4) ------------------------------------------------------------------------
def test_word_dropout_shares_mask_between_repeated_words():
    model = tiny_model(width=4, vocab=6, dropout={"x": 0.5}).train()
    torch.manual_seed(1)
    tokens = torch.randint(0, 6, (30, 8))
    masks = model.sample_masks(tokens)
    assert masks.x.shape == (30, 8, 1) and masks.i is None and masks.h is None and masks.o is None
    assert set(masks.x.unique().tolist()) == {0.0, 2.0}
    for b in range(8):
        for word in tokens[:, b].unique():
            assert masks.x[tokens[:, b] == word, b].unique().numel() == 1
    # draws are per sequence: the same word is not always kept or dropped in every column
    per_word = [{float(masks.x[tokens[:, b] == v, b][0]) for b in range(8) if (tokens[:, b] == v).any()}
                for v in range(6)]
    assert any(len(values) == 2 for values in per_word)


def test_train_forward_uses_one_mask_per_window_for_every_step_and_micro_layer():
    drops = {"x": 0.3, "i": 0.4, "h": 0.3, "o": 0.4}
    model = tiny_model(width=6, depth=3, vocab=9, dropout=drops).train()
    tokens = torch.randint(0, 9, (5, 4))
    state = torch.randn(4, 6) * 0.5
    torch.manual_seed(123)
    masks = model.sample_masks(tokens)
    assert masks.i.shape == masks.h.shape == masks.o.shape == (4, 6)
    for key in "iho":  # inverted dropout: kept entries scaled by 1/keep
        values = getattr(masks, key).unique()
        torch.testing.assert_close(values, torch.tensor([0.0, 1 / (1 - drops[key])]))
    torch.manual_seed(123)
    with torch.no_grad():
        logits, new_state = model(tokens, state)
        # the reference applies the single h mask at every micro-layer and step, the i and o masks at every step
        ref_logits, ref_state = reference_forward(model, tokens, state, masks)
    torch.testing.assert_close(logits, ref_logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(new_state, ref_state, rtol=1e-5, atol=1e-5)
    with torch.no_grad():  # a fresh window gets fresh masks
        assert not torch.allclose(model(tokens, state)[0], logits)


def test_eval_mode_is_deterministic_and_dropout_free():
    drops = {"x": 0.5, "i": 0.5, "h": 0.5, "o": 0.5}
    model = tiny_model(dropout=drops).eval()
    plain = tiny_model(dropout=None).eval()  # same seed, same weights
    tokens = torch.randint(0, 11, (4, 2))
    state = model.init_state(2)
    with torch.no_grad():
        a, _ = model(tokens, state)
        b, _ = model(tokens, state)
        c, _ = plain(tokens, state)
    assert torch.equal(a, b) and torch.equal(a, c)
    assert model.sample_masks(tokens) == (None, None, None, None)


def test_backward_reaches_every_parameter():
    model = tiny_model(dropout={"x": 0.2, "i": 0.2, "h": 0.2, "o": 0.2}).train()
    tokens = torch.randint(0, 11, (4, 3))
    logits, _ = model(tokens, model.init_state(3))
    torch.nn.functional.cross_entropy(logits.reshape(-1, 11), tokens.reshape(-1)).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
