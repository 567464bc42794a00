"""Reproduced results against the paper: cell by cell, and the paper's claims.

``run(results_dir, reports_dir, scale=None)`` reads every ``results/<table>.csv`` that exists
(tables as in ``config/paper_tables.yaml``: table1, table2, table3), and

* checks each result line that names a ``paper_column`` against that paper cell with the cell's
  rule and tolerance (``PaperCell.check``), at the line's own scale;
* evaluates the claims of ``config/claims.yaml`` (relations between reproduced numbers: ISS keeps
  the baseline's perplexity, the direct design is worse, width falls as lambda rises, ...);
* writes ``reports/<scale>/comparison.md`` and ``results/<scale>/comparison.csv`` (tidy, one line per check) and
  returns 0 when nothing applicable failed, 1 when a check failed or a results file is malformed
  (2 when the paper or claims file itself is invalid).

Claims vocabulary (the header of ``config/claims.yaml`` has the details): an operand is
{table, setting, row, metric}, the mean over seeds of that result line; check kinds are
``relation`` (left op right × factor + offset), ``fraction_of`` (left >= fraction × of) and
``monotone`` (a metric over ordered rows, increasing or decreasing, strict or not, with optional
slack and max_step); ``for_each_row`` repeats a check over rows (``$row``), ``all`` joins checks,
and any number may be given per scale ({smoke: x, mid: y, paper: z}).

Results files (written by each table's report step): tidy CSV, one line per (setting, row,
metric), columns ``scale, setting, row, metric, reproduced`` (required) and ``paper_column``,
``paper_row`` (the paper's row a line is compared with when it differs from ``row``; claims may
name either), ``seed``, ``paper``, ``paper_printed``, ``paper_source`` (optional; the paper columns are not
read: the paper file is the reference). Only lines with a non-empty ``paper_column`` are cell
checks. With a ``seed`` column, several lines per (setting, row, metric) are several seeds: the
checks use their mean, and the report shows mean ± sd (n). Without one, duplicate lines are an
error.

Statuses: ``pass``, ``fail``, ``n/a`` (does not apply at this scale or setting), ``missing`` (a
results file or a line a claim needs is absent: not a failure, the table may not have been run),
``error`` (malformed file, value not a number, unknown paper column: counts as a failure).

Which cells apply to which setting (the geometry rule):

* ``paper_sizes`` lines are the paper's published geometry with random weights (weight #,
  mult-add reduction, latency, speedup): they are checked at every scale, each cell at the
  scales its ``scales`` list.
* ``this_run`` lines are the models trained at the run's scale. Geometry cells -- those whose
  ``scales`` include a scale below ``paper``: by the policy of ``config/paper_tables.yaml`` only
  cells needing no training apply there -- are ``n/a`` on ``this_run`` lines at *every* scale:
  below the paper scale the trained model's geometry is the scale's own (a smoke model's weight
  count is not 66.0M), and at the paper scale the ISS rows' sizes are learned (judged by the
  learned-size cells, ±15 %), so their weight count and mult-add reduction are not the paper's
  either. The paper_sizes lines carry those checks. Every other cell (perplexity, learned sizes,
  keep ratio, speedup, time) is checked on both settings at the scales it lists.

``scale``: when given, only lines of that scale are read; a table whose file holds other scales
only is ``missing`` ("holds scale mid, not smoke"). When None, each line is checked at its own
scale and each table's scale is reported (tables may differ); a claim whose operands come from
tables at different scales is ``n/a``.
"""
from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from iss_harness.paper.tables import (
    SCALES,
    PaperCell,
    PaperTables,
    PaperTablesError,
    UnknownKeyError,
    load_paper_tables,
)
from iss_harness.render import MISSING, render_markdown
from iss_harness.io import write_text_atomic
from iss_harness.paper.claims import Claim, ClaimResult, ClaimsError, evaluate_claim, load_claims
from iss_harness.paper.results import Line, ResultsTable, display_format, format_like, is_geometry, read_results

