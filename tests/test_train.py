"""Training loop: schedules, resume after interruption, divergence, determinism (tiny fixtures)."""
import math

import pytest
import torch

import iss_harness.tasks.train_lm as train_module
from iss_harness.models.lstm_lm import LSTMLanguageModel
from iss_harness.data.ptb import Corpus
from iss_harness.tasks.train_lm import Schedule, TrainConfig, TrainingDiverged, evaluate, train


@pytest.fixture
def corpus(tmp_path):
    words = "the cat sat on a mat and the dog ran to the cat while a bird sang".split()
    gen = torch.Generator().manual_seed(0)
    paths = {}
    for split, lines in (("train", 60), ("valid", 10), ("test", 10)):
        text = "\n".join(" " + " ".join(words[int(i)] for i in torch.randint(0, len(words), (12,), generator=gen))
                         for _ in range(lines)) + "\n"
        paths[split] = tmp_path / f"ptb.{split}.txt"
        paths[split].write_text(text)
    return Corpus.from_files(paths["train"], paths["valid"], paths["test"])


def config(epochs=3, lam=0.01):
    return TrainConfig(epochs=epochs, batch_size=4, num_steps=5, schedule=Schedule(kind="step", lr=1.0, factor=0.5, every=1),
                       lam=lam, zero_threshold=1e-4, clip_norm=10.0, eval_batch_size=2, eval_num_steps=5, seed=7)


def fresh_model(vocab):
    torch.manual_seed(3)
    return LSTMLanguageModel(vocab, 6, [5, 4], keep_prob=0.8, init_scale=0.1)


def test_schedules_follow_the_original():
    zaremba = Schedule(kind="zaremba", lr=1.0, decay=1.15, decay_start=14)
    assert [zaremba.lr_at(i) for i in (0, 13, 14)] == [1.0, 1.0, pytest.approx(1 / 1.15)]
    assert zaremba.lr_at(54) == pytest.approx(1.15 ** -41)
    step = Schedule(kind="step", lr=1.0, factor=0.1, every=18)
    assert [step.lr_at(i) for i in (0, 17, 18, 36, 54)] == pytest.approx([1.0, 1.0, 0.1, 0.01, 0.001])
    with pytest.raises(ValueError, match="unknown learning-rate schedule"):
        Schedule(kind="cosine").lr_at(0)


def test_training_learns_and_records_history(corpus, tmp_path):
    model = fresh_model(len(corpus.vocab))
    before = evaluate(model, corpus.valid, 2, 5, torch.device("cpu"))
    history = train(model, corpus, config(), tmp_path / "run", torch.device("cpu"))["history"]
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert [row["lr"] for row in history] == [1.0, 0.5, 0.25]
    assert history[-1]["valid_perplexity"] < before
    assert {"iss_lstm1", "iss_lstm2", "penalty", "words_per_second"} <= set(history[0])
    assert (tmp_path / "run" / "checkpoint.pt").exists()


def test_resume_after_interruption_equals_uninterrupted_run(corpus, tmp_path, monkeypatch):
    reference = fresh_model(len(corpus.vocab))
    train(reference, corpus, config(), tmp_path / "straight", torch.device("cpu"))

    real_epoch = train_module.train_epoch
    calls = {"n": 0}

    def dying_epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("simulated kill in epoch 2")
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_epoch", dying_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(fresh_model(len(corpus.vocab)), corpus, config(), tmp_path / "resumed", torch.device("cpu"))
    monkeypatch.setattr(train_module, "train_epoch", real_epoch)
    resumed = fresh_model(len(corpus.vocab))
    history = train(resumed, corpus, config(), tmp_path / "resumed", torch.device("cpu"))["history"]
    assert [row["epoch"] for row in history] == [1, 2, 3]
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_checkpoint_of_another_configuration_is_set_aside(corpus, tmp_path):
    train(fresh_model(len(corpus.vocab)), corpus, config(epochs=1), tmp_path / "run", torch.device("cpu"))
    history = train(fresh_model(len(corpus.vocab)), corpus, config(epochs=1, lam=0.5), tmp_path / "run",
                    torch.device("cpu"))["history"]
    assert [row["epoch"] for row in history] == [1]
    assert len(list((tmp_path / "run").glob("checkpoint.stale.pt"))) == 1


