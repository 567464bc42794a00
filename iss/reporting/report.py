"""The one page a reader opens first: ``reports/report.md`` and ``reports/report.tex``.

``build(config, results, reports)`` gathers what exists, never what it wishes existed:

* an introduction (what was reproduced; each table's scale, read from ``results/<table>.csv``);
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
  scale, device, threads, git SHA, config hash, seed, library versions.

``report.tex`` is a standalone LaTeX document (article, booktabs, graphicx, longtable) with the
tables inlined from ``reports/<table>.tex`` and the PDF figures; it compiles with pdflatex
(``compile_pdf``). Unicode in the generated text is mapped in two places: ``tex_text`` escapes
text written here, and the preamble declares the characters the tables use (λ, ×, ±, †, →, ...)
so pdflatex accepts them wherever they come from; any other non-Latin-1 character is replaced
before it reaches LaTeX.
"""
from __future__ import annotations

import csv
import datetime
import json
import re
import shutil
import subprocess
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from tabulate import tabulate

from iss.paper.compare import FAILING, STATUSES as COMPARISON_STATUSES
from iss.paper.tables import SCALES, load_paper_tables
from iss.provenance import git_sha
from iss.reporting.render import MISSING, latex_escape
from iss.io import write_text_atomic

TITLE = "Learning Intrinsic Sparse Structures within LSTM (Wen et al., ICLR 2018): reproduction report"
INTRO = (
    "Intrinsic Sparse Structures (ISS) are the groups of weights that one hidden unit of an LSTM owns (its "
    "four gate rows, its recurrent column, its input column in the next layer). Group Lasso on these groups "
    "removes whole units during training, leaving a smaller dense LSTM that runs faster with ordinary "
    "kernels. This report reproduces the paper's tables: stacked LSTMs on PTB (Table 1), Recurrent Highway "
    "Networks on PTB (Table 2) and BiDAF on SQuAD (Table 3), each at the scale it was run (smoke: tiny "
    "models on a slice of the data, for CI; mid: full data, small models; paper: the paper's geometry and "
    "schedules). Numbers that need no training (weight counts, mult-add reductions, latency at the paper's "
    "sizes) are computed at the paper's sizes at every scale. Every number comes from a results file; every "
    "paper number from config/paper_tables.yaml.")

# Figures in reading order, with captions. Any other PNG/PDF in reports/figures/ follows, captioned
# by its file name: adding a figure needs no code here, a caption is one line.
FIGURES: dict[str, str] = {
    "table1_training_curves": "Table 1: validation perplexity per epoch of every row, and the hidden units "
                              "left per LSTM layer in the ISS rows.",
    "table1_iss_sparsity": "Table 1: the ISS model's weight matrices; removed components are white stripes "
                           "of rows and columns, as in the paper's figure.",
    "rhn_tradeoff": "Table 2: RHN validation perplexity against width as λ grows, this run and the paper's.",
    "bidaf_group_norms": "Table 3: histogram of the BiDAF ISS group norms, baseline against ISS.",
    "speedup_vs_sparsity": "The paper's motivation, measured here: one LSTM layer's multiply (the paper's "
                           "1500-unit layer) with structured removal (a smaller dense GEMM) against "
                           "non-structured random sparsity at equal sparsity (CSR, and dense with zeros). "
                           "The dense kernel with zeros kept is the reference operation itself: its spread "
                           "around 1× shows the timing noise of this machine.",
}
# Results files whose provenance the report lists (glob patterns under results/<scale>/).
PROVENANCE_PATTERNS = ("metrics.json", "timing_*.json", "sparsity_speed.json")
SPARSITY_SPEED = "sparsity_speed.json"
NOTABLE_STATUSES = (*FAILING, "missing")  # comparison lines listed by name in the summary


# ---- gathering ------------------------------------------------------------------------------------


@dataclass
class TableSection:
    name: str  # table1
    title: str  # the paper's caption
    scales: list[str]  # from results/<name>.csv; [] when that file is absent
    markdown: str | None  # reports/<name>.md
    latex: str | None  # reports/<name>.tex


