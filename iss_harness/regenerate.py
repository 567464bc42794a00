"""A scale's reports made again from its recorded runs (``iss regenerate``): no training, no models,
no torch; what a reader runs on a fresh clone, and what CI runs to prove that every number in a
committed report comes from a recorded file.

The recorded files (``recorded/<scale>/``, iss_harness.recording) are copied to a scratch results
folder (``results/.regenerate/``, a fixed name so that the paths the comparison prints are the same
every time); what an earlier run wrote into ``reports/<scale>/`` is removed first, then each table
with recorded runs writes its report and figures from there into ``reports/<scale>/``, then the comparison with the paper and the one-page report follow. The tidy
tables and the comparison (``<table>.csv``, ``comparison.csv``) are kept beside the reports.

The text depends only on the recorded files and the configuration: where a run's report names the
commit and date it was made, a regenerated one names the recorded runs' manifest and the date they
were last recorded (config ``recorded``, read by iss_harness.provenance.report_made), so it reads
the same at every commit.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from iss_harness.io import write_text_atomic
from iss_harness.recording import MEASUREMENTS, RECORDED, read_manifest
from iss_harness.tables.registry import Request, load_tables, paper_files

SCRATCH = Path("results") / ".regenerate"


@dataclass
class Regenerated:
    written: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # table: why it was not reported
    # table: what its report covers where its record is incomplete (the seeds it is reported over,
    # or that it is not reported), for the one-page report
    incomplete: dict[str, str] = field(default_factory=dict)

    @property
    def partial(self) -> dict[str, str]:
        """The incomplete tables that were reported (over their first complete seeds)."""
        return {name: covers for name, covers in self.incomplete.items() if name not in self.skipped}


def report_table(table, config: dict, request: Request, done: Regenerated) -> None:
    """Write ``table``'s report and figures from the recorded runs. A record is built up a seed at a
    time (issue 24: long runs in pieces), so when a seed's pieces are missing the table is reported
    over the first seeds that are complete (1234; then 1234, 1235; ...), and says so in its header
    and in the one-page report; with no complete seed it is skipped and named."""
    configured = table.reported_seeds(config)
    attempts = [configured] + ([configured[:count] for count in range(len(configured) - 1, 0, -1)] if configured else [])
    missing = None
    for seeds in attempts:
        partial = seeds != configured
        covers = f"seeds {_seed_list(seeds)} of {_seed_list(configured)}; the others are not recorded yet" if partial else ""
        settings = config if not partial else {**table.with_seeds(config, seeds),
                                               "recorded": {**config["recorded"], "covers": covers}}
        before = _files(request)
        try:
            made = [path for step in ("report", "figures") if step in table.steps
                    for path in _paths(table.steps[step](settings, request))]
        except (FileNotFoundError, KeyError) as error:
            missing = missing or error  # the full record's first missing file is the one to name
            for path in _files(request) - before:  # what the failed attempt's first steps wrote
                path.unlink()
            continue
        done.written += made
        if partial:
            done.incomplete[table.name] = covers
        return
    done.skipped[table.name] = _lacking(missing, request.results)
    done.incomplete[table.name] = "not reported: its record lacks a piece its report needs (iss regenerate names it)"


def _files(request: Request) -> set[Path]:
    """Every file under the request's results and reports folders: an attempt that fails half way
    (its table written, its figures not) leaves nothing that a report or the tidy tables would list."""
    return {path for folder in (request.results, request.reports) if Path(folder).is_dir()
            for path in Path(folder).rglob("*") if path.is_file()}


def _lacking(error: Exception, results: Path) -> str:
    """What the record lacks, named as a recorded file: a missing results file's message
    (iss_harness.io.read_json) tells a run to make it, but a regeneration makes nothing."""
    missing = re.match(r"(\S+) does not exist", str(error))
    if missing is None or not Path(missing[1]).is_relative_to(results):
        return f"{error} (record the missing pieces)"
    recorded = RECORDED / Path(missing[1]).relative_to(results)
    return f"its record lacks {recorded.as_posix()} (iss record the run that makes it)"


def _paths(made) -> list[Path]:
    return [path for path in (made if isinstance(made, list) else [made]) if isinstance(path, Path)]


def _seed_list(seeds: list[int]) -> str:
    return ", ".join(map(str, seeds))


GENERATED = (".md", ".tex", ".csv", ".png", ".pdf")  # what the report steps write into reports/<scale>/


def clear_generated(reports: Path, scale: str) -> None:
    """Remove what an earlier run wrote into ``reports/<scale>/`` (its tables, report, figures), so
    that a figure or table no recorded run makes does not linger and enter the regenerated report
    (which lists every figure it finds). Only a folder named after the scale is cleared."""
    if reports.name != scale or not reports.is_dir():
        return
    for path in [*reports.glob("*"), *(reports / "figures").glob("*")]:
        if path.is_file() and path.suffix in GENERATED:
            path.unlink()


def regenerate(config: dict, recorded: Path = RECORDED, reports: Path | None = None) -> Regenerated:
    """Rewrite ``reports/<scale>/`` from ``recorded/<scale>/``. A table whose record lacks seeds is
    reported over its complete ones (``report_table``); one with none complete is skipped and named."""
    from iss_harness.paper import compare
    from iss_harness.reporting import report
    scale = config["scale"]
    source = Path(recorded) / scale
    manifest_path, manifest = read_manifest(recorded, config)
    reports = Path(reports) if reports is not None else Path("reports") / scale
    stamped = {**config, "recorded": dict(manifest=manifest_path.as_posix(), date=str(manifest["updated"])[:10])}
    done = Regenerated()
    clear_generated(reports, scale)
    results = SCRATCH
    shutil.rmtree(results, ignore_errors=True)
    shutil.copytree(source, results / scale)
    try:
        for table in load_tables(config).values():
            folder = results / scale / table.results_folder
            if not any((folder / row).is_dir() for row in table.rows(config)):
                continue  # none of its runs is recorded (Table 1's sweep shares Table 1's folder)
            report_table(table, stamped, Request(results=results, reports=reports), done)
        stamped["recorded"]["incomplete"] = done.incomplete  # the one-page report says what is missing
        if (results / scale / MEASUREMENTS["sparsity_speed"]).is_file():  # recorded with --measurement
            from iss_harness.reporting.figures_speed import write_figure
            done.written += write_figure(stamped, results, reports)
        compare.run(results / scale, reports, scale, extra_paper=paper_files())  # informational: a failing check is in the report
        done.written += report.build(stamped, results, reports)
        for table_csv in sorted((results / scale).glob("*.csv")):  # the tidy tables and the comparison
            write_text_atomic(reports / table_csv.name, table_csv.read_text(encoding="utf-8"))
            done.written.append(reports / table_csv.name)
    finally:
        shutil.rmtree(results, ignore_errors=True)
    return done