# "shown": a claim evaluated at a scale it lists under `shown_at`: its outcome is reported ("would
# pass" / "would fail") but does not gate the run (margins there are known to be loose).
# "known fail": a claim that fails at a scale it lists under `known_failures`, with the measured
# explanation written there: reported as a failure, first in the summary, but it does not gate the
# run. Any other failure still does, and so does a known failure's check that cannot be evaluated.
STATUSES = ("pass", "fail", "known fail", "shown", "identity", "n/a", "missing", "error")
FAILING = ("fail", "error")


# --- cell checks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellCheck:
    table: str
    line: Line
    cell: PaperCell | None
    status: str
    delta: float | None
    message: str
    reason: str = ""  # a short reason for n/a and error, for the report's table


def check_line(table: str, path: Path, line: Line, paper: PaperTables) -> CellCheck:
    """Check one result line that names a paper column (see the module docstring)."""
    name = f"{path}: {line.setting}/{line.row}/{line.metric}"
    try:
        cell = paper.cell(table, line.paper_row or line.row, line.paper_column)
    except UnknownKeyError as error:
        return CellCheck(table, line, None, "error", None, f"{name}: paper_column {line.paper_column!r}: {error}",
                         "unknown paper cell")
    if line.setting == "this_run" and is_geometry(cell):
        return CellCheck(table, line, cell, "n/a", None,
                         f"{name}: {cell.key} is a geometry cell, checked on the paper_sizes line: this run's "
                         f"geometry is the {line.scale} scale's own or learned, not the paper's",
                         "geometry: see paper_sizes")
    if not line.value.is_numeric:
        return CellCheck(table, line, cell, "error", None,
                         f"{name}: reproduced {line.value.text!r} is not a number", "not a number")
    result = cell.check(line.value.mean, line.scale)
    reason = ""
    if result.status == "n/a":
        reason = "no value" if line.scale in cell.scales else f"{'/'.join(cell.scales)} only"
    return CellCheck(table, line, cell, result.status, result.delta, f"{path}: {result.message}", reason)


def check_cells(results: ResultsTable, paper: PaperTables) -> list[CellCheck]:
    return [check_line(results.name, results.path, line, paper) for line in results.lines if line.paper_column]


# --- the whole comparison ---------------------------------------------------------------------


@dataclass
class Comparison:
    scale: str | None
    results: dict[str, ResultsTable]
    cells: list[CellCheck]
    claims: list[ClaimResult]

    def counts(self, statuses: list[str]) -> dict[str, int]:
        return {status: statuses.count(status) for status in STATUSES}

    @property
    def claim_counts(self) -> dict[str, int]:
        return self.counts([result.status for result in self.claims])

    @property
    def cell_counts(self) -> dict[str, int]:
        return self.counts([check.status for check in self.cells])

    @property
    def file_counts(self) -> dict[str, int]:
        statuses = [table.status for table in self.results.values()]
        return {status: statuses.count(status) for status in ("found", "missing", "error")}

    @property
    def exit_code(self) -> int:
        failed = (any(result.status in FAILING for result in self.claims)
                  or any(check.status in FAILING for check in self.cells)
                  or any(table.status == "error" for table in self.results.values()))
        return 1 if failed else 0

    def summary(self) -> str:
        def counts(numbers: dict[str, int], statuses=STATUSES) -> str:
            return ", ".join(f"{numbers[status]} {status}" for status in statuses)
        files = "; ".join(
            f"{name} at {', '.join(table.scales)}" + (" (seeds)" if table.seeded else "") if table.status == "found"
            else f"{name} {table.status}" for name, table in self.results.items())
        verdict = ("nothing applicable failed (exit 0)" if self.exit_code == 0
                   else "something applicable failed (exit 1)")
        known = [result for result in self.claims if result.status == "known fail"]
        if known:
            verdict += (f"; the paper's claim does not hold here for {', '.join(r.claim.id for r in known)} "
                        f"(known failures, explained under Claims)")
        cell_statuses = [status for status in STATUSES if status not in ("missing", "known fail")]
        claim_statuses = [status for status in STATUSES if status != "identity"]  # a cell status only
        return (f"Claims: {counts(self.claim_counts, claim_statuses)}. Cells: {counts(self.cell_counts, cell_statuses)}. "
                f"Results: {files}. Verdict: {verdict}.")


