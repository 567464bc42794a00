"""Figures: files are written, the sparsity picture marks exactly the removed ISS components,
and missing inputs name the file and the rule that makes it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from iss.groups import mask_removed_
from iss_harness.tables.table1.figures import plot_training_curves, write_table1_figures
from iss_harness.reporting.figures_sparsity import plot_lstm_sparsity, removed_stripes, sparsity_picture, tf_kernel
from iss_harness.reporting.sparsity_plot import downsample_strides, pack_mask, unpack_mask
from iss_harness.models.lstm_lm import LSTMLanguageModel
from iss_harness.tasks.lm import save_model

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EMBEDDING, HIDDEN = 8, [6, 5]
REMOVED_IN_LAYER_1 = [1, 4]


def history(perplexities: list[float], units: list[tuple[int, int]], penalty: float) -> pd.DataFrame:
    epochs = range(1, len(perplexities) + 1)
    return pd.DataFrame({
        "epoch": list(epochs), "lr": 1.0, "train_perplexity": [p * 1.2 for p in perplexities],
        "penalty": penalty, "seconds": 1.0, "words_per_second": 1000.0, "valid_perplexity": perplexities,
        "iss_lstm1": [u[0] for u in units], "iss_lstm2": [u[1] for u in units]})


@pytest.fixture
def histories() -> dict[str, pd.DataFrame]:
    return {
        "baseline": history([400.0, 150.0, 120.0], [(6, 5)] * 3, penalty=0.0),
        "iss_a": history([420.0, 170.0, 130.0], [(6, 5), (5, 5), (4, 5)], penalty=2.5),
    }


@pytest.fixture
def model() -> LSTMLanguageModel:
    """A tiny LM whose layer-1 units 1 and 4 are removed (every weight they own is zero)."""
    torch.manual_seed(0)
    model = LSTMLanguageModel(vocab_size=30, embedding_size=EMBEDDING, hidden_sizes=HIDDEN)
    dead = torch.zeros(HIDDEN[0], dtype=torch.bool)
    dead[REMOVED_IN_LAYER_1] = True
    mask_removed_(model, model.iss_families(), {"lstm1": dead, "lstm2": torch.zeros(HIDDEN[1], dtype=torch.bool)})
    return model


def assert_figure_files(paths, stem) -> None:
    assert sorted(p.name for p in paths) == [f"{stem.name}.pdf", f"{stem.name}.png"]
    for path in paths:
        assert path.stat().st_size > 0
    assert stem.with_suffix(".png").read_bytes().startswith(PNG_MAGIC)
    assert stem.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
    assert not list(stem.parent.glob(".*.tmp")), "a temporary file was left behind"


def test_training_curves_are_written_as_png_and_pdf(tmp_path, histories):
    stem = tmp_path / "figures" / "curves"
    paths = plot_training_curves(histories, {"baseline": "baseline", "iss_a": "ISS"}, stem, "test")
    assert_figure_files(paths, stem)


def test_sparsity_figure_is_written_as_png_and_pdf(tmp_path, model):
    stem = tmp_path / "sparsity"
    assert_figure_files(plot_lstm_sparsity(model, stem, "test", max_pixels=7), stem)


def test_kernel_is_the_tensorflow_layout(model):
    lstm = model.lstms[0]
    kernel = tf_kernel(model, 0)
    assert kernel.shape == (EMBEDDING + HIDDEN[0], 4 * HIDDEN[0])
    np.testing.assert_array_equal(kernel[:EMBEDDING], lstm.weight_ih_l0.detach().numpy().T)
    np.testing.assert_array_equal(kernel[EMBEDDING:], lstm.weight_hh_l0.detach().numpy().T)


def test_stripes_mark_exactly_the_removed_components_of_layer_1(model):
    h = HIDDEN[0]
    expected = np.zeros((EMBEDDING + h, 4 * h), dtype=bool)
    for k in REMOVED_IN_LAYER_1:
        expected[EMBEDDING + k, :] = True  # recurrent row: h_{t-1}[k] read by every gate
        for gate in range(4):
            expected[:, gate * h + k] = True  # gate columns i, f, g, o of unit k
    np.testing.assert_array_equal(removed_stripes(model, 0), expected)
    assert (tf_kernel(model, 0)[expected] == 0).all()


def test_stripes_of_layer_2_are_the_inputs_from_removed_layer_1_units(model):
    expected = np.zeros((HIDDEN[0] + HIDDEN[1], 4 * HIDDEN[1]), dtype=bool)
    expected[REMOVED_IN_LAYER_1, :] = True  # layer 2 reads layer-1 unit k through input row k
    np.testing.assert_array_equal(removed_stripes(model, 1), expected)
    assert (tf_kernel(model, 1)[expected] == 0).all()


def test_downsampling_keeps_each_side_within_the_limit():
    assert downsample_strides((128, 2000), 600) == (1, 4)
    assert downsample_strides((3000, 6000), 600) == (5, 10)
    assert downsample_strides((14, 24), 600) == (1, 1)


def write_row(table_dir, row: str, frame: pd.DataFrame, seed: int = 1234) -> None:
    (table_dir / row / f"seed{seed}").mkdir(parents=True, exist_ok=True)
    frame.to_csv(table_dir / row / f"seed{seed}" / "history.csv", index=False)


def test_table1_figures_from_a_results_folder(tmp_path, histories, model):
    table_dir = tmp_path / "results" / "smoke" / "table1"
    for row, frame in histories.items():
        write_row(table_dir, row, frame)
        write_row(table_dir, row, frame.assign(valid_perplexity=frame.valid_perplexity * 1.05), seed=7)
    save_model(model, table_dir / "iss_a" / "seed7" / "model.pt")  # the first seed's model is drawn
    reports = tmp_path / "reports"
    paths = write_table1_figures(tmp_path / "results" / "smoke", reports)
    assert sorted(p.name for p in paths) == ["table1_iss_sparsity.pdf", "table1_iss_sparsity.png",
                                             "table1_training_curves.pdf", "table1_training_curves.png"]
    assert all(p.parent == reports / "figures" and p.stat().st_size > 0 for p in paths)


def test_missing_history_names_the_file_and_the_rule(tmp_path, histories, model):
    table_dir = tmp_path / "table1"
    write_row(table_dir, "iss_a", histories["iss_a"])
    save_model(model, table_dir / "iss_a" / "seed1234" / "model.pt")
    (table_dir / "baseline" / "seed1234").mkdir(parents=True)  # the row was started but has no history yet
    with pytest.raises(FileNotFoundError, match="table1_train") as error:
        write_table1_figures(tmp_path, tmp_path / "reports")
    assert str(table_dir / "baseline" / "seed1234" / "history.csv") in str(error.value)


def test_missing_model_names_the_file(tmp_path, histories):
    write_row(tmp_path / "table1", "iss_a", histories["iss_a"])
    with pytest.raises(FileNotFoundError) as error:
        write_table1_figures(tmp_path, tmp_path / "reports")
    assert str(tmp_path / "table1" / "iss_a" / "seed1234" / "model.pt") in str(error.value)


def test_the_picture_data_is_the_downsampled_masks(model):
    picture = sparsity_picture(model, max_pixels=4)
    kernel = tf_kernel(model, 0) != 0
    first = picture["layers"][0]
    np.testing.assert_array_equal(unpack_mask(first["kernel"]), kernel[::first["kernel"]["strides"][0],
                                                                         ::first["kernel"]["strides"][1]])
    assert first["removed"] == len(REMOVED_IN_LAYER_1) and first["units"] == HIDDEN[0]
    assert picture["layers"][1]["removed_inputs"] == len(REMOVED_IN_LAYER_1)
    mask = np.random.default_rng(0).random((13, 21)) > 0.5
    np.testing.assert_array_equal(unpack_mask(pack_mask(mask, 100)), mask)


def test_a_recorded_run_redraws_the_sparsity_figure_without_its_model(tmp_path, histories, model):
    """The figures step keeps the picture's data beside the model; without the model (a recorded
    run copies no models) the figure is drawn from that file."""
    table_dir = tmp_path / "results" / "smoke" / "table1"
    for row, frame in histories.items():
        write_row(table_dir, row, frame)
    save_model(model, table_dir / "iss_a" / "seed1234" / "model.pt")
    write_table1_figures(tmp_path / "results" / "smoke", tmp_path / "reports")
    first = (tmp_path / "reports" / "figures" / "table1_iss_sparsity.png").read_bytes()
    assert (table_dir / "iss_a" / "seed1234" / "sparsity_picture.json").is_file()
    (table_dir / "iss_a" / "seed1234" / "model.pt").unlink()
    write_table1_figures(tmp_path / "results" / "smoke", tmp_path / "again")
    assert (tmp_path / "again" / "figures" / "table1_iss_sparsity.png").read_bytes()[:8] == first[:8] == PNG_MAGIC
