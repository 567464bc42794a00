"""Every table the command line can run, registered in one place, reached through one protocol.

A table is a ``Table``: its name, its rows and seeds at a scale (read from the configuration), its
steps, and the files that wire it into the project: its rule file (included by the Snakefile), the
schema of its settings block and, for a table beside the paper's, its paper cells. A step is a ``Call``: a function named by module and name, called with the config and
the fields of a ``Request`` it names (row, seed, results and reports folders, restart); ``time``
has one ``Call`` per ``--sizes``. The CLI looks a table up here, checks the row and seed, and runs
the step; a step a table does not have is refused with the table's steps named, so no command falls
through to another table's code.

Step modules are imported only when a step runs, so listing the tables, their rows and their steps
imports no torch.

Each table is a package under ``iss_harness.tables`` whose ``__init__`` calls ``register``;
``load_tables(config)`` imports the paper's (``BUILT_IN``) and those the config's ``extra_tables``
names (``{table name: module}``, importable from the project folder), which is the extension point:
adding a table edits neither the command line nor another table.
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from iss_harness.config import ConfigError, key_path, schema_errors
from iss_harness.tasks.paths import ExperimentError, UnknownRun, unknown_row

# The paper's tables, Table 1's trade-off sweep and width experiment, in report order.
BUILT_IN = ("iss_harness.tables.table1", "iss_harness.tables.table1_pareto", "iss_harness.tables.table1_width",
            "iss_harness.tables.table2", "iss_harness.tables.table3")
# The paper's published cells; a table beside the paper's names its own file (Table.paper).
PAPER_CELLS = "config/paper_tables.yaml"

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
    rules: str | None = None   # its Snakemake rule file, relative to the project folder
    schema: str | None = None  # JSON schema (YAML) of scales.<scale>.<name>; the paper's are in config.schema.yaml
    paper: str | None = None   # its paper cells (format of config/paper_tables.yaml); the paper's are there
    folder: str = ""           # its folder under results/<scale>/ when not its name (the sweep's runs are table1's)
    # False for an experiment outside `snakemake all` (its own target): the comparison reads its
    # results when they exist instead of requiring them
    default_run: bool = True
    # the module whose row_settings(config, row) gives the settings that decide a row's result (its
    # rule file's params, digested into each run's provenance); recording checks runs against it
    jobs: str = ""

    @property
    def results_folder(self) -> str:
        return self.folder or self.name

    def reported_seeds(self, config: dict) -> list[int] | None:
        """The seeds its report averages over (config `<block>.seeds`, the block of its results folder:
        the sweep's runs are Table 1's); None for a table with one run per row. ``seeds`` may list more
        (the width experiment's selection seed)."""
        from iss_harness.config import table_seeds
        return None if self.seeds is None else table_seeds(config, self.results_folder)

    def with_seeds(self, config: dict, seeds: list[int]) -> dict:
        """``config`` with the seeds its report averages over replaced by ``seeds``, the rest shared."""
        scale, block = config["scale"], self.results_folder
        settings = config["scales"][scale]
        return {**config, "scales": {**config["scales"], scale: {**settings, block: {**settings[block], "seeds": list(seeds)}}}}

    def job_settings(self, config: dict, row: str) -> str | None:
        """What decides ``row``'s result (None when the table names no jobs module)."""
        return importlib.import_module(self.jobs).row_settings(config, row) if self.jobs else None

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


def table_settings(config: dict, name: str) -> dict:
    """The settings block of table ``name`` at the config's scale, or a ConfigError naming the key."""
    from iss_harness.config import scale_settings
    settings = scale_settings(config)
    if name not in settings:
        raise ConfigError(f"scale {config['scale']!r} has no `{name}` block in the configuration "
                          f"(scales.{config['scale']}.{name})")
    return settings[name]


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
        raise NoSuchStep(f"there is no table {name!r} (tables: {', '.join(sorted(TABLES))})")
    return TABLES[name]


def load_tables(config: dict) -> dict[str, Table]:
    """Import the paper's tables (each package's ``TABLE``) and the config's ``extra_tables``, check that each extra module
    registered the table it is listed as and that its settings blocks match its schema; the registry."""
    paper_tables = [importlib.import_module(module).TABLE.name for module in BUILT_IN]
    extra = config.get("extra_tables") or {}
    if extra and "" not in sys.path:
        sys.path.insert(0, "")  # extra tables are importable from the project folder (the working directory)
    for name, module in extra.items():
        if name in paper_tables:
            raise ConfigError(f"extra_tables.{name}: {name!r} is one of the paper's tables; give yours another name")
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ConfigError(f"extra_tables.{name}: cannot import {module!r} ({error}); expected a module "
                              f"importable from the project folder that registers table {name!r}") from None
        if name not in TABLES:
            raise ConfigError(f"extra_tables.{name}: module {module!r} registered no table {name!r} "
                              f"(it must call iss_harness.tables.register(Table(name={name!r}, ...)))")
        _check_settings(config, TABLES[name])
    return {name: TABLES[name] for name in [*paper_tables, *extra]}


def _check_settings(config: dict, table: Table) -> None:
    """The table's block of every scale against its schema (a ConfigError naming the key)."""
    if table.schema is None:
        return
    for scale, settings in config["scales"].items():
        if table.name not in settings:
            continue
        errors = schema_errors(settings[table.name], Path(table.schema))
        if errors:
            where, message = errors[0]
            raise ConfigError(f"scales.{scale}.{table.name}{'.' + key_path(where) if where else ''}: {message} "
                              f"(schema {table.schema})")


def paper_files() -> list[str]:
    """The cells files of the registered tables beside the paper's (load_tables first)."""
    return [table.paper for table in TABLES.values() if table.paper]


def compared_tables(default_run: bool = True) -> list[str]:
    """The tables the comparison reads (those with cells: the paper's file and each table's own),
    of the default run, or (``default_run=False``) of the experiments outside it (load_tables first)."""
    from iss_harness.paper.tables import load_paper_tables
    names = load_paper_tables(extra=paper_files()).tables
    return [name for name in names if (TABLES[name].default_run if name in TABLES else True) == default_run]


def rule_files(config: dict) -> list[str]:
    """The rule files of every table, paper's first (what the Snakefile includes)."""
    return [table.rules for table in load_tables(config).values() if table.rules]

