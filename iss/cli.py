"""The one command-line tool every Snakemake rule calls: ``iss <command> ...``.

    iss check-config                          validate the configuration files
    iss fetch-data ptb                        verified data files (mirror or download)
    iss train    --table table1 --row iss_a   train one row (resumes from its checkpoint)
    iss train    --table table2 --row lambda_0.005 --seed 1234
    iss evaluate --table table1 --row iss_a   shrink, check lossless, perplexity, cost
    iss time     --table table1|table2 --sizes learned|paper
    iss report   --table table1|table2        results/<table>.csv, reports/<table>.{md,tex}
    iss figures  --table table1|table2        reports/figures/*.{png,pdf}
    iss compare  [--no-fail]                  reports/comparison.md, results/comparison.csv; exit 1
                                              when a check that applies at this scale fails

Common options: --config FILE (repeatable; later files override earlier ones), --scale
(overrides the config's `scale`), --results DIR, --reports DIR, --threads N.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from iss.config import ConfigError, load_config
from iss.data import DataError
from iss.experiment import ExperimentError
from iss.train import TrainingDiverged


def _common(parser: argparse.ArgumentParser, top_level: bool = False) -> None:
    """Options accepted before the command (as the Snakefile passes them) and after it.
    Only the top-level parser sets defaults, so a value given after the command wins."""
    default = (lambda value: value) if top_level else (lambda value: argparse.SUPPRESS)
    parser.add_argument("--config", action="append", default=default(None),
                        help="configuration file (repeatable; default: the project's config/config.yaml)")
    parser.add_argument("--scale", choices=["smoke", "mid", "paper"], default=default(None),
                        help="override the config's scale")
    parser.add_argument("--overrides-json", default=default(None),
                        help="JSON object merged over the config files (Snakemake passes its --config values)")
    parser.add_argument("--results", type=Path, default=default(Path("results")))
    parser.add_argument("--reports", type=Path, default=default(Path("reports")))
    parser.add_argument("--threads", type=int, default=default(None),
                        help="torch threads (default: runtime.threads of the config)")


def _table_row(parser: argparse.ArgumentParser, row: bool = True) -> None:
    parser.add_argument("--table", choices=["table1", "table2"], required=True)
    if row:
        parser.add_argument("--row", required=True)
        parser.add_argument("--seed", type=int, default=None,
                            help="table2: which seed's run (default: the first of table2.seeds)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iss", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(parser, top_level=True)
    commands = parser.add_subparsers(dest="command", required=True)
    _common(commands.add_parser("check-config", help="validate the configuration and print the scale"))
    fetch = commands.add_parser("fetch-data", help="fetch and verify a data set")
    fetch.add_argument("dataset", choices=["ptb"])
    _common(fetch)
    for name, text in (("train", "train one table row"), ("evaluate", "shrink and evaluate one trained row")):
        sub = commands.add_parser(name, help=text)
        _table_row(sub)
        if name == "train":
            sub.add_argument("--restart", action="store_true",
                             help="ignore the row's checkpoint and train from scratch (e.g. after a code fix)")
        _common(sub)
    timing = commands.add_parser("time", help="interleaved latency: baseline vs compact models")
    _table_row(timing, row=False)
    timing.add_argument("--sizes", choices=["learned", "paper"], required=True)
    _common(timing)
    report = commands.add_parser("report", help="write the table's csv, markdown and LaTeX")
    _table_row(report, row=False)
    _common(report)
    figures = commands.add_parser("figures", help="training curves and the ISS weight-sparsity picture")
    _table_row(figures, row=False)
    _common(figures)
    compare = commands.add_parser("compare", help="every reproduced number and claim against the paper")
    compare.add_argument("--no-fail", action="store_true",
                         help="write the comparison and exit 0 even when a check fails (the report rule)")
    compare.add_argument("--check-only", action="store_true",
                         help="write nothing; exit 1 when a check fails (the gate at the end of the workflow)")
    compare.add_argument("--all-scales", action="store_true",
                         help="check each results line at its own scale instead of only the config's scale")
    _common(compare)
    return parser


def run(args: argparse.Namespace) -> None:
    overrides = json.loads(args.overrides_json) if args.overrides_json else {}
    if not isinstance(overrides, dict):
        raise ConfigError(f"--overrides-json must be a JSON object, got {args.overrides_json!r}")
    if args.scale:
        overrides["scale"] = args.scale
    config = load_config(args.config, overrides=overrides)
    threads = args.threads or config["runtime"]["threads"]
    torch.set_num_threads(threads)
    if args.command == "check-config":
        print(f"configuration valid; scale {config['scale']}")
        return
    if args.command == "fetch-data":
        from iss.data import fetch, resolve_mirror
        files = fetch(args.dataset, Path(config["data"]["dir"]) / args.dataset,
                      mirror=resolve_mirror(config["data"].get("mirror")))
        for path in files.values():
            print(f"verified {path}")
        return
    if args.command == "compare":
        from iss import compare
        scale = None if args.all_scales else config["scale"]
        if args.check_only:
            comparison = compare.compare(args.results, scale)
            print(f"iss compare: {comparison.summary()}")
            status = comparison.exit_code
        else:
            status = compare.run(args.results, args.reports, scale)
        if status == 2 or (status and not args.no_fail):
            raise ComparisonFailed(f"a reproduced number or claim is outside its tolerance (exit {status}); "
                                   f"see {args.reports / 'comparison.md'}")
        return
    if args.table == "table2":
        _run_table2(args, config)
        return
    from iss import report_table1, table1
    if args.command == "train":
        table1.train_row(config, args.row, args.results, restart=args.restart)
    elif args.command == "evaluate":
        table1.evaluate_row(config, args.row, args.results)
    elif args.command == "time":
        (table1.time_learned if args.sizes == "learned" else table1.time_paper_sizes)(config, args.results)
    elif args.command == "report":
        report_table1.build(config, args.results, args.reports)
    elif args.command == "figures":
        from iss.figures import write_table1_figures
        for path in write_table1_figures(args.results / config["scale"], args.reports):
            print(f"wrote {path}")


def _run_table2(args: argparse.Namespace, config: dict) -> None:
    from iss import report_table2, table2
    from iss.config import table2_seeds
    seed = args.seed if getattr(args, "seed", None) is not None else table2_seeds(config)[0]
    if args.command == "train":
        table2.train_row(config, args.row, seed, args.results, restart=args.restart)
    elif args.command == "evaluate":
        table2.evaluate_row(config, args.row, seed, args.results)
    elif args.command == "time":
        (table2.time_learned if args.sizes == "learned" else table2.time_paper_sizes)(config, args.results)
    elif args.command == "report":
        report_table2.build(config, args.results, args.reports)
    elif args.command == "figures":
        from iss.figures import write_table2_figures
        for path in write_table2_figures(args.results / "table2.csv", args.reports):
            print(f"wrote {path}")


class ComparisonFailed(RuntimeError):
    pass


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except ComparisonFailed as err:
        print(f"iss {args.command}: {err}", file=sys.stderr)
        return 1
    except (ConfigError, DataError, TrainingDiverged, ExperimentError) as err:
        print(f"iss {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