@dataclass
class ProvenanceLine:
    file: str  # relative to the results folder
    scale: str
    device: str
    threads: str
    git: str
    config_hash: str
    seed: str
    created: str
    versions: dict
    note: str = ""


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


def _csv_rows(path: Path) -> list[dict] | None:
    """Rows of a CSV as strings (the csv module: pandas would read the status "n/a" as NaN)."""
    if not path.exists():
        return None
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def table_sections(results: Path, reports: Path, paper_path: Path | None = None) -> list[TableSection]:
    paper = load_paper_tables(paper_path)
    sections = []
    for name, table in paper.tables.items():
        rows = _csv_rows(Path(results) / f"{name}.csv") or []
        scales = sorted({row.get("scale", "") for row in rows if row.get("scale")}, key=_scale_order)
        sections.append(TableSection(name, table.title, scales, _read(Path(reports) / f"{name}.md"),
                                     _read(Path(reports) / f"{name}.tex")))
    return sections


def _scale_order(scale: str) -> tuple[int, str]:
    return (SCALES.index(scale) if scale in SCALES else len(SCALES), scale)


def figure_stems(reports: Path) -> list[str]:
    """Figures present (a PNG or a PDF), the known ones first in ``FIGURES`` order."""
    folder = Path(reports) / "figures"
    present = {p.stem for pattern in ("*.png", "*.pdf") for p in folder.glob(pattern) if not p.name.startswith(".")}
    return [stem for stem in FIGURES if stem in present] + sorted(present - set(FIGURES))


def figure_caption(stem: str) -> str:
    return FIGURES.get(stem, stem.replace("_", " "))


def comparison_summary(results: Path) -> dict | None:
    """Counts per kind and status, and the notable lines, from results/comparison.csv."""
    rows = _csv_rows(Path(results) / "comparison.csv")
    if rows is None:
        return None
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        kind = row.get("kind") or "?"
        counts.setdefault(kind, {status: 0 for status in COMPARISON_STATUSES})
        status = row.get("status") or "?"
        counts[kind][status] = counts[kind].get(status, 0) + 1
    claims = [row for row in rows if row.get("kind") == "claim"]
    notable = [row for row in rows if row.get("kind") != "claim" and row.get("status") in NOTABLE_STATUSES]
    scales = sorted({row["scale"] for row in rows if row.get("scale")}, key=_scale_order)
    failing = sum(1 for row in rows if row.get("status") in FAILING)
    known = [row for row in claims if row.get("status") == "known fail"]
    return dict(counts=counts, claims=claims, notable=notable, scales=scales, failing=failing, known=known,
                lines=len(rows))


def known_failures_text(summary: dict) -> str:
    """One sentence per claim that fails as config/claims.yaml records it: the reader's first news."""
    return " ".join(f"The paper's claim {r['id']} does not hold at {r.get('scale') or MISSING}: "
                    f"{_clip(r.get('message'), 600)}" for r in summary.get("known", []))


def known_failure_ids(summary: dict) -> str:
    """The known failures by claim and scale only: their explanation already opens the report."""
    return ", ".join(f"{r['id']} ({r.get('scale') or MISSING})" for r in summary.get("known", []))


def provenance_lines(results: Path) -> list[ProvenanceLine]:
    """One line per results file that records provenance, scale by scale."""
    results = Path(results)
    files: set[Path] = set()
    for scale_dir in sorted((d for d in results.iterdir() if d.is_dir()), key=lambda d: _scale_order(d.name)) \
            if results.exists() else []:
        for pattern in PROVENANCE_PATTERNS:
            files.update(scale_dir.rglob(pattern))
    lines = []
    for path in sorted(files, key=lambda p: (_scale_order(p.relative_to(results).parts[0]), str(p))):
        relative = path.relative_to(results).as_posix()
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            lines.append(ProvenanceLine(relative, path.relative_to(results).parts[0], MISSING, MISSING, MISSING,
                                        MISSING, MISSING, MISSING, {}, f"unreadable: {error}"))
            continue
        lines.append(_provenance_line(relative, path.relative_to(results).parts[0], payload))
    return lines


