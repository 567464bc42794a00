"""Where results live: one torch-free module for the results tree (rules, tables, reports, CLI).

    results/<scale>/                              one folder per scale (sparsity_speed.json, logs/)
    results/<scale>/<table>/                      one folder per table and scale (timing_*.json, ...)
    results/<scale>/<table>/<row>/seed<N>/        one training run (Tables 1 and 2: rows x seeds)
    results/<scale>/<table>/<row>/                one training run (Table 3: one seed per row)

The scale comes from the configuration (``config["scale"]``) and is read here, once per path.
"""
from __future__ import annotations

from pathlib import Path


class ExperimentError(RuntimeError):
    """A trained row cannot be evaluated as asked (the message says what to change)."""


class TrainingDiverged(ExperimentError):
    """The loss became NaN or infinite (the message names the epoch and step)."""


class UnknownRun(ExperimentError):
    """A row or seed that a table does not have at this scale: the one error every table raises."""


def unknown_row(table: str, row: str, config: dict, rows, where: str = "") -> UnknownRun:
    """The error for ``row`` missing from ``rows``; ``where`` says which config key makes the rows."""
    hint = f"; {where}" if where else ""
    return UnknownRun(f"{table} has no row {row!r} at scale {config['scale']!r} (rows: {', '.join(rows)}{hint})")


def scale_root(results: str | Path, config: dict) -> Path:
    """results/<scale>: the one place the results tree reads the configured scale."""
    return Path(results) / config["scale"]


def table_dir(results: str | Path, config: dict, table: str) -> Path:
    """results/<scale>/<table>."""
    return scale_root(results, config) / table


def run_dir(results: str | Path, config: dict, table: str, row: str, seed: int | None = None) -> Path:
    """results/<scale>/<table>/<row>[/seed<N>]: a row's trained model, metrics and history."""
    folder = table_dir(results, config, table) / row
    return folder if seed is None else folder / f"seed{seed}"
