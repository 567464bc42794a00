"""The ISS component description and everything derived from it, on tiny random models."""
import random

import pytest
import torch

from iss.groups import (GROUP_NORM_EPS, add_group_lasso_grad_, group_lasso_value, mask_removed_, removed_components, surviving_sizes, zero_small_weights_)
from iss import shrink
from iss.counting import build_on_meta, cost_summary, mult_adds_per_token, weight_count
from iss_harness.models.lstm_lm import LSTMLanguageModel


def tiny_model(hidden=(5, 4), vocab=11, emb=6, seed=0):
    torch.manual_seed(seed)
    return LSTMLanguageModel(vocab, emb, list(hidden), keep_prob=1.0, init_scale=0.5)


def explicit_group(model, layer):
    """Slow reference: the group of every unit of one layer written out by hand from the
    spec (PyTorch layout), as a list of 1-D tensors (crossings appear twice)."""
    lstm = model.lstms[layer]
    h = model.hidden_sizes[layer]
    consumer = (model.lstms[layer + 1].weight_ih_l0 if layer + 1 < len(model.lstms) else model.decoder.weight)
    groups = []
    for k in range(h):
        rows = [g * h + k for g in range(4)]
        groups.append(torch.cat([lstm.weight_ih_l0[rows].flatten(), lstm.weight_hh_l0[rows].flatten(),
                                 lstm.weight_hh_l0[:, k], consumer[:, k]]))
    return groups


def reference_penalty(model, lam):
    total = 0
    for layer in range(len(model.lstms)):
        for g in explicit_group(model, layer):
            total = total + torch.sqrt((g ** 2).sum() + GROUP_NORM_EPS)
    return lam * total


def test_family_slices_name_the_right_weights():
    model = tiny_model()
    fam = model.iss_families()
    assert [f.name for f in fam] == ["lstm1", "lstm2"]
    assert [f.size for f in fam] == [5, 4]
    gate = fam[0].parts[0]
    assert gate.indices(5)[:, 2].tolist() == [2, 7, 12, 17]  # unit 2 in blocks i, f, g, o
    assert fam[1].parts[3].param == "decoder.weight" and fam[1].parts[3].dim == 1
    assert fam[0].parts[3].param == "lstms.1.weight_ih_l0"


def test_penalty_value_and_gradient_match_autograd_reference():
    model = tiny_model()
    lam = 0.37
    ref = reference_penalty(model, lam)
    ref.backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    value = add_group_lasso_grad_(model, model.iss_families(), lam)
    assert float(value) == pytest.approx(float(ref.detach()), rel=1e-5)
    assert group_lasso_value(model, model.iss_families(), lam) == pytest.approx(float(ref.detach()), rel=1e-5)
    for name, grad in expected.items():
        torch.testing.assert_close(dict(model.named_parameters())[name].grad, grad, rtol=1e-5, atol=1e-7)
    # untouched parameters get no penalty gradient
    assert model.embedding.weight.grad is None


def test_penalty_gradient_adds_to_existing_data_gradient():
    model = tiny_model()
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    add_group_lasso_grad_(model, model.iss_families(), 0.0)
    assert all(torch.equal(p.grad, torch.ones_like(p)) for p in model.parameters())
    add_group_lasso_grad_(model, model.iss_families(), 0.1)
    assert not torch.equal(model.decoder.weight.grad, torch.ones_like(model.decoder.weight))
    assert torch.equal(model.embedding.weight.grad, torch.ones_like(model.embedding.weight))


def test_penalty_gradient_is_finite_for_all_zero_groups():
    model = tiny_model()
    mask_removed_(model, model.iss_families(), {"lstm1": torch.ones(5, dtype=torch.bool),
                                                "lstm2": torch.zeros(4, dtype=torch.bool)})
    model.zero_grad(set_to_none=True)
    add_group_lasso_grad_(model, model.iss_families(), 1.0)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_zero_threshold_is_elementwise():
    w = torch.nn.Parameter(torch.tensor([[1e-5, -5e-5, 2e-4], [-3e-4, 0.5, -9e-5]]))
    zero_small_weights_([w], 1e-4)
    assert w.tolist() == [[0.0, 0.0, pytest.approx(2e-4)], [pytest.approx(-3e-4), 0.5, 0.0]]


