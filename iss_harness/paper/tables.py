"""The paper's published tables (``config/paper_tables.yaml``): loading, validation, checks.

Reports never type a paper number by hand: they read it from here, together with where it is
printed in the paper and how a reproduced number is judged against it (``PaperCell.check``).
The YAML file's header explains the tolerances; this module only enforces its structure.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping


from iss_harness.render import format_like, parse_printed
from iss_harness.config import key_path, read_yaml, schema_errors

SCALES = ("smoke", "mid", "paper")
RULES = ("exact", "lower_is_better", "higher_is_better", "match", "ratio", "identity")
TOLERANCE_KINDS = ("abs", "rel", "factor")
# "identity": a cell that holds by construction (the baseline's speedup over itself, a size that is
# an input of the model): checked exactly, shown, but never counted as a pass, since it cannot fail
# unless the bookkeeping breaks (then it is a "fail").
STATUSES = ("pass", "fail", "identity", "n/a")

DEFAULT_PATH = Path("config") / "paper_tables.yaml"
SCHEMA_PATH = Path("workflow") / "schemas" / "paper_tables.schema.yaml"



class PaperTablesError(ValueError):
    """The paper tables file is missing, unreadable or not shaped as expected."""


class UnknownKeyError(KeyError):
    """Asked for a table, row or column that the paper tables do not have."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0])


# Numbers as the paper prints them (format_number, parse_printed, format_like): iss_harness.render.


# --- cells and checks -------------------------------------------------------------------------


@dataclass(frozen=True)
class Tolerance:
    """How far a reproduced number may be from the paper's: ``kind`` is abs, rel or factor."""

    kind: str
    amount: float

    def allowed(self, paper_value: float) -> float:
        """The allowed absolute distance (abs and rel only)."""
        if self.kind == "abs":
            return self.amount
        if self.kind == "rel":
            return self.amount * abs(paper_value)
        raise ValueError(f"tolerance kind {self.kind!r} has no absolute distance")

    def __str__(self) -> str:
        if self.kind == "abs":
            return f"±{self.amount:g}"
        if self.kind == "rel":
            return f"±{self.amount * 100:g}%"
        return f"within ×/÷{self.amount:g}"


@dataclass(frozen=True)
class CheckResult:
    status: str  # "pass", "fail", "identity" or "n/a"
    delta: float | None  # reproduced - paper, in base units; None when not checked
    message: str


@dataclass(frozen=True)
class PaperCell:
    value: float
    printed: str
    source: str
    rule: str
    tolerance: Tolerance
    scales: tuple[str, ...]
    note: str = ""
    key: str = ""  # "table1/iss_a/weights", for messages

    def check(self, reproduced: float | None, scale: str) -> CheckResult:
        """Judge ``reproduced`` (base units) against this cell with its rule, at ``scale``."""
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}: expected one of {', '.join(SCALES)}")
        where = f"{self.key}: " if self.key else ""
        if scale not in self.scales:
            return CheckResult("n/a", None, f"{where}not checked at scale {scale!r} "
                                            f"(applies at {', '.join(self.scales)})")
        if reproduced is None or (isinstance(reproduced, float) and math.isnan(reproduced)):
            return CheckResult("n/a", None, f"{where}no reproduced value")

        reproduced = float(reproduced)
        delta = reproduced - self.value
        shown = format_like(reproduced, self.printed)
        passed, why = getattr(self, f"_check_{self.rule}")(reproduced, shown)
        status = ("identity" if self.rule == "identity" else "pass") if passed else "fail"
        return CheckResult(status, delta, f"{where}{status}: reproduced {shown} vs paper "
                                          f"{self.printed} ({self.rule}: {why})")

    def _check_exact(self, reproduced: float, shown: str) -> tuple[bool, str]:
        if shown == self.printed:
            return True, "same at the printed precision"
        if abs(reproduced - self.value) <= self.tolerance.allowed(self.value):
            return True, f"differs at the printed precision but within {self.tolerance}"
        return False, "differs at the printed precision"

    def _check_identity(self, reproduced: float, shown: str) -> tuple[bool, str]:
        passed, why = self._check_exact(reproduced, shown)
        return passed, f"holds by construction; {why}"

    def _check_lower_is_better(self, reproduced: float, shown: str) -> tuple[bool, str]:
        allowed = self.tolerance.allowed(self.value)
        limit = self.value + allowed
        return reproduced <= limit, f"must be at most {limit:g} = paper + {allowed:g}"

    def _check_higher_is_better(self, reproduced: float, shown: str) -> tuple[bool, str]:
        allowed = self.tolerance.allowed(self.value)
        limit = self.value - allowed
        return reproduced >= limit, f"must be at least {limit:g} = paper - {allowed:g}"

    def _check_match(self, reproduced: float, shown: str) -> tuple[bool, str]:
        allowed = self.tolerance.allowed(self.value)
        return abs(reproduced - self.value) <= allowed, f"must be within {self.tolerance} of the paper"

    def _check_ratio(self, reproduced: float, shown: str) -> tuple[bool, str]:
        factor = self.tolerance.amount
        ratio = reproduced / self.value
        return 1.0 / factor <= ratio <= factor, f"reproduced/paper = {ratio:.3g}, must lie in [{1 / factor:.3g}, {factor:g}]"


