"""Reproduced results against the paper: cell by cell, and the paper's claims.

``run(results_dir, reports_dir, scale=None)`` reads every ``results/<table>.csv`` that exists
(tables as in ``config/paper_tables.yaml``: table1, table2, table3), and

* checks each result line that names a ``paper_column`` against that paper cell with the cell's
  rule and tolerance (``PaperCell.check``), at the line's own scale;
* evaluates the claims of ``config/claims.yaml`` (relations between reproduced numbers: ISS keeps
  the baseline's perplexity, the direct design is worse, width falls as lambda rises, ...);
* writes ``reports/comparison.md`` and ``results/comparison.csv`` (tidy, one line per check) and
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
import math
import operator
import re
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd
import yaml

from iss.config import REPO_ROOT
from iss.paper.tables import (
    SCALES,
    SUFFIX_UNITS,
    PaperCell,
    PaperTables,
    PaperTablesError,
    UnknownKeyError,
    _Validator,
    format_number,
    load_paper_tables,
    parse_printed,
)
from iss.reporting.render import MISSING, render_markdown
from iss.io import write_text_atomic

DEFAULT_CLAIMS_PATH = REPO_ROOT / "config" / "claims.yaml"

SETTINGS = ("this_run", "paper_sizes")
REQUIRED_COLUMNS = ("scale", "setting", "row", "metric", "reproduced")
# "shown": a claim evaluated at a scale it lists under `shown_at`: its outcome is reported ("would
# pass" / "would fail") but does not gate the run (margins there are known to be loose).
# "known fail": a claim that fails at a scale it lists under `known_failures`, with the measured
# explanation written there: reported as a failure, first in the summary, but it does not gate the
# run. Any other failure still does, and so does a known failure's check that cannot be evaluated.
STATUSES = ("pass", "fail", "known fail", "shown", "n/a", "missing", "error")
FAILING = ("fail", "error")

# Result metrics that are not paper columns (a paper column's key is always a valid metric name);
# claims may name these or paper column keys. Table 1: iss/reporting/table1.py. Tables 2 and 3:
# their report steps are expected to name metrics after the paper columns (width,
# perplexity_valid, parameters; em, f1, weights, ...).
EXTRA_METRICS = {
    "table1": ("keep_prob", "lambda", "mult_add_reduction_gemm", "fastest_path"),
    "table2": ("trained_width", "mult_add_reduction", "mult_add_reduction_gemm", "total_time_ms", "speedup",
               "fastest_path"),  # iss/tasks/table2.py's metrics.json and timing (its report step is not written yet)
    "table3": ("lambda", "speedup", "weights_exact", "em_before_shrink", "f1_before_shrink",
               "shrink_max_abs_logprob_error", "iss_variant"),  # iss/reporting/table3.py
}


class ClaimsError(ValueError):
    """The claims file is missing, unreadable or not shaped as expected."""


def known_metrics(paper: PaperTables, table: str) -> tuple[str, ...]:
    """Metric names a results file of ``table`` may carry: paper columns and known extras."""
    return tuple(paper.columns(table)) + tuple(EXTRA_METRICS.get(table, ()))


def is_geometry(cell: PaperCell) -> bool:
    """A cell that applies below the paper scale: by the paper file's policy, one that needs no
    training (weight counts, mult-add reduction, sizes that are inputs)."""
    return any(scale != "paper" for scale in cell.scales)


# --- results files ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """The reproduced value of one (scale, setting, row, metric): one raw string per seed."""

    raw: tuple[str, ...]
    seeds: tuple[str, ...] = ()

    @property
    def _parsed(self) -> list[float | str | None]:
        parsed: list[float | str | None] = []
        for text in self.raw:
            text = text.strip()
            if not text:
                parsed.append(None)
                continue
            try:
                number = float(text)
            except ValueError:
                parsed.append(text)
            else:
                parsed.append(None if math.isnan(number) else number)
        return parsed

    @property
    def is_numeric(self) -> bool:
        return not any(isinstance(item, str) for item in self._parsed)

    @property
    def numbers(self) -> list[float]:
        return [item for item in self._parsed if isinstance(item, float)]

    @property
    def n(self) -> int:
        return len(self.numbers)

    @property
    def mean(self) -> float | None:
        numbers = self.numbers
        return statistics.fmean(numbers) if numbers else None

    @property
    def sd(self) -> float | None:
        numbers = self.numbers
        return statistics.stdev(numbers) if len(numbers) >= 2 else None

    @property
    def text(self) -> str:
        """A non-numeric value as written (distinct values of the seeds, in order)."""
        seen = dict.fromkeys(item.strip() for item in self.raw if item.strip())
        return ", ".join(seen)

    def show(self, printed: str | None = None) -> str:
        """The value for a report: like the paper's cell when given, mean ± sd (n) over seeds."""
        if not self.is_numeric:
            return self.text
        mean = self.mean
        if mean is None:
            return MISSING
        decimals, suffix, unit = _display_format(mean, printed)
        shown = _format(mean, decimals, suffix, unit)
        if len(self.raw) > 1:
            sd = self.sd
            spread = _format(sd, decimals, suffix, unit) if sd is not None else MISSING
            shown = f"{shown} ± {spread} (n={self.n})"
        return shown


