"""What each width-experiment job depends on, for its rule file (torch-free): the settings whose
change reruns a row, and the files a row reads besides PTB (the ISS sizes a direct design trains
at, the grid runs a keep ratio is chosen from)."""
from __future__ import annotations

from iss_harness.tables.table1_width import rows
from iss_harness.tables.table1_width.rows import grid_rows, row_dir, settings, sizes_row


def row_settings(config: dict, row: str) -> str:
    """Everything in the config that decides one row's result (the widths list, seeds and other
    rows left out: adding a width or a seed runs only the new jobs; the budget decides nothing)."""
    table = {k: v for k, v in settings(config).items()
             if k not in ("widths", "seeds", "keep_grid", "dense", "iss", "budget")}
    runtime = (config["runtime"]["seed"], config["runtime"].get("precision"))
    return repr((table, rows.row_settings(config, row), runtime))


def inputs(config: dict, row: str, seed: int | str) -> list[str]:
    """The runs' files a row reads before it trains."""
    files = []
    source = sizes_row(config, row, int(seed))
    if source is not None:
        files.append(f"{row_dir('results', config, *source)}/metrics.json")
    selection_seed = settings(config)["selection_seed"]
    files += [f"{row_dir('results', config, grid_row, selection_seed)}/metrics.json"
              for grid_row in grid_rows(config, row)]
    return files