def test_non_finite_loss_stops_with_epoch_and_step(corpus, tmp_path):
    model = fresh_model(len(corpus.vocab))
    with torch.no_grad():
        model.decoder.bias[0] = math.nan
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step 1"):
        train(model, corpus, config(), tmp_path / "run", torch.device("cpu"))
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_same_seed_same_result(corpus, tmp_path):
    results = []
    for name in ("a", "b"):
        model = fresh_model(len(corpus.vocab))
        results.append(train(model, corpus, config(epochs=2), tmp_path / name, torch.device("cpu"))["history"][-1]["valid_perplexity"])
    assert results[0] == results[1]


def test_kill_inside_an_epoch_resumes_from_the_data_position(corpus, tmp_path, monkeypatch):
    """A checkpoint after every window; a kill in the middle of epoch 2 loses at most the window
    in flight and the resumed run ends with the uninterrupted run's weights."""
    cfg = config()
    cfg.checkpoint_seconds = 0.0
    reference = fresh_model(len(corpus.vocab))
    train(reference, corpus, cfg, tmp_path / "straight", torch.device("cpu"))

    real_step = torch.optim.SGD.step
    calls = {"n": 0}
    windows_per_epoch = (len(corpus.train) // cfg.batch_size - 1) // cfg.num_steps  # full windows only

    def dying_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == windows_per_epoch + 3:
            raise KeyboardInterrupt("simulated kill inside epoch 2")
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        train(fresh_model(len(corpus.vocab)), corpus, cfg, tmp_path / "resumed", torch.device("cpu"))
    monkeypatch.setattr(torch.optim.SGD, "step", real_step)
    saved = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    assert saved["epoch"] == 1 and saved["progress"]["step"] == 2  # two windows of epoch 2 were done

    resumed = fresh_model(len(corpus.vocab))
    history = train(resumed, corpus, cfg, tmp_path / "resumed", torch.device("cpu"))["history"]
    assert [row["epoch"] for row in history] == [1, 2, 3]
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_keep_best_returns_the_best_validation_weights(corpus, tmp_path):
    cfg = config(epochs=3)
    cfg.keep_best = True
    cfg.schedule = Schedule(kind="step", lr=30.0, factor=1.0, every=1)  # far too large: gets worse
    model = fresh_model(len(corpus.vocab))
    result = train(model, corpus, cfg, tmp_path / "run", torch.device("cpu"))
    valid = [row["valid_perplexity"] for row in result["history"]]
    assert result["best_valid"] == min(valid)
    assert evaluate(model, corpus.valid, 2, 5, torch.device("cpu")) == pytest.approx(min(valid))


def test_weight_decay_and_threshold_scope(corpus, tmp_path):
    cfg = config(epochs=1, lam=0.0)
    cfg.weight_decay, cfg.threshold_scope, cfg.zero_threshold = 1e-3, "groups", 0.05
    model = fresh_model(len(corpus.vocab))
    train(model, corpus, cfg, tmp_path / "run", torch.device("cpu"))
    # LSTM weights are in groups: thresholded; the embedding is not: it keeps small weights.
    assert float(model.lstms[0].weight_ih_l0.detach().abs().min()) == 0.0
    small = model.embedding.weight.detach().abs()
    assert bool(((small > 0) & (small < 0.05)).any())
    with pytest.raises(ValueError, match="threshold_scope"):
        cfg.threshold_scope = "some"
        train(fresh_model(len(corpus.vocab)), corpus, cfg, tmp_path / "other", torch.device("cpu"))


def test_bfloat16_autocast_trains_and_keeps_float32_weights(corpus, tmp_path):
    cfg = config(epochs=1)
    cfg.autocast_bf16 = True
    model = fresh_model(len(corpus.vocab))
    history = train(model, corpus, cfg, tmp_path / "run", torch.device("cpu"))["history"]
    assert math.isfinite(history[0]["valid_perplexity"])
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert cfg.digest() != config(epochs=1).digest()  # a checkpoint never resumes across precisions


def test_the_training_digest_is_the_one_checkpoints_were_written_with():
    """One digest for every training config (iss_harness.config.training_digest): the key a
    checkpoint carries is unchanged, so runs checkpointed before keep resuming."""
    import hashlib
    import json
    from dataclasses import asdict
    cfg = config(epochs=2, lam=0.01)
    settings = {k: v for k, v in asdict(cfg).items() if not k.startswith("eval_") and k != "checkpoint_seconds"}
    key = dict(config=settings, geometry={"hidden": [8, 8]}, data="abc")
    assert cfg.digest({"hidden": [8, 8]}, "abc") == hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    cfg.checkpoint_seconds = 1.0  # checkpointing does not change the weights: same run
    assert cfg.digest({"hidden": [8, 8]}, "abc") == hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    cfg.lam = 0.02
    assert cfg.digest({"hidden": [8, 8]}, "abc") != hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
