# Table 1's trade-off sweep (config `table1.pareto`; iss_harness.tables.table1_pareto): ISS at several
# lambdas and the direct design at each learned size, trained and evaluated by Table 1's rules (its
# rows are Table 1 runs), timed and drawn here. Not part of `all`: `snakemake table1_pareto`.
from iss_harness.tables.table1.rows import pareto_rows

TABLE1_PARETO_ROWS = list(pareto_rows(config))


rule table1_time_pareto:
    input:
        expand(f"{TABLE1_RUN}/compact.pt", row=["baseline", *TABLE1_PARETO_ROWS], seed=TABLE1_SEEDS[0]),
    output:
        f"{TABLE1_DIR}/timing_pareto.json",
    params:
        settings=lambda wildcards: repr(config["scales"][SCALE]["timing"]),
    log:
        f"{RESULTS}/logs/table1_time_pareto.log",
    threads: lambda wildcards: workflow.cores  # evaluated per job: --report needs no --cores
    resources:
        **JOB_RESOURCES.get("timing", {}),
    conda:
        CONDA_ENV
    shell:
        "iss time --table table1_pareto --sizes learned > {log} 2>&1"


rule table1_pareto:
    input:
        expand(f"{TABLE1_RUN}/metrics.json", row=TABLE1_ROWS, seed=TABLE1_SEEDS),
        expand(f"{TABLE1_RUN}/metrics.json", row=TABLE1_PARETO_ROWS, seed=TABLE1_SEEDS[0]),
        rules.table1_time_learned.output,
        rules.table1_time_pareto.output,
        PAPER_TABLES,
    output:
        csv=f"{TABLE1_DIR}/pareto.csv",
        figures=[report(f"{REPORTS}/figures/table1_pareto.png", category="Figures", caption="../report/table1_pareto.rst"),
                 f"{REPORTS}/figures/table1_pareto.pdf"],
    log:
        f"{RESULTS}/logs/table1_pareto.log",
    conda:
        CONDA_ENV
    shell:
        "iss report --table table1_pareto > {log} 2>&1"
