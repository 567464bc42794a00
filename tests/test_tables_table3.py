"""Table 3 (BiDAF on SQuAD) end to end on a hand-made SQuAD file: data preparation, training with
resume, evaluation with the official metric, paper-size geometry, the report, the figure and the
workflow's job list. Real data only in the test marked ``data``."""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from iss import counting

from iss_harness.data import squad, squad_metric

from iss_harness.tables.table3 import experiment as table3

from iss_harness.tables.table3 import train as train_bidaf
from iss.groups import removed_components
from iss_harness.config import ConfigError, load_config
from iss_harness.data.fetch import DataError
from iss_harness.tasks.lm import load_model
from iss_harness.tasks.paths import UnknownRun
from iss_harness.tables.table3.figures import plot_group_norms, write_bidaf_figures
from iss_harness.models.bidaf import FAMILIES, BiDAF
from iss_harness.paper.tables import paired_paper_rows
from iss_harness.tables.table3.report import build
from iss_harness.tables.table3.data import fetch_table3_data, load_prepared, prepare, split_dev
from iss_harness.tables.table3.rows import row_lambda, table3_rows

REPO = Path(__file__).resolve().parent.parent

TOPICS = [("Paris", "France", "Seine", "1850"), ("Rome", "Italy", "Tiber", "1871"),
          ("Berlin", "Germany", "Spree", "1990"), ("Madrid", "Spain", "Manzanares", "1561"),
          ("Lisbon", "Portugal", "Tagus", "1255"),
          ("Vienna", "Austria", "Danube", "1918")]


def make_squad(path: Path) -> Path:
    """Six articles, two paragraphs each, three questions per paragraph (answers by character offset)."""
    articles = []
    qid = 0
    for city, country, river, year in TOPICS:
        paragraphs = []
        for variant in range(2):
            context = (f"{city} is the capital of {country}. The river {river} flows through {city}, "
                       f"and the city became the capital in {year}. Many people visit {city} every year"
                       + (" to see its old bridges." if variant == 0 else ", and they like the “old town”."))
            qas = []
            for question, answer in ((f"What is the capital of {country}?", city),
                                     (f"Which river flows through {city}?", river),
                                     (f"When did {city} become the capital?", year)):
                qid += 1
                qas.append({"id": f"q{qid}", "question": question,
                            "answers": [{"text": answer, "answer_start": context.index(answer)}]})
            paragraphs.append({"context": context, "qas": qas})
        articles.append({"title": city, "paragraphs": paragraphs})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": "1.1", "data": articles}))
    return path


TINY = {
    "data": {"source": "dev_split", "eval_fraction": 0.34, "split_seed": 3},
    "glove": None,
    "limits": {"word_count_th": 0, "char_count_th": 0, "sent_size_th": 40, "ques_size_th": 30, "word_size_th": 8},
    "model": {"hidden": 4, "char_dim": 4, "char_filters": 4, "char_width": 3, "highway_layers": 1, "word_dim": 6},
    "iss_variant": "paper", "batch_size": 4, "ema_decay": 0.9, "keep_prob": 0.9, "zero_threshold": 4e-4,
    "threshold_scope": "original",
    "baseline": {"steps": 12, "lr": 0.01, "input_keep_prob": 0.9, "keep_best": True},
    "iss": {"steps": 6, "lr": 0.01, "input_keep_prob": 0.9, "keep_best": False},
    "lambdas": [0.05],
    "control": True,
    "valid": {"every": 4, "questions": 6, "batch_size": 4},
    "eval": {"batch_size": 8, "zero_threshold": 4e-4, "structure_coordinator": True, "max_span": None,
             "probe_questions": 4},
    "timing": {"questions": 1, "threads": [1], "rounds": 1, "chunk_seconds": 0.0},
}


@pytest.fixture
def tiny(tmp_path):
    """A config whose data dir holds the hand-made file as SQuAD dev; returns (config, results dir)."""
    data = tmp_path / "data"
    make_squad(data / "squad" / "dev-v1.1.json")
    config = load_config(overrides={"data": {"dir": str(data), "mirror": None}, "runtime": {"device": "cpu"},
                                    "scales": {"smoke": {"table3": TINY}}})
    return config, tmp_path / "results"


