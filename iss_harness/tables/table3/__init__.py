"""Table 3: BiDAF on SQuAD v1.1, ISS on the six modeling/output LSTMs. ``rows`` (torch-free: rows,
folders, data files), ``data`` (prepare), ``train`` (the QA training loop), ``experiment`` (train,
evaluate, time a row), ``report``, ``figures``. One run per row."""
from iss_harness.tables.registry import Call, Table, register

_PACKAGE = "iss_harness.tables.table3"
_EXPERIMENT = f"{_PACKAGE}.experiment"


def _rows(config: dict) -> list[str]:
    from iss_harness.tables.table3.rows import table3_rows
    return table3_rows(config)


TABLE = register(Table(
    name="table3", rows=_rows, seeds=None, row_origin="one ISS row per entry of table3.lambdas",
    rules="workflow/rules/table3.smk", jobs=f"{_PACKAGE}.jobs",
    steps=dict(prepare=Call(f"{_PACKAGE}.data", "prepare"),
               train=Call(_EXPERIMENT, "train_row", ("row", "results"), ("restart",)),
               evaluate=Call(_EXPERIMENT, "evaluate_row", ("row", "results")),
               report=Call(f"{_PACKAGE}.report", "build", ("results", "reports")),
               figures=Call(f"{_PACKAGE}.figures", "write_figures", ("results", "reports"))),
    timings=dict(learned=Call(_EXPERIMENT, "time_learned"), paper=Call(_EXPERIMENT, "time_paper_sizes"))))
