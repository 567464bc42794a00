"""Latency of the sweep's compact models against the baseline (first seed), as Table 1 times its rows."""
from __future__ import annotations

from pathlib import Path

from iss_harness.tables.table1.experiment import time_rows
from iss_harness.tables.table1.rows import pareto_rows


def time_pareto(config: dict, results: Path) -> dict:
    """results/<scale>/table1/timing_pareto.json: baseline and every sweep row."""
    return time_rows(config, results, ["baseline", *pareto_rows(config)], "timing_pareto.json")
