"""What each Table 1 job depends on, for the rule files (torch-free): the settings whose change
reruns a row (a Snakemake param) and the files a row reads besides PTB."""
from __future__ import annotations

from iss_harness.tables.table1.rows import TABLE, all_rows, row_dir, start_row
from iss_harness.config import scale_settings

PAPER_CELLS = "config/paper_tables.yaml"


def row_settings(config: dict, row: str) -> str:
    """Everything in the config that decides one row's result: a change reruns that row (the row
    list, seeds and sweep are left out, so adding a row or a seed runs only the new jobs)."""
    settings = scale_settings(config)
    table = {k: v for k, v in settings[TABLE].items() if k not in ("rows", "seeds", "pareto")}
    runtime = (config["runtime"]["seed"], config["runtime"].get("precision"))
    return repr((settings["ptb"], table, all_rows(config)[row], runtime))


def sizes_source(config: dict, row: str, seed: int | str) -> list[str]:
    """The direct design trains the sizes another row learned, or the paper's (config `hidden_from`)."""
    source = all_rows(config)[row].get("hidden_from")
    if source is None:
        return []
    return [PAPER_CELLS] if source == "paper" else [f"{row_dir('results', config, source, seed)}/metrics.json"]


def start_source(config: dict, row: str, seed: int | str) -> list[str]:
    """A row with `iss_start: baseline` starts from the trained baseline of the same seed."""
    source = start_row(all_rows(config)[row])
    return [] if source is None else [f"{row_dir('results', config, source, seed)}/model.pt"]
