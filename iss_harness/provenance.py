"""Where a result came from: code version, configuration, scale, seed, machine, libraries.

Every results file carries this block, so numbers made on another machine (a GPU box, a
cluster node) can be brought back and checked against the code and config that report them.
"""
from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from iss_harness.config import config_hash, json_digest

if TYPE_CHECKING:  # the training side passes a device; readers of results files need no torch
    import torch

LIBRARIES = ("torch", "numpy", "pandas", "snakemake", "matplotlib", "tabulate")
# A job is one `iss` process, which imports this module as it starts (iss_harness.cli).
_JOB_STARTED = time.monotonic()
# Loaded project modules that cannot change a number: the command line, the registry and the
# tables' step wiring, this module, the reports and the paper comparison. The packages of the tables
# (iss_harness.tables and each iss_harness.tables.<table>) only register a table, and every `iss`
# process loads all of them, so they do not count either (adding a table leaves the others' digests
# alone). Every other loaded module of `iss` and `iss_harness` is part of the code that made a
# result (code_digest).
NOT_DETERMINING = ("iss_harness.cli", "iss_harness.command", "iss_harness.provenance", "iss_harness.tables.registry",
                   "iss_harness.tables.lm_table", "iss_harness.reporting", "iss_harness.paper.compare",
                   "iss_harness.paper.claims")


# Folders of outputs that may be committed (the reports and recorded runs of recorded scales): a run
# that rewrites them has not changed the code, so they do not make a tree "dirty".
OUTPUT_FOLDERS = ("reports", "recorded")


def run_git(*args: str, folder: str | Path | None = None) -> subprocess.CompletedProcess:
    """git in ``folder`` (default: the working folder, the project a job runs in, not where iss is
    installed); raises OSError / SubprocessError when git cannot run."""
    return subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=10)


def git_sha(folder: str | Path | None = None) -> str:
    """HEAD's SHA of the checkout at ``folder`` (default: the working folder) with "-dirty" when tracked
    files other than outputs (OUTPUT_FOLDERS) differ; "unknown" outside a git checkout."""
    try:
        head = run_git("rev-parse", "HEAD", folder=folder)
        if head.returncode != 0:
            return "unknown"
        # pathspecs from the checkout's top, whichever of its folders ``folder`` is
        dirty = run_git("status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                        *(f":(top,exclude){output}" for output in OUTPUT_FOLDERS), folder=folder).stdout.strip()
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


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def code_digest(modules: dict | None = None) -> str:
    """sha256 (16 hex digits) of the source of every loaded module of `iss` and `iss_harness` that can
    change a number (NOT_DETERMINING aside), in name order: the code path a result came from. Two
    results with equal digests were made by the same training and evaluation code, whatever commit
    they were made at; a change elsewhere (a report, the command line, the docs) leaves it alone."""
    modules = sys.modules if modules is None else modules
    digest = hashlib.sha256()
    for name in sorted(modules):
        if (name.split(".")[0] not in ("iss", "iss_harness") or name.startswith(NOT_DETERMINING)
                or _registers_a_table(name, modules[name])):
            continue
        source = getattr(modules[name], "__file__", None)
        if source and source.endswith(".py"):
            digest.update(name.encode() + b"\0" + Path(source).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _registers_a_table(name: str, module) -> bool:
    """iss_harness.tables or a table's package (iss_harness.tables.<table>): its __init__ registers."""
    parts = name.split(".")
    return parts[:2] == ["iss_harness", "tables"] and len(parts) <= 3 and hasattr(module, "__path__")


def provenance(config: dict, device: torch.device, seed: int | None = None, determined_by: str | None = None) -> dict:
    """Where a result came from. ``determined_by``: the settings that decide this result (a table's
    job settings, iss_harness.tables.<table>.jobs), digested as ``settings_digest``; with
    ``code_digest`` it says whether two results, made at any commits, belong to the same experiment."""
    import torch
    made = dict(
        git_sha=git_sha(), config_hash=config_hash(config), scale=config["scale"],
        seed=config["runtime"]["seed"] if seed is None else seed,
        device=describe_device(device), cpu=cpu_model(), threads=torch.get_num_threads(),
        host=platform.node(), created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        wall_seconds=round(time.monotonic() - _JOB_STARTED, 1), code_digest=code_digest(),
        versions=library_versions())
    if determined_by is not None:
        made["settings_digest"] = json_digest({"settings": determined_by})
    return made


def report_made(config: dict) -> str:
    """How a report says where it was made: the commit and date of this run, or, for a report
    regenerated from recorded runs (config ``recorded``, set by iss_harness.regenerate), the
    recorded runs' manifest and date, so that regenerating it at any commit writes the same text."""
    recorded = config.get("recorded")
    if recorded:
        covers = f"; incomplete record: {recorded['covers']}" if recorded.get("covers") else ""
        return f"regenerated from the recorded runs ({recorded['manifest']}, last recorded {recorded['date']}){covers}"
    return f"made at git {git_sha()} on {datetime.date.today().isoformat()}"


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
    if config.get("recorded"):  # recorded runs are checked when recorded; their code is listed per file
        return issues
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
