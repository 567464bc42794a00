"""`snakemake --config scale=paper -n` on a fresh checkout (no data, no mirror) plans every job:
the data sets the paper scale reads all have a fetch rule, so no input is missing and no manual
step is needed. A dry run only: nothing is downloaded."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_paper_scale_plans_every_job_from_an_empty_checkout(tmp_path):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout to copy the tracked files from")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (REPO / name).is_file():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, tmp_path / name)
    env = {k: v for k, v in os.environ.items() if k != "ISS_DATA_MIRROR"}
    snakemake = Path(sys.executable).parent / "snakemake"
    done = subprocess.run([str(snakemake), "--cores", "8", "--config", "scale=paper", "-n"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "MissingInput" not in out
    for rule in ("fetch_ptb", "fetch_squad_dev", "fetch_squad_train", "fetch_glove", "table3_prepare"):
        assert f"rule {rule}:" in out or f"\n{rule} " in out, rule
    assert not (tmp_path / "resources").exists()  # planned, not fetched