def test_control_row_is_the_iss_fine_tuning_at_lambda_0(tiny):
    config, _ = tiny
    assert table3_rows(config) == ["baseline", "iss_1", "control"]
    assert row_lambda(config, "control") == 0.0
    assert table3.row_settings(config, "control")["steps"] == TINY["iss"]["steps"]  # the ISS rows' schedule
    assert table3.row_settings(config, "control")["init"] == "baseline EMA weights"
    config["scales"]["smoke"]["table3"]["control"] = False
    assert table3_rows(config) == ["baseline", "iss_1"]
    with pytest.raises(UnknownRun, match="has no row 'control'"):
        row_lambda(config, "control")


def test_rows_and_lambdas_by_rank(tiny):
    config, _ = tiny
    config["scales"]["smoke"]["table3"]["lambdas"] = [0.004, 0.001, 0.002]
    assert table3_rows(config) == ["baseline", "iss_1", "iss_2", "iss_3", "control"]
    assert [row_lambda(config, r) for r in table3_rows(config)] == [0.0, 0.001, 0.002, 0.004, 0.0]
    with pytest.raises(UnknownRun, match="no row 'iss_4'"):
        row_lambda(config, "iss_4")
    paper = ["baseline", "iss_1", "iss_2", "iss_3", "iss_4"]
    assert paired_paper_rows(["baseline", "iss_1", "iss_2"], paper) == {"baseline": "baseline", "iss_1": "iss_1",
                                                                        "iss_2": "iss_2"}
    assert paired_paper_rows(["baseline"] + [f"iss_{k}" for k in range(1, 6)], paper)["iss_5"] is None


def test_shipped_config_has_table3_at_every_scale():
    config = load_config()
    for scale in ("smoke", "mid", "paper"):
        config["scale"] = scale
        assert table3_rows(config)[0] == "baseline" and len(table3_rows(config)) >= 2
    paper = load_config(overrides={"scale": "paper"})["scales"]["paper"]["table3"]
    assert paper["data"]["source"] == "official" and paper["glove"]["dim"] == 100
    assert (paper["model"]["hidden"], paper["batch_size"], paper["ema_decay"], paper["keep_prob"]) == (
        100, 60, 0.999, 0.8)
    assert (paper["baseline"]["steps"], paper["baseline"]["lr"], paper["baseline"]["input_keep_prob"]) == (
        10000, 0.001, 0.8)
    assert (paper["iss"]["steps"], paper["iss"]["input_keep_prob"], paper["zero_threshold"]) == (10000, 0.9, 4e-4)
    assert len(paper["lambdas"]) == 4
    with pytest.raises(ConfigError, match="table3"):
        load_config(overrides={"scales": {"smoke": {"table3": {"bogus": 1}}}})


