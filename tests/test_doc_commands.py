"""Every command block of README.md and docs/ is accounted for: each command is either run by a
test (tests/doc_commands.py: HOW, executed in tests/test_e2e_smoke.py on the finished smoke run or
here) or its block is marked as not runnable here, with the reason. This part is fast and always
runs: it fails as soon as a command is added to a page without either."""
import subprocess
import sys
from pathlib import Path

import pytest

from doc_commands import HOW, REPO, all_blocks, executed

BIN = Path(sys.executable).parent


def test_every_command_is_run_by_a_test_or_marked_not_runnable():
    unaccounted = [f"{b.page.relative_to(REPO)}:{b.line}: {c}" for b in all_blocks() if b.not_runnable is None
                   for c in b.commands if c not in HOW]
    assert not unaccounted, ("commands in the docs that no test runs; add them to tests/doc_commands.py HOW "
                             "or mark their block '<!-- commands: not runnable here: REASON -->':\n"
                             + "\n".join(unaccounted))


def test_no_stale_entries_and_marked_blocks_say_why():
    shown = {c for b in all_blocks() for c in b.commands}
    assert not set(HOW) - shown, f"HOW lists commands no page shows: {sorted(set(HOW) - shown)}"
    for block in all_blocks():
        assert block.commands, f"{block.page.name}:{block.line}: an empty command block"
        if block.not_runnable is not None:
            assert len(block.not_runnable) > 10, f"{block.page.name}:{block.line}: say why it cannot run here"


def test_the_readme_starts_with_the_two_commands_ci_runs():
    first = [c for b in all_blocks()[:2] for c in b.commands]
    main, tests = first
    assert HOW[main][0] == "main" and HOW[tests] == ("ci", ".ci/run")
    ci = (REPO / ".ci" / "run").read_text()
    assert tests in ci, "the README's test command is not .ci/run's, verbatim"
    install = tests.split(" && ISS_DATA_MIRROR")[0]
    assert main.startswith(install + " && "), "the main job installs differently from CI"


@pytest.mark.parametrize("command", [c for c, (mode, _) in HOW.items() if mode in ("collect", "help")])
def test_commands_run_in_the_checkout(command):
    mode = HOW[command][0]
    env_path = f"{BIN}:$PATH"
    done = subprocess.run(["bash", "-c", f"export PATH={env_path}; {executed(command, mode)}"], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{executed(command, mode)}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    if mode == "collect":
        assert "tests collected" in done.stdout or "selected" in done.stdout, done.stdout[-500:]
