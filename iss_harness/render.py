"""Rendering result tables: reproduced numbers beside the paper's, as Markdown or LaTeX.

The callers build a ``pandas.DataFrame`` of display strings (see ``format_pair`` and the
``fmt_*`` helpers, which write numbers the way the paper prints them); this module only lays
it out. Nothing here knows about particular tables.
"""
from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
from tabulate import tabulate


MISSING = "–"  # shown where a number was not (or not yet) reproduced


# --- numbers as the paper prints them -------------------------------------------------------

# A printed cell: a number, its decimals fixing the precision, and an optional unit suffix.
_PRINTED = re.compile(r"^(?P<number>-?\d+(?:\.(?P<decimals>\d+))?)(?P<suffix>M|×|ms)?$")
# How many base units one printed unit is (66.0M -> 66.0e6 weights; ms stay ms).
SUFFIX_UNITS = {"": 1.0, "M": 1e6, "×": 1.0, "ms": 1.0}


def format_number(value: float, decimals: int, suffix: str = "", unit: float = 1.0) -> str:
    """``value / unit`` rounded half-up to ``decimals`` places, then ``suffix``.

    Half-up on the decimal representation, as a person rounding a printed table would
    (Python's round() is half-even on the binary value: round(0.125, 2) == 0.12).
    """
    scaled = Decimal(repr(float(value) / unit))
    quantum = Decimal(1).scaleb(-decimals)
    rounded = scaled.quantize(quantum, rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = abs(rounded)  # never print "-0.0"
    return f"{rounded}{suffix}"


def parse_printed(printed: str) -> tuple[float, int, str]:
    """``"21.8M"`` -> (21.8e6, 1, "M"): the value in base units, decimals and suffix."""
    match = _PRINTED.match(printed)
    if match is None:
        raise ValueError(
            f"cannot read printed cell {printed!r}: expected a number with an optional "
            f"suffix {sorted(s for s in SUFFIX_UNITS if s)}, e.g. '66.0M', '7.48×', '14.82ms'"
        )
    suffix = match["suffix"] or ""
    decimals = len(match["decimals"] or "")
    return float(match["number"]) * SUFFIX_UNITS[suffix], decimals, suffix


def format_like(value: float, printed: str) -> str:
    """Format ``value`` (base units) the way ``printed`` is written: 21824148, "21.8M" -> "21.8M"."""
    _, decimals, suffix = parse_printed(printed)
    return format_number(value, decimals, suffix, SUFFIX_UNITS[suffix])


# --- numbers like the paper prints them ------------------------------------------------------


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_millions(count: float | None, decimals: int = 1) -> str:
    """21824148 -> "21.8M" (weight and parameter counts)."""
    return MISSING if _is_missing(count) else format_number(count, decimals, "M", 1e6)


def fmt_ratio(ratio: float | None, decimals: int = 2) -> str:
    """7.4767 -> "7.48×" (speedups, mult-add reductions)."""
    return MISSING if _is_missing(ratio) else format_number(ratio, decimals, "×")


def fmt_ms(milliseconds: float | None, decimals: int = 2) -> str:
    """14.82 -> "14.82ms" (latencies)."""
    return MISSING if _is_missing(milliseconds) else format_number(milliseconds, decimals, "ms")


def fmt_fixed(value: float | None, decimals: int = 2) -> str:
    """81.234 -> "81.23" (perplexity, EM, F1; decimals as the paper's column)."""
    return MISSING if _is_missing(value) else format_number(value, decimals)


def format_pair(reproduced: str, paper: str) -> str:
    """Reproduced value first, the paper's in parentheses: "81.2 (82.57)"."""
    return f"{reproduced} ({paper})"


# --- layout ---------------------------------------------------------------------------------


def _text(value) -> str:
    return MISSING if _is_missing(value) else str(value)


def _header_and_body(df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Strings for the header and each row; the index becomes a first column unless it is
    the default 0..n-1 numbering (which carries no information)."""
    show_index = not (isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1)
    header = [_text(column) for column in df.columns]
    body = [[_text(value) for value in row] for row in df.itertuples(index=False, name=None)]
    if show_index:
        header = [_text(df.index.name) if df.index.name is not None else ""] + header
        body = [[_text(index)] + row for index, row in zip(df.index, body)]
    return header, body


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|")  # a bare pipe would split the cell


def _markdown_paragraph(text: str) -> str:
    # The paper's footnotes start with "*", which Markdown would turn into a bullet.
    return "\\" + text if text.startswith(("*", "+", "-", "#")) else text


def render_markdown(df: pd.DataFrame, banner: list[str], footnotes: list[str]) -> str:
    """Banner as a blockquote, the table (GitHub style), footnotes below. No title line."""
    header, body = _header_and_body(df)
    parts = []
    if banner:
        parts.append("\n>\n".join(f"> {line}" for line in banner))
    parts.append(tabulate(
        [[_markdown_cell(cell) for cell in row] for row in body],
        headers=[_markdown_cell(cell) for cell in header],
        tablefmt="github",
        disable_numparse=True,  # keep "0.60", "1.00×" exactly as formatted
    ))
    parts.extend(_markdown_paragraph(note) for note in footnotes)
    return "\n\n".join(parts) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    # Characters of the paper's tables that pdflatex's default fonts do not have.
    "×": r"$\times$",
    "†": r"$\dagger$",
    "‡": r"$\ddagger$",
    "λ": r"$\lambda$",
    "±": r"$\pm$",
    "≈": r"$\approx$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "–": "--",
    "—": "---",
}


def latex_escape(text: str) -> str:
    """Plain text -> LaTeX source that prints the same characters."""
    return "".join(_LATEX_SPECIAL.get(char, char) for char in str(text))


def render_latex(df: pd.DataFrame, caption: str, label: str, banner: list[str], footnotes: list[str]) -> str:
    """A complete ``table`` environment with booktabs rules (needs ``\\usepackage{booktabs}``)."""
    header, body = _header_and_body(df)
    alignment = "l" + "r" * (len(header) - 1)  # first column names the row, the rest are numbers
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{latex_escape(caption)}}}",
        rf"\label{{{label}}}",
    ]
    if banner:
        lines.append(r"{\small " + r" \\ ".join(latex_escape(line) for line in banner) + r"\par}")
        lines.append(r"\medskip")
    lines += [
        rf"\begin{{tabular}}{{{alignment}}}",
        r"\toprule",
        " & ".join(latex_escape(cell) for cell in header) + r" \\",
        r"\midrule",
        *(" & ".join(latex_escape(cell) for cell in row) + r" \\" for row in body),
        r"\bottomrule",
        r"\end{tabular}",
    ]
    if footnotes:
        lines.append(r"\par\smallskip")
        lines += [r"{\footnotesize " + latex_escape(note) + r"\par}" for note in footnotes]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def fmt_mean_sd(values, decimals: int = 2) -> str:
    """One seed: "68.12"; several: "68.12 ± 0.31 (n=3)" (sample standard deviation)."""
    values = [v for v in values if not _is_missing(v)]
    if not values:
        return MISSING
    if len(values) == 1:
        return fmt_fixed(values[0], decimals)
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{fmt_fixed(mean, decimals)} ± {fmt_fixed(sd, decimals)} (n={len(values)})"
