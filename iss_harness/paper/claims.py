"""The paper's claims (``config/claims.yaml``): their vocabulary, loading and validation, and
their evaluation on the results read. The header of ``config/claims.yaml`` describes the
language; ``iss_harness.paper.compare`` runs the claims beside the cell checks.

About 490 lines for one language: its three kinds of check with the sentences they report
(about 200), the checks a schema cannot make (names against the paper file, ``$row``, per-scale
values; about 150; the shape is ``workflow/schemas/claims.schema.yaml``), and the evaluation.
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping


from iss_harness.config import key_path, read_yaml, schema_errors
from iss_harness.paper.tables import PaperTables, UnknownKeyError, load_paper_tables
from iss_harness.paper.results import SETTINGS, Line, ResultsTable, known_metrics, plain_number

DEFAULT_CLAIMS_PATH = Path("config") / "claims.yaml"
SCHEMA_PATH = Path("workflow") / "schemas" / "claims.schema.yaml"


class ClaimsError(ValueError):
    """The claims file is missing, unreadable or not shaped as expected."""


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
        return "(" + ", ".join(f"{plain_number(value)} at {key}" for key, value in param.items()) + ")"
    value = _at(param, scale) if scale is not None else param
    return str(value).lower() if isinstance(value, bool) else plain_number(value)


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
        shown = plain_number(right)
        if factor != 1.0:
            shown = f"{plain_number(factor)} × {shown}"
        if offset != 0.0:
            shown = f"{shown} + {plain_number(offset)}"
        if factor != 1.0 or offset != 0.0:
            shown = f"{shown} = {plain_number(bound)}"
        return passed, f"{self.left.label} {plain_number(left)} {_OPS[self.op][1]} {shown}"


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
        return left >= bound, f"{self.left.label} {plain_number(left)} ≥ {plain_number(fraction)} × {plain_number(of)} = {plain_number(bound)}"


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
                broken.append(f"{row_a} {plain_number(a)} -> {row_b} {plain_number(b)} is not {self.direction}")
            elif max_step is not None and step > float(max_step):
                broken.append(f"{row_a} {plain_number(a)} -> {row_b} {plain_number(b)} is a step of {plain_number(step)} > {plain_number(max_step)}")
        shown = ", ".join(f"{row} {plain_number(value)}" for row, value in zip(rows, values))
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

def load_claims(path: str | Path | None = None, paper: PaperTables | None = None) -> list[Claim]:
    """Read and validate the claims file (default ``config/claims.yaml``): its shape against
    ``workflow/schemas/claims.schema.yaml``, then that every table, row and metric a claim names
    exists in the paper file (``paper``, default: loaded), and the rest a schema cannot say."""
    path = Path(path) if path is not None else DEFAULT_CLAIMS_PATH
    paper = paper if paper is not None else load_paper_tables()
    data = read_yaml(path, ClaimsError, "claims file")
    errors = schema_errors(data, SCHEMA_PATH)
    if errors:
        raise ClaimsError(f"{path}: " + "; ".join(f"{_where(data, where)}: {message}" for where, message in errors))
    return _ClaimsBuilder(path, paper).claims(data)


def _where(data: Any, path: tuple) -> str:
    """A key path that names the claim by its id where it has one: claim 'x'.check.left."""
    if len(path) >= 2 and path[0] == "claims" and isinstance(data, Mapping):
        items = data.get("claims")
        item = items[path[1]] if isinstance(items, list) and isinstance(path[1], int) else None
        if isinstance(item, Mapping) and isinstance(item.get("id"), str):
            return f"claim {item['id']!r}" + (f".{key_path(path[2:])}" if path[2:] else "")
    return key_path(path)


class _ClaimsBuilder:
    """Turns the schema-valid YAML into claims, checking what the schema cannot; every error names
    the file, the claim and the key."""

    def __init__(self, path: Path, paper: PaperTables):
        self.path = path
        self.paper = paper

    def fail(self, where: str, problem: str) -> ClaimsError:
        return ClaimsError(f"{self.path}: {where}: {problem}")

    def claims(self, data: Mapping) -> list[Claim]:
        claims = [self.claim(body) for body in data["claims"]]
        ids = [claim.id for claim in claims]
        duplicates = sorted({claim_id for claim_id in ids if ids.count(claim_id) > 1})
        if duplicates:
            raise self.fail("claims", f"duplicate id(s) {duplicates}")
        return claims

    def claim(self, body: Mapping) -> Claim:
        where = f"claim {body['id']!r}"
        scales, shown_at = body["scales"], body.get("shown_at", [])
        if any(scale in scales for scale in shown_at):
            raise self.fail(f"{where}.shown_at", f"a scale is gated (`scales`) or shown, not both: {shown_at!r}")
        known_failures = body.get("known_failures", {})
        if any(scale not in scales for scale in known_failures):
            raise self.fail(f"{where}.known_failures", f"expected a mapping from scales listed in `scales` "
                                                       f"({scales}) to explanations, got {list(known_failures)}")
        return Claim(
            id=body["id"], statement=_one_line(body["statement"]), source=_one_line(body["source"]),
            scales=tuple(scales), margin=_one_line(body["margin"]),
            checks=tuple(self.check(body["check"], f"{where}.check", tuple(scales) + tuple(shown_at))),
            note=_one_line(body.get("note", "")), shown_at=tuple(shown_at),
            known_failures={scale: _one_line(why) for scale, why in known_failures.items()},
        )

    def check(self, body: Mapping, where: str, scales: tuple[str, ...]) -> list[Check]:
        if "all" in body:
            return [check for i, item in enumerate(body["all"])
                    for check in self.check(item, f"{where}.all[{i}]", scales)]
        if body["kind"] == "monotone":
            return [self.monotone(body, where, scales)]
        rows = body.get("for_each_row")
        sides = ("left", "right") if body["kind"] == "relation" else ("left", "of")
        uses_row = any(body[side].get("row") == _ROW_PLACEHOLDER for side in sides)
        if rows is not None and not uses_row:
            raise self.fail(f"{where}.for_each_row", f"no operand uses {_ROW_PLACEHOLDER!r}")
        if rows is None and uses_row:
            raise self.fail(where, f"an operand uses {_ROW_PLACEHOLDER!r} but the check has no for_each_row")
        checks: list[Check] = []
        for row in rows or [None]:
            operands = {side: self.operand(body[side], body, f"{where}.{side}", row) for side in sides}
            if body["kind"] == "relation":
                checks.append(Relation(operands["left"], body["op"], operands["right"],
                                       factor=self.param(body.get("factor", 1.0), f"{where}.factor", scales),
                                       offset=self.param(body.get("offset", 0.0), f"{where}.offset", scales)))
            else:
                checks.append(FractionOf(operands["left"], operands["of"],
                                         self.param(body["fraction"], f"{where}.fraction", scales)))
        return checks

    def operand(self, raw: Mapping, check: Mapping, where: str, row: str | None) -> Operand:
        merged = {key: raw.get(key, check.get(key)) for key in _OPERAND_KEYS}
        if merged["row"] == _ROW_PLACEHOLDER:
            merged["row"] = row
        for key, value in merged.items():
            if not value:
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
        def row_list(rows: list[str]) -> tuple[str, ...]:
            self.names(body["table"], body["setting"], rows, body["metric"], where)
            return tuple(rows)

        if isinstance(body["rows"], Mapping):  # {scale: rows}: one list for every scale the claim is evaluated at
            if sorted(body["rows"]) != sorted(scales):
                raise self.fail(f"{where}.rows", f"per-scale rows need exactly the claim's scales {list(scales)}, "
                                                 f"got {list(body['rows'])}")
            rows = {key: row_list(value) for key, value in body["rows"].items()}
        else:
            rows = row_list(body["rows"])
        max_step = body.get("max_step")
        return Monotone(
            table=body["table"], setting=body["setting"], metric=body["metric"], rows=rows,
            direction=body["direction"], strict=self.param(body.get("strict", False), f"{where}.strict", scales),
            slack=self.param(body.get("slack", 0.0), f"{where}.slack", scales),
            max_step=None if max_step is None else self.param(max_step, f"{where}.max_step", scales),
        )

    def param(self, value: Any, where: str, scales: tuple[str, ...]) -> Param:
        """A number or boolean, or one per scale (then one for every scale the claim is evaluated at)."""
        if isinstance(value, Mapping):
            absent = [scale for scale in scales if scale not in value]
            if absent:
                raise self.fail(where, f"no value for scale(s) {absent}, where the claim applies")
            return {key: _scalar(item) for key, item in value.items()}
        return _scalar(value)


_OPERAND_KEYS = ("table", "setting", "row", "metric")


def _scalar(value: Any) -> Any:
    return value if isinstance(value, bool) else float(value)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- claims: evaluation -----------------------------------------------------------------------


# How a shown claim's message opens ("would pass (shown at smoke, not gated): ..."), and its reader.
_SHOWN = "would {outcome} (shown at {scale}, not gated): "
_SHOWN_OUTCOME = re.compile(r"(would (?:pass|fail)) \(shown at ")


def shown_outcome(message: str) -> str:
    """"would pass" or "would fail" from a shown claim's message (the comparison's); "" otherwise."""
    match = _SHOWN_OUTCOME.match(message or "")
    return match[1] if match else ""


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    scale: str | None
    status: str
    observed: str  # the reproduced values the claim read
    expectation: str
    message: str
    seeds: int | None = None  # the seeds every operand was averaged over; None when they differ or none was read


def evaluate_claim(claim: Claim, results: Mapping[str, ResultsTable], paper: PaperTables | None = None) -> ClaimResult:
    """Evaluate one claim on the results read (see the module docstring for the statuses)."""
    def result(status: str, message: str, scale: str | None = None, observed: str = "") -> ClaimResult:
        if scale in claim.shown_at and status in ("pass", "fail"):
            message = f"{_SHOWN.format(outcome=status, scale=scale)}{message}"
            status = "shown"
        elif scale in claim.known_failures and status == "fail":
            message = f"{claim.known_failures[scale]} This run: {message}"  # the status says "known fail"
            status = "known fail"
        elif scale in claim.known_failures and status == "pass":
            message = (f"{message} (passes although config/claims.yaml lists it as a known failure at {scale}: "
                       f"remove that entry)")
        return ClaimResult(claim, scale, status, observed, claim.expectation(scale), message,
                           _seeds(claim, results, scale) if observed else None)

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
    for operand, line in _lines_read(claim, results, scale):
        # Say which reproduced row a paper row resolved to, when the names differ (Table 2).
        label = operand.label if line.row == operand.row else f"{operand.label} [{line.row}]"
        shown.append(f"{label} {line.value.show(printed_for(paper, operand))}")
    return "; ".join(shown)


def _seeds(claim: Claim, results: Mapping[str, ResultsTable], scale: str) -> int | None:
    """How many seeds each operand's value is the mean of, when that is one number for all of them."""
    counts = {line.value.n for _, line in _lines_read(claim, results, scale) if line.value.is_numeric}
    return counts.pop() if len(counts) == 1 else None


def _lines_read(claim: Claim, results: Mapping[str, ResultsTable], scale: str) -> list[tuple[Operand, Line]]:
    """The results line of each operand the claim reads at ``scale``, where there is one."""
    found = []
    for operand in claim.operands(scale):
        table = results.get(operand.table)
        line = table.find(operand.setting, operand.row, operand.metric) if table else None
        if line is not None:
            found.append((operand, line))
    return found


def printed_for(paper: PaperTables | None, operand: Operand) -> str | None:
    """The paper's printed form of the same table/row/metric, to format a value like it."""
    if paper is None:
        return None
    try:
        return paper.cell(operand.table, operand.row, operand.metric).printed
    except UnknownKeyError:
        return None