def test_strict_count_needs_every_part_zero():
    model = tiny_model()
    fam = model.iss_families()
    dead = {"lstm1": torch.tensor([0, 1, 0, 0, 1], dtype=torch.bool), "lstm2": torch.zeros(4, dtype=torch.bool)}
    mask_removed_(model, fam, dead)
    assert removed_components(model, fam)["lstm1"].tolist() == dead["lstm1"].tolist()
    # one surviving element in the consumer column keeps unit 1 alive
    with torch.no_grad():
        model.lstms[1].weight_ih_l0[3, 1] = 1e-3
    assert removed_components(model, fam)["lstm1"].tolist() == [False, False, False, False, True]
    # biases are not part of the group: a dead unit may keep a bias
    with torch.no_grad():
        model.lstms[0].bias_ih_l0[4] = 0.3
    assert removed_components(model, fam)["lstm1"][4]


def log_probs(model, tokens):
    model.eval()
    with torch.no_grad():
        logits, _ = model(tokens, model.init_state(tokens.shape[1]))
    return torch.log_softmax(logits, -1)


@pytest.mark.parametrize("seed", range(8))
def test_shrunk_model_equals_masked_large_model(seed):
    rng = random.Random(seed)
    layers = rng.choice([1, 2, 3])
    hidden = [rng.randint(2, 9) for _ in range(layers)]
    model = tiny_model(hidden, vocab=rng.randint(5, 15), emb=rng.randint(2, 8), seed=seed)
    with torch.no_grad():
        for lstm in model.lstms:  # non-zero biases make the check stronger
            lstm.bias_ih_l0.uniform_(-0.5, 0.5)
    dead = {}
    for i, h in enumerate(hidden):
        n_dead = h - 1 if (seed + i) % 3 == 0 else rng.randint(0, h - 1)  # sometimes all but one
        chosen = rng.sample(range(h), n_dead)
        dead[f"lstm{i + 1}"] = torch.tensor([k in chosen for k in range(h)])
    mask_removed_(model, model.iss_families(), dead)
    small = shrink(model)
    assert small.hidden_sizes == [h - int(dead[f"lstm{i + 1}"].sum()) for i, h in enumerate(hidden)]
    assert surviving_sizes(removed_components(model, model.iss_families())) == {
        f"lstm{i + 1}": s for i, s in enumerate(small.hidden_sizes)}
    tokens = torch.randint(0, model.vocab_size, (7, 3))
    torch.testing.assert_close(log_probs(small, tokens), log_probs(model, tokens), rtol=1e-5, atol=1e-5)
    assert weight_count(small) < weight_count(model) or not any(d.any() for d in dead.values())


def test_shrink_keeps_forget_bias_and_frozen_flags():
    torch.manual_seed(0)
    model = LSTMLanguageModel(7, 3, [4, 3], forget_bias=1.0)
    dead = {"lstm1": torch.tensor([True, False, False, True]), "lstm2": torch.tensor([False, True, False])}
    mask_removed_(model, model.iss_families(), dead)
    small = shrink(model)
    assert small.hidden_sizes == [2, 2]
    assert small.lstms[0].bias_hh_l0.tolist() == [0, 0, 1, 1, 0, 0, 0, 0]
    assert not small.lstms[0].bias_hh_l0.requires_grad
    assert weight_count(small) == weight_count(LSTMLanguageModel(7, 3, [2, 2]))


def test_cost_reproduces_paper_table1_at_paper_sizes():
    def at(h):
        return build_on_meta(LSTMLanguageModel, 10000, 1500, list(h))
    base = at((1500, 1500))
    assert weight_count(base) == 66_022_000
    a = cost_summary(at((373, 315)), base)
    b = cost_summary(at((381, 535)), base)
    assert a["weights"] == 21_824_148 and b["weights"] == 25_190_548
    assert f"{weight_count(base) / 1e6:.1f}M {a['weights'] / 1e6:.1f}M {b['weights'] / 1e6:.1f}M" == "66.0M 21.8M 25.2M"
    assert f"{a['mult_add_reduction']:.2f} {b['mult_add_reduction']:.2f}" == "7.48 5.01"
    assert f"{a['mult_add_reduction_gemm']:.2f} {b['mult_add_reduction_gemm']:.2f}" == "7.49 5.01"
    assert mult_adds_per_token(base, with_bias=False) == 51_000_000
