"""Recorded runs: a committed copy of the small results files of a scale, so that its reports can
be regenerated and checked by anyone without training (issue 24).

    recorded/<scale>/<table folder>/...     the results files (JSON, CSV) of results/<scale>/, same layout
    recorded/<scale>/MANIFEST.json          one entry per recorded file: sha256, size, where it came from

Only data goes in: metrics, per-epoch histories, timing files, group norms, predictions, the
sweep's table. Never models, checkpoints, logs or the prepared data.

A run is recorded a piece at a time (a table, a row, a seed), across days and commits. What decides
whether pieces belong together is what made their numbers, not the commit: each run's provenance
carries ``settings_digest`` (its job's settings) and ``code_digest`` (the code that can change a
number, iss_harness.provenance). ``record`` refuses a piece

* made from a tree with uncommitted changes (git SHA "-dirty"), or with no provenance at all;
* made at another scale;
* whose settings differ from what the configuration now gives for that row, or from a seed of the
  same row already recorded;
* that would replace a recorded file with other contents (unless asked to);

(tables, comparisons and the sweep's CSV are made from these files by the report steps, and are
regenerated, not recorded)

and records, but names, pieces whose code digest differs from pieces already recorded for the table
(the reports list it per file).

``restore`` copies a recorded scale back into ``results/<scale>/`` so that a record can be continued
in a fresh clone or on another machine: the workflow then runs only the pieces that are not
recorded.
"""
from __future__ import annotations

import datetime
import hashlib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from iss_harness.config import json_digest
from iss_harness.io import UnreadableFile, read_json, replacing, write_json_atomic, write_text_atomic
from iss_harness.tasks.paths import ExperimentError, run_dir, scale_root, table_dir

RECORDED = Path("recorded")
MANIFEST = "MANIFEST.json"
KINDS = (".json", ".csv")              # data; never .pt (models, checkpoints, prepared data)
LEFT_OUT = ("logs", "data")            # job logs; Table 3's prepared data (its summary is in metrics.json)
# Measurements of a whole scale that belong to no table: name -> file under results/<scale>/.
MEASUREMENTS = {"sparsity_speed": "sparsity_speed.json"}


class RecordRefused(ExperimentError):
    """A piece that cannot be recorded (the message names the file and why)."""


@dataclass
class Recorded:
    """What ``record`` did: files copied, files already there unchanged, and notes (code differs)."""
    copied: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Restored:
    """What ``restore`` did: recorded files copied into results/, and results files left as they were."""
    copied: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def read_manifest(recorded: Path, config: dict) -> tuple[Path, dict]:
    """The path and contents of the config's scale's manifest, or RecordRefused when none is recorded."""
    manifest_path = scale_root(recorded, config) / MANIFEST
    if not manifest_path.is_file():
        raise RecordRefused(f"{manifest_path} does not exist: no run of scale {config['scale']!r} is recorded "
                            f"(iss record --table T after a finished run)")
    return manifest_path, read_json(manifest_path)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_folders(results: Path, config: dict, table, row: str | None, seed: int | None) -> list[Path]:
    """The run folders of the piece: one row and seed, one row (every seed present), or the whole table."""
    folder = table_dir(results, config, table.results_folder)
    if row is None:
        return sorted({path.parent for path in folder.rglob("metrics.json")})
    if table.seeds is None:
        return [run_dir(results, config, table.results_folder, row)]
    if seed is not None:
        return [run_dir(results, config, table.results_folder, row, seed)]
    return sorted(path.parent for path in run_dir(results, config, table.results_folder, row).glob("seed*/metrics.json"))


def piece_files(results: Path, config: dict, table, row: str | None, seed: int | None) -> list[Path]:
    """Every data file of the piece: its runs' files and, for a whole table, the table's own files
    (timing, the sweep's table)."""
    scale = scale_root(results, config)
    folders = run_folders(results, config, table, row, seed)
    if not folders:
        raise RecordRefused(f"nothing to record: no metrics.json under {table_dir(results, config, table.results_folder)}"
                            f"{'/' + row if row else ''} (evaluate the rows first)")
    files = [path for folder in folders for path in sorted(folder.rglob("*")) if path.suffix in KINDS]
    if row is None:
        top = table_dir(results, config, table.results_folder)
        # the table's own measurements (timing); its CSVs (the sweep's table) are made by its report
        files += [path for path in sorted(top.glob("*.json")) if path.is_file()]
    return [path for path in dict.fromkeys(files)
            if not set(path.relative_to(scale).parts) & set(LEFT_OUT)]


