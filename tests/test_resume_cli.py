"""A training job killed with SIGKILL in the middle of an epoch resumes from its last checkpoint
(data position included) and ends with exactly the weights and metrics of an uninterrupted run
(CPU, fixed seed: Table 1's perplexities are deterministic). Uses a small slice of the real PTB."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.data

TINY = {"scale": "smoke", "runtime": {"checkpoint_seconds": 0.02}, "scales": {"smoke": {
    "ptb": {"vocab_size": 500, "max_tokens": {"train": 30000, "valid": 3000, "test": 3000}},
    "table1": {"embedding_size": 32, "hidden_size": 32, "epochs": 4}}}}


def iss_train(results: Path, data_dir: Path, command: str = "train", *extra: str) -> subprocess.Popen:
    overrides = json.loads(json.dumps(TINY))
    overrides["data"] = {"dir": str(data_dir)}
    cmd = [str(Path(sys.executable).parent / "iss"), "--config", str(REPO / "config" / "config.yaml"),
           "--overrides-json", json.dumps(overrides), "--results", str(results),
           command, "--table", "table1", "--row", "iss_a", "--threads", "1", *extra]
    env = dict(os.environ, ISS_DATA_MIRROR=str(Path(os.environ["ISS_DATA_MIRROR"]).resolve()))
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def weights(path: Path) -> dict:
    return torch.load(path, weights_only=True)["state"]


def kill_inside_an_epoch(process: subprocess.Popen, checkpoint: Path, timeout: float = 600) -> bool:
    """SIGKILL ``process`` while its latest checkpoint holds a position inside an epoch.

    Checkpoints are written atomically, so the file is always whole; the process is frozen
    (SIGSTOP) while the file is read, so the checkpoint seen is the one the kill leaves behind. An
    end-of-epoch checkpoint (no data position) lets the process go on. Killing at the first
    checkpoint instead was flaky: on a loaded machine the first one can be an epoch's end."""
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
        if not checkpoint.exists():
            continue
        process.send_signal(signal.SIGSTOP)
        inside = torch.load(checkpoint, weights_only=True).get("progress") is not None
        process.send_signal(signal.SIGKILL if inside else signal.SIGCONT)
        if inside:
            process.wait(timeout=60)
            return True
    return False


def test_sigkill_then_rerun_equals_uninterrupted(tmp_path):
    if not os.environ.get("ISS_DATA_MIRROR"):
        pytest.skip("ISS_DATA_MIRROR is not set")
    data = tmp_path / "data"
    straight = iss_train(tmp_path / "straight", data)
    assert straight.wait(timeout=600) == 0, straight.stdout.read()

    killed = iss_train(tmp_path / "killed", data)
    checkpoint = tmp_path / "killed" / "smoke" / "table1" / "iss_a" / "seed1234" / "checkpoint.pt"
    assert kill_inside_an_epoch(killed, checkpoint), "no mid-epoch checkpoint was written"
    assert not (tmp_path / "killed" / "smoke" / "table1" / "iss_a" / "seed1234" / "model.pt").exists()

    resumed = iss_train(tmp_path / "killed", data)
    output = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, output
    assert "resuming" in output and "window" in output, output  # resumed inside an epoch
    a = weights(tmp_path / "straight" / "smoke" / "table1" / "iss_a" / "seed1234" / "model.pt")
    b = weights(tmp_path / "killed" / "smoke" / "table1" / "iss_a" / "seed1234" / "model.pt")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name

    # The evaluation of both is identical too: perplexities are deterministic on the CPU.
    metrics = []
    for run in ("straight", "killed"):
        evaluation = iss_train(tmp_path / run, data, command="evaluate")
        assert evaluation.wait(timeout=600) == 0, evaluation.stdout.read()
        saved = json.loads((tmp_path / run / "smoke" / "table1" / "iss_a" / "seed1234" / "metrics.json").read_text())
        metrics.append((saved["perplexity_valid"], saved["perplexity_test"], saved["iss_sizes"]))
    assert metrics[0] == metrics[1]


def test_a_damaged_checkpoint_is_one_line_naming_it_and_restart_recovers(tmp_path):
    """A checkpoint truncated by a full disk or a bad copy: exit 2 with one line naming the file and
    --restart, not torch's zip-archive traceback; --restart then trains the row from scratch."""
    if not os.environ.get("ISS_DATA_MIRROR"):
        pytest.skip("ISS_DATA_MIRROR is not set")
    checkpoint = tmp_path / "run" / "smoke" / "table1" / "iss_a" / "seed1234" / "checkpoint.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"PK\x03\x04 cut short")
    damaged = iss_train(tmp_path / "run", tmp_path / "data")
    output = damaged.communicate(timeout=600)[0]
    assert damaged.returncode == 2, output
    error = [line for line in output.splitlines() if line.startswith("iss train: error:")]
    assert len(error) == 1 and str(checkpoint) in error[0] and "--restart" in error[0], output
    assert "Traceback" not in output
    restarted = iss_train(tmp_path / "run", tmp_path / "data", "train", "--restart")
    output = restarted.communicate(timeout=600)[0]
    assert restarted.returncode == 0, output
    assert (checkpoint.parent / "model.pt").is_file()