@dataclass(frozen=True)
class Line:
    scale: str
    setting: str
    row: str
    metric: str
    value: Value
    paper_column: str  # "" when the metric has no paper counterpart
    paper_row: str = ""  # the paper's row this line is compared with, when it is not ``row``


@dataclass
class ResultsTable:
    """One ``results/<table>.csv``: ``status`` is found, missing or error (with a message)."""

    name: str
    path: Path
    status: str
    message: str = ""
    lines: list[Line] = field(default_factory=list)
    scales: tuple[str, ...] = ()
    seeded: bool = False
    notes: tuple[str, ...] = ()

    def find(self, setting: str, row: str, metric: str) -> Line | None:
        """The line paired with the paper's row ``row``; failing that, the line of ``row`` itself.

        Claims name the paper's rows. Table 2 pairs its lambdas with the paper's by rank, and a
        sweep's own row names can collide with the paper's: a sweep 0.005, 0.0075, ... has a row
        lambda_0.005 paired with the paper's lambda_0.004, while the paper's lambda_0.005 is this
        sweep's lambda_0.0075. The pairing therefore wins over the name."""
        for line in self.lines:
            if (line.setting, line.paper_row, line.metric) == (setting, row, metric):
                return line
        for line in self.lines:
            if (line.setting, line.row, line.metric) == (setting, row, metric):
                return line
        return None


class _Malformed(Exception):
    pass


def read_results(results_dir: str | Path, table: str, scale: str | None = None) -> ResultsTable:
    """Read ``<results_dir>/<table>.csv``; never raises for a missing or malformed file: the
    returned table's status and message say what is wrong, naming the file."""
    path = Path(results_dir) / f"{table}.csv"
    if not path.exists():
        return ResultsTable(table, path, "missing", f"{path} not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return ResultsTable(table, path, "error", f"{path}: cannot read ({error})")
    try:
        return _parse_results(table, path, text, scale)
    except _Malformed as error:
        return ResultsTable(table, path, "error", f"{path}: malformed: {error}")


def _parse_results(table: str, path: Path, text: str, scale: str | None) -> ResultsTable:
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames
    if not header:
        raise _Malformed("empty file, no header line")
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise _Malformed(f"missing column(s) {', '.join(missing)} (header: {', '.join(header)}; "
                         f"required: {', '.join(REQUIRED_COLUMNS)})")
    seeded = "seed" in header
    collected: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    other_scales: list[str] = []
    for record in reader:
        where = f"line {reader.line_num}"
        if None in record or any(value is None for value in record.values()):
            count = len(record.get(None) or []) + sum(value is not None for key, value in record.items() if key)
            raise _Malformed(f"{where}: {count} fields, the header has {len(header)}")
        fields = {key: value.strip() for key, value in record.items()}
        if not any(fields.values()):
            continue  # a blank line
        if fields["scale"] not in SCALES:
            raise _Malformed(f"{where}: unknown scale {fields['scale']!r} (expected one of {', '.join(SCALES)})")
        if fields["setting"] not in SETTINGS:
            raise _Malformed(f"{where}: unknown setting {fields['setting']!r} "
                             f"(expected one of {', '.join(SETTINGS)})")
        for column in ("row", "metric"):
            if not fields[column]:
                raise _Malformed(f"{where}: empty {column!r}")
        if scale is not None and fields["scale"] != scale:
            other_scales.append(fields["scale"])
            continue
        key = (fields["scale"], fields["setting"], fields["row"], fields["metric"])
        seed = fields.get("seed", "")
        paper_column = fields.get("paper_column", "")
        entry = collected.setdefault(key, {"raw": [], "seeds": [], "paper_column": paper_column,
                                           "paper_row": fields.get("paper_row", "")})
        name = "/".join(key)
        if seed in entry["seeds"]:
            if seeded:
                raise _Malformed(f"{where}: a second line for {name} with seed {seed!r}")
            raise _Malformed(f"{where}: a second line for {name}, and no seed column to tell them apart")
        if paper_column != entry["paper_column"]:
            raise _Malformed(f"{where}: paper_column {paper_column!r} for {name}, "
                             f"but {entry['paper_column']!r} on an earlier line")
        entry["raw"].append(record["reproduced"])
        entry["seeds"].append(seed)
    lines = [Line(*key, value=Value(tuple(entry["raw"]), tuple(entry["seeds"]) if seeded else ()),
                  paper_column=entry["paper_column"], paper_row=entry["paper_row"])
             for key, entry in collected.items()]
    notes = []
    if "paper_column" not in header:
        notes.append(f"{path} has no paper_column column: no cell checks for {table}")
    if not lines:
        if other_scales:
            held = ", ".join(dict.fromkeys(other_scales))
            return ResultsTable(table, path, "missing", f"{path} holds scale {held}, not {scale}")
        return ResultsTable(table, path, "missing", f"{path} has no result lines")
    scales = tuple(dict.fromkeys(line.scale for line in lines))
    return ResultsTable(table, path, "found", lines=lines, scales=scales, seeded=seeded, notes=tuple(notes))


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


# --- claims: the vocabulary -------------------------------------------------------------------

_OPS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "<": (operator.lt, "<"),
    "<=": (operator.le, "≤"),
    ">": (operator.gt, ">"),
    ">=": (operator.ge, "≥"),
}
_ROW_PLACEHOLDER = "$row"


