# The paper comparison: every reproduced number beside the paper's with its tolerance, and the
# paper's claims checked on this run (config/claims.yaml). The report is always written; the gate
# fails the workflow (and CI) when a check that applies at this scale fails.
CLAIMS = "config/claims.yaml"


rule compare:
    input:
        [f"{RESULTS}/{table}.csv" for table in COMPARED_TABLES],
        results_if_run,
        PAPER_CELLS,
        CLAIMS,
    output:
        markdown=report(f"{REPORTS}/comparison.md", category="Comparison with the paper",
                        caption="../report/comparison.rst"),
        csv=f"{RESULTS}/comparison.csv",
    log:
        f"{RESULTS}/logs/compare.log",
    conda:
        CONDA_ENV
    shell:
        "iss compare --no-fail > {log} 2>&1"


rule compare_gate:
    input:
        rules.compare.output.csv,
    output:
        touch(f"{RESULTS}/comparison.passed"),
    log:
        f"{RESULTS}/logs/compare_gate.log",
    conda:
        CONDA_ENV
    shell:
        "iss compare --check-only > {log} 2>&1 || (cat {log}; exit 1)"
