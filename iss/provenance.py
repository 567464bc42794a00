"""Where a result came from: code version, configuration, scale, seed, machine, libraries.

Every results file carries this block, so numbers made on another machine (a GPU box, a
cluster node) can be brought back and checked against the code and config that report them.
"""
from __future__ import annotations

import datetime
import importlib.metadata
import json
import platform
import subprocess
from pathlib import Path

import torch

from iss.config import REPO_ROOT, config_hash
from iss.tables import write_text_atomic

LIBRARIES = ("torch", "numpy", "pandas", "snakemake", "matplotlib", "tabulate")


def git_sha() -> str:
    """HEAD's SHA with "-dirty" when tracked files differ; "unknown" outside a git checkout."""
    def run(*args):
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    try:
        head = run("rev-parse", "HEAD")
        if head.returncode != 0:
            return "unknown"
        dirty = run("status", "--porcelain", "--untracked-files=no").stdout.strip()
        return head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def library_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.backends.cpu.get_cpu_capability()})"


def provenance(config: dict, device: torch.device, seed: int | None = None) -> dict:
    return dict(
        git_sha=git_sha(), config_hash=config_hash(config), scale=config["scale"],
        seed=config["runtime"]["seed"] if seed is None else seed,
        device=describe_device(device), threads=torch.get_num_threads(),
        host=platform.node(), created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        versions=library_versions())


def write_json_atomic(path: str | Path, payload: dict) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2) + "\n")


def read_json(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run the step that produces it first "
                                f"(snakemake {path})")
    return json.loads(path.read_text())