def compare(results_dir: str | Path, scale: str | None = None, paper: PaperTables | None = None,
            claims: list[Claim] | None = None) -> Comparison:
    """Read the results, check the cells and evaluate the claims. Raises PaperTablesError or
    ClaimsError for an invalid paper or claims file; never for results files."""
    if scale is not None and scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: expected one of {', '.join(SCALES)}")
    paper = paper if paper is not None else load_paper_tables()
    claims = claims if claims is not None else load_claims(paper=paper)
    results = {table: read_results(results_dir, table, scale) for table in paper.tables}
    cells = [check for table in results.values() for check in check_cells(table, paper)]
    return Comparison(scale, results, cells, [evaluate_claim(claim, results, paper) for claim in claims])


# --- reports ----------------------------------------------------------------------------------

CSV_COLUMNS = ("kind", "id", "table", "scale", "setting", "row", "metric", "paper_column", "reproduced", "sd",
               "n", "reproduced_text", "paper", "paper_printed", "delta", "rule", "tolerance", "expectation",
               "status", "message")


def comparison_records(comparison: Comparison) -> list[dict[str, Any]]:
    """Tidy records: one per results file that is missing or malformed, claim and cell check."""
    records = []
    for name, table in comparison.results.items():
        if table.status != "found":
            records.append(dict(kind="results", id=name, table=name, scale=comparison.scale or "",
                                status=table.status, message=table.message))
    for result in comparison.claims:
        records.append(dict(kind="claim", id=result.claim.id, table="+".join(result.claim.tables()),
                            scale=result.scale or "", n=result.seeds, reproduced_text=result.observed,
                            rule="claim", expectation=result.expectation, status=result.status,
                            message=result.message))
    for check in comparison.cells:
        line, cell, value = check.line, check.cell, check.line.value
        records.append(dict(
            kind="cell", id=f"{check.table}/{line.setting}/{line.row}/{line.metric}", table=check.table,
            scale=line.scale, setting=line.setting, row=line.row, metric=line.metric,
            paper_column=line.paper_column, reproduced=value.mean if value.is_numeric else None,
            sd=value.sd if value.is_numeric else None, n=value.n if value.is_numeric else None,
            reproduced_text=value.show(cell.printed if cell else None),
            paper=cell.value if cell else None, paper_printed=cell.printed if cell else "",
            delta=check.delta, rule=cell.rule if cell else "", tolerance=_tolerance(cell) if cell else "",
            status=check.status, message=check.message))
    return [{column: record.get(column) for column in CSV_COLUMNS} for record in records]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def render_comparison(comparison: Comparison) -> str:
    banner = [f"**Summary.** {comparison.summary()}"]
    banner.append(f"Scale: {comparison.scale or 'each table at its own scale'}.")
    for name, table in comparison.results.items():
        if table.status == "found":
            seeds = " (several seeds: mean ± sd (n))" if table.seeded else ""
            text = f"{name}: {table.path}, scale {', '.join(table.scales)}, {len(table.lines)} values{seeds}."
        else:
            text = f"{name}: {table.status}: {table.message}."
        banner.append(" ".join([text, *table.notes]))
    claims = pd.DataFrame([{
        "Claim": result.claim.id,
        "Statement": _one_line(result.claim.statement),
        "Applies at": ", ".join(result.claim.scales) + (f" (shown at {', '.join(result.claim.shown_at)})"
                                                        if result.claim.shown_at else ""),
        "Reproduced": result.observed or MISSING,
        "Expectation": result.expectation,
        "Status": result.status,
        "Detail": _one_line(result.message),
    } for result in comparison.claims], columns=["Claim", "Statement", "Applies at", "Reproduced", "Expectation",
                                                "Status", "Detail"])
    cells = pd.DataFrame([{
        "Table": check.table,
        "Scale": check.line.scale,
        "Setting": check.line.setting,
        "Row": check.line.row,
        "Column": check.line.paper_column,
        "Reproduced": check.line.value.show(check.cell.printed if check.cell else None),
        "Paper": check.cell.printed if check.cell else MISSING,
        "Delta": _delta(check),
        "Tolerance": _tolerance(check.cell) if check.cell else MISSING,
        "Rule": check.cell.rule if check.cell else MISSING,
        "Status": check.status + (f" ({check.reason})" if check.reason else ""),
    } for check in comparison.cells], columns=["Table", "Scale", "Setting", "Row", "Column", "Reproduced", "Paper",
                                               "Delta", "Tolerance", "Rule", "Status"])
    claim_notes = [f"{result.claim.id}: margin: {result.claim.margin}"
                   + (f" Note: {result.claim.note}" if result.claim.note else "") for result in comparison.claims]
    cell_notes = [
        "Geometry cells (weight #, mult-add reduction, sizes that are inputs) are checked on the paper_sizes lines "
        "(the paper's geometry, random weights) at every scale, and are n/a on this_run lines: the trained "
        "models' geometry is the scale's own, or learned. Trained cells apply at the scales the paper file lists.",
        "Delta: reproduced - paper, or reproduced/paper (×) for rule `ratio`.",
    ]
    problems = [check.message for check in comparison.cells if check.status in FAILING]
    parts = ["# Reproduction against the paper: claims and cells", "",
             "\n>\n".join(f"> {line}" for line in banner), "",
             "## Claims", "", render_markdown(claims, [], claim_notes),
             "## Cells", "", render_markdown(cells, [], cell_notes) if len(cells) else "No cell checks.\n"]
    if problems:
        parts += ["## Failed cells", "", "\n".join(f"- {_one_line(message)}" for message in problems), ""]
    return "\n".join(parts).rstrip() + "\n"