def test_prepare_splits_dev_by_article_and_encodes_once(tiny):
    config, results = tiny
    path = prepare(config, results)
    prepared = load_prepared(path)
    train = json.loads((path.parent / "train.json").read_text())
    held_out = json.loads((path.parent / "eval.json").read_text())
    titles = ({a["title"] for a in train["data"]}, {a["title"] for a in held_out["data"]})
    assert titles[0].isdisjoint(titles[1]) and len(titles[0]) + len(titles[1]) == 6 and len(titles[1]) == 2
    assert held_out["version"] == "1.1"
    assert len(prepared.eval) == 12 and len(prepared.train) == 24  # every question kept (contexts < 40 tokens)
    assert prepared.fixed_vectors is None and prepared.vocab.num_glove_words == 0
    assert prepared.summary["eval_articles"] == 2 and prepared.summary["source"] == "dev_split"
    ex = prepared.eval.examples[0]
    assert ex.answer_text() == ex.answers[0]  # token offsets map spans back to the original text
    # The file is data (weights-only loadable) and loads back into the same examples and tensors.
    assert torch.load(path, weights_only=True)["version"] == 2
    direct = squad.load_squad(path.parent / "eval.json")
    assert prepared.eval.examples == direct and isinstance(ex.context_tokens[0], squad.Token)
    same_paragraph = [e for e in prepared.eval.examples if e.context == ex.context]
    assert all(e.context_tokens is ex.context_tokens for e in same_paragraph)  # shared, as in memory
    assert all(isinstance(q, squad.QuestionId) for q in prepared.train.examples)
    encoded = squad.encode(direct, prepared.vocab, prepared.eval.limits, training=False)
    for a, b in zip(prepared.eval.batches(5), encoded.batches(5)):
        assert a.ids == b.ids and torch.equal(a.context_chars, b.context_chars)
        assert torch.equal(a.question_words, b.question_words) and torch.equal(a.answer_end, b.answer_end)
    batch = next(prepared.train.batches(4))
    assert batch.context_words.shape[0] == 4 and bool((batch.answer_start <= batch.answer_end).all())


def test_prepare_with_glove_uses_fixed_vectors(tiny, tmp_path):
    config, results = tiny
    words = ["paris", "france", "the", "capital", "of", "is", "river"]
    glove = Path(config["data"]["dir"]) / "glove" / "glove.6B.50d.txt"
    glove.parent.mkdir(parents=True)
    rng = np.random.default_rng(0)
    glove.write_text("".join(w + " " + " ".join(f"{x:.4f}" for x in rng.normal(size=50)) + "\n" for w in words))
    config["scales"]["smoke"]["table3"]["glove"] = {"dim": 50}
    prepared = load_prepared(prepare(config, results))
    assert prepared.word_dim == 50 and prepared.fixed_vectors.shape == (len(words), 50)
    model = table3.build_model(config, prepared, 0.9)
    assert model.n_fixed_words == len(words) and model.word_dim == 50
    row = prepared.vocab.word_id("Paris") - prepared.vocab.num_trainable_words
    torch.testing.assert_close(model.fixed_word_vectors[row], prepared.fixed_vectors[row])


def _train(config, results, prepared, cfg, run_dir):
    torch.manual_seed(config["runtime"]["seed"])
    model = table3.build_model(config, prepared, 0.9)
    train_bidaf.train_qa(model, prepared.train, prepared.eval, cfg, run_dir, torch.device("cpu"), prepared.digest,
                         log=lambda text: None)
    return model


def test_training_lowers_the_loss_and_resumes_exactly(tiny, monkeypatch):
    config, results = tiny
    prepared = load_prepared(prepare(config, results))
    cfg = train_bidaf.QATrainConfig(steps=10, batch_size=4, lr=0.02, ema_decay=0.5, valid_every=4, valid_questions=4,
                                    valid_batch_size=4, checkpoint_steps=2, checkpoint_seconds=None)
    torch.manual_seed(config["runtime"]["seed"])
    model = table3.build_model(config, prepared, 0.9)
    result = train_bidaf.train_qa(model, prepared.train, prepared.eval, cfg, results / "a", torch.device("cpu"),
                                  prepared.digest, log=lambda text: None)
    losses = [line["loss"] for line in result["history"]]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert all(0 <= line["valid_f1"] <= 100 for line in result["history"])
    uninterrupted = {k: v.clone() for k, v in model.state_dict().items()}

    calls = {"n": 0}
    real_loss = train_bidaf.span_loss

    def dying_loss(*args):
        calls["n"] += 1
        if calls["n"] == 7:  # killed during step 7: the last checkpoint is the one after step 6
            raise KeyboardInterrupt
        return real_loss(*args)

    monkeypatch.setattr(train_bidaf, "span_loss", dying_loss)
    with pytest.raises(KeyboardInterrupt):
        _train(config, results, prepared, cfg, results / "b")
    assert torch.load(results / "b" / "checkpoint.pt", weights_only=True)["step"] == 6
    monkeypatch.setattr(train_bidaf, "span_loss", real_loss)
    resumed = _train(config, results, prepared, cfg, results / "b")
    for name, tensor in uninterrupted.items():
        assert torch.equal(resumed.state_dict()[name], tensor), name
    # another configuration never resumes this checkpoint
    other = train_bidaf.QATrainConfig(**{**cfg.__dict__, "lr": 0.03})
    _train(config, results, prepared, other, results / "b")
    assert (results / "b" / "checkpoint.stale.pt").exists()


