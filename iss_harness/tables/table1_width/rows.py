"""The width experiment's rows, as the config describes them (torch-free: the rule file and the
report build on it).

At each width h of config `table1_width.widths` (both LSTMs and the embedding h wide), three kinds
of rows, each trained at every seed of `table1_width.seeds`:
- w<h>_baseline: no penalty, the dense schedule, its dropout keep ratio chosen on validation;
- w<h>_iss:      ISS from scratch at the width's lambda, the ISS keep ratio and step schedule;
- w<h>_direct:   no penalty at the sizes w<h>_iss learned with the same seed, keep ratio chosen.
The keep ratios are chosen from `keep_grid` by grid rows trained once, at `selection_seed`, which is
not a reported seed (the reported runs are not the ones the choice was made on):
- w<h>_baseline_keep<k>: the baseline at keep k;
- w<h>_direct_keep<k>:   the direct design at keep k, at the sizes ISS learned with the first seed.
The lowest validation perplexity of a kind's grid picks its keep ratio.

Results: results/<scale>/table1_width/<row>/seed<N>/ (history.csv, metrics.json).
"""
from __future__ import annotations

from pathlib import Path

from iss_harness.io import read_json
from iss_harness.tables.registry import table_settings
from iss_harness.tasks.paths import ExperimentError, run_dir, unknown_row

TABLE = "table1_width"
KINDS = ("baseline", "iss", "direct")
CHOSEN = ("baseline", "direct")  # the kinds whose keep ratio is chosen on the grid
ROW_ORIGIN = "rows come from table1_width.widths and keep_grid"


def settings(config: dict) -> dict:
    return table_settings(config, TABLE)


def widths(config: dict) -> list[int]:
    return [entry["hidden"] for entry in settings(config)["widths"]]


def width_recipe(config: dict, width: int) -> dict:
    for entry in settings(config)["widths"]:
        if entry["hidden"] == width:
            return entry
    raise ExperimentError(f"table1_width has no width {width} (widths: {widths(config)})")


def row_name(width: int, kind: str, keep: float | None = None) -> str:
    return f"w{width}_{kind}" + ("" if keep is None else f"_keep{keep:g}")


def seeds(config: dict) -> list[int]:
    """The reported seeds."""
    return list(settings(config)["seeds"])


def all_seeds(config: dict) -> list[int]:
    """Every seed a row of the table may be trained with: the reported ones and the selection seed."""
    return [*seeds(config), settings(config)["selection_seed"]]


def all_rows(config: dict) -> dict[str, dict]:
    """{row: what the config says about it}: kind, width, keep (a number, or "chosen"), lambda,
    zero threshold, schedule (with the width's lr), init scale, clip norm, sizes (a list, "width",
    or "iss": the sizes the width's ISS row learned)."""
    table = settings(config)
    rows = {}
    for recipe in table["widths"]:
        width = recipe["hidden"]
        common = dict(width=width, init_scale=recipe["init_scale"], clip_norm=recipe["clip_norm"])
        dense = dict(common, **{"lambda": 0.0}, zero_threshold=0.0,
                     schedule={**table["dense"]["schedule"], "lr": recipe["lr"]})
        iss = table["iss"]
        rows[row_name(width, "baseline")] = dict(dense, kind="baseline", keep_prob="chosen", sizes="width",
                                                 keep_grid=list(table["keep_grid"]))
        rows[row_name(width, "iss")] = dict(common, kind="iss", keep_prob=iss["keep_prob"], sizes="width",
                                            **{"lambda": recipe["lambda"]}, zero_threshold=iss["zero_threshold"],
                                            schedule={**iss["schedule"], "lr": recipe["lr"]})
        rows[row_name(width, "direct")] = dict(dense, kind="direct", keep_prob="chosen", sizes="iss",
                                               keep_grid=list(table["keep_grid"]))
        for kind in CHOSEN:
            for keep in table["keep_grid"]:
                rows[row_name(width, kind, keep)] = dict(dense, kind=kind, keep_prob=keep, grid=True,
                                                         sizes="width" if kind == "baseline" else "iss")
    return rows


