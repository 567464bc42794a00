"""Snakemake profiles: workflow/profiles/local and workflow/profiles/slurm parse and dry-run the DAG.

The dry runs need no SLURM installation (the plugin only submits when jobs really run). The real
SLURM run is .ci/slurm_local.sh, which CI calls after the test suite: it starts a single-node
cluster and runs part of the smoke DAG through the SLURM profile.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_copy import copy_workflow
import yaml

REPO = Path(__file__).resolve().parent.parent
PROFILES = REPO / "workflow" / "profiles"
# What .ci/slurm_local.sh runs through SLURM, with the flags it adds for its cluster without slurmdbd.
CI_TARGETS = ["results/smoke/table1/baseline/seed1234/metrics.json", "results/smoke/table1/iss_a/seed1234/metrics.json"]
CI_FLAGS = ["--configfile", "config/ci_slurm.yaml", "--jobs", "2", "--latency-wait", "10",
            "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "5",
            "--slurm-keep-successful-logs"]


def load_profile(name):
    return yaml.safe_load((PROFILES / name / "config.yaml").read_text())


@pytest.fixture
def workdir(tmp_path):
    """A scratch copy of the workflow, so that dry runs never touch the checkout's .snakemake/."""
    return copy_workflow(tmp_path)


def snakemake(workdir, *args):
    env_bin = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{env_bin}{os.pathsep}{os.environ['PATH']}")
    env.pop("SLURM_CONF", None)  # a stale one makes scontrol (run when the plugin loads) retry for seconds
    done = subprocess.run([str(env_bin / "snakemake"), *args], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


def job_counts(output):
    """{rule: count} from the dry run's "Job stats" table."""
    lines = output.split("Job stats:", 1)[1].splitlines()
    counts = {}
    for line in lines[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    return counts


def test_profiles_parse():
    local = load_profile("local")
    assert local["executor"] == "local" and local["cores"] == "all"
    slurm = load_profile("slurm")
    assert slurm["executor"] == "slurm"
    # The latency rules declare `threads: workflow.cores`; on a cluster executor Snakemake refuses to
    # start ("Workflow requires a total number of cores") unless the profile gives `cores`.
    assert isinstance(slurm["cores"], int) and slurm["cores"] >= 1
    defaults = slurm["default-resources"]
    # Every job must fit on a modest node (the CI node has 2 CPUs and 24 GiB) and have a time limit.
    assert 0 < defaults["mem_mb"] <= 16000 and 0 < defaults["runtime"]
    # Clusters differ: no partition or account is hard-wired (the user fills them in, see the comments).
    assert "slurm_partition" not in defaults and "slurm_account" not in defaults


def test_ci_config_is_a_small_valid_override():
    from iss_harness.config import load_config
    config = load_config([REPO / "config" / "config.yaml", REPO / "config" / "ci_slurm.yaml"])
    smoke = config["scales"]["smoke"]
    assert config["scale"] == "smoke" and smoke["table1"]["epochs"] == 1
    assert smoke["ptb"]["max_tokens"]["train"] <= 50_000


def test_local_profile_dry_run(workdir):
    code, out = snakemake(workdir, "--profile", "workflow/profiles/local", "-n")
    assert code == 0, out
    assert "This was a dry-run" in out
    counts = job_counts(out)
    # smoke's five Table 1 rows (four of the paper's, one ISS from the trained baseline)
    assert counts["table1_train"] == 5 and counts["table1_evaluate"] == 5 and counts["table1_report"] == 1
    assert counts["all"] == 1


def test_slurm_profile_dry_run(workdir):
    pytest.importorskip("snakemake_executor_plugin_slurm",
                        reason="snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')")
    code, out = snakemake(workdir, "--profile", "workflow/profiles/slurm", "-n")
    assert code == 0, out
    assert "This was a dry-run" in out
    counts = job_counts(out)
    # smoke's five Table 1 rows (four of the paper's, one ISS from the trained baseline)
    assert counts["table1_train"] == 5 and counts["table1_evaluate"] == 5 and counts["table1_report"] == 1
    # The profile's defaults reach the jobs that set nothing themselves.
    assert "mem_mb=4000" in out and "runtime=60" in out


def test_slurm_ci_invocation_dry_run(workdir):
    """The exact command .ci/slurm_local.sh runs, minus SLURM: fetch the data, train and evaluate two rows."""
    pytest.importorskip("snakemake_executor_plugin_slurm",
                        reason="snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')")
    code, out = snakemake(workdir, *CI_TARGETS, "--profile", "workflow/profiles/slurm", *CI_FLAGS, "-n")
    assert code == 0, out
    counts = job_counts(out)
    assert counts["fetch_ptb"] == 1 and counts["table1_train"] == 2 and counts["table1_evaluate"] == 2


def test_slurm_ci_script_is_valid_bash():
    script = REPO / ".ci" / "slurm_local.sh"
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # The flags the script passes are the ones tested above.
    text = script.read_text()
    for flag in CI_FLAGS[::2]:
        assert flag in text, flag
