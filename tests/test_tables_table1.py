"""Table 1's rows from the config: ISS started from the baseline, and the trade-off sweep's rows."""
import pytest
import torch

from iss_harness.config import ConfigError
from iss_harness.tasks.lm import ExperimentError, save_model
from iss_harness.models.lstm_lm import LSTMLanguageModel
from iss_harness.tables.table1.experiment import row_dir, start_from_row
from iss_harness.tables.table1.rows import all_rows, paper_row, pareto_rows, row_label, start_row, table_rows

STEP = {"kind": "step", "lr": 1.0, "factor": 0.3, "every": 2}


def config(pareto=None, **extra_rows):
    rows = {"baseline": {"keep_prob": 0.5, "lambda": 0.0, "zero_threshold": 0.0, "schedule": STEP},
            "iss_a": {"keep_prob": 0.6, "lambda": 0.005, "zero_threshold": 5e-4, "schedule": STEP},
            "direct": {"keep_prob": 0.55, "lambda": 0.0, "zero_threshold": 0.0, "hidden_from": "iss_a", "schedule": STEP},
            "iss_a_from_baseline": {"keep_prob": 0.6, "lambda": 0.04, "zero_threshold": 5e-4, "schedule": STEP,
                                    "iss_start": "baseline", "epochs": 2},
            **extra_rows}
    table = {"rows": rows, "embedding_size": 8, "hidden_size": 6, "init_scale": 0.1}
    if pareto:
        table["pareto"] = pareto
    return {"scale": "smoke", "runtime": {"seed": 1}, "scales": {"smoke": {"table1": table}}}


SWEEP = {"scratch": {"template": "iss_a", "lambdas": [0.002, 0.01]},
         "baseline": {"template": "iss_a_from_baseline", "lambdas": [0.03]},
         "direct": {"template": "direct"}}


def test_sweep_rows_copy_their_templates_with_each_lambda_and_a_direct_design_each():
    rows = pareto_rows(config(SWEEP))
    assert list(rows) == ["pareto_scratch_0.002", "pareto_direct_scratch_0.002", "pareto_scratch_0.01",
                          "pareto_direct_scratch_0.01", "pareto_baseline_0.03", "pareto_direct_baseline_0.03"]
    assert rows["pareto_scratch_0.01"]["lambda"] == 0.01 and rows["pareto_scratch_0.01"]["keep_prob"] == 0.6
    assert start_row(rows["pareto_baseline_0.03"]) == "baseline" and rows["pareto_baseline_0.03"]["epochs"] == 2
    assert start_row(rows["pareto_scratch_0.002"]) is None
    assert rows["pareto_direct_baseline_0.03"]["hidden_from"] == "pareto_baseline_0.03"
    assert rows["pareto_direct_baseline_0.03"]["lambda"] == 0.0
    # the table keeps its own rows; the sweep is added only to all_rows
    assert table_rows(config(SWEEP)) == ["baseline", "iss_a", "direct", "iss_a_from_baseline"]
    assert len(all_rows(config(SWEEP))) == 4 + 6
    assert pareto_rows(config()) == {}


def test_a_template_of_the_wrong_start_mode_or_missing_is_a_config_error():
    with pytest.raises(ConfigError, match=r"pareto.baseline.template: row 'iss_a' has iss_start 'scratch'"):
        pareto_rows(config({**SWEEP, "baseline": {"template": "iss_a", "lambdas": [0.1]}}))
    with pytest.raises(ConfigError, match=r"template 'nope' is not a row"):
        pareto_rows(config({**SWEEP, "direct": {"template": "nope"}}))


def test_rows_started_from_the_baseline_are_shown_beside_the_papers_iss_row():
    assert paper_row("iss_a_from_baseline") == "iss_a" and paper_row("direct") == "direct"
    assert paper_row("pareto_scratch_0.01") is None
    assert row_label("iss_b_from_baseline") == "ISS from baseline"


def tiny(hidden):
    torch.manual_seed(0)
    return LSTMLanguageModel(20, 8, hidden, keep_prob=0.6)


def test_start_from_baseline_loads_its_weights_and_labels_the_start(tmp_path):
    cfg = config()
    baseline = tiny([6, 6])
    source = row_dir(tmp_path, cfg, "baseline", 1) / "model.pt"
    source.parent.mkdir(parents=True)
    save_model(baseline, source)
    model = tiny([6, 6])
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    start = start_from_row(cfg, "iss_a_from_baseline", 1, tmp_path, model)
    assert start.startswith("baseline@")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), baseline.state_dict().values()))
    assert start_from_row(cfg, "iss_a", 1, tmp_path, tiny([6, 6])) == "scratch"
    # another baseline gives another label, so a checkpoint never resumes across starts
    with torch.no_grad():
        next(baseline.parameters()).add_(1.0)
    save_model(baseline, source)
    assert start_from_row(cfg, "iss_a_from_baseline", 1, tmp_path, tiny([6, 6])) != start


def test_start_from_a_missing_or_differently_shaped_baseline_says_what_to_do(tmp_path):
    cfg = config()
    with pytest.raises(ExperimentError, match=r"model.pt is missing: train it first"):
        start_from_row(cfg, "iss_a_from_baseline", 1, tmp_path, tiny([6, 6]))
    source = row_dir(tmp_path, cfg, "baseline", 1) / "model.pt"
    source.parent.mkdir(parents=True)
    save_model(tiny([6, 5]), source)
    with pytest.raises(ExperimentError, match=r"cannot start from .*geometry"):
        start_from_row(cfg, "iss_a_from_baseline", 1, tmp_path, tiny([6, 6]))