def made_by(path: Path) -> dict | None:
    """The provenance of a JSON results file: of the training run for a metrics file, else its own."""
    try:
        data = read_json(path)
    except UnreadableFile:
        return None
    if not isinstance(data, dict):
        return None
    return data.get("training_provenance") or data.get("provenance")


def check_provenance(path: Path, made: dict | None, config: dict) -> None:
    if not made:
        raise RecordRefused(f"{path}: no provenance; rerun its step with this version of the harness")
    sha = str(made.get("git_sha", "unknown"))
    if sha == "unknown" or sha.endswith("-dirty"):
        raise RecordRefused(f"{path}: made from {'uncommitted changes' if sha.endswith('-dirty') else 'no git checkout'} "
                            f"({sha}); commit, rerun the step, then record")
    if made.get("scale") != config["scale"]:
        raise RecordRefused(f"{path}: made at scale {made.get('scale')!r}, recording scale {config['scale']!r}")


def record(config: dict, table, row: str | None = None, seed: int | None = None, *, results: Path = Path("results"),
           into: Path = RECORDED, replace: bool = False) -> Recorded:
    """Copy a finished piece of ``table`` (a registry Table: a row and seed, a row, or the whole
    table) from ``results/<scale>/`` into ``into/<scale>/`` and list it in the manifest. A run is
    checked against the settings the config gives its row now (``table.job_settings``)."""
    expected_settings = (lambda name: table.job_settings(config, name)) if table.jobs else None
    scale_results, scale_recorded = scale_root(results, config), scale_root(into, config)
    manifest_path = scale_recorded / MANIFEST
    manifest = read_json(manifest_path) if manifest_path.is_file() else {"files": {}}
    files = piece_files(results, config, table, row, seed)
    done = Recorded()
    checked: dict[Path, dict] = {}
    for path in files:  # every run folder's metrics first: the other files of a run follow its provenance
        if path.name == "metrics.json" or (path.suffix == ".json" and path.parent == table_dir(results, config, table.results_folder)):
            made = made_by(path)
            check_provenance(path, made, config)
            checked[path.parent if path.name == "metrics.json" else path] = made
            _check_settings(path, made, scale_results, manifest, expected_settings)
            done.notes += _code_notes(path, made, scale_results, table, manifest)
    for path in files:
        source = checked.get(path) or _run_of(path, checked)
        if source is None:
            raise RecordRefused(f"{path}: no metrics.json beside it says which run made it")
        _copy(path, source, table.name, scale_results, scale_recorded, manifest, replace, done)
    _write_manifest(manifest_path, manifest, config, done)
    return done


def record_measurement(config: dict, name: str, *, results: Path = Path("results"), into: Path = RECORDED,
                       replace: bool = False) -> Recorded:
    """Record a measurement of the whole scale that belongs to no table (``MEASUREMENTS``: the
    speedup-vs-sparsity file, results/<scale>/sparsity_speed.json), with the same checks."""
    if name not in MEASUREMENTS:
        raise RecordRefused(f"there is no measurement {name!r} to record (measurements: {', '.join(MEASUREMENTS)})")
    scale_results, scale_recorded = scale_root(results, config), scale_root(into, config)
    path = scale_results / MEASUREMENTS[name]
    if not path.is_file():
        raise RecordRefused(f"nothing to record: {path} does not exist (run `iss {name.replace('_', '-')}` first)")
    made = made_by(path)
    check_provenance(path, made, config)
    manifest_path = scale_recorded / MANIFEST
    manifest = read_json(manifest_path) if manifest_path.is_file() else {"files": {}}
    done = Recorded()
    _copy(path, made, name, scale_results, scale_recorded, manifest, replace, done)
    _write_manifest(manifest_path, manifest, config, done)
    return done