def _tolerance(cell: PaperCell) -> str:
    if cell.rule in ("exact", "identity") and cell.tolerance.amount == 0:
        return "as printed"
    return str(cell.tolerance)


def _delta(check: CellCheck) -> str:
    if check.delta is None or check.cell is None:
        return MISSING
    cell, mean = check.cell, check.line.value.mean
    if cell.rule == "ratio":
        return f"×{mean / cell.value:.3g}"
    if check.delta == 0:
        return "0"
    decimals, suffix, unit = display_format(check.delta, cell.printed)
    decimals = max(decimals, display_format(mean, cell.printed)[0])
    return ("-" if check.delta < 0 else "+") + format_like(abs(check.delta), decimals, suffix, unit)


# --- entry point ------------------------------------------------------------------------------


def _csv_text(records: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({key: ("" if value is None else value) for key, value in record.items()})
    return buffer.getvalue()


def run(results_dir: str | Path, reports_dir: str | Path, scale: str | None = None, *,
        claims_path: str | Path | None = None, paper_path: str | Path | None = None,
        extra_paper: list[str | Path] = ()) -> int:
    """Compare, write ``<reports>/comparison.md`` and ``<results>/comparison.csv`` (atomically), print
    the summary; 0 when nothing applicable failed, 1 otherwise, 2 for an invalid paper or claims
    file (with a message, no traceback)."""
    if scale is not None and scale not in SCALES:
        print(f"iss compare: error: unknown scale {scale!r}: expected one of {', '.join(SCALES)}", file=sys.stderr)
        return 2
    try:
        paper = load_paper_tables(paper_path, extra_paper)
        claims = load_claims(claims_path, paper)
        comparison = compare(results_dir, scale, paper, claims)
    except (PaperTablesError, ClaimsError) as error:
        print(f"iss compare: error: {error}", file=sys.stderr)
        return 2
    for table in comparison.results.values():
        if table.status != "found":
            stream = sys.stderr if table.status == "error" else sys.stdout
            print(f"iss compare: {table.status}: {table.message}", file=stream)
    markdown_path = Path(reports_dir) / "comparison.md"
    csv_path = Path(results_dir) / "comparison.csv"
    write_text_atomic(markdown_path, render_comparison(comparison))
    write_text_atomic(csv_path, _csv_text(comparison_records(comparison)))
    print(f"iss compare: {comparison.summary()}")
    print(f"iss compare: wrote {markdown_path} and {csv_path}")
    return comparison.exit_code