def test_structure_coordinator_counts_units_by_their_outgoing_weights():
    torch.manual_seed(0)
    model = BiDAF(5, 5, word_dim=4, char_dim=3, char_filters=4, char_width=2, hidden=3)
    families = model.iss_families()
    g0 = families[0]  # ModFwd1, unit 1: zero its recurrent column and its columns in g1 only
    params = dict(model.named_parameters())
    with torch.no_grad():
        for part in g0.parts:
            if part.dim == 1:
                params[part.param].index_fill_(1, part.indices(3)[:, 1].reshape(-1), 0.0)
    assert not removed_components(model, families)["ModFwd1"][1]
    zeroed = table3.coordinate_structure_(model, families)
    assert zeroed == {"ModFwd1": 1, **{f: 0 for f in FAMILIES[1:]}}
    assert removed_components(model, families)["ModFwd1"].tolist() == [False, True, False]
    assert float(model.mod_fwd1.weight_ih_l0.detach()[[1, 4, 7, 10]].abs().sum()) == 0.0


def test_paper_sizes_reproduce_the_published_weight_counts():
    sizes = table3.paper_sizes()
    assert sizes["baseline"] == {f: 100 for f in FAMILIES}
    assert list(sizes["iss_2"].values()) == [51, 33, 42, 58, 37, 26]
    counts = {row: counting.weight_count(table3.paper_model(s)) for row, s in sizes.items()}
    assert counts["baseline"] == 2_690_003
    published = {"baseline": 2.69e6, "iss_1": 2.29e6, "iss_2": 1.17e6, "iss_3": 0.95e6, "iss_4": 0.88e6}
    for row, paper in published.items():
        assert abs(counts[row] - paper) < 0.01e6, (row, counts[row])
    exact = {row: counting.weight_count(table3.paper_model(s, "exact")) for row, s in sizes.items()}
    assert all(exact[row] < counts[row] for row in sizes if row != "baseline")


def test_score_agrees_with_the_official_metric_on_constructed_predictions(tiny):
    config, results = tiny
    prepared = load_prepared(prepare(config, results))
    examples = prepared.eval.examples
    predictions = {}
    for i, ex in enumerate(examples):
        if i % 3 == 0:
            predictions[ex.qid] = f"the {ex.answers[0]}."  # EM after normalisation (article, punctuation)
        elif i % 3 == 1:
            predictions[ex.qid] = f"{ex.answers[0]} river banks"  # partial: F1 only
    ours = train_bidaf.score(prepared.eval, predictions)
    official = squad_metric.evaluate(json.loads(prepared.eval_json.read_text()), predictions, err=open(os.devnull, "w"))
    assert ours["exact_match"] == pytest.approx(official["exact_match"]) == pytest.approx(100 * 4 / 12)
    assert ours["f1"] == pytest.approx(official["f1"])
    assert 100 * 4 / 12 < official["f1"] < 100 * 8 / 12


