"""Table 2 (RHN lambda sweep) wiring: rows and seeds from config, per-row settings, pairing with
the paper's rows, paper-scale geometry, and the trade-off figure from a fixture CSV."""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from iss import counting

from iss_harness.tables.table2 import experiment as table2
from iss_harness.config import load_config
from iss_harness.tables.table2.rows import table2_rows, table2_seeds
from iss_harness.tasks.lm import ExperimentError
from iss_harness.tables.table2.figures import write_table2_figures
from iss_harness.paper.tables import paired_paper_rows

REPO = Path(__file__).resolve().parent.parent


def test_rows_and_seeds_come_from_the_config_lists():
    config = load_config(overrides={"scales": {"smoke": {"table2": {"lambdas": [0.007, 0.004, 0.0055],
                                                                     "seeds": [1, 2]}}}})
    assert table2_rows(config) == ["baseline", "lambda_0.004", "lambda_0.0055", "lambda_0.007"]
    assert table2_seeds(config) == [1, 2]
    assert table2_seeds(load_config()) == [load_config()["runtime"]["seed"]]


def test_iss_rows_scale_every_dropout_and_threshold_only_iss():
    config = load_config(overrides={"scale": "paper"})
    base = table2.row_settings(config, "baseline")
    iss = table2.row_settings(config, "lambda_0.005")
    assert base == {"lambda": 0.0, "dropout": {"x": 0.25, "i": 0.75, "h": 0.25, "o": 0.75}, "zero_threshold": 0.0}
    assert iss["lambda"] == 0.005 and iss["zero_threshold"] == 4e-4
    assert iss["dropout"] == pytest.approx({"x": 0.15, "i": 0.45, "h": 0.15, "o": 0.45})  # spec 2.4
    with pytest.raises(ExperimentError, match="no row 'lambda_0.1'"):
        table2.row_settings(config, "lambda_0.1")


def test_paper_scale_training_settings_and_geometry():
    config = load_config(overrides={"scale": "paper"})
    cfg = table2.train_config(config, "lambda_0.004", seed=3)
    assert (cfg.keep_best, cfg.threshold_scope, cfg.weight_decay, cfg.clip_norm) == (True, "groups", 1e-7, 10.0)
    assert (cfg.batch_size, cfg.num_steps, cfg.seed) == (20, 35, 3)
    assert cfg.schedule.lr_at(19) == pytest.approx(0.2) and cfg.schedule.lr_at(20) == pytest.approx(0.2 / 1.02)
    model = counting.build_on_meta(table2.build_model, config, "baseline", table2.PAPER_VOCAB)
    assert counting.weight_count(model) == 23_482_400  # 23.5M, spec 4.1
    assert table2.paper_widths() == {"baseline": 830, "lambda_0.004": 726, "lambda_0.005": 517,
                                     "lambda_0.006": 403, "lambda_0.007": 328}


def test_rows_pair_with_the_paper_by_rank_of_lambda():
    paper = ["baseline", "lambda_0.004", "lambda_0.005", "lambda_0.006", "lambda_0.007"]
    assert paired_paper_rows(["baseline", "lambda_0.01", "lambda_0.02"], paper) == {
        "baseline": "baseline", "lambda_0.01": "lambda_0.004", "lambda_0.02": "lambda_0.005"}
    many = ["baseline"] + [f"lambda_0.00{i}" for i in range(1, 7)]
    assert paired_paper_rows(many, paper)["lambda_0.006"] is None


def test_dry_run_has_one_job_per_row_and_seed():
    env_bin = Path(sys.executable).parent
    done = subprocess.run([str(env_bin / "snakemake"), "-n", "--forceall", "table2_report",
                           "--config", "scale=paper"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    for row in ("baseline", "lambda_0.004", "lambda_0.005", "lambda_0.006", "lambda_0.007"):
        assert f"results/paper/table2/{row}/seed1234/model.pt" in out


def test_tradeoff_figure_from_fixture_results(tmp_path):
    records = []
    for row, lam, widths, ppl in (("baseline", 0.0, (64, 64), (80.0, 81.0)), ("lambda_0.004", 0.004, (50, 52), (82.0, 83.0)),
                                  ("lambda_0.007", 0.007, (30, 33), (90.0, 92.0))):
        for seed, width, p in zip((1, 2), widths, ppl):
            for metric, value in (("lambda", lam), ("width", width), ("perplexity_valid", p)):
                records.append(dict(scale="smoke", setting="this_run", row=row, seed=seed, metric=metric, reproduced=value))
    csv = tmp_path / "table2.csv"
    pd.DataFrame(records).to_csv(csv, index=False)
    written = write_table2_figures(csv, tmp_path / "reports")
    assert sorted(p.name for p in written) == ["rhn_tradeoff.pdf", "rhn_tradeoff.png"]
    assert all(p.stat().st_size > 1000 for p in written)
