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

# The project's files, relative to the working directory: the harness runs in a project folder
# (a checkout, or a copy of its config/ and workflow/), never from where the package is installed.
SCHEMA_PATH = Path("workflow") / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG = Path("config") / "config.yaml"


class ConfigError(ValueError):
    pass


def project_file(path: str | Path, what: str) -> Path:
    """``path`` (relative paths: from the working directory), or a one-line ConfigError saying where
    it was looked for."""
    path = Path(path)
    if not path.is_file():
        where = f" in the working directory {Path.cwd()}" if not path.is_absolute() else ""
        raise ConfigError(f"{what} {path} does not exist{where}: run iss from the project folder "
                          f"(where config/ and workflow/ are) or pass the file explicitly")
    return path


def deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def schema_errors(data, schema_path: Path, limit: int = 10) -> list[tuple[tuple, str]]:
    """(key path, message) of each way ``data`` breaks the JSON schema at ``schema_path``, in key
    order: the one validation path of config.yaml, paper_tables.yaml and claims.yaml."""
    schema = yaml.safe_load(project_file(schema_path, "schema").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    found = []
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])[:limit]:
        if error.context:  # anyOf / oneOf: say what the closest alternative wanted, not "not valid under any"
            error = jsonschema.exceptions.best_match(error.context)
        message = error.message
        if error.validator == "type" and isinstance(error.instance, str) and "number" in str(error.validator_value):
            message += " (YAML reads 66.0e6 as a string: write 66.0e+6)"
        if error.validator == "additionalProperties" and error.validator_value is False:
            allowed = sorted(error.schema.get("properties", {}))
            message += f"; expected keys: {allowed}"
        found.append((tuple(error.absolute_path), message))
    return found


def key_path(path: tuple) -> str:
    """("tables", "t1", "rows") -> "tables.t1.rows"; list positions as [i]."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "top level"


def read_yaml(path: Path, error: type[Exception], what: str):
    """The parsed YAML file, or ``error`` naming the file and what is wrong with it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise error(f"{path}: cannot read the {what} ({err})") from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise error(f"{path}: not valid YAML: {err}") from err
    if data is None:
        raise error(f"{path}: top level: the file is empty")
    return data


def validate(config: dict, source: str = "config") -> None:
    """Raise ConfigError naming the offending key path and what was expected. The settings blocks
    of `extra_tables` are left to their tables' own schemas (iss_harness.tables.load_tables)."""
    errors = schema_errors(without_extra_tables(config), SCHEMA_PATH)
    if errors:
        lines = [f"  {key_path(where) if where else '(top level)'}: {message}" for where, message in errors]
        raise ConfigError(f"invalid configuration in {source}:\n" + "\n".join(lines))


def without_extra_tables(config: dict) -> dict:
    """``config`` less the scales' blocks of the tables named in `extra_tables` (a copy)."""
    extra = config.get("extra_tables")
    if not isinstance(extra, dict) or not isinstance(config.get("scales"), dict):
        return config
    scales = {scale: ({key: value for key, value in block.items() if key not in extra} if isinstance(block, dict) else block)
              for scale, block in config["scales"].items()}
    return {**config, "scales": scales}


def load_config(paths: list[str | Path] | None = None, overrides: dict | None = None) -> dict:
    paths = [Path(p) for p in (paths or [DEFAULT_CONFIG])]
    config: dict = {}
    for path in paths:
        project_file(path, "config file")
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
    return json_digest(relevant, 12)


def json_digest(payload: dict, length: int = 16) -> str:
    """sha256 of ``payload`` as sorted JSON, cut to ``length`` hex digits: the one digest of
    settings (training runs, configurations)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:length]


def training_digest(settings: dict, ignored_prefixes: tuple[str, ...], **identity) -> str:
    """Identifies a training run: ``settings`` (a training config as a dict) without the keys that
    do not change the weights (``ignored_prefixes``: validation, checkpointing), plus what else
    decides it (``identity``: model geometry, data and start digests). A checkpoint resumes only
    the run whose digest it carries."""
    kept = {key: value for key, value in settings.items() if not key.startswith(ignored_prefixes)}
    return json_digest(dict(config=kept, **identity))


def table_seeds(config: dict, table: str) -> list[int]:
    """Seeds to train every row of ``table`` with (config `<table>.seeds`; default: the runtime seed).
    Several seeds give mean +- sd in the reports."""
    return list(scale_settings(config)[table].get("seeds") or [config["runtime"]["seed"]])
