"""What the CPU benchmarks share (run them as `python benchmarks/<name>.py`): the command line, the
sections they measure, printing them, and `--record`, which keeps them in
recorded/benchmarks/<name>.json of the checkout the script belongs to, for the generated page
reports/benchmarks.md (`iss benchmark-report`).

A section is {"title", "columns", "rows", "notes", "raw"} (iss_harness.reporting.benchmarks): rows are
formatted strings, raw keeps the measurements they came from.
"""
import argparse
import datetime
import os
import shlex
import subprocess
import sys
from pathlib import Path

import torch

from iss_harness.io import write_json_atomic
from iss_harness.provenance import cpu_model, git_sha, library_versions, run_git
from iss_harness.reporting.benchmarks import RECORDED_BENCHMARKS, section_markdown
from iss_harness.tasks import timing

# The checkout these scripts belong to, whatever the working folder: its git state is what a record
# names, and its recorded/benchmarks/ is where the record goes. (Tests point it at a scratch checkout.)
ROOT = Path(__file__).resolve().parent.parent


def parser(doc: str, rounds: int, threads: str = "1,2", threads_help: str = "comma-separated thread counts"
           ) -> argparse.ArgumentParser:
    """--rounds, --threads and --record, the options every benchmark takes."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--threads", default=threads, help=threads_help)
    parser.add_argument("--record", action="store_true",
                        help=f"also write {RECORDED_BENCHMARKS}/<benchmark>.json in this checkout (its code "
                             "committed), then run `iss benchmark-report`")
    return parser


def main(doc: str, inference_speedup, training_overhead, rounds: int) -> None:
    """--skip-training and --skip-inference besides the common options; prints the machine first and
    each section as soon as it is measured."""
    cli = parser(doc, rounds)
    cli.add_argument("--skip-training", action="store_true")
    cli.add_argument("--skip-inference", action="store_true", help="(neither goes with --record: a record is whole)")
    args = cli.parse_args()
    if args.record and (args.skip_training or args.skip_inference):
        cli.error("--record keeps every section of a benchmark: leave out --skip-training / --skip-inference")
    try:
        threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        cli.error(f"--threads takes comma-separated whole numbers, not {args.threads!r}")
    run = start(args)
    sections = []
    for skip, measure in ((args.skip_inference, lambda: inference_speedup(args.rounds, threads)),
                          (args.skip_training, lambda: training_overhead(args.rounds, max(threads)))):
        if not skip:
            sections += show(measure())
    finish(run, doc, sections)


def show(sections: list[dict]) -> list[dict]:
    for section in sections:
        print("\n" + section_markdown(section), flush=True)
    return sections


def start(args: argparse.Namespace) -> dict:
    """Print the machine; with --record, refuse first what a record could not name: a checkout with
    uncommitted changes, or a script that git does not track. Notes the load the measurement starts under."""
    print(f"torch {torch.__version__}, {timing.machine_info()}", flush=True)
    made = dict(git_sha=git_sha(ROOT), load_average=os.getloadavg()[0])
    if args.record:
        script = Path(sys.argv[0]).resolve()
        if made["git_sha"] == "unknown":
            sys.exit(f"{script.name}: not recorded: {ROOT} is not a git checkout (a record names the commit that made it)")
        if made["git_sha"].endswith("-dirty"):
            sys.exit(f"{script.name}: not recorded: {ROOT} has uncommitted changes; commit them, then measure again")
        try:
            tracked = run_git("ls-files", "--error-unmatch", str(script), folder=ROOT).returncode == 0
        except (OSError, subprocess.SubprocessError) as error:
            sys.exit(f"{script.name}: not recorded: git could not list {ROOT} ({error})")
        if not tracked:
            sys.exit(f"{script.name}: not recorded: git does not track {script}; commit it, then measure again")
    return dict(args=args, made=made)


def finish(run: dict, doc: str, sections: list[dict], name: str | None = None, command: list[str] | None = None) -> None:
    """With --record, write the sections as recorded/benchmarks/<name>.json (default: the script's
    name) with where and how they were measured, and what the benchmark is for: ``doc``'s first
    paragraph. ``command``: the options to show (default: those given, less --record)."""
    if not run["args"].record:
        return
    script = Path(sys.argv[0])
    options = command if command is not None else [arg for arg in sys.argv[1:] if arg != "--record"]
    made = dict(run["made"], created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                cpu=cpu_model(), machine=timing.machine_info(), versions=library_versions())
    record = dict(benchmark=name or script.stem, purpose=" ".join(doc.split("\n\n")[0].split()),
                  command=shlex.join(["python", f"benchmarks/{script.name}", *options]), made=made, sections=sections)
    path = ROOT / RECORDED_BENCHMARKS / f"{record['benchmark']}.json"
    write_json_atomic(path, record)
    print(f"\nrecorded {path}; run `iss benchmark-report` to rewrite reports/benchmarks.md")


def percent(value: float) -> str:
    return f"{value:+.1%}".replace("%", " %")


def overhead_section(summary: dict[str, dict], title: str, targets: str) -> dict:
    """timing.training_overhead's candidates against the plain step, and the overhead estimated
    from the isolated operations (steadier than the difference of two whole steps)."""
    base = summary["plain step"]["median_ms"]

    def added(name: str, median_ms: float) -> float:
        # a whole step adds its difference to the plain step; an isolated operation adds all of itself
        return median_ms / base - (0 if name.endswith(" alone") else 1)

    rows = [[name, f"{s['median_ms']:.1f}", percent(added(name, s["median_ms"])), str(s["calls"])]
            for name, s in summary.items()]
    penalty, threshold = (added(name, summary[name]["median_ms"])
                          for name in ("penalty gradient alone", "zero threshold alone"))
    notes = [f"From the isolated operations: penalty {percent(penalty)}, penalty + threshold "
             f"{percent(penalty + threshold)} of a plain step ({targets})."]
    return dict(title=title, columns=["Candidate", "Median ms", "Added to a plain step", "Calls"], rows=rows,
                notes=notes, raw=summary)


def paths_section(summary: dict[str, dict], title: str) -> dict:
    """Every timed candidate (model | threads | kernel), so a reader sees how much the path matters."""
    rows = [[name, f"{s['median_ms']:.2f}", f"{s['p10_ms']:.2f}", f"{s['p90_ms']:.2f}", str(s["calls"])]
            for name, s in sorted(summary.items())]
    return dict(title=title, columns=["Candidate", "Median ms", "p10 ms", "p90 ms", "Calls"], rows=rows, notes=[],
                raw=summary)
