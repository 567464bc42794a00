# Reproduce the tables of "Learning Intrinsic Sparse Structures within LSTM" (Wen et al., ICLR 2018).
#   snakemake --cores 8                          smoke scale (default): minutes on a laptop CPU
#   snakemake --cores 8 --config scale=paper     the paper's geometry and schedules (GPU / cluster)
# Every rule calls the `iss` command-line tool; this file only wires files together.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")

SCALE = config["scale"]
RESULTS = f"results/{SCALE}"
# The `iss` tool re-reads the same configuration files (and the chosen scale) in every job.
ISS = "iss " + " ".join(f"--config {f}" for f in workflow.configfiles) + f" --scale {SCALE}"


include: "workflow/rules/data.smk"
include: "workflow/rules/table1.smk"


rule all:
    input:
        "reports/table1.md",
        "reports/table1.tex",
        "results/table1.csv",
