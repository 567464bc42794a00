"""Table 1: PTB language model, two stacked LSTMs (Zaremba large at paper scale): the baseline,
ISS and the direct design, per row and seed. ``rows`` (torch-free), ``experiment``, ``report``,
``figures``; the trade-off sweep's rows are Table 1 runs (``iss_harness.tables.table1_pareto``)."""
from iss_harness.tables.lm_table import lm_table
from iss_harness.tables.registry import register


def _rows(config: dict) -> list[str]:
    from iss_harness.tables.table1.rows import all_rows
    return list(all_rows(config))


def _seeds(config: dict) -> list[int]:
    from iss_harness.tables.table1.rows import seeds
    return seeds(config)


TABLE = register(lm_table("table1", _rows, _seeds, "rows come from table1.rows and table1.pareto"))
