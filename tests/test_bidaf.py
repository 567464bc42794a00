"""BiDAF (Table 3): shapes and masking, the weight-count formula of spec 4.1, the ISS description
(group sizes, penalty against a hand-written reference, shrink), geometry round trip and the EMA."""
import random

import pytest
import torch

from iss.groups import (GROUP_NORM_EPS, add_group_lasso_grad_, mask_removed_, removed_components, surviving_sizes)
from iss import shrink
from iss.counting import build_on_meta, weight_count
from iss_harness.tasks.ema import ExponentialMovingAverage
from iss_harness.models.bidaf import FAMILIES, BiDAF, SquadBatch, _reversal_index, span_loss

D = 4  # tiny hidden size: p0 is 32 wide


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Tiny GEMMs: two threads only add synchronisation, which is slow (and erratic) on a busy 2-core box.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_model(variant="exact", sizes=None, seed=0, fixed=True, **kwargs):
    torch.manual_seed(seed)
    fixed_vectors = torch.randn(9, 6) if fixed else None
    model = BiDAF(n_trainable_words=7, n_chars=11, fixed_vectors=fixed_vectors, word_dim=6, char_dim=3,
                  char_filters=5, char_width=3, hidden=D, iss_sizes=sizes, iss_variant=variant, **kwargs)
    with torch.no_grad():  # non-zero biases everywhere make the equivalence checks stronger
        for name, p in model.named_parameters():
            if p.requires_grad and name.endswith("bias_ih_l0"):
                p.uniform_(-0.5, 0.5)
    return model


def tiny_batch(seed=0, batch=3, n=7, m=5, w=4, vocab=16, chars=11):
    g = torch.Generator().manual_seed(seed)
    context_len = torch.tensor([n, 3, 1][:batch])
    question_len = torch.tensor([2, m, 1][:batch])
    return SquadBatch(
        context_words=torch.randint(0, vocab, (batch, n), generator=g),
        context_chars=torch.randint(0, chars, (batch, n, w), generator=g),
        context_mask=torch.arange(n)[None] < context_len[:, None],
        question_words=torch.randint(0, vocab, (batch, m), generator=g),
        question_chars=torch.randint(0, chars, (batch, m, w), generator=g),
        question_mask=torch.arange(m)[None] < question_len[:, None])


def logits(model, batch):
    model.eval()
    with torch.no_grad():
        return model(batch)