def _provenance_line(relative: str, folder: str, payload: dict) -> ProvenanceLine:
    made = payload.get("training_provenance") or payload.get("provenance")
    if not isinstance(made, dict):
        return ProvenanceLine(relative, folder, MISSING, MISSING, MISSING, MISSING, MISSING, MISSING, {},
                              "no provenance recorded")
    threads = str(made.get("threads", MISSING))
    timed = sorted({c.get("threads") for c in (payload.get("candidates") or {}).values()
                    if isinstance(c, dict) and c.get("threads") is not None})
    if timed:
        threads += f" (timed at {', '.join(map(str, timed))})"
    notes = []
    evaluated = payload.get("provenance") if payload.get("training_provenance") else None
    if isinstance(evaluated, dict):
        if evaluated.get("git_sha") != made.get("git_sha"):
            notes.append(f"evaluated at git {_short_sha(evaluated.get('git_sha'))}")
        if evaluated.get("device") != made.get("device"):
            notes.append(f"evaluated on {evaluated.get('device')}")
    if made.get("scale") not in (None, folder):
        notes.append(f"provenance says scale {made.get('scale')}")
    return ProvenanceLine(relative, str(made.get("scale", folder)), str(made.get("device", MISSING)), threads,
                          _short_sha(made.get("git_sha")), str(made.get("config_hash", MISSING)),
                          str(made.get("seed", MISSING)), str(made.get("created", MISSING)),
                          dict(made.get("versions") or {}), "; ".join(notes))


def _short_sha(sha) -> str:
    if not sha:
        return MISSING
    sha = str(sha)
    return sha[:10] + ("-dirty" if sha.endswith("-dirty") else "")


def version_sets(lines: list[ProvenanceLine]) -> dict[str, str]:
    """{"L1": "python 3.11.7, torch 2.13.0+cpu, ..."}: each distinct set of library versions once."""
    keys: dict[str, str] = {}
    for line in lines:
        text = _versions_text(line.versions)
        if text and text not in keys.values():
            keys[f"L{len(keys) + 1}"] = text
    return keys


def _versions_text(versions: dict) -> str:
    return ", ".join(f"{name} {version}" for name, version in versions.items() if version)


def _version_key(line: ProvenanceLine, keys: dict[str, str]) -> str:
    text = _versions_text(line.versions)
    return next((key for key, value in keys.items() if value == text), MISSING)


def sparsity_speed_rows(results: Path, scale: str) -> tuple[dict, list[dict]] | None:
    """(the layer/protocol header, one row per sparsity and thread count) from sparsity_speed.json."""
    path = Path(results) / scale / SPARSITY_SPEED
    if not path.exists():
        return None
    report = json.loads(path.read_text(encoding="utf-8"))
    table: dict[tuple[int, float], dict] = {}
    for point in report.get("points", []):
        key = (point["threads"], point["sparsity"])
        table.setdefault(key, {"Threads": point["threads"], "Sparsity": f"{100 * point['sparsity']:.1f}%",
                               "Units kept": point["units_kept"]})
        table[key][point["kind"]] = f"{point['speedup']:.2f}×"
    return report, [table[key] for key in sorted(table)]


# ---- Markdown ------------------------------------------------------------------------------------


def _demote(markdown: str, levels: int) -> str:
    """Headings one or more levels down, so an included file nests under the report's sections."""
    out, fenced = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"#{1,6} ", line):
            line = "#" * levels + line
        out.append(line)
    return "\n".join(out)


def _split_title(markdown: str) -> tuple[str | None, str]:
    """The first ``# title`` line of an included file, and the rest."""
    lines = markdown.lstrip().splitlines()
    if lines and lines[0].startswith("# "):
        return lines[0][2:].strip(), "\n".join(lines[1:]).lstrip("\n")
    return None, markdown


def _md_table(rows: list[dict], columns: list[str]) -> str:
    return tabulate([[str(row.get(c, "")).replace("|", "\\|") for c in columns] for row in rows],
                    headers=columns, tablefmt="github", disable_numparse=True)


def _scales_text(section: TableSection) -> str:
    return ", ".join(section.scales) if section.scales else "no results file"