class _ClaimMissing(Exception):
    pass


class _ClaimError(Exception):
    pass


@dataclass(frozen=True)
class Operand:
    table: str
    setting: str
    row: str
    metric: str

    @property
    def label(self) -> str:
        where = self.row if self.setting == "this_run" else f"{self.row}, paper sizes"
        return f"{self.metric}({where})"


# A parameter: a plain value or {scale: value}.
Param = Any


def _at(param: Param, scale: str) -> Any:
    return param[scale] if isinstance(param, Mapping) else param


def _param_text(param: Param, scale: str | None) -> str:
    if isinstance(param, Mapping) and scale is None:
        return "(" + ", ".join(f"{_num(value)} at {key}" for key, value in param.items()) + ")"
    value = _at(param, scale) if scale is not None else param
    return str(value).lower() if isinstance(value, bool) else _num(value)


Getter = Callable[[Operand], float]


@dataclass(frozen=True)
class Relation:
    left: Operand
    op: str
    right: Operand
    factor: Param = 1.0
    offset: Param = 0.0

    def operands(self, scale: str | None = None) -> list[Operand]:
        return [self.left, self.right]

    def expectation(self, scale: str | None) -> str:
        right = self.right.label
        if not (self.factor == 1 or self.factor == 1.0):
            right = f"{_param_text(self.factor, scale)} × {right}"
        if not (self.offset == 0 or self.offset == 0.0):
            right = f"{right} + {_param_text(self.offset, scale)}"
        return f"{self.left.label} {_OPS[self.op][1]} {right}"

    def evaluate(self, get: Getter, scale: str) -> tuple[bool, str]:
        left, right = get(self.left), get(self.right)
        factor, offset = float(_at(self.factor, scale)), float(_at(self.offset, scale))
        bound = right * factor + offset
        passed = _OPS[self.op][0](left, bound)
        shown = _num(right)
        if factor != 1.0:
            shown = f"{_num(factor)} × {shown}"
        if offset != 0.0:
            shown = f"{shown} + {_num(offset)}"
        if factor != 1.0 or offset != 0.0:
            shown = f"{shown} = {_num(bound)}"
        return passed, f"{self.left.label} {_num(left)} {_OPS[self.op][1]} {shown}"


@dataclass(frozen=True)
class FractionOf:
    left: Operand
    of: Operand
    fraction: Param

    def operands(self, scale: str | None = None) -> list[Operand]:
        return [self.left, self.of]

    def expectation(self, scale: str | None) -> str:
        return f"{self.left.label} ≥ {_param_text(self.fraction, scale)} × {self.of.label}"

    def evaluate(self, get: Getter, scale: str) -> tuple[bool, str]:
        left, of = get(self.left), get(self.of)
        fraction = float(_at(self.fraction, scale))
        bound = fraction * of
        return left >= bound, f"{self.left.label} {_num(left)} ≥ {_num(fraction)} × {_num(of)} = {_num(bound)}"


