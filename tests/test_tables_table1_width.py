"""The width experiment's rows, job wiring and report (torch-free, on tiny written fixtures); the
smoke target itself runs in tests/test_e2e_smoke.py."""
import json
import statistics

import pytest

from iss_harness.config import ConfigError, load_config
from iss_harness.tables.table1_width import jobs
from iss_harness.tables.table1_width.rows import (all_rows, chosen_keep, check_seed, resolved_settings, row_dir,
                                                  row_seeds, runs, settings)
from iss_harness.tasks.paths import ExperimentError


@pytest.fixture
def config():
    config = load_config()
    block = settings(config)
    block.update(seeds=[1, 2, 3], selection_seed=9, keep_grid=[0.5, 1.0])
    block["widths"] = [dict(block["widths"][0], hidden=16, **{"lambda": 0.01}),
                       dict(block["widths"][0], hidden=64, **{"lambda": 0.02})]
    return config


def write_metrics(results, config, row, seed, valid, sizes=(16, 16), **extra):
    folder = row_dir(results, config, row, seed)
    folder.mkdir(parents=True, exist_ok=True)
    spec = all_rows(config)[row]
    metrics = dict(perplexity_valid=valid, perplexity_test=valid + 1, perplexity_train=valid / 2,
                   keep_prob=spec["keep_prob"] if spec["keep_prob"] != "chosen" else 0.5,
                   **{"lambda": spec["lambda"]}, weights=1000, iss_sizes=list(sizes), **extra)
    (folder / "metrics.json").write_text(json.dumps(metrics))


def test_rows_per_width_and_where_each_trains(config):
    rows = all_rows(config)
    assert list(rows)[:7] == ["w16_baseline", "w16_iss", "w16_direct", "w16_baseline_keep0.5", "w16_baseline_keep1",
                              "w16_direct_keep0.5", "w16_direct_keep1"]
    assert rows["w64_iss"]["lambda"] == 0.02 and rows["w64_iss"]["keep_prob"] == settings(config)["iss"]["keep_prob"]
    assert rows["w64_iss"]["schedule"]["kind"] == settings(config)["iss"]["schedule"]["kind"]
    assert rows["w64_baseline"]["lambda"] == 0 and rows["w64_baseline"]["keep_prob"] == "chosen"
    # grid rows at the selection seed only, chosen rows at the reported seeds: never the same runs
    assert row_seeds(config, "w16_direct_keep1") == [9] and row_seeds(config, "w16_direct") == [1, 2, 3]
    assert len(runs(config)) == 2 * (3 * 3 + 4)
    with pytest.raises(ExperimentError, match=r"w16_iss trains at seed\(s\) \[1, 2, 3\], not 9"):
        check_seed(config, "w16_iss", 9)


def test_a_direct_design_reads_its_iss_sizes_and_its_grid(config):
    assert jobs.inputs(config, "w16_direct", "2") == [
        "results/smoke/table1_width/w16_iss/seed2/metrics.json",
        "results/smoke/table1_width/w16_direct_keep0.5/seed9/metrics.json",
        "results/smoke/table1_width/w16_direct_keep1/seed9/metrics.json"]
    # the grid's direct designs train at the sizes the first reported seed learned
    assert jobs.inputs(config, "w16_direct_keep1", "9") == ["results/smoke/table1_width/w16_iss/seed1/metrics.json"]
    assert jobs.inputs(config, "w16_iss", "1") == []
    # a row's settings decide its reruns; another width's lambda does not
    before = jobs.row_settings(config, "w16_iss")
    settings(config)["widths"][1]["lambda"] = 0.5
    assert jobs.row_settings(config, "w16_iss") == before


