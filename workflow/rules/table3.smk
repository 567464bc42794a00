# Table 3: BiDAF on SQuAD v1.1, ISS on the modeling and output LSTMs. Rows: baseline, then iss_1,
# iss_2, ... (one per lambda in config `table3.lambdas`, by increasing lambda), each fine-tuned from
# the baseline's EMA weights. Data: at smoke/mid an article-level split of SQuAD dev (the train set is
# not available offline), at paper train-v1.1 and dev-v1.1 as published.
from iss_harness.tables.table3 import jobs as table3_jobs
from iss_harness.tables.table3.rows import data_files, glove_name, settings as table3_settings, table3_rows, uses_dev_split

TABLE3 = table3_settings(config)
TABLE3_ROWS = table3_rows(config)
TABLE3_DIR = str(table_dir("results", config, "table3"))
TABLE3_DATA = f"{TABLE3_DIR}/data"
TABLE3_FILES = data_files(config)


rule table3_prepare:
    input:
        [str(path) for path in TABLE3_FILES.values()],
    output:
        prepared=f"{TABLE3_DATA}/prepared.pt",
        summary=f"{TABLE3_DATA}/summary.json",
        splits=[f"{TABLE3_DATA}/train.json", f"{TABLE3_DATA}/eval.json"] if uses_dev_split(config) else [],
    params:
        settings=lambda wildcards: table3_jobs.data_settings(config),
    log:
        f"{RESULTS}/logs/table3_prepare.log",
    resources:
        mem_mb=4000,
    conda:
        CONDA_ENV
    shell:
        "iss prepare --table table3 > {log} 2>&1"


rule table3_train:
    input:
        f"{TABLE3_DATA}/prepared.pt",
        lambda wildcards: table3_jobs.start_source(config, wildcards.row),
    output:
        model=f"{TABLE3_DIR}/{{row}}/model.pt",
        history=f"{TABLE3_DIR}/{{row}}/history.csv",
    wildcard_constraints:
        row="baseline|iss_[0-9]+|control",
    params:
        settings=lambda wildcards: table3_jobs.row_settings(config, wildcards.row),
    log:
        f"{RESULTS}/logs/table3_train_{{row}}.log",
    priority: 1  # training is the critical path: before the latency jobs, which take every core
    threads: config["runtime"]["threads"]
    resources:
        **table3_jobs.resources(config, "train"),
    conda:
        CONDA_ENV
    shell:
        "iss train --table table3 --row {wildcards.row} --threads {threads} > {log} 2>&1"


rule table3_evaluate:
    input:
        f"{TABLE3_DATA}/prepared.pt",
        model=rules.table3_train.output.model,
    output:
        metrics=f"{TABLE3_DIR}/{{row}}/metrics.json",
        compact=f"{TABLE3_DIR}/{{row}}/compact.pt",
        predictions=f"{TABLE3_DIR}/{{row}}/predictions.json",
        norms=f"{TABLE3_DIR}/{{row}}/group_norms.json",
    wildcard_constraints:
        row="baseline|iss_[0-9]+|control",
    params:
        settings=lambda wildcards: repr(TABLE3["eval"]),
    # before the next training starts: a trained row becomes a finished, recordable piece
    priority: 1
    log:
        f"{RESULTS}/logs/table3_evaluate_{{row}}.log",
    threads: config["runtime"]["threads"]
    resources:
        **table3_jobs.resources(config, "evaluate"),
    conda:
        CONDA_ENV
    shell:
        "iss evaluate --table table3 --row {wildcards.row} --threads {threads} > {log} 2>&1"


# Latency with the machine to itself (every core, one job), as for Tables 1 and 2.
rule table3_time_learned:
    input:
        f"{TABLE3_DATA}/prepared.pt",
        expand(f"{TABLE3_DIR}/{{row}}/compact.pt", row=TABLE3_ROWS),
    output:
        f"{TABLE3_DIR}/timing_learned.json",
    params:
        settings=lambda wildcards: repr(TABLE3["timing"]),
    log:
        f"{RESULTS}/logs/table3_time_learned.log",
    threads: lambda wildcards: workflow.cores  # evaluated per job: --report needs no --cores
    conda:
        CONDA_ENV
    shell:
        "iss time --table table3 --sizes learned > {log} 2>&1"


rule table3_time_paper_sizes:
    input:
        PAPER_TABLES,
        f"{TABLE3_DATA}/prepared.pt",
    output:
        f"{TABLE3_DIR}/timing_paper_sizes.json",
    params:
        settings=lambda wildcards: repr(TABLE3["timing"]),
    log:
        f"{RESULTS}/logs/table3_time_paper_sizes.log",
    threads: lambda wildcards: workflow.cores  # evaluated per job: --report needs no --cores
    conda:
        CONDA_ENV
    shell:
        "iss time --table table3 --sizes paper > {log} 2>&1"


rule table3_report:
    input:
        expand(f"{TABLE3_DIR}/{{row}}/metrics.json", row=TABLE3_ROWS),
        rules.table3_time_learned.output,
        rules.table3_time_paper_sizes.output,
        PAPER_TABLES,
    output:
        csv=f"{RESULTS}/table3.csv",
        markdown=f"{REPORTS}/table3.md",
        latex=f"{REPORTS}/table3.tex",
    log:
        f"{RESULTS}/logs/table3_report.log",
    conda:
        CONDA_ENV
    shell:
        "iss report --table table3 > {log} 2>&1"


rule table3_figures:
    input:
        expand(f"{TABLE3_DIR}/{{row}}/group_norms.json", row=TABLE3_ROWS),
    output:
        expand(f"{REPORTS}/figures/bidaf_group_norms.{{ext}}", ext=["png", "pdf"]),
    log:
        f"{RESULTS}/logs/table3_figures.log",
    conda:
        CONDA_ENV
    shell:
        "iss figures --table table3 > {log} 2>&1"
