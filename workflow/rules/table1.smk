# Table 1: PTB, two stacked LSTMs. Rows: baseline, iss_a, iss_b (ISS), direct (direct design) and,
# where configured, iss_a/b_from_baseline (ISS started from the trained baseline); each row once per
# seed in config `table1.seeds` (default: the runtime seed). The trade-off sweep: table1_pareto.smk.
from iss_harness.config import table_seeds
from iss_harness.tables.table1 import jobs as table1_jobs

PTB = rules.fetch_ptb.output
TABLE1_ROWS = list(config["scales"][SCALE]["table1"]["rows"])
TABLE1_SEEDS = table_seeds(config, "table1")
TABLE1_RUN = str(run_dir("results", config, "table1", "{row}", "{seed}"))
TABLE1_DIR = str(table_dir("results", config, "table1"))


rule table1_train:
    input:
        PTB,
        lambda wildcards: table1_jobs.sizes_source(config, wildcards.row, wildcards.seed),
        lambda wildcards: table1_jobs.start_source(config, wildcards.row, wildcards.seed),
    output:
        model=f"{TABLE1_RUN}/model.pt",
        history=f"{TABLE1_RUN}/history.csv",
    params:
        settings=lambda wildcards: table1_jobs.row_settings(config, wildcards.row),
    log:
        f"{RESULTS}/logs/table1_train_{{row}}_seed{{seed}}.log",
    threads: config["runtime"]["threads"]
    resources:
        **JOB_RESOURCES.get("train", {}),
    conda:
        CONDA_ENV
    shell:
        "iss train --table table1 --row {wildcards.row} --seed {wildcards.seed} --threads {threads} > {log} 2>&1"


rule table1_evaluate:
    input:
        PTB,
        model=rules.table1_train.output.model,
    output:
        metrics=f"{TABLE1_RUN}/metrics.json",
        compact=f"{TABLE1_RUN}/compact.pt",
    params:
        settings=lambda wildcards: table1_jobs.row_settings(config, wildcards.row),
    # before the next training starts: a trained row becomes a finished, recordable piece
    priority: 1
    log:
        f"{RESULTS}/logs/table1_evaluate_{{row}}_seed{{seed}}.log",
    threads: config["runtime"]["threads"]
    resources:
        **JOB_RESOURCES.get("evaluate", {}),
    conda:
        CONDA_ENV
    shell:
        "iss evaluate --table table1 --row {wildcards.row} --seed {wildcards.seed} --threads {threads} > {log} 2>&1"


# Latency is measured with the machine to itself: every core, one job at a time.
rule table1_time_learned:
    input:
        expand(f"{TABLE1_RUN}/compact.pt", row=TABLE1_ROWS, seed=TABLE1_SEEDS[0]),
    output:
        f"{TABLE1_DIR}/timing_learned.json",
    params:
        settings=lambda wildcards: repr(config["scales"][SCALE]["timing"]),
    log:
        f"{RESULTS}/logs/table1_time_learned.log",
    threads: lambda wildcards: workflow.cores  # evaluated per job: --report needs no --cores
    resources:
        **JOB_RESOURCES.get("timing", {}),
    conda:
        CONDA_ENV
    shell:
        "iss time --table table1 --sizes learned > {log} 2>&1"


rule table1_time_paper_sizes:
    input:
        PAPER_TABLES,
    output:
        f"{TABLE1_DIR}/timing_paper_sizes.json",
    params:
        settings=lambda wildcards: repr(config["scales"][SCALE]["timing"]),
    log:
        f"{RESULTS}/logs/table1_time_paper_sizes.log",
    threads: lambda wildcards: workflow.cores  # evaluated per job: --report needs no --cores
    resources:
        **JOB_RESOURCES.get("timing", {}),
    conda:
        CONDA_ENV
    shell:
        "iss time --table table1 --sizes paper > {log} 2>&1"


rule table1_report:
    input:
        expand(f"{TABLE1_RUN}/metrics.json", row=TABLE1_ROWS, seed=TABLE1_SEEDS),
        rules.table1_time_learned.output,
        rules.table1_time_paper_sizes.output,
        PAPER_TABLES,
    output:
        csv=f"{RESULTS}/table1.csv",
        markdown=report(f"{REPORTS}/table1.md", category="Tables", caption="../report/table1.rst"),
        latex=f"{REPORTS}/table1.tex",
    log:
        f"{RESULTS}/logs/table1_report.log",
    conda:
        CONDA_ENV
    shell:
        "iss report --table table1 > {log} 2>&1"


rule table1_figures:
    input:
        expand(f"{TABLE1_RUN}/history.csv", row=TABLE1_ROWS, seed=TABLE1_SEEDS),
        expand(f"{TABLE1_RUN}/model.pt", row="iss_a", seed=TABLE1_SEEDS[0]),
    output:
        [report(f"{REPORTS}/figures/table1_{name}.png", category="Figures", caption=f"../report/table1_{name}.rst")
         for name in ["training_curves", "iss_sparsity"]],
        expand(f"{REPORTS}/figures/table1_{{name}}.pdf", name=["training_curves", "iss_sparsity"]),
    log:
        f"{RESULTS}/logs/table1_figures.log",
    conda:
        CONDA_ENV
    shell:
        "iss figures --table table1 > {log} 2>&1"
