"""The one command-line tool every Snakemake rule calls: ``iss <command> ...``.

    iss check-config                          validate the configuration files; list the tables and their steps
    iss fetch-data ptb|squad|glove [--file N] verified data files (mirror or download; squad/glove: what
                                              the scale's Table 3 needs)
    iss prepare  --table table3               split (small scales), tokenise and encode SQuAD once
    iss train    --table table1 --row iss_a   train one row (resumes from its checkpoint)
    iss train    --table table2 --row lambda_0.005 --seed 1234
    iss evaluate --table table1 --row iss_a   shrink, check lossless, perplexity, cost
    iss time     --table table1|table2|table3 --sizes learned|paper
    iss report   --table table1|table2|table3 results/<scale>/<table>.csv, reports/<scale>/<table>.{md,tex}
    iss figures  --table table1|table2|table3 reports/<scale>/figures/*.{png,pdf}
    iss time     --table table1_pareto --sizes learned  the trade-off sweep's compact models against the baseline
    iss report   --table table1_pareto        results/<scale>/table1/pareto.csv, reports/<scale>/figures/table1_pareto.*
    iss compare  [--no-fail]                  reports/<scale>/comparison.md, results/<scale>/comparison.csv; exit 1
                                              when a check that applies at this scale fails
    iss summary  [--pdf]                      reports/<scale>/report.md and report.tex: the page to open
                                              first (tables, comparison, figures, provenance); --pdf
                                              also compiles report.pdf with pdflatex
    iss record   --table T [--row R [--seed N]] | --measurement sparsity_speed
                                              a finished piece's results files into recorded/<scale>/
    iss regenerate                            reports/<scale>/ again from recorded/<scale>/ (no torch)
    iss restore  [--table T]                  recorded/<scale>/ back into results/<scale>/, to continue a
                                              record elsewhere: the workflow then runs only what is missing
    iss sparsity-speed [--plot-only]          results/<scale>/sparsity_speed.json (structured vs CSR
                                              sparsity, timed) and reports/<scale>/figures/speedup_vs_sparsity.*
    iss benchmark-report                      reports/benchmarks.md from recorded/benchmarks/*.json (what
                                              `python benchmarks/<name>.py --record` wrote; no torch)

Common options: --config FILE (repeatable; later files override earlier ones), --scale
(overrides the config's `scale`), --results DIR (default results; a scale's files are under
results/<scale>/), --reports DIR (default reports/<scale>), --threads N.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from iss_harness import provenance  # noqa: F401  (imported first: the job's wall time counts from here)
from iss_harness.config import ConfigError, load_config
from iss_harness.data.fetch import DataError
from iss_harness.io import UnreadableFile
from iss_harness.tables import registry
from iss_harness.tasks.paths import ExperimentError, TrainingDiverged, scale_root


# The workflow hands every job its configuration in the environment (Snakefile): the config files
# and, as JSON, what Snakemake's command line added. Options given to `iss` win over both.
CONFIG_VARIABLE, OVERRIDES_VARIABLE = "ISS_CONFIG", "ISS_CONFIG_OVERRIDES"
# Commands that read and write results files only: they run where torch is not installed.
TORCH_FREE_COMMANDS = ("check-config", "compare", "record", "regenerate", "restore", "benchmark-report")


def configuration_sources(args: argparse.Namespace) -> tuple[list[str] | None, str | None]:
    """The config files and the overrides JSON: the options given, else the environment's."""
    files = args.config or [path for path in os.environ.get(CONFIG_VARIABLE, "").split(os.pathsep) if path]
    overrides = args.overrides_json if args.overrides_json is not None else os.environ.get(OVERRIDES_VARIABLE)
    return files or None, overrides or None


