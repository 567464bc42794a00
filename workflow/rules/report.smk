# The one page a reader opens first (reports/report.md, reports/report.tex) and the paper's
# motivating figure measured here (structured vs non-structured sparsity). Include after the
# table rules: the report gathers whatever they produce.
#   snakemake --report reports/snakemake_report.html   Snakemake's HTML report (figures, tables)
#   snakemake reports/report.pdf                       the LaTeX report compiled (needs pdflatex)

# Rules whose outputs the report gathers: adding a table's rules here (if defined) is all it takes.
# Rules not defined (a table not in this workflow yet) are skipped.
REPORT_SOURCES = [
    "table1_report", "table1_figures",
    "table2_report", "table2_figures",
    "table3_report", "table3_figures",
    "compare",
    "sparsity_speed_figure",
]


# Timed with the machine to itself, like the latency rules.
rule sparsity_speed:
    output:
        f"{RESULTS}/sparsity_speed.json",
    params:
        settings=lambda wildcards: repr(config["scales"][SCALE].get("sparsity_speed")),
    log:
        f"{RESULTS}/logs/sparsity_speed.log",
    threads: workflow.cores
    resources:
        mem_mb=3000,
    conda:
        CONDA_ENV
    shell:
        "iss sparsity-speed --measure-only > {log} 2>&1"


rule sparsity_speed_figure:
    input:
        rules.sparsity_speed.output,
    output:
        png=report("reports/figures/speedup_vs_sparsity.png", category="Figures",
                   caption="../report/speedup_vs_sparsity.rst"),
        pdf="reports/figures/speedup_vs_sparsity.pdf",
    log:
        f"{RESULTS}/logs/sparsity_speed_figure.log",
    conda:
        CONDA_ENV
    shell:
        "iss sparsity-speed --plot-only > {log} 2>&1"


rule report:
    input:
        report_inputs,
    output:
        markdown=report("reports/report.md", category="Report", caption="../report/report.rst"),
        latex="reports/report.tex",
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
        report("reports/report.pdf", category="Report", caption="../report/report.rst"),
    log:
        f"{RESULTS}/logs/report_pdf.log",
    conda:
        CONDA_ENV
    shell:
        "iss summary --pdf-only > {log} 2>&1"
