"""What each Table 3 job depends on, for the rule files (torch-free)."""
from __future__ import annotations

from iss_harness.tables.table3.rows import row_dir, row_lambda, settings


def data_settings(config: dict) -> str:
    table = settings(config)
    return repr((table["data"], table["glove"], table["limits"]))


def row_settings(config: dict, row: str) -> str:
    """Everything in the config that decides one row's weights: a change reruns that row (and, for
    the baseline, every ISS row fine-tuned from it)."""
    table = settings(config)
    shared = {k: v for k, v in table.items() if k not in ("baseline", "iss", "lambdas", "control", "eval", "timing")}
    if row == "baseline":
        described = ("baseline", table["baseline"])
    else:  # an ISS row, or the control (lambda 0)
        described = (row, table["iss"], row_lambda(config, row))
    return repr((shared, described, config["runtime"]["seed"]))


def start_source(config: dict, row: str) -> list[str]:
    """ISS rows and the control start from the baseline's EMA weights."""
    return [] if row == "baseline" else [f"{row_dir('results', config, 'baseline')}/model.pt"]


def resources(config: dict, kind: str) -> dict:
    """The scale's `resources.<kind>` (at paper scale: gpu 1 and its runtime), as Tables 1 and 2 get,
    with at least the 4000 MB BiDAF has always asked for (GloVe and the SQuAD tensors sit in memory)."""
    wanted = dict(config["scales"][config["scale"]].get("resources", {}).get(kind, {}))
    wanted["mem_mb"] = max(4000, wanted.get("mem_mb", 0))
    return wanted
