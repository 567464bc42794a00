# Table 2: Recurrent Highway Networks on PTB, an ISS lambda sweep. Rows: baseline and one per
# lambda in config `table2.lambdas`; every (row, seed) is its own job, so the sweep runs in parallel.
from iss_harness.tables.table2 import jobs as table2_jobs
from iss_harness.tables.table2.rows import table2_rows, table2_seeds

TABLE2_ROWS = table2_rows(config)
TABLE2_SEEDS = table2_seeds(config)
TABLE2_RUN = str(run_dir("results", config, "table2", "{row}", "{seed}"))
TABLE2_DIR = str(table_dir("results", config, "table2"))


rule table2_train:
    input:
        PTB,
    output:
        model=f"{TABLE2_RUN}/model.pt",
        history=f"{TABLE2_RUN}/history.csv",
    params:
        settings=lambda wildcards: table2_jobs.row_settings(config, wildcards.row),
    log:
        f"{RESULTS}/logs/table2_train_{{row}}_seed{{seed}}.log",
    threads: config["runtime"]["threads"]
    resources:
        **JOB_RESOURCES.get("train", {}),
    conda:
        CONDA_ENV
    shell:
        "iss train --table table2 --row {wildcards.row} --seed {wildcards.seed} --threads {threads} > {log} 2>&1"


rule table2_evaluate:
    input:
        PTB,
        model=rules.table2_train.output.model,
    output:
        metrics=f"{TABLE2_RUN}/metrics.json",
        compact=f"{TABLE2_RUN}/compact.pt",
    params:
        settings=lambda wildcards: table2_jobs.row_settings(config, wildcards.row),
    # before the next training starts: a trained row becomes a finished, recordable piece
    priority: 1
    log:
        f"{RESULTS}/logs/table2_evaluate_{{row}}_seed{{seed}}.log",
    threads: config["runtime"]["threads"]
    resources:
        **JOB_RESOURCES.get("evaluate", {}),
    conda:
        CONDA_ENV
    shell:
        "iss evaluate --table table2 --row {wildcards.row} --seed {wildcards.seed} --threads {threads} > {log} 2>&1"


# Latency with the machine to itself, as for Table 1.
rule table2_time_learned:
    input:
        expand(f"{TABLE2_RUN}/compact.pt", row=TABLE2_ROWS, seed=TABLE2_SEEDS[0]),
    output:
        f"{TABLE2_DIR}/timing_learned.json",
    params:
        settings=lambda wildcards: repr(config["scales"][SCALE]["timing"]),
    log:
        f"{RESULTS}/logs/table2_time_learned.log",
    threads: lambda wildcards: workflow.cores  # evaluated per job: --report needs no --cores
    resources:
        **JOB_RESOURCES.get("timing", {}),
    conda:
        CONDA_ENV
    shell:
        "iss time --table table2 --sizes learned > {log} 2>&1"


rule table2_time_paper_sizes:
    input:
        PAPER_TABLES,
    output:
        f"{TABLE2_DIR}/timing_paper_sizes.json",
    params:
        settings=lambda wildcards: repr(config["scales"][SCALE]["timing"]),
    log:
        f"{RESULTS}/logs/table2_time_paper_sizes.log",
    threads: lambda wildcards: workflow.cores  # evaluated per job: --report needs no --cores
    resources:
        **JOB_RESOURCES.get("timing", {}),
    conda:
        CONDA_ENV
    shell:
        "iss time --table table2 --sizes paper > {log} 2>&1"


rule table2_report:
    input:
        expand(f"{TABLE2_RUN}/metrics.json", row=TABLE2_ROWS, seed=TABLE2_SEEDS),
        rules.table2_time_learned.output,
        rules.table2_time_paper_sizes.output,
        PAPER_TABLES,
    output:
        csv=f"{RESULTS}/table2.csv",
        markdown=report(f"{REPORTS}/table2.md", category="Tables", caption="../report/table2.rst"),
        latex=f"{REPORTS}/table2.tex",
    log:
        f"{RESULTS}/logs/table2_report.log",
    conda:
        CONDA_ENV
    shell:
        "iss report --table table2 > {log} 2>&1"


rule table2_figures:
    input:
        rules.table2_report.output.csv,
    output:
        report(f"{REPORTS}/figures/rhn_tradeoff.png", category="Figures", caption="../report/rhn_tradeoff.rst"),
        f"{REPORTS}/figures/rhn_tradeoff.pdf",
    log:
        f"{RESULTS}/logs/table2_figures.log",
    conda:
        CONDA_ENV
    shell:
        "iss figures --table table2 > {log} 2>&1"
