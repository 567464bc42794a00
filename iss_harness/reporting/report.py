"""The one page a reader opens first: ``reports/<scale>/report.md`` and ``report.tex``.

``build(config, results, reports)`` gathers what exists, never what it wishes existed:

* first, a reproducibility summary (``iss_harness.reporting.summary``): the claims tested and the
  tables run (each table's scale, read from ``results/<table>.csv``), the methodology (training
  budget, hardware, seeds, wall time per table), the verdict on each claim, what was easy and what
  was difficult; then an introduction (what ISS is, what the tables are);
* every table of the paper file (``config/paper_tables.yaml``: table1, table2, table3, ...) whose
  ``reports/<table>.md`` / ``.tex`` exists, included as written by that table's report step (a
  table not built yet is named with the command that builds it). Adding a table to the report is
  adding it to the paper file; no code here knows a particular table;
* the comparison summary from ``results/comparison.csv`` (counts per status, the failing and the
  notable lines; ``reports/comparison.md`` has every line);
* the figures of ``reports/figures/`` (the ones listed in ``FIGURES`` first, with their captions,
  then any other), linked relatively so the page renders where it lies;
* the measured speedup-vs-sparsity numbers (``results/<scale>/sparsity_speed.json``) when present;
* the provenance of every results file (``results/<scale>/**/{metrics,timing_*,sparsity_speed}.json``):
  scale, device, threads, git SHA, config hash, seed, wall time, library versions; and the wall
  time of each table's jobs together (``wall_totals``).

The modules, each importing only those above it (no import circle): ``report_sources`` reads the
files (sections, comparison, figures, provenance, wall times); ``summary`` writes the opening from
them; ``report_page`` holds the title and introduction and ``gather`` (``Gathered``: all of it, read
once); ``report_markdown`` and ``report_latex`` render a ``Gathered``; this module's ``build`` gathers,
renders and writes.

``report.tex`` is a standalone LaTeX document (article, booktabs, graphicx, longtable) with the
tables inlined from ``reports/<table>.tex`` and the PDF figures; it compiles with pdflatex
(``report_latex.compile_pdf``). Unicode in the generated text is mapped in two places: ``tex_text`` escapes
text written here, and the preamble declares the characters the tables use (λ, ×, ±, †, →, ...)
so pdflatex accepts them wherever they come from; any other non-Latin-1 character is replaced
before it reaches LaTeX.
"""
from __future__ import annotations

from pathlib import Path

from iss_harness.io import write_text_atomic
from iss_harness.reporting.report_latex import render_latex_report
from iss_harness.reporting.report_markdown import render_markdown_report
from iss_harness.reporting.report_page import gather


def build(config: dict, results: Path, reports: Path, paper_path: Path | None = None,
          claims_path: Path | None = None) -> list[Path]:
    """Write reports/report.md and reports/report.tex; return their paths."""
    reports = Path(reports)
    markdown = reports / "report.md"
    latex = reports / "report.tex"
    gathered = gather(config, results, reports, paper_path, claims_path)
    write_text_atomic(markdown, render_markdown_report(gathered))
    write_text_atomic(latex, render_latex_report(gathered))
    return [markdown, latex]
