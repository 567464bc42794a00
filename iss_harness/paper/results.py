"""Reproduced results as the comparison reads them: ``results/<table>.csv``, one tidy line per
(scale, setting, row, metric), and the numbers formatted like the paper's printed cells.
(The file format is described in ``iss_harness.paper.compare``.)
"""
from __future__ import annotations

import csv
import io
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from iss_harness.paper.tables import SCALES, PaperCell, PaperTables
from iss_harness.render import SUFFIX_UNITS, format_number, parse_printed
from iss_harness.render import MISSING

SETTINGS = ("this_run", "paper_sizes")
REQUIRED_COLUMNS = ("scale", "setting", "row", "metric", "reproduced")

# Result metrics that are not paper columns (a paper column's key is always a valid metric name);
# claims may name these or paper column keys. Table 1: iss_harness/tables/table1/report.py. Tables 2 and 3:
# their report steps are expected to name metrics after the paper columns (width,
# perplexity_valid, parameters; em, f1, weights, ...).
EXTRA_METRICS = {
    "table1": ("keep_prob", "lambda", "mult_add_reduction_gemm", "fastest_path"),
    "table2": ("trained_width", "mult_add_reduction", "mult_add_reduction_gemm", "total_time_ms", "speedup",
               "fastest_path"),  # iss_harness/tables/table2/experiment.py's metrics.json and timing (its report step is not written yet)
    "table3": ("lambda", "speedup", "weights_exact", "em_before_shrink", "f1_before_shrink",
               "shrink_max_abs_logprob_error", "iss_variant"),  # iss_harness/tables/table3/report.py
}


def known_metrics(paper: PaperTables, table: str) -> tuple[str, ...]:
    """Metric names a results file of ``table`` may carry: paper columns, known extras and the
    metrics its cells file lists."""
    return tuple(paper.columns(table)) + tuple(EXTRA_METRICS.get(table, ())) + paper.table(table).metrics


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
        decimals, suffix, unit = display_format(mean, printed)
        shown = format_like(mean, decimals, suffix, unit)
        if len(self.raw) > 1:
            sd = self.sd
            spread = format_like(sd, decimals, suffix, unit) if sd is not None else MISSING
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


# --- number formatting ------------------------------------------------------------------------


def display_format(value: float, printed: str | None) -> tuple[int, str, float]:
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


def format_like(value: float, decimals: int, suffix: str, unit: float) -> str:
    if decimals < 0:
        return plain_number(value)
    return format_number(value, decimals, suffix, unit)


def plain_number(value: Any) -> str:
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

