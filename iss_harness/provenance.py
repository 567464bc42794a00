"""Where a result came from: code version, configuration, scale, seed, machine, libraries.

Every results file carries this block, so numbers made on another machine (a GPU box, a
cluster node) can be brought back and checked against the code and config that report them.
"""
from __future__ import annotations

import datetime
import importlib.metadata
import platform
import subprocess
from typing import TYPE_CHECKING

from iss_harness.config import config_hash

if TYPE_CHECKING:  # the training side passes a device; readers of results files need no torch
    import torch

LIBRARIES = ("torch", "numpy", "pandas", "snakemake", "matplotlib", "tabulate")


def git_sha() -> str:
    """HEAD's SHA with "-dirty" when tracked files differ; "unknown" outside a git checkout."""
    def run(*args):
        # the project folder the job runs in (the working directory), not where iss is installed
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10)
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
    import torch
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.backends.cpu.get_cpu_capability()})"


def provenance(config: dict, device: torch.device, seed: int | None = None) -> dict:
    import torch
    return dict(
        git_sha=git_sha(), config_hash=config_hash(config), scale=config["scale"],
        seed=config["runtime"]["seed"] if seed is None else seed,
        device=describe_device(device), threads=torch.get_num_threads(),
        host=platform.node(), created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        versions=library_versions())


def provenance_issues(label: str, metrics: dict, config: dict, expected_settings: dict | None,
                      expected_seed: int | None = None, current_sha: str | None = None) -> list[str]:
    """Why a results file may not belong to this report: made at another scale or seed, with other
    row settings than the config now gives, or by other code. [] when it matches. Results made on
    another machine (a GPU box, a cluster) are reported as long as they match; a mismatch is
    listed in the report, never mixed in silently."""
    made = metrics.get("training_provenance") or metrics.get("provenance") or {}
    if not made:
        return [f"{label}: no provenance recorded (made by an older version of the harness)"]
    issues = []
    if made.get("scale") != config["scale"]:
        issues.append(f"{label}: made at scale {made.get('scale')!r}, this report is {config['scale']!r}")
    if expected_seed is not None and made.get("seed") != expected_seed:
        issues.append(f"{label}: trained with seed {made.get('seed')}, the config asks for {expected_seed}")
    if expected_settings is not None and metrics.get("settings") not in (None, expected_settings):
        changed = sorted(k for k in set(expected_settings) | set(metrics["settings"])
                         if expected_settings.get(k) != metrics["settings"].get(k))
        issues.append(f"{label}: trained with other settings than the config now gives ({', '.join(changed)})")
    current_sha = current_sha or git_sha()
    made_sha = str(made.get("git_sha", "unknown"))
    if made_sha.removesuffix("-dirty") != current_sha.removesuffix("-dirty") or made_sha.endswith("-dirty"):
        issues.append(f"{label}: trained by code {made_sha[:12]}{' (uncommitted changes)' if made_sha.endswith('-dirty') else ''}, "
                      f"this report by {current_sha[:12]}")
    return issues


def provenance_lines(issues: list[str]) -> list[str]:
    """The report banner's provenance paragraph; files with the same finding are listed together."""
    if not issues:
        return ["Provenance: every results file matches this code, configuration, scale and seed."]
    by_finding: dict[str, list[str]] = {}
    for issue in issues:
        label, _, finding = issue.partition(": ")
        by_finding.setdefault(finding, []).append(label)
    parts = [f"{', '.join(labels)}: {finding}" for finding, labels in by_finding.items()]
    return ["Provenance check: " + "; ".join(parts) + ". Rerun those jobs (or `iss train --restart`) "
            "if the difference matters."]
