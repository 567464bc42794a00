"""Table 1's trade-off sweep (config ``table1.pareto``; target ``table1_pareto``, not in the default
run): ISS at several lambdas and the direct design at each learned size, against the baseline, by
weights and by speedup. Its rows are Table 1 runs (trained and evaluated by Table 1's experiment,
stored in Table 1's folder); ``experiment`` times them, ``report`` writes pareto.csv and the figure."""
from iss_harness.tables.registry import Call, Table, register

_TABLE1 = "iss_harness.tables.table1.experiment"


def _rows(config: dict) -> list[str]:
    from iss_harness.tables.table1.rows import pareto_rows
    return list(pareto_rows(config))


def _seeds(config: dict) -> list[int]:
    from iss_harness.tables.table1.rows import seeds
    return seeds(config)


TABLE = register(Table(
    name="table1_pareto", rows=_rows, seeds=_seeds, row_origin="rows come from table1.pareto",
    rules="workflow/rules/table1_pareto.smk", folder="table1", jobs="iss_harness.tables.table1.jobs",
    steps=dict(train=Call(_TABLE1, "train_row", ("row", "seed", "results"), ("restart",)),
               evaluate=Call(_TABLE1, "evaluate_row", ("row", "seed", "results")),
               report=Call("iss_harness.tables.table1_pareto.report", "build", ("results", "reports"))),
    timings=dict(learned=Call("iss_harness.tables.table1_pareto.experiment", "time_pareto"))))