def test_the_keep_ratio_is_the_grid_s_best_on_validation(config, tmp_path):
    with pytest.raises(ExperimentError, match=r"w16_baseline chooses its keep ratio from w16_baseline_keep0.5"):
        chosen_keep(config, tmp_path, "w16_baseline")
    write_metrics(tmp_path, config, "w16_baseline_keep0.5", 9, valid=120.0)
    write_metrics(tmp_path, config, "w16_baseline_keep1", 9, valid=110.0)
    assert chosen_keep(config, tmp_path, "w16_baseline") == 1.0
    write_metrics(tmp_path, config, "w16_iss", 2, valid=130.0, sizes=(5, 7))
    spec = resolved_settings(config, tmp_path, "w16_baseline", 2)
    assert spec["keep_prob"] == 1.0 and spec["hidden"] == [16, 16]
    write_metrics(tmp_path, config, "w16_direct_keep0.5", 9, valid=100.0)
    write_metrics(tmp_path, config, "w16_direct_keep1", 9, valid=100.0)
    direct = resolved_settings(config, tmp_path, "w16_direct", 2)
    assert direct["hidden"] == [5, 7] and direct["keep_prob"] == 0.5  # a tie goes to the first in grid order


def test_a_scale_without_the_experiment_says_so():
    config = load_config()
    config["scale"] = "paper"
    with pytest.raises(ConfigError, match=r"scale .paper. has no `table1_width` block in the configuration \(scales.paper.table1_width\)"):
        settings(config)
    from iss_harness.tables import load_tables
    assert load_tables(config)["table1_width"].rows(config) == []


def write_experiment(results, config, gaps):
    """Every run of the experiment: baseline 100 at every width, ISS 100 + i, direct ISS + gap."""
    for row, seed in runs(config):
        spec = all_rows(config)[row]
        index = [1, 2, 3, 9].index(seed)
        valid = 100.0 if spec["kind"] == "baseline" else 100.0 + index
        if spec["kind"] == "direct" and not spec.get("grid"):
            valid += gaps[index] if spec["width"] == 64 else 0.0
        provenance = dict(scale="smoke", seed=seed, device="cpu", threads=1, git_sha="a" * 40, config_hash="c",
                          versions={"torch": "2"}, wall_seconds=60.0)
        write_metrics(results, config, row, seed, valid, sizes=(spec["width"] // 2, spec["width"] // 4),
                      provenance=provenance, training_provenance=provenance)


def test_the_report_pairs_the_gap_by_seed_and_the_claim_reads_it(config, tmp_path):
    from iss_harness.paper.claims import evaluate_claim, load_claims
    from iss_harness.paper.results import read_results
    from iss_harness.paper.tables import load_paper_tables
    from iss_harness.tables.table1_width.report import collect, read_runs
    gaps = [3.0, 5.0, 4.0]
    write_experiment(tmp_path, config, gaps)
    frame = collect(config, read_runs(config, tmp_path))
    widest = frame[frame.row == "widest"].set_index("metric")
    assert sorted(frame[(frame.row == "widest") & (frame.metric == "direct_minus_iss")].reproduced) == sorted(gaps)
    assert widest.loc["direct_minus_iss_sd"].reproduced == pytest.approx(statistics.stdev(gaps))
    relative = frame[(frame.row == "w64_iss") & (frame.metric == "relative_perplexity")]
    assert list(relative.reproduced) == pytest.approx([1.00, 1.01, 1.02])
    (tmp_path / "smoke").mkdir(exist_ok=True)
    frame.to_csv(tmp_path / "smoke" / "table1_width.csv", index=False)
    paper = load_paper_tables()
    (claim,) = [c for c in load_claims(paper=paper) if c.id == "iss_beats_direct_when_wide"]
    result = evaluate_claim(claim, {"table1_width": read_results(tmp_path / "smoke", "table1_width")}, paper)
    assert result.status == "shown" and "would pass" in result.message  # mean 4 > sd 1


def test_the_budget_line_counts_a_resumed_training_by_its_epochs(config, tmp_path):
    from iss_harness.tables.table1_width.report import read_runs, wall_seconds
    write_experiment(tmp_path, config, [3.0, 5.0, 4.0])
    measured = read_runs(config, tmp_path)
    total, longest = wall_seconds(config, tmp_path, measured)
    assert (total, longest) == (pytest.approx(120.0 * len(measured)), 60.0)  # training 60 s + evaluation 60 s each
    # one training resumed from its checkpoint: its last process took 60 s, its epochs 300 s in all
    (row, seed) = next(iter(measured))
    (row_dir(tmp_path, config, row, seed) / "history.csv").write_text("epoch,seconds\n1,150\n2,150\n")
    total, longest = wall_seconds(config, tmp_path, measured)
    assert (total, longest) == (pytest.approx(120.0 * len(measured) + 240.0), 300.0)
