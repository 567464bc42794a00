# The paper's motivating figure, measured here: one LSTM layer's multiply with structured removal
# (a smaller dense GEMM) against non-structured random sparsity at equal sparsity (config
# `sparsity_speed`). Not a table of the paper; the report shows it under Figures.

# Timed with the machine to itself, like the latency rules.
rule sparsity_speed:
    output:
        f"{RESULTS}/sparsity_speed.json",
    params:
        settings=lambda wildcards: repr(config["scales"][SCALE].get("sparsity_speed")),
    log:
        f"{RESULTS}/logs/sparsity_speed.log",
    threads: lambda wildcards: workflow.cores  # evaluated per job: --report needs no --cores
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
        png=report(f"{REPORTS}/figures/speedup_vs_sparsity.png", category="Figures",
                   caption="../report/speedup_vs_sparsity.rst"),
        pdf=f"{REPORTS}/figures/speedup_vs_sparsity.pdf",
    log:
        f"{RESULTS}/logs/sparsity_speed_figure.log",
    conda:
        CONDA_ENV
    shell:
        "iss sparsity-speed --plot-only > {log} 2>&1"