def test_pipeline_on_the_fixture_writes_metrics_report_and_figure(tiny):
    config, results = tiny
    reports = results.parent / "reports"
    prepare(config, results)
    for row in table3_rows(config):
        table3.train_row(config, row, results)
        metrics = table3.evaluate_row(config, row, results)
        assert 0 <= metrics["em"] <= 100 and 0 <= metrics["f1"] <= 100 and metrics["eval_questions"] == 12
        assert set(metrics["iss_sizes"]) == set(FAMILIES) and metrics["weights"] > 0
        assert metrics["weights"] == counting.weight_count(load_model(results / "smoke" / "table3" / row / "compact.pt",
                                                                  "cpu")[0])
        predictions = json.loads((results / "smoke" / "table3" / row / "predictions.json").read_text())
        assert len(predictions) == 12
        official = squad_metric.evaluate(json.loads(Path(metrics["eval_json"]).read_text()), predictions)
        assert official["exact_match"] == pytest.approx(metrics["em"])
        assert official["f1"] == pytest.approx(metrics["f1"])
    saved = torch.load(results / "smoke" / "table3" / "iss_1" / "model.pt", weights_only=True)
    assert saved["settings"]["lambda"] == 0.05 and saved["settings"]["input_keep_prob"] == 0.9
    table3.time_learned(config, results)
    table3.time_paper_sizes(config, results)
    frame = build(config, results, reports)
    run = frame[frame.setting == "this_run"]
    assert set(run.row) == {"baseline", "iss_1", "control"}
    # The control (lambda 0, the ISS rows' fine-tuning) is paired with no paper row: no cell is checked on it.
    control = run[run.row == "control"]
    assert control.paper_row.isna().all() and control.paper_column.isna().all()
    assert float(control[control.metric == "lambda"].reproduced.iloc[0]) == 0.0
    assert run[(run.row == "iss_1") & (run.metric == "f1")].paper_row.iloc[0] == "iss_1"
    assert torch.load(results / "smoke" / "table3" / "control" / "model.pt", weights_only=True)["settings"]["steps"] == 6
    assert run[run.metric == "weights"].paper_column.isna().all()  # learned sizes: never checked against 2.69M
    sized = frame[(frame.setting == "paper_sizes") & (frame.metric == "weights")].set_index("row")
    assert sized.loc["baseline", "reproduced"] == 2_690_003 and sized.loc["iss_4", "paper_printed"] == "0.88M"
    for column in ("scale", "setting", "row", "metric", "reproduced", "paper", "paper_printed", "paper_source",
                   "paper_column", "paper_row"):
        assert column in frame.columns
    md = (reports / "table3.md").read_text()
    for header in ("EM", "F1", "ModFwd1", "ModBwd1", "ModFwd2", "ModBwd2", "OutFwd", "OutBwd", "Weight #",
                   "Total time*"):
        assert f"| {header}" in md or f" {header} |" in md
    assert "Scale: **smoke**" in md and "dev-v1.1 split by article" in md and "ISS variant paper" in md
    assert "2.69M (2.69M)" in md and "Trained on" in md
    assert "fine-tuned, λ = 0 (control)‡" in md and "‡ Control (not in the paper)" in md
    assert "\\toprule" in (reports / "table3.tex").read_text()
    written = write_bidaf_figures(results / "smoke" / "table3", table3_rows(config), reports, "smoke")
    assert all(p.stat().st_size > 1000 for p in written)
    from iss_harness.paper import compare
    checked = compare.compare(results / "smoke", "smoke")  # the tidy CSV follows the comparison's contract
    assert "table3 at smoke" in checked.summary() and checked.exit_code == 0, checked.summary()


@pytest.mark.parametrize("variant", ["exact", "paper"])
def test_evaluation_shrinks_removed_units_and_checks_the_exact_variant(tiny, variant):
    from iss.groups import mask_removed_
    from iss_harness.tasks.lm import save_model
    config, results = tiny
    config["scales"]["smoke"]["table3"]["iss_variant"] = variant
    prepare(config, results)
    table3.train_row(config, "baseline", results)
    path = results / "smoke" / "table3" / "baseline" / "model.pt"
    model, saved = load_model(path, "cpu")
    dead = {f: torch.tensor([k in (1, 2) for k in range(4)]) for f in FAMILIES}
    mask_removed_(model, model.iss_families(), dead)
    save_model(model, path, saved["provenance"], saved["settings"])
    metrics = table3.evaluate_row(config, "baseline", results)
    assert metrics["iss_variant"] == variant and list(metrics["iss_sizes"].values()) == [2] * 6
    if variant == "exact":  # lossless: the compact model answers exactly as the masked large one
        assert metrics["shrink_max_abs_logprob_error"] < 1e-4
        assert metrics["em"] == metrics["em_before_shrink"] and metrics["f1"] == metrics["f1_before_shrink"]
    compact, _ = load_model(results / "smoke" / "table3" / "baseline" / "compact.pt", "cpu")
    assert compact.iss_sizes == {f: 2 for f in FAMILIES} and metrics["weights"] < metrics["weights_before_shrink"]


