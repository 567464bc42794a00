"""What each Table 2 job depends on, for the rule files (torch-free)."""
from __future__ import annotations

from iss_harness.config import scale_settings
from iss_harness.tables.table2.rows import TABLE


def row_settings(config: dict, row: str) -> str:
    """Everything in the config that decides one row's result: a change reruns that row. The lambda
    list and the seeds are left out: the row's own lambda is in its name and the seed in its path, so
    adding a lambda or a seed runs only the new jobs."""
    settings = scale_settings(config)
    shared = {k: v for k, v in settings[TABLE].items() if k not in ("lambdas", "seeds")}
    return repr((settings["ptb"], shared, row, config["runtime"].get("precision")))
