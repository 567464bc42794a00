"""The steps Tables 1 and 2 share: language models trained per row and seed, evaluated, timed,
reported and drawn, each step a function of the table's own modules."""
from __future__ import annotations

from iss_harness.tables.registry import Call, Table

TIMINGS = dict(learned="time_learned", paper="time_paper_sizes")


def lm_table(name: str, rows, seeds, row_origin: str) -> Table:
    """``iss_harness.tables.<name>``: experiment.train_row / evaluate_row / time_*, report.build,
    figures.write_figures, jobs.row_settings; rule file workflow/rules/<name>.smk."""
    package = f"iss_harness.tables.{name}"
    experiment = f"{package}.experiment"
    return Table(
        name=name, rows=rows, seeds=seeds, row_origin=row_origin, rules=f"workflow/rules/{name}.smk", jobs=f"{package}.jobs",
        steps=dict(train=Call(experiment, "train_row", ("row", "seed", "results"), ("restart",)),
                   evaluate=Call(experiment, "evaluate_row", ("row", "seed", "results")),
                   report=Call(f"{package}.report", "build", ("results", "reports")),
                   figures=Call(f"{package}.figures", "write_figures", ("results", "reports"))),
        timings={sizes: Call(experiment, function) for sizes, function in TIMINGS.items()})
