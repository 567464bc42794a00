# Reproduce the tables of "Learning Intrinsic Sparse Structures within LSTM" (Wen et al., ICLR 2018).
#   snakemake --cores 8                          smoke scale (default): minutes on a laptop CPU
#   snakemake --cores 8 --config scale=paper     the paper's geometry and schedules (GPU / cluster)
# Every rule calls the `iss` command-line tool; this file only wires files together.
import json
import os

from snakemake.utils import min_version

from iss_harness.config import validate
from iss_harness.tables import compared_tables, load_tables, paper_files
from iss_harness.tasks.paths import run_dir, scale_root, table_dir

min_version("9.0")


CONFIG_FILE = "config/config.yaml"


configfile: CONFIG_FILE


# workflow/schemas/config.schema.yaml, except the blocks of `extra_tables` (each table's own schema,
# checked by load_tables below).
validate(config, CONFIG_FILE)

SCALE = config["scale"]
# The results tree of iss_harness.tasks.paths (results/<scale>/<table>/<row>[/seed<N>]), as rule patterns.
RESULTS = str(scale_root("results", config))
# Each scale's reports in their own folder (reports/<scale>/: tables, figures, comparison, the report).
REPORTS = f"reports/{SCALE}"
PAPER_TABLES = "config/paper_tables.yaml"
# Cluster resources per kind of job (config `resources`: mem_mb, runtime in minutes, gpu).
JOB_RESOURCES = config["scales"][SCALE].get("resources", {})
# Every job's `iss` re-reads the same configuration: this file's configfile first, then what the
# command line added (--configfile files and --config values, in Snakemake's order of precedence).
# Passed in the environment, which every job inherits (a cluster job re-reads this file and sets it
# again), so that the rules' shell commands read as plain `iss ...` and a changed --config value
# is not a changed param: only the settings a job's result depends on rerun it.
# (Set here, not read: the `envvars:` directive is for variables the user must provide.)
os.environ.update(
    ISS_CONFIG=CONFIG_FILE,
    ISS_CONFIG_OVERRIDES=json.dumps(workflow.config_settings.overwrite_config),
)
# The software of every job (snakemake --use-conda builds it; by default the current environment).
CONDA_ENV = "../../environment.yml"


# Training runs are one folder per row and seed: results/<scale>/<table>/<row>/seed<N>/.
wildcard_constraints:
    seed="[0-9]+",


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
# One rule file per registered table (iss_harness.tables): the paper's Tables 1-3, Table 1's
# trade-off sweep, and any the config's `extra_tables` adds.
TABLES = load_tables(config)
# The tables with cells (config/paper_tables.yaml and each table's own file) are compared: those of
# the default run always, an experiment outside it (the width experiment) once its results exist.
PAPER_CELLS = [PAPER_TABLES, *paper_files()]
COMPARED_TABLES = compared_tables()
COMPARED_IF_RUN = compared_tables(default_run=False)
for rule_file in [table.rules for table in TABLES.values() if table.rules]:

    include: rule_file


include: "workflow/rules/sparsity_speed.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/report.smk"


# `snakemake --report reports/snakemake_report.html`: the figures and tables marked report(...) in the rules.
report: "workflow/report/workflow.rst"


rule all:
    input:
        f"{REPORTS}/table1.md",
        f"{REPORTS}/table1.tex",
        f"{RESULTS}/table1.csv",
        rules.table1_figures.output,
        rules.table2_report.output,
        rules.table2_figures.output,
        rules.table3_report.output,
        rules.table3_figures.output,
        rules.compare.output,
        rules.compare_gate.output,
        rules.sparsity_speed_figure.output,
        rules.report.output,