@dataclass(frozen=True)
class Monotone:
    table: str
    setting: str
    metric: str
    rows: tuple[str, ...] | Mapping[str, tuple[str, ...]]  # or {scale: rows}: a scale's run has its own rows
    direction: str  # increasing | decreasing
    strict: Param = False
    slack: Param = 0.0
    max_step: Param = None

    def rows_at(self, scale: str | None) -> tuple[str, ...]:
        """The rows at one scale; with scale None (or rows not per scale) every row named."""
        if not isinstance(self.rows, Mapping):
            return self.rows
        if scale is not None:
            return self.rows[scale]
        return tuple(dict.fromkeys(row for rows in self.rows.values() for row in rows))

    def operands(self, scale: str | None = None) -> list[Operand]:
        return [Operand(self.table, self.setting, row, self.metric) for row in self.rows_at(scale)]

    def expectation(self, scale: str | None) -> str:
        strict = self.strict if scale is None else _at(self.strict, scale)
        if isinstance(strict, Mapping):
            how = " / ".join(f"{'strictly' if value else 'non-strictly'} at {key}" for key, value in strict.items())
            how = f"({how})"
        else:
            how = "strictly" if strict else "non-strictly"
        if isinstance(self.rows, Mapping) and scale is None:
            over = "; ".join(f"{', '.join(rows)} at {key}" for key, rows in self.rows.items())
        else:
            over = ", ".join(self.rows_at(scale))
        text = f"{self.metric} {how} {self.direction} over {over}"
        if self.setting != "this_run":
            text += " (paper sizes)"
        slack = self.slack if scale is None else _at(self.slack, scale)
        if slack not in (0, 0.0):
            text += f", slack {_param_text(slack, scale)}"
        max_step = self.max_step if scale is None else _at(self.max_step, scale)
        if max_step is not None:
            text += f", steps of at most {_param_text(max_step, scale)}"
        return text

    def evaluate(self, get: Getter, scale: str) -> tuple[bool, str]:
        rows = self.rows_at(scale)
        values = [get(operand) for operand in self.operands(scale)]
        strict = bool(_at(self.strict, scale))
        slack = float(_at(self.slack, scale))
        max_step = _at(self.max_step, scale)
        sign = 1.0 if self.direction == "increasing" else -1.0
        broken = []
        for (row_a, a), (row_b, b) in zip(zip(rows, values), zip(rows[1:], values[1:])):
            step = sign * (b - a)  # > 0: moves the stated way
            against = -step
            if (against >= slack) if strict else (against > slack):
                broken.append(f"{row_a} {_num(a)} -> {row_b} {_num(b)} is not {self.direction}")
            elif max_step is not None and step > float(max_step):
                broken.append(f"{row_a} {_num(a)} -> {row_b} {_num(b)} is a step of {_num(step)} > {_num(max_step)}")
        shown = ", ".join(f"{row} {_num(value)}" for row, value in zip(rows, values))
        if broken:
            return False, f"{self.metric}: {'; '.join(broken)}"
        return True, f"{self.metric}: {shown}"


Check = Relation | FractionOf | Monotone


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    source: str
    scales: tuple[str, ...]
    margin: str
    checks: tuple[Check, ...]
    note: str = ""
    shown_at: tuple[str, ...] = ()  # scales where the outcome is shown, not gated
    known_failures: Mapping[str, str] = field(default_factory=dict, hash=False)  # scale -> why it fails there

    def operands(self, scale: str | None = None) -> list[Operand]:
        """The operands read at one scale (scale None: at any scale)."""
        return list(dict.fromkeys(operand for check in self.checks for operand in check.operands(scale)))

    def tables(self) -> list[str]:
        return list(dict.fromkeys(operand.table for operand in self.operands()))

    def expectation(self, scale: str | None) -> str:
        return "; ".join(dict.fromkeys(check.expectation(scale) for check in self.checks))


# --- claims: loading and validation -----------------------------------------------------------

