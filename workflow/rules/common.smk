# Functions and settings shared by the files of rules, which hold only rules (snakemake --lint).
# Input functions take the job's wildcards; "settings" functions return the repr of every config
# value that decides a job's result, as a Snakemake param, so that a change reruns exactly those jobs.
from iss_harness.tables.table1.rows import all_rows, start_row
from iss_harness.tables.table3.rows import row_lambda

TABLE3 = config["scales"][SCALE]["table3"]
TABLE1_DIR = str(table_dir("results", config, "table1"))
TABLE2_DIR = str(table_dir("results", config, "table2"))
TABLE3_DIR = str(table_dir("results", config, "table3"))


# --- Table 1 ---------------------------------------------------------------------------------


def row_settings(wildcards):
    """Everything in the config that decides one row's result: a change reruns that row."""
    settings = config["scales"][SCALE]
    table = {k: v for k, v in settings["table1"].items() if k not in ("rows", "seeds", "pareto")}
    runtime = (config["runtime"]["seed"], config["runtime"].get("precision"))
    return repr((settings["ptb"], table, all_rows(config)[wildcards.row], runtime))


def sizes_source(wildcards):
    """The direct design trains the sizes another row learned, or the paper's (config `hidden_from`)."""
    source = all_rows(config)[wildcards.row].get("hidden_from")
    if source is None:
        return []
    return [PAPER_TABLES] if source == "paper" else [f"{run_dir('results', config, 'table1', source, wildcards.seed)}/metrics.json"]


def start_source(wildcards):
    """A row with `iss_start: baseline` starts from the trained baseline of the same seed."""
    source = start_row(all_rows(config)[wildcards.row])
    return [] if source is None else [f"{run_dir('results', config, 'table1', source, wildcards.seed)}/model.pt"]


# --- Table 2 ---------------------------------------------------------------------------------


def table2_settings(wildcards):
    """Everything in the config that decides one row's result: a change reruns that row. The lambda
    list and the seeds are left out: the row's own lambda is in its name and the seed in its path, so
    adding a lambda or a seed runs only the new jobs."""
    settings = config["scales"][SCALE]
    shared = {k: v for k, v in settings["table2"].items() if k not in ("lambdas", "seeds")}
    return repr((settings["ptb"], shared, wildcards.row, config["runtime"].get("precision")))


# --- Table 3 ---------------------------------------------------------------------------------


def table3_data_settings(wildcards=None):
    return repr((TABLE3["data"], TABLE3["glove"], TABLE3["limits"]))


def table3_row_settings(wildcards):
    """Everything in the config that decides one row's weights: a change reruns that row (and, for
    the baseline, every ISS row fine-tuned from it)."""
    shared = {k: v for k, v in TABLE3.items() if k not in ("baseline", "iss", "lambdas", "control", "eval", "timing")}
    if wildcards.row == "baseline":
        row = ("baseline", TABLE3["baseline"])
    else:  # an ISS row, or the control (lambda 0)
        row = (wildcards.row, TABLE3["iss"], row_lambda(config, wildcards.row))
    return repr((shared, row, config["runtime"]["seed"]))


def table3_start(wildcards):
    """ISS rows and the control start from the baseline's EMA weights."""
    return [] if wildcards.row == "baseline" else [f"{TABLE3_DIR}/baseline/model.pt"]


def table3_resources(kind):
    """The scale's `resources.<kind>` (at paper scale: gpu 1 and its runtime), as Tables 1 and 2 get,
    with at least the 4000 MB BiDAF has always asked for (GloVe and the SQuAD tensors sit in memory)."""
    wanted = dict(JOB_RESOURCES.get(kind, {}))
    wanted["mem_mb"] = max(4000, wanted.get("mem_mb", 0))
    return wanted


# --- the report --------------------------------------------------------------------------------


def report_inputs(wildcards):
    """Evaluated once every rule file is read, so rules included after this file count too."""
    files = []
    for name in REPORT_SOURCES:
        if workflow.is_rule(name):
            files.extend(str(path) for path in workflow.get_rule(name).output)
    return files
