"""`snakemake --lint` finds nothing: every rule names its software (conda: environment.yml), the
shell commands use only their own rule's values (the configuration reaches `iss` through the
environment, see the Snakefile), and the rule files hold rules only (functions: rules/common.smk)."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_workflow_passes_snakemake_lint():
    snakemake = Path(sys.executable).parent / "snakemake"
    done = subprocess.run([str(snakemake), "--lint"], cwd=REPO, capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Lints for" not in out, out
    assert "your workflow is in a good condition" in out, out


def test_iss_reads_the_workflow_configuration_from_the_environment(monkeypatch, tmp_path):
    from iss_harness import cli
    extra = tmp_path / "extra.yaml"
    monkeypatch.setenv("ISS_CONFIG", os.pathsep.join(["config/config.yaml", str(extra)]))
    monkeypatch.setenv("ISS_CONFIG_OVERRIDES", '{"scale": "mid"}')
    parse = cli.build_parser().parse_args
    assert cli.configuration_sources(parse(["check-config"])) == (["config/config.yaml", str(extra)],
                                                                  '{"scale": "mid"}')
    # Options given on the command line, before or after the command, win over the environment.
    assert cli.configuration_sources(parse(["--config", "a.yaml", "--overrides-json", "{}", "check-config"])) \
        == (["a.yaml"], "{}")
    assert cli.configuration_sources(parse(["check-config", "--config", "b.yaml"]))[0] == ["b.yaml"]
    monkeypatch.setenv("ISS_CONFIG_OVERRIDES", "{not json")
    monkeypatch.delenv("ISS_CONFIG")
    assert cli.main(["check-config"]) != 0
