"""What the CPU benchmarks share (run them as `python benchmarks/<name>.py`): the command line, the
sections they measure, printing them, and `--record`, which keeps them in
recorded/benchmarks/<name>.json for the generated page reports/benchmarks.md (`iss benchmark-report`).

A section is {"title", "columns", "rows", "notes", "raw"} (iss_harness.reporting.benchmarks): rows are
formatted strings, raw keeps the medians they came from.
"""
import argparse
import datetime
import os
import sys
from pathlib import Path

import torch

from iss_harness.io import write_json_atomic
from iss_harness.provenance import cpu_model, git_sha, library_versions
from iss_harness.reporting.benchmarks import RECORDED_BENCHMARKS, section_markdown
from iss_harness.tasks import timing


def parser(doc: str, rounds: int, threads: str = "1,2") -> argparse.ArgumentParser:
    """--rounds, --threads and --record, the options every benchmark takes."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--threads", default=threads, help="comma-separated thread counts")
    parser.add_argument("--record", action="store_true",
                        help=f"also write {RECORDED_BENCHMARKS}/<benchmark>.json (a clean checkout only), "
                             "then run `iss benchmark-report`")
    return parser


def main(doc: str, inference_speedup, training_overhead, rounds: int) -> None:
    """--skip-training and --skip-inference besides the common options; prints the machine first."""
    cli = parser(doc, rounds)
    cli.add_argument("--skip-training", action="store_true")
    cli.add_argument("--skip-inference", action="store_true")
    args = cli.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    run = start(args)
    sections = []
    if not args.skip_inference:
        sections += inference_speedup(args.rounds, threads)
    if not args.skip_training:
        sections += training_overhead(args.rounds, max(threads))
    finish(run, doc, sections)


def start(args: argparse.Namespace) -> dict:
    """Print the machine; with --record, refuse a checkout with uncommitted code first (a recorded
    number must name the code that made it) and note the load the measurement starts under."""
    print(f"torch {torch.__version__}, {timing.machine_info()}")
    made = dict(git_sha=git_sha(), load_average=os.getloadavg()[0])
    if args.record and (made["git_sha"].endswith("-dirty") or made["git_sha"] == "unknown"):
        sys.exit(f"{sys.argv[0]}: not recorded: the checkout has uncommitted changes (git {made['git_sha']}); "
                 "commit them, then measure again")
    return dict(args=args, made=made)


def finish(run: dict, doc: str, sections: list[dict], name: str | None = None, quiet: bool = False) -> None:
    """Print every section (unless ``quiet``: the script printed its own lines); with --record, write
    them as recorded/benchmarks/<name>.json (default: the script's name) with where and how they
    were measured, and what the benchmark is for: ``doc``'s first paragraph."""
    for section in [] if quiet else sections:
        print("\n" + section_markdown(section))
    if not run["args"].record:
        return
    name = name or Path(sys.argv[0]).stem
    options = [arg for arg in sys.argv[1:] if arg != "--record"]
    made = dict(run["made"], created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                cpu=cpu_model(), machine=timing.machine_info(), versions=library_versions())
    record = dict(benchmark=name, purpose=" ".join(doc.split("\n\n")[0].split()),
                  command=" ".join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *options]), made=made,
                  sections=sections)
    path = RECORDED_BENCHMARKS / f"{name}.json"
    write_json_atomic(path, record)
    print(f"\nrecorded {path}; run `iss benchmark-report` to rewrite reports/benchmarks.md")


def percent(value: float) -> str:
    return f"{value:+.1%}".replace("%", " %")


def overhead_section(summary: dict[str, dict], title: str, targets: str) -> dict:
    """timing.training_overhead's candidates against the plain step, and the overhead estimated
    from the isolated operations (steadier than the difference of two whole steps)."""
    base = summary["plain step"]["median_ms"]
    rows = [[name, f"{s['median_ms']:.1f}", percent(s["median_ms"] / base - 1), str(s["calls"])]
            for name, s in summary.items()]
    alone = (summary["penalty gradient alone"]["median_ms"], summary["zero threshold alone"]["median_ms"])
    notes = [f"From the isolated operations: penalty {percent(alone[0] / base)}, penalty + threshold "
             f"{percent(sum(alone) / base)} of a plain step ({targets})."]
    return dict(title=title, columns=["Candidate", "Median ms", "Vs a plain step", "Calls"], rows=rows, notes=notes,
                raw=summary)


def paths_section(summary: dict[str, dict], title: str) -> dict:
    """Every timed candidate (model | threads | kernel), so a reader sees how much the path matters."""
    rows = [[name, f"{s['median_ms']:.2f}", f"{s['p10_ms']:.2f}", f"{s['p90_ms']:.2f}", str(s["calls"])]
            for name, s in sorted(summary.items())]
    return dict(title=title, columns=["Candidate", "Median ms", "p10 ms", "p90 ms", "Calls"], rows=rows, notes=[],
                raw=summary)
