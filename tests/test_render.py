"""Rendering reproduced-vs-paper tables as Markdown and LaTeX, and writing them safely."""
from __future__ import annotations

import shutil
import subprocess

import pandas as pd
import pytest

from iss_harness.render import MISSING, fmt_fixed, fmt_millions, fmt_ms, fmt_ratio, format_pair, latex_escape, render_latex, render_markdown

from iss_harness.io import write_text_atomic

BANNER = ["Scale: smoke (tiny models; trained columns are not comparable)", "Commit abc123"]
FOOTNOTES = ["* Measured with 10 batch size and 30 unrolled steps.",
             "† Defined as (original Mult-add)/(left Mult-add)"]


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "Method": ["baseline", "ISS", "direct_design"],
        "Weight #": [format_pair(fmt_millions(66_022_000), "66.0M"),
                     format_pair(fmt_millions(21_824_148), "21.8M"),
                     format_pair(fmt_millions(21_824_148), "21.8M")],
        "Mult-add reduction†": [format_pair(fmt_ratio(1.0), "1.00×"),
                                format_pair(fmt_ratio(7.4767), "7.48×"),
                                format_pair(fmt_ratio(7.4767), "7.48×")],
        "Time & share": ["100% | all", "9.4% #1", None],
    })


def test_number_formatting_like_the_paper():
    assert fmt_millions(21_824_148) == "21.8M"
    assert fmt_millions(880_000, decimals=2) == "0.88M"
    assert fmt_ratio(7.4767) == "7.48×"
    assert fmt_ratio(1) == "1.00×"
    assert fmt_ms(14.82) == "14.82ms"
    assert fmt_ms(157.0, decimals=1) == "157.0ms"
    assert fmt_fixed(82.574) == "82.57"
    assert fmt_fixed(None) == MISSING
    assert fmt_ratio(float("nan")) == MISSING
    assert format_pair("81.2", "82.57") == "81.2 (82.57)"


def test_markdown_has_banner_rows_and_footnotes(frame):
    text = render_markdown(frame, BANNER, FOOTNOTES)
    assert not text.startswith("#")
    assert text.startswith("> Scale: smoke")
    assert "> Commit abc123" in text
    table_lines = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table_lines) == 2 + len(frame)  # header, rule, one per row
    assert "| 21.8M (21.8M)" in text and "7.48× (7.48×)" in text
    assert "100% \\| all" in text  # a pipe inside a cell must not split it
    assert MISSING in table_lines[-1]
    # Footnotes follow the table; a leading "*" is escaped so it is not a bullet.
    assert text.index("\\* Measured with 10 batch size") > text.index(table_lines[-1])
    assert "† Defined as" in text


def test_markdown_shows_a_named_index(frame):
    text = render_markdown(frame.set_index("Method"), [], [])
    assert text.splitlines()[0].startswith("| Method")
    assert "| direct_design" in text


def test_latex_escapes_specials():
    assert latex_escape("50% of a_b & c #1") == r"50\% of a\_b \& c \#1"
    assert latex_escape("7.48×") == r"7.48$\times$"
    assert latex_escape("λ") == r"$\lambda$"
    assert latex_escape(r"a\b{c}") == r"a\textbackslash{}b\{c\}"


def test_latex_table_environment(frame):
    text = render_latex(frame, "PTB: reproduced (paper)", "tab:ptb", BANNER, FOOTNOTES)
    assert text.startswith(r"\begin{table}")
    assert text.rstrip().endswith(r"\end{table}")
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert text.count(rule) == 1
    assert r"\caption{PTB: reproduced (paper)}" in text and r"\label{tab:ptb}" in text
    assert r"{\small Scale: smoke" in text
    assert r"\footnotesize * Measured with 10 batch size" in text
    assert r"21.8M (21.8M)" in text and r"7.48$\times$ (7.48$\times$)" in text
    assert r"direct\_design" in text and r"Time \& share" in text and r"100\% | all" in text
    assert r"\begin{tabular}{lrrr}" in text
    assert "×" not in text and "†" not in text


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_compiles_with_pdflatex(frame, tmp_path):
    body = render_latex(frame, "PTB: reproduced (paper)", "tab:ptb", BANNER, FOOTNOTES)
    document = ("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                + body + "\\end{document}\n")
    (tmp_path / "table.tex").write_text(document, encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "table.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:]
    assert (tmp_path / "table.pdf").stat().st_size > 0


def test_write_text_atomic_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "reports" / "table1.md"
    write_text_atomic(target, "old\n")
    write_text_atomic(target, "new ×\n")
    assert target.read_text(encoding="utf-8") == "new ×\n"
    assert [path.name for path in target.parent.iterdir()] == ["table1.md"]
    assert target.stat().st_mode & 0o044  # readable by others, not mkstemp's 0600
