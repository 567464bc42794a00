"""Configuration: the shipped file is valid at every scale; bad input names the key."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from iss_harness.cli import main
from iss_harness.config import ConfigError, config_hash, load_config, scale_settings

REPO = Path(__file__).resolve().parent.parent


def test_shipped_config_is_valid_at_every_scale():
    config = load_config()
    assert config["scale"] == "smoke"
    for scale in ("smoke", "mid", "paper"):
        rows = set(scale_settings(config, scale)["table1"]["rows"])
        assert {"baseline", "iss_a", "iss_b", "direct"} <= rows
        # rows that start ISS from the trained baseline, where configured
        assert rows - {"baseline", "iss_a", "iss_b", "direct"} <= {"iss_a_from_baseline", "iss_b_from_baseline"}
    assert "iss_a_from_baseline" in scale_settings(config, "smoke")["table1"]["rows"]
    assert {"iss_a_from_baseline", "iss_b_from_baseline"} <= set(scale_settings(config, "mid")["table1"]["rows"])
    paper = scale_settings(config, "paper")["table1"]
    assert (paper["hidden_size"], paper["embedding_size"], paper["epochs"], paper["num_steps"]) == (1500, 1500, 55, 35)
    assert paper["rows"]["baseline"]["keep_prob"] == 0.35 and paper["rows"]["direct"]["hidden_from"] == "paper"


@pytest.mark.parametrize("override, key", [
    ({"scale": "huge"}, "scale"),
    ({"runtime": {"thredas": 2}}, "thredas"),
    ({"runtime": {"threads": "two"}}, "runtime.threads"),
    ({"scales": {"smoke": {"table1": {"rows": {"iss_a": {"lambda": -0.1}}}}}}, "scales.smoke.table1.rows.iss_a.lambda"),
    ({"scales": {"smoke": {"table1": {"rows": {"iss_a": {"keep_prob": 0}}}}}}, "scales.smoke.table1.rows.iss_a.keep_prob"),
    ({"scales": {"paper": {"table1": {"rows": {"baseline": {"keep_prob": 1.2}}}}}}, "scales.paper.table1.rows.baseline.keep_prob"),
    ({"scales": {"mid": {"table1": {"epochs": 0}}}}, "scales.mid.table1.epochs"),
    ({"scales": {"smoke": {"table1": {"rows": {"direct": {"schedule": {"kind": "cosine", "lr": 1}}}}}}}, "schedule.kind"),
])
def test_bad_values_are_named(override, key):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=override)
    assert key in str(err.value)


def test_later_files_override_earlier_ones(tmp_path):
    extra = tmp_path / "mine.yaml"
    extra.write_text(yaml.safe_dump({"scale": "mid", "runtime": {"seed": 7}}))
    config = load_config([REPO / "config" / "config.yaml", extra])
    assert config["scale"] == "mid" and config["runtime"]["seed"] == 7 and config["runtime"]["threads"] == 1
    assert config_hash(config) != config_hash(load_config())


def test_cli_reports_config_errors_without_a_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"runtime": {"device": "tpu"}}))
    code = main(["check-config", "--config", str(REPO / "config" / "config.yaml"), "--config", str(bad)])
    assert code == 2
    err = capsys.readouterr().err
    assert "runtime.device" in err and "bad.yaml" in err


def test_snakemake_validates_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"scales": {"smoke": {"table1": {"epochs": -1}}}}))
    env_bin = Path(sys.executable).parent
    done = subprocess.run([str(env_bin / "snakemake"), "-n", "--configfile", str(REPO / "config" / "config.yaml"), str(bad)],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode != 0
    assert "epochs" in done.stdout + done.stderr


def test_snakemake_dry_run_lists_the_table1_dag():
    env_bin = Path(sys.executable).parent
    done = subprocess.run([str(env_bin / "snakemake"), "-n", "--forceall", "--quiet", "rules"], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for rule in ("fetch_ptb", "table1_train", "table1_evaluate", "table1_time_learned", "table1_time_paper_sizes",
                 "table1_report", "table2_train", "table2_evaluate", "table2_time_learned", "table2_report",
                 "table2_figures"):
        assert rule in done.stdout + done.stderr


def test_paper_scale_dag_and_geometry_without_training():
    """The paper scale runs the same rules; its models have the published geometry."""
    from iss import counting
    from iss_harness.tables.table1 import experiment as table1
    env_bin = Path(sys.executable).parent
    done = subprocess.run([str(env_bin / "snakemake"), "-n", "--forceall", "--config", "scale=paper"], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "results/paper/table1/direct/seed1234/model.pt" in done.stdout + done.stderr
    config = load_config(overrides={"scale": "paper"})
    hidden = table1.row_hidden_sizes(config, "direct", Path("unused"), 1234)
    assert hidden == [373, 315]  # read from the paper file
    model = counting.build_on_meta(table1.build_model, config, "baseline", table1.PAPER_VOCAB, [1500, 1500])
    assert counting.weight_count(model) == 66_022_000
    assert table1.train_config(config, "iss_a", 1234).schedule.lr_at(18) == pytest.approx(0.1)


def test_training_jobs_ask_a_cluster_for_a_gpu_only_at_paper_scale():
    env_bin = Path(sys.executable).parent
    outputs = {}
    for scale in ("smoke", "paper"):
        done = subprocess.run([str(env_bin / "snakemake"), "-n", "--forceall", "table1_report", "table2_report",
                               "--config", f"scale={scale}"], cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        outputs[scale] = done.stdout + done.stderr
    train_resources = lambda text: [block.split("resources:")[1].split("\n")[0]  # noqa: E731
                                    for block in text.split("rule ")[1:] if block.startswith(("table1_train", "table2_train"))]
    assert len(train_resources(outputs["paper"])) == 9
    assert all("gpu=1" in line and "runtime=4320" in line for line in train_resources(outputs["paper"]))
    assert all("gpu=0" in line for line in train_resources(outputs["smoke"]))
