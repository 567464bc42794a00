"""Table 3 (BiDAF on SQuAD) settings that the Snakefile needs: rows, data sources, file names.

Free of torch (the Snakefile imports it to build the job list). The settings themselves live in
``config/config.yaml`` under ``scales.<scale>.table3`` and are validated by the schema.

Rows: "baseline", then "iss_1", "iss_2", ... one per lambda of ``table3.lambdas``, named by rank
(iss_1 is the smallest lambda, so the mildest compression). The paper's ISS rows go from the
largest model to the smallest (2.29M ... 0.88M), i.e. by increasing lambda, so iss_k is paired
with the paper's iss_k.

Data sources (``table3.data.source``):
* ``dev_split``: SQuAD dev-v1.1 cut into two disjoint sets of whole articles (train / eval), for
  the smoke and mid scales, because the train set is not available offline;
* ``official``: train-v1.1.json for training and dev-v1.1.json for evaluation, as published (the
  paper scale). train-v1.1.json is not in the sha256 registry of ``iss_harness.data.fetch``: it comes from
  ``table3.data.train_file`` or the data mirror and is checked against its published md5
  (``iss_harness.tables.table3.data``).
"""
from __future__ import annotations

from pathlib import Path

from iss_harness.tables.registry import table_settings
from iss_harness.tasks.paths import run_dir, table_dir, unknown_row

TABLE = "table3"
SQUAD_DEV = "dev-v1.1.json"
SQUAD_TRAIN = "train-v1.1.json"


def settings(config: dict) -> dict:
    return table_settings(config, TABLE)


# The baseline fine-tuned exactly as the ISS rows, with lambda 0 (config `table3.control`): what the
# fine-tuning alone changes. Not a row of the paper, so it is paired with none of the paper's rows.
CONTROL_ROW = "control"


def iss_rows(config: dict) -> list[str]:
    """iss_1, iss_2, ... by increasing lambda: the rows paired with the paper's ISS rows."""
    return [f"iss_{k}" for k in range(1, len(settings(config)["lambdas"]) + 1)]


def table3_rows(config: dict) -> list[str]:
    """"baseline", then iss_1.. by increasing lambda, then "control" where configured."""
    return ["baseline", *iss_rows(config)] + ([CONTROL_ROW] if settings(config).get("control") else [])


def row_lambda(config: dict, row: str) -> float:
    if row == "baseline" or (row == CONTROL_ROW and CONTROL_ROW in table3_rows(config)):
        return 0.0
    lambdas = sorted(settings(config)["lambdas"])
    try:
        rank = int(row.removeprefix("iss_"))
        if not row.startswith("iss_") or not 1 <= rank <= len(lambdas):
            raise ValueError
    except ValueError:
        raise unknown_row("table3", row, config, table3_rows(config), "one ISS row per entry of table3.lambdas") from None
    return lambdas[rank - 1]


def uses_dev_split(config: dict) -> bool:
    return settings(config)["data"]["source"] == "dev_split"


def glove_name(config: dict) -> str | None:
    """File name of the scale's GloVe vectors, or None when the scale learns its word vectors."""
    glove = settings(config).get("glove")
    return None if glove is None else f"glove.6B.{glove['dim']}d.txt"


def data_files(config: dict) -> dict[str, Path]:
    """Where the verified input files of this scale live (``data.dir``/<dataset>/<name>)."""
    root = Path(config["data"]["dir"])
    files = {"squad_dev": root / "squad" / SQUAD_DEV}
    if not uses_dev_split(config):
        files["squad_train"] = root / "squad" / SQUAD_TRAIN
    name = glove_name(config)
    if name is not None:
        files["glove"] = root / "glove" / name
    return files


def scale_dir(results: str | Path, config: dict) -> Path:
    return table_dir(results, config, TABLE)


def prepared_dir(results: str | Path, config: dict) -> Path:
    return scale_dir(results, config) / "data"


def row_dir(results: str | Path, config: dict, row: str) -> Path:
    return run_dir(results, config, TABLE, row)
