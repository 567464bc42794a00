"""The one-page report in Markdown (``reports/<scale>/report.md``), from what ``iss_harness.reporting.report_page.gather`` read."""
from __future__ import annotations

import re
from pathlib import Path

from tabulate import tabulate

from iss_harness.paper.compare import STATUSES as COMPARISON_STATUSES
from iss_harness.render import MISSING
from iss_harness.reporting import summary as repro_text
from iss_harness.reporting.report_page import INTRO, TITLE, Gathered
from iss_harness.reporting.report_sources import (
    ProvenanceLine,
    WallTotal,
    clip,
    duration_text,
    figure_caption,
    known_failure_ids,
    scales_text,
    version_key,
)


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


def _comparison_markdown(summary: dict | None, scale: str) -> str:
    if summary is None:
        return (f"Not run yet: `snakemake reports/{scale}/comparison.md` (or `iss compare`) checks every reproduced "
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
                                  Expectation=r.get("expectation") or MISSING, Detail=clip(r.get("message")))
                             for r in summary["claims"]],
                            ["Claim", "Status", "Reproduced", "Expectation", "Detail"]), ""]
    if summary["notable"]:
        parts += ["Failing, malformed or missing lines:", "",
                  _md_table([dict(Line=r["id"], Status=r["status"], Reproduced=r.get("reproduced_text") or MISSING,
                                  Paper=r.get("paper_printed") or MISSING, Tolerance=r.get("tolerance") or MISSING,
                                  Detail=clip(r.get("message"))) for r in summary["notable"]],
                            ["Line", "Status", "Reproduced", "Paper", "Tolerance", "Detail"]), ""]
    return "\n".join(parts)


def _sparsity_markdown(speed) -> str:
    if speed is None:
        return ""
    report, rows = speed
    from iss_harness.tasks.sparsity_kinds import KINDS, KIND_LABELS
    layer = report["layer"]
    columns = ["Threads", "Sparsity", "Units kept", *KINDS]
    header = (f"Speedup over the dense product W [{layer['weight_shape'][0]}×{layer['weight_shape'][1]}] × "
              f"[{layer['x_shape'][0]}×{layer['x_shape'][1]}] (dense: "
              + ", ".join(f"{v['median_ms']:.2f} ms at {n} thread(s)" for n, v in report["dense"].items())
              + "); columns: " + "; ".join(f"{kind} = {KIND_LABELS[kind]}" for kind in KINDS) + ".")
    return "\n".join([header, "", _md_table(rows, columns), ""])


def _items(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


def _scope_markdown(g: Gathered) -> list[str]:
    parts = ["### Scope", "", repro_text.SCOPE_NOTE, "",
             _md_table([repro_text.scope_row(line) for line in g.repro.claims], repro_text.SCOPE_COLUMNS), "",
             "The paper's tables, and the scale each was run at here:", "",
             "| Table | Paper's caption | Scale of the results | Built |", "|---|---|---|---|"]
    for s in g.sections:
        built = "yes" if s.markdown else f"no: {g.unbuilt.get(s.name, f'`snakemake reports/{g.scale}/{s.name}.md`')}"
        parts.append(f"| [{s.name}](#{s.name}) | {s.title} | {scales_text(s)} | {built} |")
    return parts + [""]


def _summary_markdown(g: Gathered) -> list[str]:
    """The opening: scope, methodology, results per claim, what was easy, what was difficult."""
    repro = g.repro
    return ["## Reproducibility summary", "", *_scope_markdown(g),
            "### Methodology", "", f"Scale: **{repro.scale}**. {repro_text.METHOD_NOTE}", "",
            _md_table([repro_text.method_row(run) for run in repro.tables], repro_text.METHOD_COLUMNS), "",
            repro_text.not_run_text(repro), "",
            "### Results per claim", "",
            _items([f"**{line.id}** {repro_text.claim_result_text(line)}" for line in repro.claims]), "",
            "### What was easy", "", _items(repro_text.easy_items(repro)), "",
            "### What was difficult", "", _items(repro_text.difficult_items(repro)), ""]


def render_markdown_report(g: Gathered) -> str:
    sections, summary, stems, speed = g.sections, g.summary, g.stems, g.speed
    provenance, keys, reports = g.provenance, g.keys, g.reports
    parts = [f"# {TITLE}", "", f"Configured scale: **{g.scale}**. Report {g.made}.", "",
             *_summary_markdown(g), "## Introduction", "", INTRO, ""]
    parts += ["## Comparison with the paper", "", _comparison_markdown(summary, g.scale)]
    for s in sections:
        parts += [f'<a id="{s.name}"></a>', ""]
        if s.markdown is None:
            parts += [f"## {s.name}: {s.title}", "", g.not_built_sentence(s.name, "md"), ""]
            continue
        title, body = _split_title(s.markdown)
        parts += [f"## {title or s.title}", "",
                  f"Scale of these results: **{scales_text(s)}**. Source: [{s.name}.md]({s.name}.md).", "",
                  _demote(body, 1).rstrip(), ""]
    parts += ["## Figures", ""]
    if not stems:
        parts += [f"No figures yet (`snakemake` writes them to reports/{g.scale}/figures/).", ""]
    for stem in stems:
        png = Path(reports) / "figures" / f"{stem}.png"
        link = f"figures/{stem}.png" if png.exists() else f"figures/{stem}.pdf"
        parts += [f"### {stem}", "", f"![{stem}]({link})", "", figure_caption(stem), ""]
        if stem == "speedup_vs_sparsity" and speed is not None:
            parts += [_sparsity_markdown(speed)]
    parts += ["## Provenance of every results file", "", _provenance_markdown(provenance, keys),
              _walls_markdown(g.walls)]
    return "\n".join(parts).rstrip() + "\n"


def _walls_markdown(walls: list[WallTotal]) -> str:
    if not walls:
        return ""
    rows = [dict(Scale=w.scale, Table=w.table, Jobs=str(w.jobs), **{"Wall time": duration_text(w.seconds),
                 "Longest job": f"`{w.longest.label}`, {duration_text(w.longest.seconds)}"}) for w in walls]
    return "\n".join(["Wall time per table: its jobs (training, evaluation, timing) that recorded one, together.", "",
                       _md_table(rows, ["Scale", "Table", "Jobs", "Wall time", "Longest job"]), ""])


def _provenance_markdown(lines: list[ProvenanceLine], keys: dict[str, str]) -> str:
    if not lines:
        return "No results files yet.\n"
    columns = ["File", "Scale", "Device", "Threads", "Git", "Code", "Config", "Seed", "Created", "Wall time",
               "Libraries", "Note"]
    rows = [dict(File=f"`{l.file}`", Scale=l.scale, Device=l.device, Threads=l.threads, Git=l.git, Code=l.code,
                 Config=l.config_hash, Seed=l.seed, Created=l.created, **{"Wall time": l.wall},
                 Libraries=version_key(l, keys), Note=l.note)
            for l in lines]
    legend = [f"- {key}: {text}" for key, text in keys.items()]
    return "\n".join([
        "Files under results/ (made by training, evaluation and timing jobs; the device and threads are the "
        "training job's for metrics files). Git: the commit that made the file (-dirty: with uncommitted changes); "
        "Code: the digest of the code that can change its numbers (the same at any commit that left that code "
        "alone); Wall time: the job's (training, for metrics files).",
        "", _md_table(rows, columns), "", "Library versions:", "", *legend, ""])