@dataclass(frozen=True)
class PaperRow:
    name: str
    label: str  # as printed in the method column ("ISS*", "direct design")
    cells: dict[str, PaperCell]
    note: str = ""


@dataclass(frozen=True)
class PaperTable:
    name: str
    title: str
    footnotes: tuple[str, ...]
    columns: dict[str, str]  # column key -> header as printed, in the paper's order
    rows: dict[str, PaperRow]  # in the paper's order
    note: str = ""
    metrics: tuple[str, ...] = ()  # result metrics claims may name besides the columns


@dataclass(frozen=True)
class PaperTables:
    path: Path
    tables: dict[str, PaperTable] = field(default_factory=dict)

    def table(self, table: str) -> PaperTable:
        if table not in self.tables:
            raise UnknownKeyError(f"{self.path}: no table {table!r}; tables are: {', '.join(self.tables)}")
        return self.tables[table]

    def rows(self, table: str) -> list[str]:
        return list(self.table(table).rows)

    def columns(self, table: str) -> list[str]:
        return list(self.table(table).columns)

    def row(self, table: str, row: str) -> PaperRow:
        rows = self.table(table).rows
        if row not in rows:
            raise UnknownKeyError(f"{self.path}: table {table!r} has no row {row!r}; rows are: {', '.join(rows)}")
        return rows[row]

    def cell(self, table: str, row: str, column: str) -> PaperCell:
        cells = self.row(table, row).cells
        if column not in cells:
            raise UnknownKeyError(f"{self.path}: table {table!r} has no column {column!r}; "
                                  f"columns are: {', '.join(cells)}")
        return cells[column]


# --- loading and validation -------------------------------------------------------------------


def load_paper_tables(path: str | Path | None = None, extra: list[str | Path] = ()) -> PaperTables:
    """Read and validate the paper tables file (default: ``config/paper_tables.yaml``): its shape
    against ``workflow/schemas/paper_tables.schema.yaml``, then what a schema cannot say.
    ``extra``: the cells files of tables added beside the paper's (a table package's ``paper``
    file, same format), merged in; a table named twice is an error naming both files."""
    path = Path(path) if path is not None else DEFAULT_PATH
    merged = _read_tables(path)
    for other in map(Path, extra):
        more = _read_tables(other)
        clash = sorted(set(more.tables) & set(merged.tables))
        if clash:
            raise PaperTablesError(f"{other}: table {clash[0]!r} is already in {path}")
        merged.tables.update(more.tables)
    return merged


