"""Speedup vs sparsity: shapes at equal sparsity, the products are the same matrix multiply, the
results file carries every point and its provenance, and the figure is drawn from that file alone."""
from __future__ import annotations

import json

import pytest
import torch

from iss_harness.tasks import sparsity_speed
from iss_harness.cli import main
from iss_harness.config import ConfigError, load_config
from iss_harness.reporting.figures_speed import plot
from iss_harness.tasks.sparsity_kinds import KINDS
from iss_harness.tasks.sparsity_speed import build_levels, measure, measure_products, structured_shape

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = {"hidden_size": 16, "input_size": 12, "batch_size": 3, "sparsities": [0.0, 0.5, 0.9], "threads": [1],
        "rounds": 1, "chunk_seconds": 0.0}


def tiny_config():
    return load_config(overrides={"scale": "smoke", "scales": {"smoke": {"sparsity_speed": TINY}}})


@pytest.mark.parametrize("sparsity, units, shape", [
    (0.0, 1500, (6000, 3000)),      # the paper's layer: W [4h, n_in + h]
    (0.75, 750, (3000, 1500)),      # half the units and half the inputs: a quarter of the weights
    (0.95, 335, (1340, 670)),       # round(1500 * sqrt(0.05)) = 335
])
def test_structured_shape_keeps_whole_units(sparsity, units, shape):
    assert structured_shape(1500, 1500, sparsity) == (units, shape)


def test_structured_sparsity_is_close_to_the_target():
    for target in (0.1, 0.3, 0.5, 0.7, 0.9):
        _, (rows, cols) = structured_shape(1500, 1500, target)
        assert abs(1 - rows * cols / (6000 * 3000) - target) < 0.002


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_structured_shape_rejects_impossible_sparsity(bad):
    with pytest.raises(ValueError, match="sparsity"):
        structured_shape(10, 10, bad)


def test_every_product_is_the_layer_multiply_at_equal_nonzeros():
    hidden, inputs, batch = 8, 6, 2
    dense, levels = build_levels(hidden, inputs, batch, [0.0, 0.5, 0.9], seed=3)
    assert dense().shape == (4 * hidden, batch)
    for record, products in levels:
        rows, cols = record["structured_shape"]
        assert record["nonzeros"] == rows * cols
        assert products["structured"]().shape == (rows, batch)
        masked = products["dense_masked"]
        for kind in ("csr", "csr_int64"):
            torch.testing.assert_close(products[kind](), masked(), rtol=1e-5, atol=1e-6)
        # the random mask keeps exactly the structured matrix's number of weights
        weight = products["dense_masked"].matrix
        assert int((weight != 0).sum()) == record["nonzeros"]
        assert record["sparsity"] == pytest.approx(1 - record["nonzeros"] / (4 * hidden * (inputs + hidden)))


def test_csr_indices_are_int32_and_int64():
    _, levels = build_levels(4, 4, 1, [0.5])
    products = levels[0][1]
    matrices = {kind: products[kind].matrix for kind in ("csr", "csr_int64")}
    assert matrices["csr"].layout == torch.sparse_csr and matrices["csr"].col_indices().dtype == torch.int32
    assert matrices["csr_int64"].col_indices().dtype == torch.int64


def test_measure_products_has_every_point_and_is_json():
    report = measure_products(8, 8, 2, [0.0, 0.5], [1], rounds=1, chunk_seconds=0.0)
    assert len(report["points"]) == 2 * len(KINDS)
    assert {p["kind"] for p in report["points"]} == set(KINDS)
    for point in report["points"]:
        assert point["speedup"] > 0 and point["median_ms"] > 0 and point["threads"] == 1
        assert point["speedup"] == pytest.approx(point["dense_ms"] / point["median_ms"])
    assert report["layer"]["weight_shape"] == [32, 16]
    json.dumps(report)  # the results file is plain JSON


def test_measure_writes_results_with_provenance_and_the_figure_reads_only_that_file(tmp_path):
    config = tiny_config()
    measure(config, tmp_path / "results")
    path = tmp_path / "results" / "smoke" / "sparsity_speed.json"
    saved = json.loads(path.read_text())
    assert saved["provenance"]["scale"] == "smoke" and "git_sha" in saved["provenance"]
    assert saved["settings"]["hidden_size"] == 16 and saved["machine"]["torch"] == torch.__version__
    paths = plot(path, tmp_path / "figures" / "speedup")
    assert sorted(p.name for p in paths) == ["speedup.pdf", "speedup.png"]
    assert (tmp_path / "figures" / "speedup.png").read_bytes().startswith(PNG_MAGIC)
    assert (tmp_path / "figures" / "speedup.pdf").read_bytes().startswith(b"%PDF")


def test_figure_with_two_thread_counts(tmp_path):
    report = measure_products(8, 8, 2, [0.0, 0.75], [1, 2], rounds=1, chunk_seconds=0.0)
    path = tmp_path / "speed.json"
    path.write_text(json.dumps(report))
    assert len(plot(path, tmp_path / "speed")) == 2


def test_missing_settings_is_a_config_error():
    config = tiny_config()
    del config["scales"]["smoke"]["sparsity_speed"]
    with pytest.raises(ConfigError, match="sparsity_speed"):
        sparsity_speed.settings_of(config)


def test_cli_measures_and_plots(tmp_path, capsys):
    overrides = json.dumps({"scales": {"smoke": {"sparsity_speed": TINY}}})
    args = ["--scale", "smoke", "--overrides-json", overrides, "--results", str(tmp_path / "results"),
            "--reports", str(tmp_path / "reports"), "sparsity-speed"]
    assert main(args) == 0
    assert (tmp_path / "results" / "smoke" / "sparsity_speed.json").exists()
    assert (tmp_path / "reports" / "figures" / "speedup_vs_sparsity.png").exists()
    assert "speedup over the dense" in capsys.readouterr().out


def test_cli_plot_only_without_results_names_the_missing_file(tmp_path, capsys):
    args = ["--results", str(tmp_path / "results"), "--reports", str(tmp_path / "reports"), "sparsity-speed",
            "--plot-only"]
    assert main(args) == 2
    assert "sparsity_speed.json does not exist" in capsys.readouterr().err
