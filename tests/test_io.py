"""iss_harness.io: the one atomic writer, and torch files that are data, never code (weights-only loads)."""
import os
import pickle
import stat

import pytest
import torch

from iss_harness import io
from iss_harness.tasks import lm, train_lm
from iss_harness.tables.table3 import data as table3_data


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "metrics.json"
    io.write_json_atomic(target, {"perplexity": 80.0})
    with pytest.raises(RuntimeError, match="killed"):
        with io.replacing(target) as temp:
            temp.write_text("{\"perplex")  # half a file ...
            raise RuntimeError("killed")   # ... and the job dies
    assert io.read_json(target) == {"perplexity": 80.0}
    assert sorted(p.name for p in target.parent.iterdir()) == ["metrics.json"]


def test_written_files_get_the_usual_mode_not_mkstemps_0600(tmp_path):
    target = tmp_path / "report.md"
    io.write_text_atomic(target, "# report\n")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert target.read_text() == "# report\n"


def test_read_json_names_the_step_that_makes_a_missing_file(tmp_path):
    with pytest.raises(io.MissingResultsFile, match=r"timing_learned.json does not exist: run the step .*snakemake"):
        io.read_json(tmp_path / "timing_learned.json")


class _RunsCodeWhenLoaded:
    """Unpickles as ``exec(source)``: the attack a full-pickle torch.load opens to any file."""

    def __init__(self, marker):
        self.source = f"open({str(marker)!r}, 'w').write('ran')"

    def __reduce__(self):
        return (exec, (self.source,))


def test_every_torch_file_the_harness_reads_refuses_code_without_running_it(tmp_path):
    marker = tmp_path / "code_ran"
    hostile = dict(model=_RunsCodeWhenLoaded(marker), state={}, kind="LSTMLanguageModel", version=2,
                   config_digest="x")
    loaders = {  # every place a results or data torch file is read
        "checkpoint.pt": lambda path: train_lm.load_checkpoint(path, "x", log=print),
        "model.pt": lambda path: lm.load_model(path, torch.device("cpu")),
        "compact.pt": lambda path: lm.load_model(path, torch.device("cpu")),
        "best.pt": lambda path: io.load_torch(path, "rerun the training with --restart"),
        "prepared.pt": table3_data.load_prepared,
    }
    for name, load in loaders.items():
        path = tmp_path / name
        io.save_torch_atomic(hostile, path)
        with pytest.raises(io.UnreadableFile, match=rf"{name} cannot be loaded: it holds Python objects"):
            load(path)
        assert not marker.exists(), f"loading {name} ran the code in it"
    # The payload is live: plain unpickling (what a full-pickle torch.load does) runs it, so the
    # assertions above can fail.
    pickle.loads(pickle.dumps(hostile))
    assert marker.read_text() == "ran"


def test_a_damaged_or_missing_torch_file_is_one_line_naming_it_and_the_remedy(tmp_path):
    whole = tmp_path / "whole.pt"
    io.save_torch_atomic({"w": torch.zeros(3)}, whole)
    cut = tmp_path / "checkpoint.pt"
    cut.write_bytes(whole.read_bytes()[:40])
    with pytest.raises(io.UnreadableFile) as error:
        io.load_torch(cut, "rerun with --restart")
    message = str(error.value)
    assert "\n" not in message and str(cut) in message and "damaged or truncated" in message
    assert message.endswith("rerun with --restart")
    # A missing file is made, not deleted: the remedy for a damaged one does not apply to it.
    gone = tmp_path / "gone.pt"
    with pytest.raises(io.MissingResultsFile) as error:
        io.load_torch(gone, "delete it and rerun")
    assert str(error.value) == f"{gone} does not exist: run the step that produces it first (snakemake --cores 2 {gone})"
    assert isinstance(error.value, FileNotFoundError) and isinstance(error.value, io.UnreadableFile)


def test_project_torch_files_hold_only_plain_data(tmp_path):
    """A mid-epoch checkpoint's position is a plain dict (was a pickled EpochProgress)."""
    progress = train_lm.EpochProgress(step=7, state=(torch.zeros(2, 3),), total_loss=1.5, total_tokens=9)
    io.save_torch_atomic(dict(progress={**vars(progress)}, epoch=3), tmp_path / "checkpoint.pt")
    loaded = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert train_lm.EpochProgress(**loaded["progress"]).step == 7


def test_a_damaged_results_json_is_one_line_naming_it(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text('{"perplexity": 8')  # cut short by a full disk
    with pytest.raises(io.UnreadableFile) as error:
        io.read_json(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value) and "rerun" in str(error.value)