# ---- forward ---------------------------------------------------------------------------
def test_forward_shapes_masking_and_padding_independence():
    model = tiny_model()
    batch = tiny_batch()
    start, end = logits(model, batch)
    assert start.shape == end.shape == (3, 7)
    assert torch.isfinite(start).all() and torch.isfinite(end).all()
    for out in (start, end):
        assert (out[~batch.context_mask] == torch.finfo(out.dtype).min).all()
        assert (out[batch.context_mask].abs() < 1e3).all()
    # whatever sits in the padding (words, chars) and however long it is changes no valid logit
    other = tiny_batch(seed=1)
    for field in ("context_words", "context_chars", "question_words", "question_chars"):
        mask = batch.context_mask if field.startswith("context") else batch.question_mask
        value, noise = getattr(batch, field).clone(), getattr(other, field)
        value[~mask] = noise[~mask]
        setattr(other, field, value)
    other.context_mask, other.question_mask = batch.context_mask, batch.question_mask
    start2, end2 = logits(model, other)
    torch.testing.assert_close(start2, start, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(end2, end, rtol=1e-5, atol=1e-6)
    # a row alone, cut to its own lengths, gives the same logits as inside the padded batch
    row = 1
    n, m = int(batch.context_mask[row].sum()), int(batch.question_mask[row].sum())
    alone = SquadBatch(batch.context_words[row:row + 1, :n], batch.context_chars[row:row + 1, :n],
                       batch.context_mask[row:row + 1, :n], batch.question_words[row:row + 1, :m],
                       batch.question_chars[row:row + 1, :m], batch.question_mask[row:row + 1, :m])
    s1, e1 = logits(model, alone)
    torch.testing.assert_close(s1[0], start[row, :n], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(e1[0], end[row, :n], rtol=1e-5, atol=1e-6)


def test_backward_direction_reads_the_reversed_valid_part():
    model = tiny_model().eval()
    x = torch.randn(2, 5, model.mod_fwd1.input_size)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    out = model._direction(model.mod_bwd1, x, mask, _reversal_index(mask))
    ref, _ = model.mod_bwd1(x[:1, :3].flip(1))
    torch.testing.assert_close(out[0, :3], ref[0].flip(0))
    assert (out[0, 3:] == 0).all()


def test_words_split_between_trainable_table_and_fixed_glove_buffer():
    model = tiny_model()
    assert not any(p is model.fixed_word_vectors for p in model.parameters())
    ids = torch.tensor([[0, 6, 7, 15]])
    vectors = model._word_vectors(ids)
    torch.testing.assert_close(vectors[0, :2], model.word_embedding.weight[[0, 6]])
    torch.testing.assert_close(vectors[0, 2:], model.fixed_word_vectors[[0, 8]])
    vectors.sum().backward()
    assert model.word_embedding.weight.grad[[0, 6]].abs().sum() > 0
    assert model.word_embedding.weight.grad[1:6].abs().sum() == 0
    all_trainable = tiny_model(fixed=False)
    assert all_trainable.n_fixed_words == 0 and all_trainable.fixed_word_vectors.shape == (0, 6)
    assert logits(all_trainable, tiny_batch(vocab=7))[0].shape == (3, 7)


def test_loss_and_gradients_reach_only_trainable_parameters():
    model = tiny_model()
    model.train()
    batch = tiny_batch()
    start, end = model(batch)
    loss = span_loss(start, end, torch.tensor([1, 0, 0]), torch.tensor([3, 2, 0]))
    loss.backward()
    assert torch.isfinite(loss) and model.mod_fwd1.weight_ih_l0.grad is not None
    assert model.fixed_word_vectors.grad is None and model.ctx_fwd.bias_hh_l0.grad is None
    assert all(p.grad is None for n, p in model.named_parameters() if not p.requires_grad)


# ---- weight counts (spec 4.1) ------------------------------------------------------------
def spec_count(vw, vc, sizes, variant):
    """Spec 4.1: N = C + Σ P_lstm(800, a0|b0) + Σ P_lstm(a0+b0, a1|b1) + (a1+b1+801)
    + Σ P_lstm(g2_in, a2|b2) + (a2+b2+801), C = 406,301 + 100 VW + 8 VC,
    g2_in = 1000 + 2(a1+b1) (paper: the a1i slot stays 200 wide) or 800 + 3(a1+b1) (exact)."""
    a0, b0, a1, b1, a2, b2 = sizes

    def lstm(n_in, h):
        return (n_in + h) * 4 * h + 4 * h
    g2_in = 1000 + 2 * (a1 + b1) if variant == "paper" else 800 + 3 * (a1 + b1)
    return (406_301 + 100 * vw + 8 * vc + lstm(800, a0) + lstm(800, b0) + lstm(a0 + b0, a1) + lstm(a0 + b0, b1)
            + a1 + b1 + 801 + lstm(g2_in, a2) + lstm(g2_in, b2) + a2 + b2 + 801)


def paper_model(vw, vc, sizes=None, variant="paper", **kwargs):
    return build_on_meta(BiDAF, vw, vc, n_fixed_words=90_000, iss_variant=variant,
                         iss_sizes=dict(zip(FAMILIES, sizes)) if sizes else None, **kwargs)


def test_architecture_part_is_406301_plus_2164402():
    model = paper_model(1, 0)
    by_part = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            key = name.split(".")[0]
            by_part[key] = by_part.get(key, 0) + p.numel()
    assert by_part["char_conv"] == 4_100 and by_part["highway"] == 160_800
    assert by_part["ctx_fwd"] + by_part["ctx_bwd"] == 240_800 and by_part["attention"] == 601
    assert by_part["mod_fwd1"] + by_part["mod_bwd1"] == 720_800
    assert by_part["mod_fwd2"] + by_part["mod_bwd2"] == 240_800
    assert by_part["out_fwd"] + by_part["out_bwd"] == 1_200_800
    assert by_part["start_logits"] == by_part["end_logits"] == 1_001
    assert by_part["word_embedding"] == 100 and by_part["char_embedding"] == 0


@pytest.mark.parametrize("vw,vc", [(2, 2), (1177, 200), (5000, 60)])
@pytest.mark.parametrize("variant", ["paper", "exact"])
def test_baseline_weight_count(vw, vc, variant):
    # fixed GloVe vectors (a buffer) and frozen constants (bias_hh, a1i placement) are not weights
    assert weight_count(paper_model(vw, vc, variant=variant)) == 2_570_703 + 100 * vw + 8 * vc


PAPER_ROWS = [((87, 81, 87, 92, 74, 96), 2.29e6), ((51, 33, 42, 58, 37, 26), 1.17e6),
              ((20, 33, 40, 38, 31, 16), 0.95e6), ((23, 22, 35, 35, 25, 14), 0.88e6)]


def test_paper_variant_reproduces_table3_weight_counts():
    # 100 VW + 8 VC = 119,300 makes the baseline 2,690,003 = 2.69M (abstract), i.e. C = 525,601
    # (spec: C = 2.69M - 2,164,402, uncertain by the rounding of 2.69M).
    vw, vc = 1177, 200
    assert f"{weight_count(paper_model(vw, vc)) / 1e6:.2f}M" == "2.69M"
    for sizes, paper in PAPER_ROWS:
        for variant in ("paper", "exact"):
            assert weight_count(paper_model(vw, vc, sizes, variant)) == spec_count(vw, vc, sizes, variant)
        assert abs(weight_count(paper_model(vw, vc, sizes)) - paper) < 0.01e6
    # the exact variant's rows lie 14-26k lower (spec 4.1: 2.276M, 1.151M, 0.932M, 0.859M)
    assert [round(weight_count(paper_model(vw, vc, s, "exact")) / 1e6, 3) for s, _ in PAPER_ROWS] == [
        2.276, 1.151, 0.932, 0.859]


def group_sizes(model):
    params = dict(model.named_parameters())
    return [sum(part.blocks * params[part.param].shape[1 - part.dim] for part in family.parts)
            for family in model.iss_families()]


def test_group_sizes_at_paper_size():
    # The original reports [4800, 4800, 3201, 3201, 6401, 6401] in TF layout (gate columns of length
    # n_in+h, recurrent row of length 4h, downstream rows of length 4h or 1). Our PyTorch slices hold the
    # same elements: g0: 4*800 + 4*100 gate-row entries (= 4 TF columns of 900) + 400 recurrent column
    # + 2*400 in g1 = 4800; g1: 4*(200+100) + 400 + 1 (start logit) + 4*400 (g1 and g1*a1i slots of both
    # g2 directions) = 3201; g2: 4*(1400+100) + 400 + 1 = 6401. The exact variant adds the a1i slot
    # columns of both g2 directions (2*400) to each g1 group.
    assert group_sizes(paper_model(1, 1)) == [4800, 4800, 3201, 3201, 6401, 6401]
    assert group_sizes(paper_model(1, 1, variant="exact")) == [4800, 4800, 4001, 4001, 6401, 6401]


# ---- ISS description -------------------------------------------------------------------
def explicit_groups(model):
    """Slow reference written from spec 1.4 (PyTorch layout): {family: [1-D tensor per component]}."""
    s = [model.iss_sizes[f] for f in FAMILIES]
    a0, b0, a1, b1, a2, b2 = s
    p0, g1w, slot = 8 * model.hidden, a1 + b1, model.a1i_slot_width

    def own(lstm, h, k):
        rows = [g * h + k for g in range(4)]
        return [lstm.weight_ih_l0[rows].flatten(), lstm.weight_hh_l0[rows].flatten(), lstm.weight_hh_l0[:, k]]

    groups = {}
    for name, lstm, h, off in (("ModFwd1", model.mod_fwd1, a0, 0), ("ModBwd1", model.mod_bwd1, b0, a0)):
        groups[name] = [torch.cat(own(lstm, h, k) + [model.mod_fwd2.weight_ih_l0[:, off + k],
                                                      model.mod_bwd2.weight_ih_l0[:, off + k]]) for k in range(h)]
    for name, lstm, h, off in (("ModFwd2", model.mod_fwd2, a1, 0), ("ModBwd2", model.mod_bwd2, b1, a1)):
        groups[name] = []
        for k in range(h):
            cols = [p0 + off + k, p0 + g1w + slot + off + k]
            if model.iss_variant == "exact":
                cols.append(p0 + g1w + off + k)
            parts = own(lstm, h, k) + [model.start_logits.weight[:, off + k]]
            parts += [g2.weight_ih_l0[:, c] for g2 in (model.out_fwd, model.out_bwd) for c in cols]
            groups[name].append(torch.cat(parts))
    for name, lstm, h, off in (("OutFwd", model.out_fwd, a2, 0), ("OutBwd", model.out_bwd, b2, a2)):
        groups[name] = [torch.cat(own(lstm, h, k) + [model.end_logits.weight[:, off + k]]) for k in range(h)]
    return groups


@pytest.mark.parametrize("variant", ["paper", "exact"])
def test_penalty_gradient_matches_autograd_reference(variant):
    model = tiny_model(variant, sizes=dict(zip(FAMILIES, (3, 4, 2, 5, 4, 3))))
    lam = 0.29
    ref = lam * sum(torch.sqrt((g ** 2).sum() + GROUP_NORM_EPS) for gs in explicit_groups(model).values() for g in gs)
    ref.backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    value = add_group_lasso_grad_(model, model.iss_families(), lam)
    assert float(value) == pytest.approx(float(ref.detach()), rel=1e-5)
    got = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert set(got) == set(expected)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-7)


def random_dead(model, rng):
    dead = {}
    for i, name in enumerate(FAMILIES):
        h = model.iss_sizes[name]
        n_dead = h - 1 if i == rng.randrange(6) else rng.randint(0, h - 1)
        chosen = rng.sample(range(h), n_dead)
        dead[name] = torch.tensor([k in chosen for k in range(h)])
    return dead


@pytest.mark.parametrize("seed", range(4))
def test_exact_variant_shrink_equals_masked_large_model(seed):
    rng = random.Random(seed)
    model = tiny_model("exact", sizes={f: rng.randint(2, 6) for f in FAMILIES}, seed=seed)
    dead = random_dead(model, rng)
    mask_removed_(model, model.iss_families(), dead)
    assert {k: v.tolist() for k, v in removed_components(model, model.iss_families()).items()} == {
        k: v.tolist() for k, v in dead.items()}
    small = shrink(model)
    assert small.iss_sizes == surviving_sizes(dead)
    assert small.out_fwd.input_size == 8 * D + 3 * (small.iss_sizes["ModFwd2"] + small.iss_sizes["ModBwd2"])
    batch = tiny_batch(seed)
    for got, want in zip(logits(small, batch), logits(model, batch)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert weight_count(small) == weight_count(BiDAF(**small.geometry()))
    assert not small.ctx_fwd.bias_hh_l0.requires_grad and small.mod_fwd1.bias_hh_l0[small.mod_fwd1.hidden_size] == 1.0


def test_paper_variant_shrink_keeps_the_a1i_slot_and_is_exact_when_dead_g1_units_emit_zero():
    rng = random.Random(5)
    model = tiny_model("paper", seed=5)
    dead = random_dead(model, rng)
    dead["ModFwd2"] = torch.tensor([False, True, False, True])
    dead["ModBwd2"] = torch.tensor([True, False, False, False])
    mask_removed_(model, model.iss_families(), dead)
    small = shrink(model)
    a1, b1 = small.iss_sizes["ModFwd2"], small.iss_sizes["ModBwd2"]
    assert (a1, b1) == (2, 3) and small.a1i_width == 2 * D
    assert small.out_fwd.input_size == 8 * D + 2 * (a1 + b1) + 2 * D  # spec 4.1: 1000 + 2(a1+b1) at d=100
    # the surviving g1 units keep their original a1i positions (fw 0..3, bw 4..7)
    assert small.a1i_placement.nonzero().tolist() == [[0, 0], [2, 1], [5, 2], [6, 3], [7, 4]]
    assert set(small.a1i_placement.unique().tolist()) == {0.0, 1.0}
    batch = tiny_batch(5)
    # A removed g1 unit still emits sigma(b_o) tanh(c_k) with c_k driven by its g-gate bias, and that
    # reaches g2 through the a1i slot: with random biases the shrink is (slightly) lossy ...
    lossy = logits(small, batch)[1]
    assert lossy.shape == (3, 7)
    assert not torch.allclose(lossy, logits(model, batch)[1], rtol=1e-5, atol=1e-5)
    # ... and exact once those outputs are 0 (g-gate bias 0 keeps c_k = 0).
    with torch.no_grad():
        for name, lstm in (("ModFwd2", model.mod_fwd2), ("ModBwd2", model.mod_bwd2)):
            h = lstm.hidden_size
            lstm.bias_ih_l0[2 * h + dead[name].nonzero().flatten()] = 0.0
    small = shrink(model)
    for got, want in zip(logits(small, batch), logits(model, batch)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    # shrinking again (keeping unit 0 of each direction) keeps the slot width and the survivors' places
    again = shrink(small, removed={f: torch.arange(small.iss_sizes[f]) > 0 for f in FAMILIES})
    assert again.iss_sizes == {f: 1 for f in FAMILIES} and again.a1i_width == 2 * D
    assert again.a1i_placement.nonzero().tolist() == [[0, 0], [5, 1]]


def test_geometry_round_trip_carries_fixed_vectors_in_the_state_dict():
    import json
    model = tiny_model("paper", sizes=dict(zip(FAMILIES, (2, 3, 4, 2, 3, 4))))
    geometry = json.loads(json.dumps(model.geometry()))
    rebuilt = BiDAF(**geometry)
    assert rebuilt.fixed_word_vectors.abs().sum() == 0
    rebuilt.load_state_dict(model.state_dict())
    batch = tiny_batch()
    for got, want in zip(logits(rebuilt, batch), logits(model, batch)):
        torch.testing.assert_close(got, want)
    with pytest.raises(ValueError):
        BiDAF(5, 5, iss_variant="exact", a1i_width=7, hidden=4)


# ---- EMA ---------------------------------------------------------------------------------
def test_ema_update_math_and_evaluation_swap():
    model = tiny_model()
    ema = ExponentialMovingAverage(model, decay=0.9)
    assert "ctx_fwd.bias_hh_l0" not in ema.shadow and "a1i_placement" not in ema.shadow
    w = model.start_logits.weight
    w0 = w.detach().clone()
    with torch.no_grad():
        w.add_(1.0)
    ema.update()
    torch.testing.assert_close(ema.shadow["start_logits.weight"], w0 + 0.1)  # 0.9*w0 + 0.1*(w0+1)
    with torch.no_grad():
        w.add_(1.0)
    ema.update()
    torch.testing.assert_close(ema.shadow["start_logits.weight"], 0.9 * (w0 + 0.1) + 0.1 * (w0 + 2))
    trained = w.detach().clone()
    with ema.average_parameters():
        torch.testing.assert_close(w.detach(), ema.shadow["start_logits.weight"])
    torch.testing.assert_close(w.detach(), trained)
    other = ExponentialMovingAverage(model)
    other.load_state_dict(ema.state_dict())
    assert other.decay == 0.9
    other.copy_to()
    torch.testing.assert_close(w.detach(), ema.shadow["start_logits.weight"])
