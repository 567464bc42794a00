"""iss.io: the one atomic writer, and loading pickles written before the package split."""
import os
import stat
import sys

import pytest

from iss import io
from iss.tasks import train_lm


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
    with pytest.raises(FileNotFoundError, match=r"timing_learned.json does not exist: run the step .*snakemake"):
        io.read_json(tmp_path / "timing_learned.json")


def test_checkpoint_pickled_under_the_old_module_name_still_loads(tmp_path, monkeypatch):
    """A checkpoint saved mid-epoch holds an EpochProgress; before the split its class lived in iss.train."""
    progress = train_lm.EpochProgress.__new__(train_lm.EpochProgress)
    progress.__dict__.update(step=7)
    # Pickle it as the flat layout did: the class's module named iss.train.
    monkeypatch.setitem(sys.modules, "iss.train", train_lm)
    monkeypatch.setattr(train_lm.EpochProgress, "__module__", "iss.train")
    io.save_torch_atomic(dict(progress=progress, epoch=3), tmp_path / "checkpoint.pt")
    monkeypatch.undo()
    assert "iss.train" not in sys.modules  # (a plain torch.load would now look for iss/train.py)
    loaded = io.load_torch(tmp_path / "checkpoint.pt", map_location="cpu")
    assert type(loaded["progress"]) is train_lm.EpochProgress and loaded["progress"].step == 7
    assert loaded["epoch"] == 3