def test_group_norm_histogram_renders_with_zero_groups(tmp_path):
    rng = np.random.default_rng(1)
    base = np.abs(rng.normal(1.0, 0.2, 600))
    iss = np.concatenate([np.zeros(250), np.abs(rng.normal(0.3, 0.2, 350))])
    paths = plot_group_norms({"baseline": base, "iss_1": iss}, tmp_path / "norms", "test")
    assert sorted(p.name for p in paths) == ["norms.pdf", "norms.png"] and all(p.stat().st_size > 1000 for p in paths)


def test_explicit_paths_still_hand_the_paper_files_over(tmp_path, no_network):
    payload = b'{"version": "1.1", "data": []}\n'
    wrong = tmp_path / "wrong.json"
    wrong.write_bytes(payload)
    config = load_config(overrides={"scale": "paper", "data": {"dir": str(tmp_path / "dest"), "mirror": None},
                                    "scales": {"paper": {"table3": {"data": {"train_file": str(wrong)}}}}})
    with pytest.raises(DataError, match=r"wrong\.json has md5 .*expected 981b29407e0affa3b1b156f72073b945"):
        fetch_table3_data(config, "squad", ["train-v1.1.json"])
    assert not list((tmp_path / "dest" / "squad").iterdir())


def test_paper_scale_needs_the_train_file_and_says_how_to_supply_it(tmp_path, no_network):
    config = load_config(overrides={"scale": "paper", "data": {"dir": str(tmp_path), "mirror": str(tmp_path)}})
    with pytest.raises(DataError) as err:
        fetch_table3_data(config, "squad", ["train-v1.1.json"])
    message = str(err.value)
    assert "table3.data.train_file" in message and "981b29407e0affa3b1b156f72073b945" in message
    with pytest.raises(DataError, match="table3.glove.file"):
        fetch_table3_data(config, "glove")


@pytest.mark.parametrize("scale", ["smoke", "paper"])
def test_dry_run_lists_the_table3_jobs(scale):
    env_bin = Path(sys.executable).parent
    done = subprocess.run([str(env_bin / "snakemake"), "-n", "--forceall", "table3_report", "table3_figures",
                           "--config", f"scale={scale}"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout + done.stderr
    for rule in ("fetch_squad_dev", "fetch_glove", "table3_prepare", "table3_train", "table3_evaluate",
                 "table3_time_learned", "table3_time_paper_sizes", "table3_report", "table3_figures"):
        assert rule in out, rule
    rows = table3_rows(load_config(overrides={"scale": scale}))
    for row in rows:
        assert f"results/{scale}/table3/{row}/model.pt" in out
    assert ("fetch_squad_train" in out) == (scale == "paper")


@pytest.mark.data
def test_real_dev_split_is_by_article():
    if not os.environ.get("ISS_DATA_MIRROR"):
        pytest.skip("ISS_DATA_MIRROR is not set")
    config = load_config()
    files = fetch_table3_data(config, "squad", ["dev-v1.1.json"])
    with tempfile.TemporaryDirectory() as tmp:
        train, held_out = split_dev(files["dev-v1.1.json"], Path(tmp), 0.1, 1234)
        a, b = (json.loads(p.read_text())["data"] for p in (train, held_out))
    assert len(a) + len(b) == 48 and len(b) == 5
    assert {x["title"] for x in a}.isdisjoint({x["title"] for x in b})
    questions = sum(len(p["qas"]) for art in a + b for p in art["paragraphs"])
    assert questions == 10_570
