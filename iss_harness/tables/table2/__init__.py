"""Table 2: Recurrent Highway Networks on PTB, the lambda sweep (width 830 shrinking at paper
scale). ``rows`` (torch-free), ``experiment``, ``report``, ``figures``."""
from iss_harness.tables.lm_table import lm_table
from iss_harness.tables.registry import register


def _rows(config: dict) -> list[str]:
    from iss_harness.tables.table2.rows import table2_rows
    return table2_rows(config)


def _seeds(config: dict) -> list[int]:
    from iss_harness.tables.table2.rows import table2_seeds
    return table2_seeds(config)


TABLE = register(lm_table("table2", _rows, _seeds, "one ISS row per entry of table2.lambdas"))
