# The width experiment (config `table1_width`; iss_harness.tables.table1_width): Table 1's baseline,
# ISS and direct design at several widths, on the experiment's own PTB slice. Not part of `all`:
# `snakemake table1_width`. Grid rows (w<h>_<kind>_keep<k>) train at the selection seed; the chosen
# rows (w<h>_baseline, w<h>_iss, w<h>_direct) at every seed of `table1_width.seeds`.
from iss_harness.tables.table1_width import jobs as table1_width_jobs
from iss_harness.tables.table1_width.rows import runs as table1_width_runs

TABLE1_WIDTH_RUN = str(run_dir("results", config, "table1_width", "{row}", "{seed}"))


rule table1_width_train:
    input:
        PTB,
        lambda wildcards: table1_width_jobs.inputs(config, wildcards.row, wildcards.seed),
    output:
        model=f"{TABLE1_WIDTH_RUN}/model.pt",
        history=f"{TABLE1_WIDTH_RUN}/history.csv",
    params:
        settings=lambda wildcards: table1_width_jobs.row_settings(config, wildcards.row),
    log:
        f"{RESULTS}/logs/table1_width_train_{{row}}_seed{{seed}}.log",
    threads: config["runtime"]["threads"]
    resources:
        **JOB_RESOURCES.get("train", {}),
    conda:
        CONDA_ENV
    shell:
        "iss train --table table1_width --row {wildcards.row} --seed {wildcards.seed} --threads {threads} > {log} 2>&1"


rule table1_width_evaluate:
    input:
        PTB,
        model=rules.table1_width_train.output.model,
    output:
        metrics=f"{TABLE1_WIDTH_RUN}/metrics.json",
        compact=f"{TABLE1_WIDTH_RUN}/compact.pt",
    params:
        settings=lambda wildcards: table1_width_jobs.row_settings(config, wildcards.row),
    # before the next training starts: a trained row becomes a finished, recordable piece
    priority: 1
    log:
        f"{RESULTS}/logs/table1_width_evaluate_{{row}}_seed{{seed}}.log",
    threads: config["runtime"]["threads"]
    resources:
        **JOB_RESOURCES.get("evaluate", {}),
    conda:
        CONDA_ENV
    shell:
        "iss evaluate --table table1_width --row {wildcards.row} --seed {wildcards.seed} --threads {threads} > {log} 2>&1"


rule table1_width:
    input:
        # a function: a scale without a `table1_width` block fails only when the target is asked for
        lambda wildcards: [f"{RESULTS}/table1_width/{row}/seed{seed}/metrics.json" for row, seed in table1_width_runs(config)],
        PAPER_TABLES,
    output:
        csv=f"{RESULTS}/table1_width.csv",
        markdown=f"{REPORTS}/table1_width.md",
        latex=f"{REPORTS}/table1_width.tex",
        figures=[report(f"{REPORTS}/figures/table1_width.png", category="Figures", caption="../report/table1_width.rst"),
                 f"{REPORTS}/figures/table1_width.pdf"],
    log:
        f"{RESULTS}/logs/table1_width.log",
    conda:
        CONDA_ENV
    shell:
        "iss report --table table1_width > {log} 2>&1"