def _comparison_markdown(summary: dict | None) -> str:
    if summary is None:
        return ("Not run yet: `snakemake reports/comparison.md` (or `iss compare`) checks every reproduced "
                "number against the paper.\n")
    counts = [dict(Kind=kind, **{status: str(n) for status, n in by_status.items()})
              for kind, by_status in summary["counts"].items()]
    verdict = ("nothing applicable failed" if summary["failing"] == 0
               else f"**{summary['failing']} applicable check(s) failed**")
    parts = [f"{summary['lines']} lines at scale {', '.join(summary['scales']) or MISSING}: {verdict}. "
             "Every line, with its tolerance and rule, is in [comparison.md](comparison.md).", ""]
    if summary["known"]:
        parts += [f"**Known failures (reported, not gated; explained at the top):** {known_failure_ids(summary)}.", ""]
    parts += [_md_table(counts, ["Kind", *COMPARISON_STATUSES]), ""]
    if summary["claims"]:
        parts += ["Claims of the paper, checked on this run:", "",
                  _md_table([dict(Claim=r["id"], Status=r["status"], Reproduced=r.get("reproduced_text") or MISSING,
                                  Expectation=r.get("expectation") or MISSING, Detail=_clip(r.get("message")))
                             for r in summary["claims"]],
                            ["Claim", "Status", "Reproduced", "Expectation", "Detail"]), ""]
    if summary["notable"]:
        parts += ["Failing, malformed or missing lines:", "",
                  _md_table([dict(Line=r["id"], Status=r["status"], Reproduced=r.get("reproduced_text") or MISSING,
                                  Paper=r.get("paper_printed") or MISSING, Tolerance=r.get("tolerance") or MISSING,
                                  Detail=_clip(r.get("message"))) for r in summary["notable"]],
                            ["Line", "Status", "Reproduced", "Paper", "Tolerance", "Detail"]), ""]
    return "\n".join(parts)


def _clip(text, limit: int = 220) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _sparsity_markdown(speed) -> str:
    if speed is None:
        return ""
    report, rows = speed
    from iss.tasks.sparsity_speed import KINDS, KIND_LABELS
    layer = report["layer"]
    columns = ["Threads", "Sparsity", "Units kept", *KINDS]
    header = (f"Speedup over the dense product W [{layer['weight_shape'][0]}×{layer['weight_shape'][1]}] × "
              f"[{layer['x_shape'][0]}×{layer['x_shape'][1]}] (dense: "
              + ", ".join(f"{v['median_ms']:.2f} ms at {n} thread(s)" for n, v in report["dense"].items())
              + "); columns: " + "; ".join(f"{kind} = {KIND_LABELS[kind]}" for kind in KINDS) + ".")
    return "\n".join([header, "", _md_table(rows, columns), ""])


def render_markdown_report(config: dict, results: Path, reports: Path, paper_path: Path | None = None) -> str:
    sections = table_sections(results, reports, paper_path)
    summary = comparison_summary(results)
    stems = figure_stems(reports)
    provenance = provenance_lines(results)
    keys = version_sets(provenance)
    speed = sparsity_speed_rows(results, config["scale"])
    parts = [f"# {TITLE}", "", INTRO, "",
             f"Configured scale: **{config['scale']}**. Report made at git {_short_sha(git_sha())} on "
             f"{datetime.date.today().isoformat()}.", "",
             "| Table | Paper's caption | Scale of the results | Built |", "|---|---|---|---|"]
    if summary and summary["known"]:  # the answer to the paper's question comes before the tables
        parts[-2:-2] = [f"**Where this run contradicts the paper.** {known_failures_text(summary)}", ""]
    for s in sections:
        built = "yes" if s.markdown else f"no: `snakemake reports/{s.name}.md`"
        parts.append(f"| [{s.name}](#{s.name}) | {s.title} | {_scales_text(s)} | {built} |")
    parts += ["", "## Comparison with the paper", "", _comparison_markdown(summary)]
    for s in sections:
        parts += [f'<a id="{s.name}"></a>', ""]
        if s.markdown is None:
            parts += [f"## {s.name}: {s.title}", "",
                      f"Not built yet: `snakemake reports/{s.name}.md`.", ""]
            continue
        title, body = _split_title(s.markdown)
        parts += [f"## {title or s.title}", "",
                  f"Scale of these results: **{_scales_text(s)}**. Source: [{s.name}.md]({s.name}.md).", "",
                  _demote(body, 1).rstrip(), ""]
    parts += ["## Figures", ""]
    if not stems:
        parts += ["No figures yet (`snakemake` writes them to reports/figures/).", ""]
    for stem in stems:
        png = Path(reports) / "figures" / f"{stem}.png"
        link = f"figures/{stem}.png" if png.exists() else f"figures/{stem}.pdf"
        parts += [f"### {stem}", "", f"![{stem}]({link})", "", figure_caption(stem), ""]
        if stem == "speedup_vs_sparsity" and speed is not None:
            parts += [_sparsity_markdown(speed)]
    parts += ["## Provenance of every results file", "", _provenance_markdown(provenance, keys)]
    return "\n".join(parts).rstrip() + "\n"


