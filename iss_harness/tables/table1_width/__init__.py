"""The width experiment (config ``table1_width``; target ``table1_width``, not in the default run):
Table 1's comparison, ISS against the direct design, repeated at several widths of the two stacked
LSTMs on a PTB slice small enough that the widest model is over-parameterised. The paper's claim is
about its 2 x 1500 model; this asks where, as width grows, it starts to hold. ``rows`` (torch-free),
``jobs``, ``experiment``, ``report`` and ``figures``; the claim is ``iss_beats_direct_when_wide``."""
from iss_harness.tables.registry import Call, Table, register

_EXPERIMENT = "iss_harness.tables.table1_width.experiment"


def _configured(config: dict) -> bool:
    from iss_harness.config import scale_settings
    return "table1_width" in scale_settings(config)


def _rows(config: dict) -> list[str]:
    from iss_harness.tables.table1_width.rows import all_rows
    return list(all_rows(config)) if _configured(config) else []


def _seeds(config: dict) -> list[int]:
    from iss_harness.tables.table1_width.rows import all_seeds
    return all_seeds(config) if _configured(config) else []


TABLE = register(Table(
    name="table1_width", rows=_rows, seeds=_seeds, row_origin="rows come from table1_width.widths and keep_grid",
    rules="workflow/rules/table1_width.smk",
    jobs="iss_harness.tables.table1_width.jobs", default_run=False,
    steps=dict(train=Call(_EXPERIMENT, "train_row", ("row", "seed", "results"), ("restart",)),
               evaluate=Call(_EXPERIMENT, "evaluate_row", ("row", "seed", "results")),
               report=Call("iss_harness.tables.table1_width.report", "build", ("results", "reports")))))