def _common(parser: argparse.ArgumentParser, top_level: bool = False) -> None:
    """Options accepted before the command (as the Snakefile passes them) and after it.
    Only the top-level parser sets defaults, so a value given after the command wins."""
    default = (lambda value: value) if top_level else (lambda value: argparse.SUPPRESS)
    parser.add_argument("--config", action="append", default=default(None),
                        help="configuration file (repeatable; default: $ISS_CONFIG, os.pathsep-separated, "
                             "else the project's config/config.yaml)")
    parser.add_argument("--scale", choices=["smoke", "mid", "paper"], default=default(None),
                        help="override the config's scale")
    parser.add_argument("--overrides-json", default=default(None),
                        help=f"JSON object merged over the config files (default: ${OVERRIDES_VARIABLE}, "
                             "where the Snakefile puts its --configfile and --config values)")
    parser.add_argument("--results", type=Path, default=default(Path("results")))
    parser.add_argument("--reports", type=Path, default=default(None),
                        help="where reports go (default: reports/<scale>, one folder per scale)")
    parser.add_argument("--threads", type=int, default=default(None),
                        help="torch threads (default: runtime.threads of the config)")


def _table_row(parser: argparse.ArgumentParser, row: bool = True) -> None:
    parser.add_argument("--table", required=True,
                        help="a registered table: table1, table1_pareto, table2, table3 and the config's "
                             "extra_tables (iss check-config lists them with their steps)")
    if row:
        parser.add_argument("--row", required=True)
        parser.add_argument("--seed", type=int, default=None,
                            help="which seed's run (default: the first of the table's `seeds`; "
                             "table3 has one run per row)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iss", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(parser, top_level=True)
    commands = parser.add_subparsers(dest="command", required=True)
    _common(commands.add_parser("check-config", help="validate the configuration and print the scale"))
    fetch = commands.add_parser("fetch-data", help="fetch and verify a data set")
    fetch.add_argument("dataset", choices=["ptb", "squad", "glove"])
    fetch.add_argument("--file", action="append", default=None,
                       help="squad/glove: only this file (repeatable; default: what the scale's Table 3 needs)")
    _common(fetch)
    prepare = commands.add_parser("prepare", help="table3: split (small scales), tokenise and encode SQuAD")
    _table_row(prepare, row=False)
    _common(prepare)
    for name, text in (("train", "train one table row"), ("evaluate", "shrink and evaluate one trained row")):
        sub = commands.add_parser(name, help=text)
        _table_row(sub)
        if name == "train":
            sub.add_argument("--restart", action="store_true",
                             help="ignore the row's checkpoint and train from scratch (e.g. after a code fix)")
        _common(sub)
    timing = commands.add_parser("time", help="interleaved latency: baseline vs compact models")
    _table_row(timing, row=False)
    timing.add_argument("--sizes", required=True,
                        help="learned: this run's rows; paper: the paper's sizes with random weights "
                             "(a table refuses sizes it does not have)")
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
    summary = commands.add_parser("summary", help="reports/report.md and report.tex: tables, comparison, "
                                                  "figures and provenance on one page")
    summary.add_argument("--pdf", action="store_true", help="also compile reports/report.pdf (needs pdflatex)")
    summary.add_argument("--pdf-only", action="store_true",
                         help="only compile the existing reports/report.tex to report.pdf")
    _common(summary)
    record = commands.add_parser("record", help="copy a finished table, row or seed's results files (data only: no "
                                                "models or logs) into recorded/<scale>/, to be committed")
    recorded_piece = record.add_mutually_exclusive_group(required=True)
    recorded_piece.add_argument("--table", help="a registered table (iss check-config lists them)")
    recorded_piece.add_argument("--measurement", choices=["sparsity_speed"],
                                help="a measurement of the whole scale: sparsity_speed (results/<scale>/sparsity_speed.json)")
    record.add_argument("--row", default=None, help="only this row (default: every row evaluated)")
    record.add_argument("--seed", type=int, default=None, help="only this seed of --row (default: every seed present)")
    record.add_argument("--into", type=Path, default=Path("recorded"), help="the recorded runs' folder")
    record.add_argument("--replace", action="store_true",
                        help="replace recorded files whose contents differ (a row rerun on purpose)")
    _common(record)
    regenerate = commands.add_parser("regenerate", help="reports/<scale>/ made again from the recorded runs "
                                                        "(recorded/<scale>/): no training, no torch")
    regenerate.add_argument("--recorded", type=Path, default=Path("recorded"), help="the recorded runs' folder")
    _common(regenerate)
    restore = commands.add_parser("restore", help="copy the recorded runs (recorded/<scale>/) back into "
                                                  "results/<scale>/ to continue a record: snakemake then "
                                                  "runs only the pieces that are not recorded")
    restore.add_argument("--table", default=None, help="only this table's results folder (default: every recorded file)")
    restore.add_argument("--recorded", type=Path, default=Path("recorded"), help="the recorded runs' folder")
    _common(restore)
    benchmark_report = commands.add_parser("benchmark-report", help="reports/benchmarks.md from the recorded "
                                                                     "benchmark runs (no torch)")
    benchmark_report.add_argument("--recorded", type=Path, default=Path("recorded") / "benchmarks",
                                  help="the recorded benchmarks' folder")
    benchmark_report.add_argument("--out", type=Path, default=Path("reports") / "benchmarks.md")
    speed = commands.add_parser("sparsity-speed", help="time one LSTM layer's multiply, structured vs "
                                                       "non-structured sparsity, and plot it")
    speed.add_argument("--plot-only", action="store_true",
                       help="only redraw the figure from results/<scale>/sparsity_speed.json")
    speed.add_argument("--measure-only", action="store_true", help="only measure; draw no figure")
    _common(speed)
    return parser


def run(args: argparse.Namespace) -> None:
    if args.command == "benchmark-report":  # machine measurements: no scale, no configuration
        from iss_harness.reporting.benchmarks import write_benchmarks_page
        print(f"wrote {write_benchmarks_page(args.recorded, args.out)}")
        return
    config_files, overrides_json = configuration_sources(args)
    try:
        overrides = json.loads(overrides_json) if overrides_json else {}
    except json.JSONDecodeError as error:
        raise ConfigError(f"--overrides-json (or ${OVERRIDES_VARIABLE}) is not valid JSON: {error}") from None
    if not isinstance(overrides, dict):
        raise ConfigError(f"--overrides-json (or ${OVERRIDES_VARIABLE}) must be a JSON object, got {overrides_json!r}")
    if args.scale:
        overrides["scale"] = args.scale
    config = load_config(config_files, overrides=overrides)
    threads = args.threads or config["runtime"]["threads"]
    if args.command not in TORCH_FREE_COMMANDS:  # a reader regenerating reports needs no torch
        from iss_harness.numerics import start_torch
        start_torch(threads)
    tables = registry.load_tables(config)
    args.reports = args.reports or Path("reports") / config["scale"]
    if args.command == "check-config":
        print(f"configuration valid; scale {config['scale']}")
        for table in tables.values():
            print(f"  {table.name}: {', '.join(table.step_names())}")
        return
    if args.command == "fetch-data":
        from iss_harness.data.fetch import fetch, resolve_mirror
        if args.dataset in ("squad", "glove"):
            from iss_harness.tables.table3.data import fetch_table3_data
            files = fetch_table3_data(config, args.dataset, args.file)
        else:
            files = fetch(args.dataset, Path(config["data"]["dir"]) / args.dataset,
                          mirror=resolve_mirror(config["data"].get("mirror")))
        for path in files.values():
            print(f"verified {path}")
        return
    if args.command == "compare":
        from iss_harness.paper import compare
        from iss_harness.paper.tables import load_paper_tables
        scale = None if args.all_scales else config["scale"]
        if args.check_only:
            comparison = compare.compare(scale_root(args.results, config), scale,
                                         load_paper_tables(extra=registry.paper_files()))
            print(f"iss compare: {comparison.summary()}")
            status = comparison.exit_code
        else:
            status = compare.run(scale_root(args.results, config), args.reports, scale, extra_paper=registry.paper_files())
        if status == 2 or (status and not args.no_fail):
            raise ComparisonFailed(f"a reproduced number or claim is outside its tolerance (exit {status}); "
                                   f"see {args.reports / 'comparison.md'}")
        return
    if args.command == "summary":
        from iss_harness.paper.claims import ClaimsError
        from iss_harness.reporting import report, report_latex
        try:
            paths = [] if args.pdf_only else report.build(config, args.results, args.reports)
        except ClaimsError as err:  # the summary states the claims: an invalid claims file stops it
            raise ConfigError(str(err)) from None
        if args.pdf or args.pdf_only:
            try:
                paths.append(report_latex.compile_pdf(args.reports / "report.tex"))
            except report_latex.LatexError as err:
                raise ExperimentError(str(err)) from None
        for path in paths:
            print(f"wrote {path}")
        return
    if args.command == "sparsity-speed":
        from iss_harness.tasks import sparsity_speed
        if not args.plot_only:
            sparsity_speed.measure(config, args.results)
        if not args.measure_only:
            from iss_harness.reporting.figures_speed import write_figure
            for path in write_figure(config, args.results, args.reports):
                print(f"wrote {path}")
        return
    if args.command == "regenerate":
        from iss_harness.regenerate import regenerate
        done = regenerate(config, args.recorded, args.reports)
        for name, why in done.skipped.items():
            print(f"iss regenerate: skipped {name}: {why}")
        for name, covers in done.partial.items():
            print(f"iss regenerate: {name} reported over {covers}")
        print(f"iss regenerate: {len(done.written)} file(s) written under {args.reports}")
        return
    if args.command == "restore":
        from iss_harness import recording
        table = registry.table(args.table) if args.table is not None else None
        done = recording.restore(config, table, recorded=args.recorded, results=args.results)
        print(f"iss restore: {len(done.copied)} recorded file(s) copied into {args.results / config['scale']}, "
              f"{len(done.kept)} already there kept")
        return
    if args.command == "record":
        from iss_harness import recording
        if args.measurement is not None:
            if args.row is not None or args.seed is not None:
                raise ExperimentError("--row and --seed go with --table, not --measurement")
            done = recording.record_measurement(config, args.measurement, results=args.results, into=args.into,
                                                replace=args.replace)
            print(f"iss record: {len(done.copied)} file(s) recorded, {len(done.unchanged)} already recorded, "
                  f"under {args.into / config['scale']}")
            return
        table = registry.table(args.table)
        seed = None
        if args.row is not None:
            checked = table.check_run(config, args.row, args.seed)
            seed = checked if args.seed is not None else None
        elif args.seed is not None:
            raise ExperimentError("--seed needs --row (record one row's seed)")
        done = recording.record(config, table, args.row, seed, results=args.results, into=args.into,
                                replace=args.replace)
        for note in done.notes:
            print(f"iss record: note: {note}")
        print(f"iss record: {len(done.copied)} file(s) recorded, {len(done.unchanged)} already recorded, "
              f"under {args.into / config['scale']}")
        return
    table = registry.table(args.table)
    step = table.step(args.command, getattr(args, "sizes", None))
    row = getattr(args, "row", None)
    seed = table.check_run(config, row, args.seed) if row is not None else None
    made = step(config, registry.Request(results=args.results, reports=args.reports, row=row, seed=seed,
                                         restart=getattr(args, "restart", False)))
    written = made if isinstance(made, list) else [made]
    for path in written:
        if isinstance(path, Path):  # steps that write files return them
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
    except (ConfigError, DataError, TrainingDiverged, ExperimentError, UnreadableFile, FileNotFoundError) as err:
        print(f"iss {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
