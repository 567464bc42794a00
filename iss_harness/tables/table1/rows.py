"""Table 1's rows, as the config describes them (torch-free: the rule files build their jobs from it).

Two kinds of rows share results/<scale>/table1/<row>/seed<N>/:
- the table's rows (config `table1.rows`): baseline, iss_a, iss_b, direct, and optionally
  iss_a_from_baseline / iss_b_from_baseline, which start ISS from the trained baseline
  (`iss_start: baseline`, the authors' `--restore_path`) instead of from scratch;
- the trade-off sweep (config `table1.pareto`, target `table1_pareto`): for each lambda, one ISS
  row per start mode (a copy of a table row with that lambda) and one direct design trained at
  the sizes that row learned. Names: pareto_<mode>_<lambda>, pareto_direct_<mode>_<lambda>.
"""
from __future__ import annotations

from pathlib import Path

from iss_harness.config import ConfigError, scale_settings, table_seeds
from iss_harness.tasks.paths import run_dir, unknown_row

TABLE = "table1"
# The paper's model at its published sizes: PTB's 10,000-word vocabulary and an embedding as
# wide as the baseline LSTM (Zaremba large, spec 2.3). Layer sizes come from the paper file.
PAPER_VOCAB = 10_000
START_MODES = ("scratch", "baseline")
# The paper row a table row is shown beside (a from-baseline row has no paper counterpart of its
# own: the paper's ISS rows start from scratch, spec 2.1).
PAPER_ROW = {"iss_a_from_baseline": "iss_a", "iss_b_from_baseline": "iss_b"}
LABELS = {"baseline": "baseline", "iss_a": "ISS", "iss_b": "ISS", "direct": "direct design",
          "iss_a_from_baseline": "ISS from baseline", "iss_b_from_baseline": "ISS from baseline"}


def table_rows(config: dict) -> list[str]:
    """The table's rows in config order."""
    return list(scale_settings(config)[TABLE]["rows"])


def pareto_name(mode: str, lam: float, direct: bool = False) -> str:
    return f"pareto_{'direct_' if direct else ''}{mode}_{lam:g}"


def pareto_rows(config: dict) -> dict[str, dict]:
    """{row: settings} of the trade-off sweep ({} when the scale has no `table1.pareto`); the sweep
    trains at the table's first seed only."""
    table = scale_settings(config)[TABLE]
    sweep = table.get("pareto")
    if not sweep:
        return {}
    rows = {}
    direct = sweep["direct"]["template"]
    for mode in START_MODES:
        if mode not in sweep:
            continue
        template = sweep[mode]["template"]
        if template not in table["rows"] or direct not in table["rows"]:
            missing = template if template not in table["rows"] else direct
            raise ConfigError(f"table1.pareto: template {missing!r} is not a row of table1.rows "
                              f"(rows: {sorted(table['rows'])})")
        if table["rows"][template].get("iss_start", "scratch") != mode:
            raise ConfigError(f"table1.pareto.{mode}.template: row {template!r} has iss_start "
                              f"{table['rows'][template].get('iss_start', 'scratch')!r}, expected {mode!r}")
        for lam in sweep[mode]["lambdas"]:
            iss_row = pareto_name(mode, lam)
            rows[iss_row] = {**table["rows"][template], "lambda": lam}
            rows[pareto_name(mode, lam, direct=True)] = {**table["rows"][direct], "hidden_from": iss_row}
    return rows


def all_rows(config: dict) -> dict[str, dict]:
    """{row: settings}: the table's rows and the sweep's."""
    return {**scale_settings(config)[TABLE]["rows"], **pareto_rows(config)}


def row_settings(config: dict, row: str) -> dict:
    rows = all_rows(config)
    if row not in rows:
        raise unknown_row(TABLE, row, config, rows, "rows come from table1.rows and table1.pareto")
    return rows[row]


def start_row(settings: dict) -> str | None:
    """The row whose trained model a row starts from (None: from scratch)."""
    return "baseline" if settings.get("iss_start", "scratch") == "baseline" else None


def paper_row(row: str) -> str | None:
    """The paper row shown beside a table row; None for the sweep's rows."""
    if row.startswith("pareto_"):
        return None
    return PAPER_ROW.get(row, row)


def row_label(row: str) -> str:
    return LABELS.get(row, row)


def row_dir(results: str | Path, config: dict, row: str, seed: int) -> Path:
    return run_dir(results, config, TABLE, row, seed)


def seeds(config: dict) -> list[int]:
    return table_seeds(config, TABLE)


def paper_sizes() -> dict[str, list[int]]:
    """The paper's (1st, 2nd) LSTM sizes of its baseline and ISS rows, from the paper file."""
    from iss_harness.paper.tables import load_paper_tables
    paper = load_paper_tables()
    return {row: [int(paper.cell(TABLE, row, "iss_1st").value), int(paper.cell(TABLE, row, "iss_2nd").value)]
            for row in ("baseline", "iss_a", "iss_b")}
