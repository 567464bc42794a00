"""Every table the command line can run, registered in one place, reached through one protocol.

A table is a ``Table``: its name, its rows and seeds at a scale (read from the configuration), and
its steps. A step is a ``Call``: a function named by module and name, called with the config and
the fields of a ``Request`` it names (row, seed, results and reports folders, restart); ``time``
has one ``Call`` per ``--sizes``. The CLI looks a table up here, checks the row and seed, and runs
the step; a step a table does not have is refused with the table's steps named, so no command falls
through to another table's code.

Step modules are imported only when a step runs, so listing the tables, their rows and their steps
imports no torch.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from iss_harness.tasks.paths import ExperimentError, UnknownRun, unknown_row

STEPS = ("prepare", "train", "evaluate", "time", "report", "figures")


class NoSuchStep(ExperimentError):
    """A table or step the registry does not have (the message lists what there is)."""


@dataclass(frozen=True)
class Request:
    """What a step is asked to do: which run, and where results and reports go."""
    results: Path
    reports: Path
    row: str | None = None
    seed: int | None = None
    restart: bool = False


@dataclass(frozen=True)
class Call:
    """A step as data: ``module.function(config, *request fields in args, **request fields in keywords)``."""
    module: str
    function: str
    args: tuple[str, ...] = ("results",)
    keywords: tuple[str, ...] = ()

    def __call__(self, config: dict, request: Request):
        function = getattr(importlib.import_module(self.module), self.function)
        return function(config, *(getattr(request, name) for name in self.args),
                        **{name: getattr(request, name) for name in self.keywords})


@dataclass(frozen=True)
class Table:
    """One table: rows (and seeds) per scale, and steps by name.

    ``rows(config)`` lists every row a run may name (sweep rows included); ``seeds(config)`` the
    seeds each row is trained with, or None for a table with one run per row. ``steps`` maps a
    step name to its ``Call``; ``timings`` maps each ``--sizes`` value of ``time`` to its ``Call``.
    """
    name: str
    rows: Callable[[dict], list[str]]
    seeds: Callable[[dict], list[int]] | None
    steps: dict[str, Call]
    timings: dict[str, Call] = field(default_factory=dict)
    row_origin: str = ""  # the config keys that make the rows, for the unknown-row error

    def step_names(self) -> list[str]:
        return [name for name in STEPS if name in self.steps or (name == "time" and self.timings)]

    def step(self, name: str, sizes: str | None = None) -> Call:
        """The ``Call`` of step ``name`` (and ``--sizes`` for ``time``), or NoSuchStep."""
        if name == "time" and self.timings:
            if sizes not in self.timings:
                raise NoSuchStep(f"{self.name} has no timing --sizes {sizes!r} (its sizes: "
                                 f"{', '.join(self.timings)})")
            return self.timings[sizes]
        if name not in self.steps:
            raise self._missing(name)
        return self.steps[name]

    def _missing(self, name: str) -> NoSuchStep:
        return NoSuchStep(f"{self.name} has no step {name!r} (its steps: {', '.join(self.step_names())})")

    def check_run(self, config: dict, row: str, seed: int | None) -> int | None:
        """The seed to run ``row`` with (the table's first when None); UnknownRun for a row or seed
        the table does not have at this scale."""
        rows = self.rows(config)
        if row not in rows:
            raise unknown_row(self.name, row, config, rows, self.row_origin)
        if self.seeds is None:
            if seed is not None:
                raise UnknownRun(f"{self.name} trains one run per row: --seed {seed} does not apply "
                                 f"(leave it out)")
            return None
        seeds = self.seeds(config)
        if seed is None:
            return seeds[0]
        if seed not in seeds:
            raise UnknownRun(f"{self.name} has no seed {seed} at scale {config['scale']!r} (seeds: "
                             f"{', '.join(map(str, seeds))}; set {self.name}.seeds to add one)")
        return seed


TABLES: dict[str, Table] = {}


def register(table: Table) -> Table:
    """Add ``table`` to the registry (the extension point: the CLI needs no edit)."""
    if table.name in TABLES and TABLES[table.name] != table:
        raise ValueError(f"a table named {table.name!r} is already registered")
    unknown = set(table.steps) - set(STEPS)
    if unknown:
        raise ValueError(f"table {table.name!r}: unknown steps {sorted(unknown)} (steps are {', '.join(STEPS)})")
    TABLES[table.name] = table
    return table


def table(name: str) -> Table:
    if name not in TABLES:
        raise NoSuchStep(f"there is no table {name!r} (tables: {', '.join(TABLES)})")
    return TABLES[name]


# ---- the paper's tables ------------------------------------------------------------------------


def _table1_rows(config: dict) -> list[str]:
    from iss_harness.tasks.table1_rows import all_rows
    return list(all_rows(config))


def _table1_seeds(config: dict) -> list[int]:
    from iss_harness.tasks.table1_rows import seeds
    return seeds(config)


def _table2_rows(config: dict) -> list[str]:
    from iss_harness.config import table2_rows
    return table2_rows(config)


def _table2_seeds(config: dict) -> list[int]:
    from iss_harness.config import table2_seeds
    return table2_seeds(config)


def _table3_rows(config: dict) -> list[str]:
    from iss_harness.tasks.table3_config import table3_rows
    return table3_rows(config)


def _lm_table(name: str, rows, seeds, row_origin: str, timings: tuple[str, ...]) -> Table:
    """Tables 1 and 2: language models trained per row and seed (iss_harness.tasks.<name>)."""
    module = f"iss_harness.tasks.{name}"
    functions = dict(learned="time_learned", paper="time_paper_sizes", pareto="time_pareto")
    return Table(
        name=name, rows=rows, seeds=seeds, row_origin=row_origin,
        steps=dict(train=Call(module, "train_row", ("row", "seed", "results"), ("restart",)),
                   evaluate=Call(module, "evaluate_row", ("row", "seed", "results")),
                   report=Call(f"iss_harness.reporting.{name}", "build", ("results", "reports")),
                   figures=Call(f"iss_harness.reporting.{FIGURES[name]}", "write_figures", ("results", "reports"))),
        timings={sizes: Call(module, functions[sizes]) for sizes in timings})


FIGURES = dict(table1="figures", table2="figures_rhn", table3="figures_bidaf")

register(_lm_table("table1", _table1_rows, _table1_seeds, "rows come from table1.rows and table1.pareto",
                   ("learned", "paper", "pareto")))
register(_lm_table("table2", _table2_rows, _table2_seeds, "one ISS row per entry of table2.lambdas",
                   ("learned", "paper")))
register(Table(
    name="table3", rows=_table3_rows, seeds=None, row_origin="one ISS row per entry of table3.lambdas",
    steps=dict(prepare=Call("iss_harness.tasks.table3_data", "prepare"),
               train=Call("iss_harness.tasks.table3", "train_row", ("row", "results"), ("restart",)),
               evaluate=Call("iss_harness.tasks.table3", "evaluate_row", ("row", "results")),
               report=Call("iss_harness.reporting.table3", "build", ("results", "reports")),
               figures=Call(f"iss_harness.reporting.{FIGURES['table3']}", "write_figures", ("results", "reports"))),
    timings=dict(learned=Call("iss_harness.tasks.table3", "time_learned"), paper=Call("iss_harness.tasks.table3", "time_paper_sizes"))))