def _read_tables(path: Path) -> PaperTables:
    data = read_yaml(path, PaperTablesError, "paper tables file")
    errors = schema_errors(data, SCHEMA_PATH)
    if errors:
        raise PaperTablesError(f"{path}: " + "; ".join(f"{key_path(where)}: {message}" for where, message in errors))
    return _Builder(path).tables(data)


class _Builder:
    """Turns the schema-valid YAML into dataclasses, checking what the schema cannot; every error
    names the file and the key path."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, where: str, problem: str) -> PaperTablesError:
        return PaperTablesError(f"{self.path}: {where}: {problem}")

    def tables(self, data: Mapping) -> PaperTables:
        return PaperTables(self.path, {str(name): self.table(str(name), body) for name, body in data["tables"].items()})

    def table(self, name: str, body: Mapping) -> PaperTable:
        columns = {str(key): header for key, header in body["columns"].items()}
        if not columns and not body.get("metrics"):
            raise self.fail(f"tables.{name}", "no columns and no metrics: a table with no printed cells must "
                                              "list the metrics its claims read (metrics: [...])")
        return PaperTable(
            name=name, title=body["title"], footnotes=tuple(body["footnotes"]), columns=columns,
            rows={str(row): self.row(name, str(row), row_body, columns) for row, row_body in body["rows"].items()},
            note=body.get("note", ""), metrics=tuple(body.get("metrics", ())),
        )

    def row(self, table: str, name: str, body: Mapping, columns: dict[str, str]) -> PaperRow:
        where = f"tables.{table}.rows.{name}"
        cells = body["cells"]
        unknown = [str(column) for column in cells if column not in columns]
        if unknown:
            raise self.fail(f"{where}.cells", f"unknown column(s) {unknown}; the table's columns are: {list(columns)}")
        missing = [column for column in columns if column not in cells]
        if missing:
            raise self.fail(f"{where}.cells", f"missing column(s) {missing}: every printed cell must be recorded")
        return PaperRow(
            name=name, label=body["label"],
            cells={column: self.cell(f"{where}.cells.{column}", f"{table}/{name}/{column}", cells[column])
                   for column in columns},
            note=body.get("note", ""),
        )

    def cell(self, where: str, key: str, body: Mapping) -> PaperCell:
        value, printed, rule = float(body["value"]), body["printed"], body["rule"]
        try:
            printed_value, _, _ = parse_printed(printed)
        except ValueError as error:
            raise self.fail(f"{where}.printed", str(error)) from None
        if not math.isclose(value, printed_value, rel_tol=1e-9, abs_tol=1e-12):
            raise self.fail(f"{where}.value", f"{body['value']!r} does not match printed {printed!r} "
                                              f"(which is {printed_value:g} in base units)")
        kind, amount = next(iter(body["tolerance"].items()))
        if (kind == "factor") != (rule == "ratio"):
            raise self.fail(f"{where}.tolerance", f"rule {rule!r} with tolerance {kind!r}: 'ratio' takes "
                                                  f"{{factor: f}} and only 'ratio' does")
        if rule == "ratio" and value == 0:
            raise self.fail(f"{where}.rule", "rule 'ratio' needs a non-zero paper value")
        return PaperCell(value=value, printed=printed, source=body["source"], rule=rule,
                         tolerance=Tolerance(kind, float(amount)), scales=tuple(body["scales"]),
                         note=body.get("note", ""), key=key)


def paired_paper_rows(rows: list[str], paper_rows: list[str]) -> dict[str, str | None]:
    """{row of this run: the paper's row or None}: the baseline with the baseline, the k-th ISS row
    of this run (ordered by lambda) with the paper's k-th ISS row; extra rows have no partner."""
    ours = [r for r in rows if r != "baseline"]
    theirs = [r for r in paper_rows if r != "baseline"]
    pairs = {"baseline": "baseline"}
    pairs.update({row: theirs[i] if i < len(theirs) else None for i, row in enumerate(ours)})
    return pairs
