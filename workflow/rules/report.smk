# The one page a reader opens first (reports/report.md, reports/report.tex). Include after the
# table rules and sparsity_speed.smk: the report gathers whatever they produce.
#   snakemake --report reports/snakemake_report.html   Snakemake's HTML report (figures, tables)
#   snakemake reports/report.pdf                       the LaTeX report compiled (needs pdflatex)

# Rules whose outputs the report gathers: each table's <table>_report and <table>_figures, where
# its rule file defines them (see report_inputs), then the comparison and the speed figure.
REPORT_SOURCES = [f"{table}_{step}" for table in TABLES for step in ("report", "figures")] + [
    "compare",
    "sparsity_speed_figure",
]


rule report:
    input:
        report_inputs,
        CLAIMS,  # the summary states each claim and the judgement of a failure
    output:
        markdown=report(f"{REPORTS}/report.md", category="Report", caption="../report/report.rst"),
        latex=f"{REPORTS}/report.tex",
    log:
        f"{RESULTS}/logs/report.log",
    conda:
        CONDA_ENV
    shell:
        "iss summary > {log} 2>&1"


# Not part of `all`: needs pdflatex (Debian: texlive-latex-base texlive-latex-recommended
# texlive-fonts-recommended).
rule report_pdf:
    input:
        rules.report.output.latex,
        report_inputs,
    output:
        report(f"{REPORTS}/report.pdf", category="Report", caption="../report/report.rst"),
    log:
        f"{RESULTS}/logs/report_pdf.log",
    conda:
        CONDA_ENV
    shell:
        "iss summary --pdf-only > {log} 2>&1"