def restore(config: dict, table=None, *, recorded: Path = RECORDED, results: Path = Path("results")) -> Restored:
    """Copy the recorded files of the config's scale (of ``table``'s results folder only, when given)
    into ``results/<scale>/``, checked against the manifest's sha256; a file already in results/ is
    kept. Every copy gets one time, now, not the recorded file's: Snakemake then takes a restored
    run as made after the data it read and no earlier than the restored runs it read (the ISS sizes
    a direct design trains at), and trains only what is missing; fetch the data first. A restored
    run has no model file, so a step that reads one, such as timing the first seed's compact
    models, trains that run again."""
    now = time.time()
    scale_recorded, scale_results = scale_root(recorded, config), scale_root(results, config)
    manifest_path, manifest = read_manifest(recorded, config)
    files = manifest["files"]
    folder = None if table is None else table.results_folder
    done = Restored()
    for relative, entry in files.items():
        if folder is not None and relative.split("/")[0] != folder:
            continue
        source, target = scale_recorded / relative, scale_results / relative
        if target.exists():
            done.kept.append(target)
            continue
        if not source.is_file() or sha256(source) != entry["sha256"]:
            raise RecordRefused(f"{source} is missing or differs from its sha256 in {manifest_path}; restore "
                                f"the recorded folder from git (git checkout -- {scale_recorded})")
        with replacing(target) as temp:
            shutil.copyfile(source, temp)
        os.utime(target, (now, now))
        done.copied.append(target)
    return done


def _copy(path: Path, source: dict, owner: str, scale_results: Path, scale_recorded: Path, manifest: dict,
          replace: bool, done: Recorded) -> None:
    """Copy one checked file into the recorded scale and enter it, with its run's provenance, in the manifest."""
    relative = path.relative_to(scale_results).as_posix()
    digest = sha256(path)
    target = scale_recorded / relative
    if target.is_file() and sha256(target) == digest:
        done.unchanged.append(target)
    else:
        if target.is_file() and not replace:
            raise RecordRefused(f"{target} is already recorded with other contents; pass --replace to "
                                f"record the new run instead")
        write_text_atomic(target, path.read_text(encoding="utf-8"))
        done.copied.append(target)
    manifest["files"][relative] = dict(
        sha256=digest, bytes=path.stat().st_size, table=owner, git_sha=source.get("git_sha"),
        code_digest=source.get("code_digest"), settings_digest=source.get("settings_digest"),
        seed=source.get("seed"), device=source.get("device"), cpu=source.get("cpu"),
        threads=source.get("threads"), created=source.get("created"), wall_seconds=source.get("wall_seconds"))


def _write_manifest(manifest_path: Path, manifest: dict, config: dict, done: Recorded) -> None:
    """Only when a file was copied: recording a piece again changes nothing, not even the date the
    regenerated reports print as "last recorded"."""
    if not done.copied:
        return
    manifest["files"] = dict(sorted(manifest["files"].items()))
    manifest["scale"] = config["scale"]
    manifest["updated"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    write_json_atomic(manifest_path, manifest)


def _run_of(path: Path, checked: dict[Path, dict]) -> dict | None:
    """The provenance of the run folder that holds ``path`` (a history or predictions file)."""
    for folder in path.parents:
        if folder in checked:
            return checked[folder]
    return None


def _check_settings(path: Path, made: dict, scale_results: Path, manifest: dict, expected_settings) -> None:
    """A run's settings are the config's for its row, and those of the row's seeds already recorded."""
    digest = made.get("settings_digest")
    if path.name != "metrics.json":
        return
    if digest is None:
        raise RecordRefused(f"{path}: its provenance has no settings digest (made by an older harness); "
                            f"rerun the row to record it")
    here = path.relative_to(scale_results)  # <table folder>/<row>/[seed<N>/]metrics.json
    row_name = here.parts[1]
    if expected_settings is not None:
        wanted = json_digest({"settings": expected_settings(row_name)})
        if wanted != digest:
            raise RecordRefused(f"{path}: trained with other settings than the configuration now gives row "
                                f"{row_name!r}; rerun it (iss train --restart) or record with the config it was made with")
    for relative, entry in manifest["files"].items():
        parts = Path(relative).parts
        if relative != here.as_posix() and parts[-1] == "metrics.json" and parts[:2] == here.parts[:2] \
                and entry.get("settings_digest") not in (None, digest):
            raise RecordRefused(f"{path}: its settings differ from the recorded {relative}; a row's seeds are one "
                                f"experiment (rerun it, or record the other again with --replace)")


def _code_notes(path: Path, made: dict, scale_results: Path, table, manifest: dict) -> list[str]:
    """A piece made by other code than the table's recorded files of the same kind (file name): a
    training run is compared with training runs, a timing file with timing files, whose process
    loads other code."""
    recorded = {entry.get("code_digest") for key, entry in manifest["files"].items()
                if entry.get("table") == table.name and entry.get("code_digest") and Path(key).name == path.name}
    code = made.get("code_digest")
    if code and recorded and code not in recorded:
        return [f"{path.relative_to(scale_results)}: made by code {code}, other {path.name} of {table.name} by "
                f"{', '.join(sorted(recorded))} (the report lists each file's code)"]
    return []

