"""The one-page report in LaTeX (``reports/<scale>/report.tex``, standalone), from what
``iss_harness.reporting.report_page.gather`` read; and its optional PDF (pdflatex, when installed)."""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import unicodedata
from pathlib import Path


from iss_harness.paper.compare import STATUSES as COMPARISON_STATUSES
from iss_harness.render import MISSING, latex_escape
from iss_harness.reporting import summary as repro_text
from iss_harness.reporting.report_page import INTRO, TITLE, Gathered
from iss_harness.reporting.report_sources import (ProvenanceLine, WallTotal, clip, duration_text, figure_caption,
                                                  known_failure_ids, scales_text, version_key)


# ---- LaTeX ---------------------------------------------------------------------------------------

# Characters the generated text uses that pdflatex's default set-up lacks: declared in the preamble
# (so a table file that writes them raw still compiles) and kept by ``tex_text``.
UNICODE_DECLARATIONS = {
    "λ": r"\ensuremath{\lambda}", "×": r"\ensuremath{\times}", "±": r"\ensuremath{\pm}",
    "†": r"\ensuremath{\dagger}", "‡": r"\ensuremath{\ddagger}", "→": r"\ensuremath{\rightarrow}",
    "←": r"\ensuremath{\leftarrow}", "≈": r"\ensuremath{\approx}", "≤": r"\ensuremath{\leq}",
    "≥": r"\ensuremath{\geq}", "≠": r"\ensuremath{\neq}", "−": r"\ensuremath{-}", "σ": r"\ensuremath{\sigma}",
    "μ": r"\ensuremath{\mu}", "∞": r"\ensuremath{\infty}", "–": r"\textendash{}", "—": r"\textemdash{}",
    "…": r"\ldots{}", "‘": "`", "’": "'", "“": "``", "”": "''", "✓": r"\ensuremath{\checkmark}",
    "✗": r"\ensuremath{\times}", "·": r"\ensuremath{\cdot}",
}
_CHECKMARK = r"\providecommand{\checkmark}{\surd}"


def _keep_char(char: str) -> bool:
    code = ord(char)
    return code < 128 or 0xA0 <= code <= 0xFF or char in UNICODE_DECLARATIONS


def sanitize_unicode(text: str) -> str:
    """Characters pdflatex (utf8 inputenc, T1 fonts, the declarations above) cannot print are
    replaced: by their ASCII decomposition when there is one (ő -> o), else by "?"."""
    out = []
    for char in text:
        if _keep_char(char):
            out.append(char)
            continue
        ascii_form = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
        out.append(ascii_form or "?")
    return "".join(out)


def tex_text(text) -> str:
    """Plain text -> LaTeX (specials escaped, unknown Unicode replaced)."""
    return latex_escape(sanitize_unicode(str(text)))


def include_table_latex(latex: str) -> str:
    """A table file's LaTeX ready to inline: Markdown bold (from the shared banners) as \\textbf,
    each tabular shrunk to the text width when wider, unknown Unicode replaced."""
    latex = re.sub(r"\*\*([^*\n]+)\*\*", r"\\textbf{\1}", latex)
    latex = re.sub(r"\\begin\{table\}\[[^]]*\]", r"\\begin{table}[H]", latex)  # in order, on the landscape page
    latex = latex.replace(r"\begin{tabular}", r"\begin{issfit}\begin{tabular}")
    latex = latex.replace(r"\end{tabular}", r"\end{tabular}\end{issfit}")
    return sanitize_unicode(latex)


PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage[T1]{fontenc}
\usepackage[utf8]{inputenc}
\usepackage{lmodern}
\usepackage{textcomp}
\usepackage{amssymb}
\usepackage[a4paper,margin=2cm]{geometry}
\usepackage{booktabs}
\usepackage{longtable}
\usepackage{array}
\usepackage{graphicx}
\usepackage{pdflscape}
\usepackage{float}
\usepackage{caption}
%(checkmark)s
%(declarations)s
%% Tables wider than the text are scaled down to it (the generated tables have many columns).
\newsavebox{\issfitbox}
\newenvironment{issfit}{\begin{lrbox}{\issfitbox}}{\end{lrbox}%%
  \ifdim\wd\issfitbox>\linewidth\resizebox{\linewidth}{!}{\usebox{\issfitbox}}\else\usebox{\issfitbox}\fi}
