"""The one-page report (reports/report.md, report.tex) from fixture results, its LaTeX (compiled
when pdflatex is installed), and Snakemake's HTML report over the workflow's report items."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from workflow_copy import copy_workflow

from iss_harness.reporting import report, report_latex, report_sources
from iss_harness.cli import main
from iss_harness.config import load_config
from iss_harness.paper.claims import load_claims
from iss_harness.reporting.plotting import save_figure
from iss_harness.tasks.sparsity_speed import measure_products

REPO = Path(__file__).resolve().parent.parent
VERSIONS = {"python": "3.11.7", "torch": "2.13.0+cpu", "numpy": "2.4.6"}

TABLE1_MD = """# Table 1: two stacked LSTMs on PTB (fixture)

## This run

> Scale: **smoke** (fixture banner).

| Method | λ | Speedup |
|---|---|---|
| baseline | 0 | 1.00× (1.00×) |
| ISS | 0.0065 | 1.20× (10.59×) |

† A footnote.
"""
TABLE1_TEX = r"""\begin{table}[htbp]
\centering
\caption{Table 1 reproduced (fixture).}
\label{tab:table1-run}
{\small Scale: **smoke** (fixture banner) \\ ± → – λ × † raw Unicode a table file may write\par}
\medskip
\begin{tabular}{lrr}
\toprule
Method & $\lambda$ & Speedup \\
\midrule
baseline & 0 & 1.00$\times$ (1.00$\times$) \\
ISS & 0.0065 & 1.20$\times$ (10.59$\times$) \\
\bottomrule
\end{tabular}
\end{table}
"""
COMPARISON_COLUMNS = ("kind", "id", "table", "scale", "setting", "row", "metric", "paper_column", "reproduced", "sd",
                      "n", "reproduced_text", "paper", "paper_printed", "delta", "rule", "tolerance", "expectation",
                      "status", "message")
COMPARISON_ROWS = [
    dict(kind="results", id="table3", table="table3", scale="smoke", status="missing",
         message="results/table3.csv does not exist"),
    dict(kind="claim", id="iss_keeps_perplexity", table="table1", scale="smoke", reproduced_text="ISS 150 vs 140",
         expectation="<= 1.1 × baseline", status="pass", message="within the margin"),
    dict(kind="claim", id="direct_is_worse", table="table1", scale="smoke", status="n/a",
         message="applies at paper"),
    dict(kind="cell", id="table1/paper_sizes/iss_a/weights", table="table1", scale="smoke", reproduced="21824148",
         reproduced_text="21.8M", paper_printed="21.8M", rule="exact", tolerance="as printed", status="pass"),
    dict(kind="cell", id="table1/paper_sizes/iss_a/speedup", table="table1", scale="smoke", reproduced="3.1",
         reproduced_text="3.10×", paper_printed="10.59×", rule="higher", tolerance="-60 %", status="fail",
         message="speedup 3.10× is below 10.59× - 60 %"),
]


def provenance(scale="smoke", sha="abc123def4567890-dirty", device="cpu (x86_64, AVX512)", threads=1):
    return dict(git_sha=sha, config_hash="cafe12345678", scale=scale, seed=1234, device=device, threads=threads,
                host="vm", created="2026-11-28T18:53:18+00:00", versions=VERSIONS)


def tiny_figure(stem: Path) -> None:
    figure, axis = plt.subplots(figsize=(2, 1.5))
    axis.plot([0, 1], [1, 2])
    save_figure(figure, stem)


def write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))


@pytest.fixture
def tree(tmp_path):
    """results/ and reports/<scale>/ as a smoke run with Table 1 built, Table 2 not, a comparison, figures."""
    results, reports = tmp_path / "results", tmp_path / "reports" / "smoke"
    reports.mkdir(parents=True)
    (reports / "table1.md").write_text(TABLE1_MD, encoding="utf-8")
    (reports / "table1.tex").write_text(TABLE1_TEX, encoding="utf-8")
    write_json(results / "smoke" / "table1" / "baseline" / "metrics.json",
               dict(row="baseline", training_provenance=provenance(),
                    provenance=provenance(sha="fedcba9876543210", device="cuda:0 (NVIDIA H200)")))
    write_json(results / "smoke" / "table1" / "timing_learned.json",
               dict(provenance=provenance(), candidates={"baseline|1T|onednn": {"threads": 1},
                                                         "baseline|2T|aten": {"threads": 2}}))
    write_json(results / "mid" / "table1" / "iss_a" / "metrics.json", dict(row="iss_a"))  # an old file
    speed = measure_products(8, 8, 2, [0.0, 0.5], [1], rounds=1, chunk_seconds=0.0)
    write_json(results / "smoke" / "sparsity_speed.json", dict(speed, provenance=provenance()))
    (results / "smoke" / "table1.csv").write_text("scale,setting,row,metric,reproduced\nsmoke,this_run,baseline,lambda,0\n")
    with (results / "smoke" / "comparison.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COMPARISON_COLUMNS)
        writer.writeheader()
        writer.writerows(COMPARISON_ROWS)
    for stem in ("speedup_vs_sparsity", "table1_training_curves", "zz_extra_figure"):
        tiny_figure(reports / "figures" / stem)
    return results, reports


@pytest.fixture
def config():
    return load_config(overrides={"scale": "smoke"})


def test_markdown_has_intro_tables_comparison_figures_and_provenance(tree, config):
    results, reports = tree
    paths = report.build(config, results, reports)
    assert [p.name for p in paths] == ["report.md", "report.tex"]
    md = (reports / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# Learning Intrinsic Sparse Structures within LSTM")
    assert "Configured scale: **smoke**" in md
    # the table list names every table of the paper file, with its scale and whether it is built
    assert re.search(r"\| \[table1\]\(#table1\) \| Two stacked LSTMs .* \| smoke \| yes \|", md)
    assert "| [table2](#table2) |" in md and "no: `snakemake reports/smoke/table2.md`" in md
    assert "| [table3](#table3) |" in md
    # Table 1 included under its own title, its headings one level down, banner and footnote kept
    assert "## Table 1: two stacked LSTMs on PTB (fixture)" in md and "### This run" in md
    assert "\n## This run" not in md
    assert "> Scale: **smoke** (fixture banner)." in md and "| ISS | 0.0065 | 1.20× (10.59×) |" in md
    assert "Not built yet: `snakemake reports/smoke/table2.md`." in md


def test_markdown_comparison_summary_counts_and_lists_the_failures(tree, config):
    results, reports = tree
    report.build(config, results, reports)
    md = (reports / "report.md").read_text(encoding="utf-8")
    assert "5 lines at scale smoke: **1 applicable check(s) failed**" in md
    # "n/a" is a status, not a missing value
    # columns: pass, fail, known fail, shown, identity, n/a, missing, error
    assert re.search(r"\| claim +\| 1 +\| 0 +\| 0 +\| 0 +\| 0 +\| 1 +\| 0 +\| 0 +\|", md)
    assert re.search(r"\| cell +\| 1 +\| 1 +\| 0 +\| 0 +\| 0 +\| 0 +\| 0 +\| 0 +\|", md)
    assert re.search(r"\| results +\| 0 +\| 0 +\| 0 +\| 0 +\| 0 +\| 0 +\| 1 +\| 0 +\|", md)
    assert "table1/paper_sizes/iss_a/speedup" in md and "speedup 3.10× is below" in md
    assert "| table3 " in md and "results/table3.csv does not exist" in md
    assert "iss_keeps_perplexity" in md and "[comparison.md](comparison.md)" in md
    assert "table1/paper_sizes/iss_a/weights" not in md  # passing cells are only in comparison.md


def test_known_failure_is_judged_at_the_top_from_claims_yaml_and_named_in_the_comparison(tree, config):
    results, reports = tree
    known = dict(kind="claim", id="direct_design_worse_than_iss", table="table1", scale="mid",
                 status="known fail", message="Recorded: the direct design wins on every seed.")
    with (results / "smoke" / "comparison.csv").open("a", newline="") as handle:
        csv.DictWriter(handle, fieldnames=COMPARISON_COLUMNS).writerow(known)
    report.build(config, results, reports)
    why = next(c for c in load_claims() if c.id == known["id"]).known_failures["mid"]
    for name, heading in (("report.md", "## Comparison"), ("report.tex", "Comparison")):
        text = (reports / name).read_text(encoding="utf-8").replace("\\allowbreak{}", "").replace("\\_", "_")
        top, rest = text.split(heading, 1)
        # the summary, before the tables, judges the claim with the words of config/claims.yaml
        assert "direct_design_worse_than_iss" in top and "contradicted" in top, name
        assert " ".join(why.split())[:80] in " ".join(top.split()), name
        assert "direct_design_worse_than_iss (mid)" in rest, name
    md = (reports / "report.md").read_text(encoding="utf-8")
    assert re.search(r"\| claim +\| 1 +\| 0 +\| 1 +\| 0 +\| 0 +\| 1 +\| 0 +\| 0 +\|", md)
    assert "**1 applicable check(s) failed**" in md  # a known failure does not count as failing


def test_markdown_figures_are_relative_links_in_reading_order(tree, config):
    results, reports = tree
    report.build(config, results, reports)
    md = (reports / "report.md").read_text(encoding="utf-8")
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", md)
    assert links == ["figures/table1_training_curves.png", "figures/speedup_vs_sparsity.png",
                     "figures/zz_extra_figure.png"]
    for link in links:
        assert (reports / link).exists()
    assert report_sources.FIGURES["speedup_vs_sparsity"] in md
    assert "zz extra figure" in md  # a figure nobody captioned: named after its file
    # the measured speedups are listed under their figure
    assert "Speedup over the dense product W [32×16]" in md
    assert re.search(r"\| Threads +\| Sparsity +\| Units kept +\| structured +\| csr +\|", md)


def test_markdown_provenance_lists_every_results_file(tree, config):
    results, reports = tree
    report.build(config, results, reports)
    md = (reports / "report.md").read_text(encoding="utf-8")
    section = md.split("## Provenance of every results file", 1)[1]
    for name in ("smoke/table1/baseline/metrics.json", "smoke/table1/timing_learned.json",
                 "smoke/sparsity_speed.json", "mid/table1/iss_a/metrics.json"):
        assert f"`{name}`" in section
    assert section.index("`smoke/") < section.index("`mid/")  # scales in order
    baseline = next(line for line in section.splitlines() if "baseline/metrics.json" in line)
    # trained on the CPU at one commit, evaluated on a GPU at another: both said
    assert "abc123def4-dirty" in baseline and "cafe12345678" in baseline and "1234" in baseline
    assert "evaluated at git fedcba9876" in baseline and "evaluated on cuda:0 (NVIDIA H200)" in baseline
    timing = next(line for line in section.splitlines() if "timing_learned.json" in line)
    assert "1 (timed at 1, 2)" in timing
    old = next(line for line in section.splitlines() if "mid/table1/iss_a" in line)
    assert "no provenance recorded" in old
    assert "- L1: python 3.11.7, torch 2.13.0+cpu, numpy 2.4.6" in section


def test_empty_tree_builds_a_report_that_says_what_is_missing(tmp_path, config):
    report.build(config, tmp_path / "results", tmp_path / "reports")
    md = (tmp_path / "reports" / "report.md").read_text(encoding="utf-8")
    assert "Not run yet: `snakemake reports/smoke/comparison.md`" in md
    assert "No figures yet" in md and "No results files yet." in md
    assert md.count("Not built yet") == 4  # the paper's three tables and the width experiment
    # the scale column reads each table's tidy CSV: without it, it names the CSV (jobs may still be recorded)
    assert "| none yet (no table1_width.csv) |" in md
    assert (tmp_path / "reports" / "report.tex").read_text().rstrip().endswith(r"\end{document}")


def test_latex_is_standalone_with_tables_inlined_and_pdf_figures(tree, config):
    results, reports = tree
    report.build(config, results, reports)
    tex = (reports / "report.tex").read_text(encoding="utf-8")
    assert tex.startswith(r"\documentclass")
    for package in ("booktabs", "graphicx", "longtable", "pdflscape"):
        assert rf"\usepackage{{{package}}}" in tex
    assert r"\begin{document}" in tex and tex.rstrip().endswith(r"\end{document}")
    # the table file inlined: Markdown bold as \textbf, wide tabulars fitted, floats in place
    assert r"Scale: \textbf{smoke} (fixture banner)" in tex and "**" not in tex
    assert r"\begin{issfit}\begin{tabular}{lrr}" in tex and r"\end{tabular}\end{issfit}" in tex
    assert r"\begin{table}[H]" in tex and r"\begin{table}[htbp]" not in tex
    assert r"\includegraphics[width=\linewidth,height=0.42\textheight,keepaspectratio]{figures/speedup_vs_sparsity.pdf}" in tex
    assert r"\texttt{smoke/\allowbreak{}table1/\allowbreak{}baseline/\allowbreak{}metrics.json}" in tex
    assert "iss\\_keeps\\_perplexity" in tex  # identifiers escaped
    # every non-ASCII character left is one pdflatex is told about (declared, or Latin-1 with T1 fonts)
    leftovers = {char for char in tex if ord(char) > 127 and not report_latex._keep_char(char)}
    assert not leftovers
    for char in "λ×±†→–":
        assert rf"\DeclareUnicodeCharacter{{{ord(char):04X}}}" in tex


def test_sanitize_unicode_keeps_declared_and_replaces_the_rest():
    assert report_latex.sanitize_unicode("λ → ×, é, ő, 漢") == "λ → ×, é, o, ?"
    assert report_latex.tex_text("a_b & 100% λ") == r"a\_b \& 100\% $\lambda$"


def test_cli_summary_writes_both_files(tree, capsys):
    results, reports = tree
    assert main(["--scale", "smoke", "--results", str(results), "--reports", str(reports), "summary"]) == 0
    out = capsys.readouterr().out
    assert "report.md" in out and "report.tex" in out


def test_cli_pdf_only_without_a_tex_file_is_a_clear_error(tmp_path, capsys):
    assert main(["--results", str(tmp_path), "--reports", str(tmp_path), "summary", "--pdf-only"]) == 2
    assert "report.tex does not exist" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_report_tex_compiles_with_pdflatex(tree, config):
    results, reports = tree
    _, tex = report.build(config, results, reports)
    pdf = report_latex.compile_pdf(tex)
    assert pdf == reports / "report.pdf" and pdf.read_bytes().startswith(b"%PDF")
    assert not list(reports.glob(".latex.*")), "the scratch folder was left behind"
    assert not list(reports.glob("*.aux"))


def _tiny_png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tiny_figure(path.with_suffix(""))


def test_snakemake_html_report_has_the_figures_and_tables(tmp_path):
    """`snakemake --report` in a scratch copy of the workflow. It needs every output marked
    report(...) to exist but no finished run: each file under reports/ that the DAG lists is
    created as a fixture (PNG for figures, text otherwise); items without run metadata are
    reported with a warning only."""
    copy_workflow(tmp_path)
    snakemake = Path(sys.executable).parent / "snakemake"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    summary = subprocess.run([str(snakemake), "--summary", "--cores", "1"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=300)
    assert summary.returncode == 0, summary.stderr[-3000:]
    outputs = [line.split("\t")[0] for line in summary.stdout.splitlines()[1:] if line.startswith("reports/")]
    assert "reports/smoke/report.md" in outputs and "reports/smoke/figures/speedup_vs_sparsity.png" in outputs
    for output in outputs:
        path = tmp_path / output
        if path.suffix == ".png":
            _tiny_png(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"fixture {output}\n")
    target = "reports/snakemake_report.html"
    done = subprocess.run([str(snakemake), "--report", target, "--cores", "1"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    html = (tmp_path / target).read_text(encoding="utf-8")
    for item in ("table1_training_curves.png", "table1_iss_sparsity.png", "rhn_tradeoff.png",
                 "speedup_vs_sparsity.png", "table1.md", "table2.md", "comparison.md", "report.md"):
        assert item in html, f"{item} is not a report item"
    for category in ("Figures", "Tables", "Report", "Comparison with the paper"):
        assert category in html
    assert "dashed line is the ideal" in html  # a caption (workflow/report/*.rst) rendered


def test_paper_size_timing_written_before_it_recorded_the_geometry_says_what_to_rerun(tmp_path, config):
    from iss_harness.io import write_json_atomic
    from iss_harness.reporting.table_files import paper_size_timing
    path = tmp_path / "smoke" / "table2" / "timing_paper_sizes.json"
    write_json_atomic(path, {"speedups": {"baseline": {"speedup": 1.0}}})  # latency only: the old format
    with pytest.raises(ValueError, match=r"has no 'costs'.*snakemake --forcerun table2_time_paper_sizes"):
        paper_size_timing(config, tmp_path, "table2", "costs")
    write_json_atomic(path, {"speedups": {}, "costs": {"baseline": {"weights": 10}}})
    assert paper_size_timing(config, tmp_path, "table2", "costs")["costs"]["baseline"]["weights"] == 10


def test_banners_count_threads_in_the_right_number():
    from iss_harness.reporting.table_files import threads_text
    assert threads_text(1) == "1 thread"
    assert threads_text("1") == "1 thread"  # provenance read back from JSON may hold either
    assert threads_text(4) == "4 threads"


def test_table1_names_the_fastest_path_in_words():
    from iss_harness.tables.table1.report import fastest_path_text
    assert fastest_path_text("1T|onednn") == "1 thread, oneDNN"
    assert fastest_path_text("2T|aten") == "2 threads, ATen"  # the T of ATen survives