def _provenance_markdown(lines: list[ProvenanceLine], keys: dict[str, str]) -> str:
    if not lines:
        return "No results files yet.\n"
    columns = ["File", "Scale", "Device", "Threads", "Git", "Config", "Seed", "Created", "Libraries", "Note"]
    rows = [dict(File=f"`{l.file}`", Scale=l.scale, Device=l.device, Threads=l.threads, Git=l.git,
                 Config=l.config_hash, Seed=l.seed, Created=l.created, Libraries=_version_key(l, keys), Note=l.note)
            for l in lines]
    legend = [f"- {key}: {text}" for key, text in keys.items()]
    return "\n".join([
        "Files under results/ (made by training, evaluation and timing jobs; the device and threads are the "
        "training job's for metrics files). Git: the code that made the file (-dirty: with uncommitted changes).",
        "", _md_table(rows, columns), "", "Library versions:", "", *legend, ""])


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


def _comparison_latex(summary: dict | None) -> str:
    if summary is None:
        return tex_text("Not run yet: snakemake reports/comparison.md (or iss compare) checks every reproduced "
                        "number against the paper.") + "\n"
    verdict = ("nothing applicable failed" if summary["failing"] == 0
               else rf"\textbf{{{summary['failing']} applicable check(s) failed}}")
    parts = [tex_text(f"{summary['lines']} lines at scale {', '.join(summary['scales']) or MISSING}: ") + verdict
             + tex_text(". Every line, with its tolerance and rule, is in reports/comparison.md."), ""]
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
            [[tex_text(r["id"]), tex_text(r["status"]), tex_text(_clip(r.get("reproduced_text") or MISSING, 160)),
              tex_text(_clip(r.get("expectation") or MISSING, 120)), tex_text(_clip(r.get("message"), 200))]
             for r in summary["claims"]],
            ["Claim", "Status", "Reproduced", "Expectation", "Detail"],
            r"p{0.16\linewidth}lp{0.24\linewidth}p{0.18\linewidth}p{0.26\linewidth}", r"\footnotesize"), ""]
    if summary["notable"]:
        parts += [r"\paragraph{Failing, malformed or missing lines.}", _latex_longtable(
            [[tex_text(r["id"]), tex_text(r["status"]), tex_text(r.get("reproduced_text") or MISSING),
              tex_text(r.get("paper_printed") or MISSING), tex_text(_clip(r.get("message"), 200))]
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
             r"\texttt{" + tex_text(l.git) + "}", r"\texttt{" + tex_text(l.config_hash) + "}", tex_text(l.seed),
             tex_text(_short_time(l.created)), tex_text(_version_key(l, keys)), tex_text(l.note)]
            for l in lines]
    table = _latex_longtable(
        rows, ["File", "Scale", "Device", "Threads", "Git", "Config", "Seed", "Created", "Libs", "Note"],
        r">{\raggedright}p{0.2\linewidth}l>{\raggedright}p{0.1\linewidth}>{\raggedright}p{0.08\linewidth}"
        r"lllll>{\raggedright\arraybackslash}p{0.12\linewidth}",
        r"\scriptsize")
    legend = r"\begin{itemize}" + "".join(rf"\item {tex_text(key)}: {tex_text(text)}" for key, text in keys.items()) \
        + r"\end{itemize}"
    return "\n".join([r"\begin{landscape}", tex_text(
        "Files under results/ (the device and threads are the training job's for metrics files). Git: the code "
        "that made the file (-dirty: with uncommitted changes)."), "", table, "", "Library versions:",
        legend if keys else "", r"\end{landscape}", ""])


def _sparsity_latex(speed) -> str:
    if speed is None:
        return ""
    from iss.tasks.sparsity_speed import KINDS
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


def render_latex_report(config: dict, results: Path, reports: Path, paper_path: Path | None = None) -> str:
    sections = table_sections(results, reports, paper_path)
    summary = comparison_summary(results)
    stems = figure_stems(reports)
    provenance = provenance_lines(results)
    keys = version_sets(provenance)
    speed = sparsity_speed_rows(results, config["scale"])
    parts = [_preamble(), rf"\title{{{tex_text(TITLE)}}}",
             rf"\date{{{tex_text(datetime.date.today().isoformat())}, git {tex_text(_short_sha(git_sha()))}}}",
             r"\author{}", r"\begin{document}", r"\maketitle", tex_text(INTRO), "",
             tex_text(f"Configured scale: {config['scale']}."), ""]
    if summary and summary["known"]:
        parts += [r"\textbf{Where this run contradicts the paper.} " + tex_text(known_failures_text(summary)), ""]
    parts += [r"\begin{table}[H]\centering", r"\caption{The paper's tables in this report.}",
             r"\begin{tabular}{lp{0.55\linewidth}p{0.15\linewidth}l}", r"\toprule",
             r"Table & Paper's caption & Scale of the results & Built \\", r"\midrule"]
    parts += [" & ".join([tex_text(s.name), tex_text(s.title), tex_text(_scales_text(s)),
                          "yes" if s.latex else "not yet"])
              + r" \\" for s in sections]
    parts += [r"\bottomrule", r"\end{tabular}", r"\end{table}", "",
              r"\section{Comparison with the paper}", _comparison_latex(summary)]
    for s in sections:
        parts.append(rf"\section{{{tex_text(s.name)}: {tex_text(s.title)}}}")
        if s.latex is None:
            parts += [tex_text(f"Not built yet: snakemake reports/{s.name}.tex."), ""]
            continue
        # Landscape pages: the tables have many columns (pdflscape turns the page in PDF viewers).
        parts += [tex_text(f"Scale of these results: {_scales_text(s)}. Source: reports/{s.name}.tex "
                           "(on the landscape page that follows)."), "",
                  r"\begin{landscape}", include_table_latex(s.latex), r"\end{landscape}", ""]
    parts.append(r"\section{Figures}")
    figures_dir = Path(reports) / "figures"
    if not stems:
        parts.append(tex_text("No figures yet (snakemake writes them to reports/figures/)."))
    for stem in stems:
        graphic = f"figures/{stem}.pdf" if (figures_dir / f"{stem}.pdf").exists() else f"figures/{stem}.png"
        parts += [r"\begin{figure}[H]\centering",
                  rf"\includegraphics[width=\linewidth,height=0.42\textheight,keepaspectratio]{{{graphic}}}",
                  rf"\caption{{{tex_text(figure_caption(stem))}}}", r"\end{figure}", ""]
        if stem == "speedup_vs_sparsity":
            parts.append(_sparsity_latex(speed))
    parts += [r"\clearpage", r"\section{Provenance of every results file}", _provenance_latex(provenance, keys),
              r"\end{document}"]
    return "\n".join(parts) + "\n"


# ---- files and the PDF ---------------------------------------------------------------------------


def build(config: dict, results: Path, reports: Path, paper_path: Path | None = None) -> list[Path]:
    """Write reports/report.md and reports/report.tex; return their paths."""
    reports = Path(reports)
    markdown = reports / "report.md"
    latex = reports / "report.tex"
    write_text_atomic(markdown, render_markdown_report(config, results, reports, paper_path))
    write_text_atomic(latex, render_latex_report(config, results, reports, paper_path))
    return [markdown, latex]


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
        raise LatexError(f"{tex_path} does not exist: run `iss summary` (snakemake reports/report.tex) first")
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