def row_settings(config: dict, row: str) -> dict:
    rows = all_rows(config)
    if row not in rows:
        raise unknown_row(TABLE, row, config, rows, ROW_ORIGIN)
    return rows[row]


def row_seeds(config: dict, row: str) -> list[int]:
    """A grid row trains at the selection seed only, every other row at the reported seeds."""
    return [settings(config)["selection_seed"]] if row_settings(config, row).get("grid") else seeds(config)


def check_seed(config: dict, row: str, seed: int) -> None:
    allowed = row_seeds(config, row)
    if seed not in allowed:
        raise ExperimentError(f"table1_width/{row} trains at seed(s) {allowed}, not {seed} (grid rows at "
                              f"table1_width.selection_seed, the other rows at table1_width.seeds)")


def runs(config: dict) -> list[tuple[str, int]]:
    """Every (row, seed) the experiment trains."""
    return [(row, seed) for row in all_rows(config) for seed in row_seeds(config, row)]


def row_dir(results: str | Path, config: dict, row: str, seed: int) -> Path:
    return run_dir(results, config, TABLE, row, seed)


# ---- what a row reads from other rows ---------------------------------------------------------


def sizes_row(config: dict, row: str, seed: int) -> tuple[str, int] | None:
    """The (ISS row, seed) whose learned sizes a direct-design row trains at; None for the others.
    The grid's direct rows take the first reported seed's sizes."""
    spec = row_settings(config, row)
    if spec["sizes"] != "iss":
        return None
    return row_name(spec["width"], "iss"), (seeds(config)[0] if spec.get("grid") else seed)


def grid_rows(config: dict, row: str) -> list[str]:
    """The grid rows a chosen-keep row picks its keep ratio from ([] for the others)."""
    spec = row_settings(config, row)
    if spec["keep_prob"] != "chosen":
        return []
    return [row_name(spec["width"], spec["kind"], keep) for keep in spec["keep_grid"]]


def grid_perplexities(config: dict, results: str | Path, row: str) -> dict[float, float]:
    """{keep: validation perplexity} of the grid ``row`` chooses from, from the grid runs' metrics."""
    selection_seed = settings(config)["selection_seed"]
    found = {}
    for grid_row in grid_rows(config, row):
        path = row_dir(results, config, grid_row, selection_seed) / "metrics.json"
        if not path.is_file():
            raise ExperimentError(f"table1_width/{row} chooses its keep ratio from {grid_row}, but {path} is "
                                  f"missing: run it first (snakemake {path})")
        found[row_settings(config, grid_row)["keep_prob"]] = read_json(path)["perplexity_valid"]
    return found


def chosen_keep(config: dict, results: str | Path, row: str) -> float:
    """The grid's keep ratio with the lowest validation perplexity (the first in grid order on a tie)."""
    found = grid_perplexities(config, results, row)
    return min(found, key=lambda keep: (found[keep], list(found).index(keep)))


def learned_sizes(config: dict, results: str | Path, row: str, seed: int) -> list[int]:
    source = sizes_row(config, row, seed)
    if source is None:
        width = row_settings(config, row)["width"]
        return [width, width]
    path = row_dir(results, config, *source) / "metrics.json"
    if not path.is_file():
        raise ExperimentError(f"table1_width/{row} trains at the sizes {source[0]} learned with seed {source[1]}, "
                              f"but {path} is missing: run it first (snakemake {path})")
    return list(read_json(path)["iss_sizes"])


def resolved_settings(config: dict, results: str | Path, row: str, seed: int) -> dict:
    """The row's settings with what other runs decide filled in: the chosen keep ratio and the
    sizes (what the run is trained with and what its files record)."""
    spec = dict(row_settings(config, row))
    if spec["keep_prob"] == "chosen":
        spec["keep_prob"] = chosen_keep(config, results, row)
    spec["hidden"] = learned_sizes(config, results, row, seed)
    return spec