\sloppy
\setlength{\emergencystretch}{3em}
"""


def _preamble() -> str:
    declarations = "\n".join(rf"\DeclareUnicodeCharacter{{{ord(char):04X}}}{{{command}}}"
                             for char, command in UNICODE_DECLARATIONS.items())
    return PREAMBLE % dict(checkmark=_CHECKMARK, declarations=declarations)


def _latex_longtable(rows: list[list[str]], header: list[str], spec: str, size: str = r"\small") -> str:
    """A booktabs longtable (breaks across pages); cells are already LaTeX."""
    lines = [r"{" + size, rf"\begin{{longtable}}{{{spec}}}", r"\toprule",
             " & ".join(header) + r" \\", r"\midrule", r"\endhead", r"\bottomrule", r"\endlastfoot"]
    lines += [" & ".join(row) + r" \\" for row in rows]
    lines += [r"\end{longtable}", r"}"]
    return "\n".join(lines)


def _comparison_latex(summary: dict | None, scale: str) -> str:
    if summary is None:
        return tex_text(f"Not run yet: snakemake reports/{scale}/comparison.md (or iss compare) checks every reproduced "
                        "number against the paper.") + "\n"
    verdict = ("nothing applicable failed" if summary["failing"] == 0
               else rf"\textbf{{{summary['failing']} applicable check(s) failed}}")
    parts = [tex_text(f"{summary['lines']} lines at scale {', '.join(summary['scales']) or MISSING}: ") + verdict
             + tex_text(f". Every line, with its tolerance and rule, is in reports/{scale}/comparison.md."), ""]
    if summary["known"]:
        parts += [r"\textbf{Known failures (reported, not gated; explained at the top):} "
                  + tex_text(known_failure_ids(summary) + "."), ""]
    parts += [r"\begin{table}[H]\centering", r"\caption{Comparison with the paper: lines per status.}",
             r"\begin{tabular}{l" + "r" * len(COMPARISON_STATUSES) + "}", r"\toprule",
             " & ".join(["Kind", *(tex_text(s) for s in COMPARISON_STATUSES)]) + r" \\", r"\midrule"]
    parts += [" & ".join([tex_text(kind), *(str(by_status.get(s, 0)) for s in COMPARISON_STATUSES)]) + r" \\"
              for kind, by_status in summary["counts"].items()]
    parts += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    if summary["claims"]:
        parts += [r"\paragraph{Claims of the paper, checked on this run.}", _latex_longtable(
            [[tex_text(r["id"]), tex_text(r["status"]), tex_text(clip(r.get("reproduced_text") or MISSING, 160)),
              tex_text(clip(r.get("expectation") or MISSING, 120)), tex_text(clip(r.get("message"), 200))]
             for r in summary["claims"]],
            ["Claim", "Status", "Reproduced", "Expectation", "Detail"],
            r"p{0.16\linewidth}lp{0.24\linewidth}p{0.18\linewidth}p{0.26\linewidth}", r"\footnotesize"), ""]
    if summary["notable"]:
        parts += [r"\paragraph{Failing, malformed or missing lines.}", _latex_longtable(
            [[tex_text(r["id"]), tex_text(r["status"]), tex_text(r.get("reproduced_text") or MISSING),
              tex_text(r.get("paper_printed") or MISSING), tex_text(clip(r.get("message"), 200))]
             for r in summary["notable"]],
            ["Line", "Status", "Reproduced", "Paper", "Detail"],
            r"p{0.24\linewidth}lp{0.14\linewidth}p{0.1\linewidth}p{0.34\linewidth}", r"\footnotesize"), ""]
    return "\n".join(parts)


def _short_time(created: str) -> str:
    """2026-11-28T18:53:18+00:00 -> 2026-11-28 18:53 (UTC when the offset is zero)."""
    match = re.match(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(:\d\d)?(\+00:00|Z)?", created)
    if not match:
        return created
    return f"{match[1]} {match[2]}" + (" UTC" if match[4] else "")


def _breakable_path(path: str) -> str:
    """A path in typewriter type that may break after each slash."""
    return r"\texttt{" + r"/\allowbreak{}".join(tex_text(part) for part in path.split("/")) + "}"


def _provenance_latex(lines: list[ProvenanceLine], keys: dict[str, str]) -> str:
    if not lines:
        return "No results files yet.\n"
    rows = [[_breakable_path(l.file), tex_text(l.scale), tex_text(l.device), tex_text(l.threads),
             r"\texttt{" + tex_text(l.git) + "}", r"\texttt{" + tex_text(l.code) + "}",
             r"\texttt{" + tex_text(l.config_hash) + "}", tex_text(l.seed),
             tex_text(_short_time(l.created)), tex_text(l.wall), tex_text(version_key(l, keys)), tex_text(l.note)]
            for l in lines]
    table = _latex_longtable(
        rows, ["File", "Scale", "Device", "Threads", "Git", "Code", "Config", "Seed", "Created", "Wall", "Libs", "Note"],
        r">{\raggedright}p{0.18\linewidth}l>{\raggedright}p{0.09\linewidth}>{\raggedright}p{0.07\linewidth}"
        r"lllllll>{\raggedright\arraybackslash}p{0.1\linewidth}",
        r"\scriptsize")
    legend = r"\begin{itemize}" + "".join(rf"\item {tex_text(key)}: {tex_text(text)}" for key, text in keys.items()) \
        + r"\end{itemize}"
    return "\n".join([r"\begin{landscape}", tex_text(
        "Files under results/ (the device and threads are the training job's for metrics files). Git: the code "
        "that made the file (-dirty: with uncommitted changes)."), "", table, "", "Library versions:",
        legend if keys else "", r"\end{landscape}", ""])


def _walls_latex(walls: list[WallTotal]) -> str:
    if not walls:
        return ""
    rows = [[tex_text(w.scale), tex_text(w.table), str(w.jobs), tex_text(duration_text(w.seconds)),
             _breakable_path(w.longest.file) + tex_text(f" ({w.longest.step})" if w.longest.step else "")
             + tex_text(f", {duration_text(w.longest.seconds)}")] for w in walls]
    return "\n".join([tex_text("Wall time per table: its jobs (training, evaluation, timing) that recorded one, "
                               "together."), "",
                      _latex_longtable(rows, ["Scale", "Table", "Jobs", "Wall time", "Longest job"],
                                       r"llrl>{\raggedright\arraybackslash}p{0.5\linewidth}", r"\small"), ""])


def _sparsity_latex(speed) -> str:
    if speed is None:
        return ""
    from iss_harness.tasks.sparsity_kinds import KINDS
    report, rows = speed
    layer = report["layer"]
    body = [[tex_text(row["Threads"]), tex_text(row["Sparsity"]), tex_text(row["Units kept"]),
             *(tex_text(row.get(kind, MISSING)) for kind in KINDS)] for row in rows]
    caption = (f"Speedup over the dense product W [{layer['weight_shape'][0]}×{layer['weight_shape'][1]}] × "
               f"[{layer['x_shape'][0]}×{layer['x_shape'][1]}], median per call, all candidates interleaved.")
    return "\n".join([r"\begin{table}[H]\centering", rf"\caption{{{tex_text(caption)}}}",
                      r"\begin{issfit}\begin{tabular}{rrr" + "r" * len(KINDS) + "}", r"\toprule",
                      " & ".join(tex_text(c) for c in ["Threads", "Sparsity", "Units kept", *KINDS]) + r" \\",
                      r"\midrule", *(" & ".join(row) + r" \\" for row in body), r"\bottomrule",
                      r"\end{tabular}\end{issfit}", r"\end{table}", ""])


def _breakable(text: str) -> str:
    """Plain text -> LaTeX that may break after each slash and underscore (the summary's narrow
    columns name results files and claims)."""
    return tex_text(text).replace("/", r"/\allowbreak{}").replace(r"\_", r"\_\allowbreak{}")


def _items(items: list[str]) -> str:
    return r"\begin{itemize}" + "".join(rf"\item {item}" for item in items) + r"\end{itemize}"


def _rows(rows: list[dict[str, str]], columns: list[str]) -> list[list[str]]:
    return [[_breakable(row[column]) for column in columns] for row in rows]


def _tables_latex(g: Gathered) -> list[str]:
    parts = [r"\begin{table}[H]\centering", r"\caption{The paper's tables, and the scale each was run at here.}",
             r"\begin{tabular}{lp{0.55\linewidth}p{0.15\linewidth}l}", r"\toprule",
             r"Table & Paper's caption & Scale of the results & Built \\", r"\midrule"]
    parts += [" & ".join([tex_text(s.name), tex_text(s.title), tex_text(scales_text(s)),
                          "yes" if s.latex else ("not yet" if s.name not in g.unbuilt else "no")]) + r" \\"
              for s in g.sections]
    return parts + [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]


def _summary_latex(g: Gathered) -> list[str]:
    """The opening: scope, methodology, results per claim, what was easy, what was difficult."""
    repro = g.repro
    scope = _latex_longtable(_rows([repro_text.scope_row(line) for line in repro.claims], repro_text.SCOPE_COLUMNS),
                             repro_text.SCOPE_COLUMNS,
                             r">{\raggedright}p{0.2\linewidth}>{\raggedright}p{0.4\linewidth}"
                             r">{\raggedright}p{0.2\linewidth}>{\raggedright\arraybackslash}p{0.1\linewidth}",
                             r"\footnotesize")
    method = _latex_longtable(_rows([repro_text.method_row(run) for run in repro.tables], repro_text.METHOD_COLUMNS),
                              repro_text.METHOD_COLUMNS,
                              r"l>{\raggedright}p{0.14\linewidth}l>{\raggedright}p{0.16\linewidth}ll"
                              r">{\raggedright}p{0.1\linewidth}>{\raggedright\arraybackslash}p{0.22\linewidth}",
                              r"\scriptsize")
    return [r"\section{Reproducibility summary}", r"\subsection{Scope}", tex_text(repro_text.SCOPE_NOTE), "", scope,
            "", *_tables_latex(g),
            r"\subsection{Methodology}", tex_text(f"Scale: {repro.scale}. {repro_text.METHOD_NOTE}"), "", method, "",
            tex_text(repro_text.not_run_text(repro)), "",
            r"\subsection{Results per claim}",
            _items([rf"\textbf{{{tex_text(line.id)}}} {_breakable(repro_text.claim_result_text(line))}"
                    for line in repro.claims]),
            r"\subsection{What was easy}", _items([_breakable(item) for item in repro_text.easy_items(repro)]),
            r"\subsection{What was difficult}", _items([_breakable(item) for item in repro_text.difficult_items(repro)]),
            ""]


def render_latex_report(g: Gathered) -> str:
    sections, summary, stems, speed = g.sections, g.summary, g.stems, g.speed
    provenance, keys, reports = g.provenance, g.keys, g.reports
    parts = [_preamble(), rf"\title{{{tex_text(TITLE)}}}",
             rf"\date{{{tex_text(g.dated)}}}",
             r"\author{}", r"\begin{document}", r"\maketitle", tex_text(f"Configured scale: {g.scale}."), "",
             *_summary_latex(g), r"\section{Introduction}", tex_text(INTRO), "",
             r"\section{Comparison with the paper}", _comparison_latex(summary, g.scale)]
    for s in sections:
        parts.append(rf"\section{{{tex_text(s.name)}: {tex_text(s.title)}}}")
        if s.latex is None:
            parts += [tex_text(g.not_built_sentence(s.name, "tex").replace("`", "")), ""]
            continue
        # Landscape pages: the tables have many columns (pdflscape turns the page in PDF viewers).
        parts += [tex_text(f"Scale of these results: {scales_text(s)}. Source: reports/{g.scale}/{s.name}.tex "
                           "(on the landscape page that follows)."), "",
                  r"\begin{landscape}", include_table_latex(s.latex), r"\end{landscape}", ""]
    parts.append(r"\section{Figures}")
    figures_dir = Path(reports) / "figures"
    if not stems:
        parts.append(tex_text(f"No figures yet (snakemake writes them to reports/{g.scale}/figures/)."))
    for stem in stems:
        graphic = f"figures/{stem}.pdf" if (figures_dir / f"{stem}.pdf").exists() else f"figures/{stem}.png"
        parts += [r"\begin{figure}[H]\centering",
                  rf"\includegraphics[width=\linewidth,height=0.42\textheight,keepaspectratio]{{{graphic}}}",
                  rf"\caption{{{tex_text(figure_caption(stem))}}}", r"\end{figure}", ""]
        if stem == "speedup_vs_sparsity":
            parts.append(_sparsity_latex(speed))
    parts += [r"\clearpage", r"\section{Provenance of every results file}", _provenance_latex(provenance, keys),
              _walls_latex(g.walls), r"\end{document}"]
    return "\n".join(parts) + "\n"


class LatexError(RuntimeError):
    pass


def pdflatex() -> str | None:
    return shutil.which("pdflatex")


def compile_pdf(tex_path: Path, runs: int = 2, timeout: float = 300) -> Path:
    """pdflatex ``tex_path`` (twice, for the references) in a scratch folder next to it; the PDF
    lands beside the .tex, the auxiliary files are removed. Raises LatexError with the log's
    first error."""
    tex_path = Path(tex_path).resolve()
    if not tex_path.exists():
        raise LatexError(f"{tex_path} does not exist: run `iss summary` (snakemake reports/<scale>/report.tex) first")
    command = pdflatex()
    if command is None:
        raise LatexError("pdflatex is not installed (Debian: apt-get install texlive-latex-base "
                         "texlive-latex-recommended texlive-fonts-recommended)")
    with tempfile.TemporaryDirectory(dir=tex_path.parent, prefix=".latex.") as scratch:
        for _ in range(runs):
            done = subprocess.run([command, "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
                                   f"-output-directory={scratch}", tex_path.name], cwd=tex_path.parent,
                                  capture_output=True, text=True, errors="replace", timeout=timeout)
            if done.returncode != 0:
                log = Path(scratch, tex_path.with_suffix(".log").name)
                text = log.read_text(errors="replace") if log.exists() else done.stdout
                errors = [line for line in text.splitlines() if line.startswith("!") or ":error:" in line
                          or re.match(r".*:\d+: ", line)]
                raise LatexError(f"pdflatex failed on {tex_path}: " + ("; ".join(errors[:5]) or text[-2000:]))
        pdf = tex_path.with_suffix(".pdf")
        shutil.move(str(Path(scratch, pdf.name)), pdf)
    return pdf