_CLAIM_KEYS = {"id", "statement", "source", "scales", "shown_at", "known_failures", "margin", "check", "note"}
_CLAIM_REQUIRED = ("id", "statement", "source", "scales", "margin", "check")
_OPERAND_KEYS = ("table", "setting", "row", "metric")
_CHECK_KEYS = {
    "relation": ({"kind", "table", "setting", "for_each_row", "left", "op", "right", "factor", "offset"},
                 ("left", "op", "right")),
    "fraction_of": ({"kind", "table", "setting", "for_each_row", "left", "of", "fraction"},
                    ("left", "of", "fraction")),
    "monotone": ({"kind", "table", "setting", "metric", "rows", "direction", "strict", "slack", "max_step"},
                 ("table", "setting", "metric", "rows", "direction")),
}


def load_claims(path: str | Path | None = None, paper: PaperTables | None = None) -> list[Claim]:
    """Read and validate the claims file (default ``config/claims.yaml``); every table, row and
    metric a claim names must exist in the paper file (``paper``, default: loaded)."""
    path = Path(path) if path is not None else DEFAULT_CLAIMS_PATH
    paper = paper if paper is not None else load_paper_tables()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ClaimsError(f"{path}: cannot read the claims file ({error})") from error
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ClaimsError(f"{path}: not valid YAML: {error}") from error
    return _ClaimsValidator(path, paper).claims(data)


