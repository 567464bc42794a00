"""Every shell command the documentation shows, read out of README.md and docs/**/*.md, and how
the tests prove it runs as written.

A command is a line of a fenced ``bash`` / ``sh`` / ``shell`` block (a trailing backslash joins
the next line; blank and ``#`` lines are skipped). A block that cannot run on the project's own
machines carries, on the line right above its fence, ``<!-- commands: not runnable here: REASON -->``
(a GPU, a cluster, pdflatex). Every other command must appear in ``HOW`` below; a command added to
a page without either fails ``tests/test_doc_commands.py``. Commands in running text (inline code)
are references to these, not instructions to copy.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```(bash|sh|shell)\s*$")
MARKER = re.compile(r"^<!-- commands: not runnable here: (?P<reason>.+?) -->$")

# command -> (mode, detail). Modes:
#   ci       the file `detail` runs it verbatim (the README's test command: .ci/run)
#   main     the README's main job: the CI install prefix, then the smoke DAG (dry run on a finished
#            smoke run must find nothing to do)
#   run      executed as written, in a finished smoke workspace
#   dry      executed with -n (Snakemake's dry run) in a finished smoke workspace: it would train,
#            download or run for hours
#   collect  pytest with --collect-only, in the checkout
#   help     executed with --help, in the checkout (it would measure for minutes)
HOW: dict[str, tuple[str, str | None]] = {
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && . .venv/bin/activate && "
    "ISS_DATA_MIRROR=../shared/data snakemake --cores 8": ("main", None),
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && "
    "ISS_DATA_MIRROR=../shared/data .venv/bin/python -m pytest -ra": ("ci", ".ci/run"),
    "snakemake --cores 8 table1_pareto": ("run", None),
    "snakemake --cores 8 table1_width": ("run", None),
    "snakemake --report reports/snakemake_report.html": ("run", None),
    "snakemake --cores 8 --config scale=mid": ("dry", None),
    "snakemake --cores 8 --config scale=paper": ("dry", None),
    "printf 'scales:\\n  smoke:\\n    table1: {seeds: [1234, 1235]}\\n' > my.yaml": ("run", None),
    "iss check-config --config config/config.yaml --config my.yaml": ("run", None),
    "snakemake --cores 8 --configfile config/config.yaml my.yaml": ("dry", None),
    "snakemake --cores 1 resources/data/ptb/ptb.train.txt resources/data/squad/dev-v1.1.json "
    "resources/data/squad/train-v1.1.json resources/data/glove/glove.6B.100d.txt --config scale=paper": ("dry", None),
    "iss train --table table1 --row baseline --restart": ("help", None),
    "iss fetch-data ptb": ("run", None),
    "iss restore --scale mid": ("run", None),
    "snakemake --cores 2 table1_width --config scale=mid": ("dry", None),
    "iss --help": ("run", None),
    "iss compare --check-only": ("run", None),
    "pytest -m slow": ("collect", None),
    "ISS_DATA_MIRROR=../shared/data pytest -m data": ("collect", None),
    "python benchmarks/ptb_speed.py --rounds 10 --record": ("help", None),
    "python benchmarks/rhn_speed.py --record": ("help", None),
    "python benchmarks/denormal_states.py --record": ("help", None),
    "python benchmarks/gpu_check.py --cpu --record": ("help", None),
    "iss benchmark-report": ("run", None),
}
SUFFIX = {"dry": " -n", "collect": " --collect-only -q", "help": " --help"}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int                 # of the opening fence, 1-based
    commands: tuple[str, ...]
    not_runnable: str | None  # the marker's reason


def pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        if not FENCE.match(lines[i]):
            i += 1
            continue
        start, body, i = i, [], i + 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        marker = MARKER.match(lines[start - 1].strip()) if start else None
        found.append(Block(page, start + 1, tuple(commands(body)), marker["reason"] if marker else None))
        i += 1
    return found


def commands(body: list[str]) -> list[str]:
    joined, pending = [], ""
    for raw in body:
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        joined.append(pending + line)
        pending = ""
    return joined


def all_blocks() -> list[Block]:
    return [block for page in pages() for block in blocks(page)]


def executed(command: str, mode: str) -> str:
    """The command line a test runs for ``command`` in ``mode``."""
    if mode == "main":  # the install is CI's own; the job itself, dry, on the finished smoke run
        return command.rsplit("&&", 1)[1].strip() + " -n"
    if mode == "dry" and not command.lstrip().startswith("snakemake"):
        return command
    return command + SUFFIX.get(mode, "")
