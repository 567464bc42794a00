"""Table 2's rows, as the config describes them (torch-free: the rule files, the report and the CLI
read them without loading the models).

Rows: "baseline" (lambda 0, Zilly et al.'s dropouts), then one "lambda_<value>" per configured
lambda (dropouts x iss_dropout_multiplier, element threshold); one run per (row, seed) under
results/<scale>/table2/<row>/seed<N>/.
"""
from __future__ import annotations

from pathlib import Path

from iss_harness.tasks import paths
from iss_harness.config import scale_settings, table_seeds
from iss_harness.tasks.paths import unknown_row

TABLE = "table2"
PAPER_VOCAB = 10_000


def lambda_row(lam: float) -> str:
    """Row name of an ISS run with group-Lasso strength ``lam`` ("lambda_0.004"); as in the paper file."""
    return f"lambda_{lam:g}"


def table2_rows(config: dict) -> list[str]:
    """"baseline" (lambda 0), then one row per configured lambda in increasing order."""
    lambdas = scale_settings(config)[TABLE]["lambdas"]
    return ["baseline"] + [lambda_row(lam) for lam in sorted(lambdas)]


def table2_seeds(config: dict) -> list[int]:
    return table_seeds(config, TABLE)


def settings(config: dict) -> dict:
    return scale_settings(config)[TABLE]


def run_dir(results: str | Path, config: dict, row: str, seed: int) -> Path:
    return paths.run_dir(results, config, TABLE, row, seed)


def row_settings(config: dict, row: str) -> dict:
    """lambda, drop probabilities and element threshold of one row (what decides its result)."""
    table = settings(config)
    if row not in table2_rows(config):
        raise unknown_row(TABLE, row, config, table2_rows(config), "one ISS row per entry of table2.lambdas")
    if row == "baseline":
        return {"lambda": 0.0, "dropout": dict(table["dropout"]), "zero_threshold": 0.0}
    lam = next(lam for lam in table["lambdas"] if lambda_row(lam) == row)
    multiplier = table["iss_dropout_multiplier"]
    return {"lambda": lam, "dropout": {k: p * multiplier for k, p in table["dropout"].items()},
            "zero_threshold": table["zero_threshold"]}


def paper_widths() -> dict[str, int]:
    """The widths of the paper's rows, from the paper file (baseline 830, then the learned ones)."""
    from iss_harness.paper.tables import load_paper_tables
    paper = load_paper_tables()
    return {row: int(paper.cell(TABLE, row, "width").value) for row in paper.table(TABLE).rows}
