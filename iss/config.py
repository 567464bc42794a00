"""Loading and validating the workflow configuration (config/config.yaml + schema).

The Snakefile validates the same files with the same schema before any job starts; every
``iss`` command re-reads them, so a job run by hand or on a cluster node sees exactly what
the workflow saw. Later files override earlier ones key by key (like ``--configfile``).
"""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG = REPO_ROOT / "config" / "config.yaml"


class ConfigError(ValueError):
    pass


def deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def validate(config: dict, source: str = "config") -> None:
    """Raise ConfigError naming the offending key path and what was expected."""
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for err in errors[:10]:
            where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
            lines.append(f"  {where}: {err.message}")
        raise ConfigError(f"invalid configuration in {source}:\n" + "\n".join(lines))


def load_config(paths: list[str | Path] | None = None, overrides: dict | None = None) -> dict:
    paths = [Path(p) for p in (paths or [DEFAULT_CONFIG])]
    config: dict = {}
    for path in paths:
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping at the top level")
        config = deep_merge(config, loaded)
    if overrides:
        config = deep_merge(config, overrides)
    validate(config, source=", ".join(str(p) for p in paths))
    return config


def scale_settings(config: dict, scale: str | None = None) -> dict:
    scale = scale or config["scale"]
    if scale not in config["scales"]:
        raise ConfigError(f"scale {scale!r} is not defined under 'scales' (have: {sorted(config['scales'])})")
    return config["scales"][scale]


def config_hash(config: dict, scale: str | None = None) -> str:
    """Hash of everything that decides a result at this scale (not of unrelated scales)."""
    scale = scale or config["scale"]
    relevant = dict(scale=scale, runtime=config["runtime"], settings=config["scales"][scale])
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:12]


# ---- Table 2 (RHN lambda sweep): rows and seeds come from config lists -----------------------
# Kept here, free of torch, because the Snakefile builds its job list from them.
def lambda_row(lam: float) -> str:
    """Row name of an ISS run with group-Lasso strength ``lam`` ("lambda_0.004"); as in the paper file."""
    return f"lambda_{lam:g}"


def table2_rows(config: dict) -> list[str]:
    """"baseline" (lambda 0), then one row per configured lambda in increasing order."""
    lambdas = scale_settings(config)["table2"]["lambdas"]
    return ["baseline"] + [lambda_row(lam) for lam in sorted(lambdas)]


def table_seeds(config: dict, table: str) -> list[int]:
    """Seeds to train every row of ``table`` with (config `<table>.seeds`; default: the runtime seed).
    Several seeds give mean +- sd in the reports."""
    return list(scale_settings(config)[table].get("seeds") or [config["runtime"]["seed"]])


def table2_seeds(config: dict) -> list[int]:
    return table_seeds(config, "table2")