class _ClaimsValidator(_Validator):
    error = ClaimsError

    def __init__(self, path: Path, paper: PaperTables):
        super().__init__(path)
        self.paper = paper

    def text(self, data: Any, where: str) -> str:
        if not isinstance(data, str) or not data.strip():
            raise self.fail(where, f"expected a non-empty string, got {data!r}")
        return " ".join(data.split())

    def claims(self, data: Any) -> list[Claim]:
        if data is None:
            raise self.fail("top level", "the file is empty")
        data = self.mapping(data, "top level")
        self.keys(data, "top level", {"claims"}, ("claims",))
        if not isinstance(data["claims"], list) or not data["claims"]:
            raise self.fail("claims", "expected a non-empty list of claims")
        claims = [self.claim(body, f"claims[{i}]") for i, body in enumerate(data["claims"])]
        ids = [claim.id for claim in claims]
        duplicates = sorted({claim_id for claim_id in ids if ids.count(claim_id) > 1})
        if duplicates:
            raise self.fail("claims", f"duplicate id(s) {duplicates}")
        return claims

    def claim(self, body: Any, where: str) -> Claim:
        body = self.mapping(body, where)
        if isinstance(body.get("id"), str):
            where = f"claim {body['id']!r}"
        self.keys(body, where, _CLAIM_KEYS, _CLAIM_REQUIRED)
        claim_id = body["id"]
        if not isinstance(claim_id, str) or not re.fullmatch(r"[a-z0-9_]+", claim_id):
            raise self.fail(f"{where}.id", f"expected lower-case letters, digits and '_', got {claim_id!r}")
        scales = body["scales"]
        if not isinstance(scales, list) or not scales or any(scale not in SCALES for scale in scales):
            raise self.fail(f"{where}.scales", f"expected a non-empty list drawn from {list(SCALES)}, got {scales!r}")
        shown_at = body.get("shown_at", [])
        if not isinstance(shown_at, list) or any(scale not in SCALES or scale in scales for scale in shown_at):
            raise self.fail(f"{where}.shown_at", f"expected a list of scales drawn from {list(SCALES)} and not in "
                                                 f"`scales`, got {shown_at!r}")
        known_failures = body.get("known_failures", {})
        if not isinstance(known_failures, dict) or any(scale not in scales for scale in known_failures):
            raise self.fail(f"{where}.known_failures", f"expected a mapping from scales listed in `scales` "
                                                       f"({scales}) to explanations, got {known_failures!r}")
        known_failures = {scale: self.text(why, f"{where}.known_failures.{scale}")
                          for scale, why in known_failures.items()}
        checks = self.check(body["check"], f"{where}.check", tuple(scales) + tuple(shown_at))
        return Claim(
            id=claim_id,
            statement=self.text(body["statement"], f"{where}.statement"),
            source=self.text(body["source"], f"{where}.source"),
            scales=tuple(scales),
            margin=self.text(body["margin"], f"{where}.margin"),
            checks=tuple(checks),
            note=self.text(body["note"], f"{where}.note") if "note" in body else "",
            shown_at=tuple(shown_at),
            known_failures=known_failures,
        )

    def check(self, body: Any, where: str, scales: tuple[str, ...]) -> list[Check]:
        body = self.mapping(body, where)
        if "all" in body:
            self.keys(body, where, {"all"}, ("all",))
            if not isinstance(body["all"], list) or not body["all"]:
                raise self.fail(f"{where}.all", "expected a non-empty list of checks")
            return [check for i, item in enumerate(body["all"])
                    for check in self.check(item, f"{where}.all[{i}]", scales)]
        kind = body.get("kind")
        if kind not in _CHECK_KEYS:
            raise self.fail(f"{where}.kind", f"unknown kind {kind!r}; expected one of: {', '.join(_CHECK_KEYS)} "
                                             f"(or {{all: [...]}})")
        allowed, required = _CHECK_KEYS[kind]
        self.keys(body, where, allowed, required)
        if kind == "monotone":
            return [self.monotone(body, where, scales)]
        rows = body.get("for_each_row")
        if rows is not None and (not isinstance(rows, list) or not rows
                                 or not all(isinstance(row, str) for row in rows)):
            raise self.fail(f"{where}.for_each_row", f"expected a non-empty list of row names, got {rows!r}")
        sides = ("left", "right") if kind == "relation" else ("left", "of")
        raw = {side: dict(self.mapping(body[side], f"{where}.{side}")) for side in sides}
        uses_row = any(side.get("row") == _ROW_PLACEHOLDER for side in raw.values())
        if rows is not None and not uses_row:
            raise self.fail(f"{where}.for_each_row", f"no operand uses {_ROW_PLACEHOLDER!r}")
        if rows is None and uses_row:
            raise self.fail(where, f"an operand uses {_ROW_PLACEHOLDER!r} but the check has no for_each_row")
        checks: list[Check] = []
        for row in rows or [None]:
            operands = {side: self.operand(raw[side], body, f"{where}.{side}", row) for side in sides}
            if kind == "relation":
                op = body["op"]
                if op not in _OPS:
                    raise self.fail(f"{where}.op", f"unknown operator {op!r}; expected one of: {', '.join(_OPS)}")
                checks.append(Relation(operands["left"], op, operands["right"],
                                       factor=self.param(body.get("factor", 1.0), f"{where}.factor", scales),
                                       offset=self.param(body.get("offset", 0.0), f"{where}.offset", scales)))
            else:
                checks.append(FractionOf(operands["left"], operands["of"],
                                         self.param(body["fraction"], f"{where}.fraction", scales)))
        return checks

    def operand(self, raw: dict, check: Mapping, where: str, row: str | None) -> Operand:
        unknown = sorted(str(key) for key in set(raw) - set(_OPERAND_KEYS))
        if unknown:
            raise self.fail(where, f"unknown key(s) {unknown}; an operand has {list(_OPERAND_KEYS)}")
        merged = {key: raw.get(key, check.get(key)) for key in _OPERAND_KEYS}
        if merged["row"] == _ROW_PLACEHOLDER:
            merged["row"] = row
        for key, value in merged.items():
            if not isinstance(value, str) or not value:
                raise self.fail(where, f"needs {key!r} (in the operand or at the check's level)")
        operand = Operand(**merged)
        self.names(operand.table, operand.setting, [operand.row], operand.metric, where)
        return operand

    def names(self, table: str, setting: str, rows: list[str], metric: str, where: str) -> None:
        if table not in self.paper.tables:
            raise self.fail(where, f"unknown table {table!r}; tables are: {', '.join(self.paper.tables)}")
        if setting not in SETTINGS:
            raise self.fail(where, f"unknown setting {setting!r}; expected one of: {', '.join(SETTINGS)}")
        for row in rows:
            if row not in self.paper.table(table).rows:
                raise self.fail(where, f"table {table!r} has no row {row!r}; rows are: {', '.join(self.paper.rows(table))}")
        metrics = known_metrics(self.paper, table)
        if metric not in metrics:
            raise self.fail(where, f"unknown metric {metric!r} for {table}; known: {', '.join(metrics)}")

    def monotone(self, body: Mapping, where: str, scales: tuple[str, ...]) -> Monotone:
        def row_list(rows: Any, at: str) -> tuple[str, ...]:
            if not isinstance(rows, list) or len(rows) < 2 or not all(isinstance(row, str) for row in rows):
                raise self.fail(at, f"expected a list of at least two row names, got {rows!r}")
            self.names(body["table"], body["setting"], rows, body["metric"], where)
            return tuple(rows)

        for key in ("table", "setting", "metric"):
            if not isinstance(body[key], str):
                raise self.fail(f"{where}.{key}", f"expected a name, got {body[key]!r}")
        if isinstance(body["rows"], Mapping):  # {scale: rows}: one list for every scale the claim is evaluated at
            unknown = [key for key in body["rows"] if key not in scales]
            absent = [scale for scale in scales if scale not in body["rows"]]
            if unknown or absent:
                raise self.fail(f"{where}.rows", f"per-scale rows need exactly the claim's scales {list(scales)}, "
                                                 f"got {list(body['rows'])}")
            rows = {key: row_list(value, f"{where}.rows.{key}") for key, value in body["rows"].items()}
        else:
            rows = row_list(body["rows"], f"{where}.rows")
        if body["direction"] not in ("increasing", "decreasing"):
            raise self.fail(f"{where}.direction", f"expected 'increasing' or 'decreasing', got {body['direction']!r}")
        max_step = body.get("max_step")
        return Monotone(
            table=body["table"], setting=body["setting"], metric=body["metric"], rows=rows,
            direction=body["direction"],
            strict=self.param(body.get("strict", False), f"{where}.strict", scales, boolean=True),
            slack=self.param(body.get("slack", 0.0), f"{where}.slack", scales, non_negative=True),
            max_step=None if max_step is None else self.param(max_step, f"{where}.max_step", scales, non_negative=True),
        )

    def param(self, value: Any, where: str, scales: tuple[str, ...], boolean: bool = False,
              non_negative: bool = False) -> Param:
        if isinstance(value, Mapping):
            unknown = [key for key in value if key not in SCALES]
            if unknown:
                raise self.fail(where, f"unknown scale(s) {unknown}; expected keys drawn from {list(SCALES)}")
            absent = [scale for scale in scales if scale not in value]
            if absent:
                raise self.fail(where, f"no value for scale(s) {absent}, where the claim applies")
            return {key: self.scalar(item, f"{where}.{key}", boolean, non_negative) for key, item in value.items()}
        return self.scalar(value, where, boolean, non_negative)

    def scalar(self, value: Any, where: str, boolean: bool, non_negative: bool) -> Any:
        if boolean:
            if not isinstance(value, bool):
                raise self.fail(where, f"expected true or false, got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(where, f"expected a number, got {value!r}")
        if non_negative and value < 0:
            raise self.fail(where, f"must not be negative, got {value!r}")
        return float(value)


# --- claims: evaluation -----------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    scale: str | None
    status: str
    observed: str  # the reproduced values the claim read
    expectation: str
    message: str


def evaluate_claim(claim: Claim, results: Mapping[str, ResultsTable], paper: PaperTables | None = None) -> ClaimResult:
    """Evaluate one claim on the results read (see the module docstring for the statuses)."""
    def result(status: str, message: str, scale: str | None = None, observed: str = "") -> ClaimResult:
        if scale in claim.shown_at and status in ("pass", "fail"):
            message = f"would {status} (shown at {scale}, not gated): {message}"
            status = "shown"
        elif scale in claim.known_failures and status == "fail":
            message = f"{claim.known_failures[scale]} This run: {message}"  # the status says "known fail"
            status = "known fail"
        elif scale in claim.known_failures and status == "pass":
            message = (f"{message} (passes although config/claims.yaml lists it as a known failure at {scale}: "
                       f"remove that entry)")
        return ClaimResult(claim, scale, status, observed, claim.expectation(scale), message)

    tables = [results[name] for name in claim.tables()]
    for table in tables:
        if table.status == "missing":
            return result("missing", table.message)
    for table in tables:
        if table.status == "error":
            return result("error", table.message)
    for table in tables:
        if len(table.scales) > 1:
            return result("error", f"{table.path} holds several scales ({', '.join(table.scales)}): "
                                   f"compare one at a time (--scale)")
    scales = {table.name: table.scales[0] for table in tables}
    if len(set(scales.values())) > 1:
        return result("n/a", "operands at different scales: " +
                      ", ".join(f"{name} at {scale}" for name, scale in scales.items()))
    scale = next(iter(scales.values()))
    if scale not in claim.scales + claim.shown_at:
        return result("n/a", f"applies at {', '.join(claim.scales)}; results at {scale}", scale)

    def get(operand: Operand) -> float:
        table = results[operand.table]
        line = table.find(operand.setting, operand.row, operand.metric)
        name = f"{operand.setting}/{operand.row}/{operand.metric}"
        if line is None:
            raise _ClaimMissing(f"{table.path} has no line {name}")
        if not line.value.is_numeric:
            raise _ClaimError(f"{table.path}: {name} is {line.value.text!r}, not a number")
        if line.value.mean is None:
            raise _ClaimMissing(f"{table.path}: {name} has no reproduced value")
        return line.value.mean

    outcomes = []
    try:
        for check in claim.checks:
            outcomes.append(check.evaluate(get, scale))
    except _ClaimMissing as error:
        return result("missing", str(error), scale, _observed(claim, results, paper, scale))
    except _ClaimError as error:
        return result("error", str(error), scale, _observed(claim, results, paper, scale))
    observed = _observed(claim, results, paper, scale)
    failed = [detail for passed, detail in outcomes if not passed]
    if failed:
        return result("fail", "; ".join(dict.fromkeys(failed)), scale, observed)
    return result("pass", "; ".join(dict.fromkeys(detail for _, detail in outcomes)), scale, observed)


def _observed(claim: Claim, results: Mapping[str, ResultsTable], paper: PaperTables | None, scale: str) -> str:
    shown = []
    for operand in claim.operands(scale):
        table = results.get(operand.table)
        line = table.find(operand.setting, operand.row, operand.metric) if table else None
        if line is not None:
            # Say which reproduced row a paper row resolved to, when the names differ (Table 2).
            label = operand.label if line.row == operand.row else f"{operand.label} [{line.row}]"
            shown.append(f"{label} {line.value.show(_printed_for(paper, operand))}")
    return "; ".join(shown)


def _printed_for(paper: PaperTables | None, operand: Operand) -> str | None:
    """The paper's printed form of the same table/row/metric, to format a value like it."""
    if paper is None:
        return None
    try:
        return paper.cell(operand.table, operand.row, operand.metric).printed
    except UnknownKeyError:
        return None


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
        return (f"Claims: {counts(self.claim_counts)}. Cells: {counts(self.cell_counts, cell_statuses)}. "
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
                            scale=result.scale or "", reproduced_text=result.observed,
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
    if cell.rule == "exact" and cell.tolerance.amount == 0:
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
    decimals, suffix, unit = _display_format(check.delta, cell.printed)
    decimals = max(decimals, _display_format(mean, cell.printed)[0])
    return ("-" if check.delta < 0 else "+") + _format(abs(check.delta), decimals, suffix, unit)


# --- number formatting ------------------------------------------------------------------------


def _display_format(value: float, printed: str | None) -> tuple[int, str, float]:
    """Decimals, suffix and unit to show ``value``: like the paper's printed cell, with more
    decimals where that would hide the value: at least three significant digits for counts in
    millions (0.571M, not 0.6M, for a smoke model's weights), two for other non-integer cells
    (0.0065, not 0.0); integer cells stay integers (46 units)."""
    if printed is None:
        return -1, "", 1.0
    _, decimals, suffix = parse_printed(printed)
    unit = SUFFIX_UNITS[suffix]
    scaled = abs(value) / unit
    if (decimals or suffix) and scaled > 0 and math.isfinite(scaled):
        integer_digits = math.floor(math.log10(scaled)) + 1
        decimals = max(decimals, (3 if suffix == "M" else 2) - integer_digits)
    return decimals, suffix, unit


def _format(value: float, decimals: int, suffix: str, unit: float) -> str:
    if decimals < 0:
        return _num(value)
    return format_number(value, decimals, suffix, unit)


def _num(value: Any) -> str:
    """A number without a paper cell to format it like: 73.42, 7.477, 571120, 0.0065."""
    if value is None:
        return MISSING
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if abs(value) < 1:
        return f"{value:.3g}"
    integer_digits = math.floor(math.log10(abs(value))) + 1
    return f"{value:.{max(1, 4 - integer_digits)}f}".rstrip("0").rstrip(".")


# --- entry point ------------------------------------------------------------------------------


def _csv_text(records: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({key: ("" if value is None else value) for key, value in record.items()})
    return buffer.getvalue()


def run(results_dir: str | Path, reports_dir: str | Path, scale: str | None = None, *,
        claims_path: str | Path | None = None, paper_path: str | Path | None = None) -> int:
    """Compare, write ``reports/comparison.md`` and ``results/comparison.csv`` (atomically), print
    the summary; 0 when nothing applicable failed, 1 otherwise, 2 for an invalid paper or claims
    file (with a message, no traceback)."""
    if scale is not None and scale not in SCALES:
        print(f"iss compare: error: unknown scale {scale!r}: expected one of {', '.join(SCALES)}", file=sys.stderr)
        return 2
    try:
        paper = load_paper_tables(paper_path)
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
