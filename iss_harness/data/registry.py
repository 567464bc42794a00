"""The data-set registry: which files each data set has, where they come from and what they must
look like. The entries are data (``iss_harness/data/registry.yaml``); this module gives them types."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REGISTRY_PATH = Path(__file__).with_name("registry.yaml")


@dataclass(frozen=True)
class DataFile:
    """One file of a data set, with what it must look like when uncompressed."""

    name: str
    url: str | None  # None: only obtainable from a mirror
    sha256: str  # of the uncompressed file
    size: int  # bytes of the uncompressed file
    lines: int | None = None
    # True when `url` is an archive holding this file (e.g. glove.6B.zip);
    # extracting members of such archives is not implemented.
    url_is_archive: bool = False


@dataclass(frozen=True)
class Archive:
    """A zip archive that is downloaded only to take one member out of it."""

    name: str
    url: str
    md5: str
    md5_source: str
    approx_bytes: int


@dataclass(frozen=True)
class Md5File:
    """A file whose publishers (or their users) list only an md5, not a sha256.

    It is checked against that md5 the first time it is fetched; its sha256 is then recorded in
    ``<name>.sha256.lock`` beside it, and every later use is checked against the lock
    (``iss_harness.data.md5``). ``url`` is the file itself, or None when it is a member of ``archive``.
    ``config_key`` names the setting through which a user may hand over a copy by path.
    """

    name: str
    url: str | None
    md5: str
    md5_source: str
    approx_bytes: int
    config_key: str
    archive: Archive | None = None


class RegistryError(ValueError):
    """The registry file is not shaped as this module expects (a packaging or editing mistake)."""


def load_registry(path: Path = REGISTRY_PATH) -> dict[str, dict[str, DataFile | Md5File]]:
    """{data set: {file name: entry}} from the registry file."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    archives = {name: _entry(Archive, name, body, path) for name, body in (data.get("archives") or {}).items()}
    registry: dict[str, dict[str, DataFile | Md5File]] = {}
    for dataset, files in data["datasets"].items():
        registry[dataset] = {}
        for name, body in files.items():
            body = dict(body)
            if "md5" in body:
                if body.get("archive") is not None:
                    if body["archive"] not in archives:
                        raise RegistryError(f"{path}: {dataset}.{name}: unknown archive {body['archive']!r}")
                    body["archive"] = archives[body["archive"]]
                registry[dataset][name] = _entry(Md5File, name, body, path)
            else:
                registry[dataset][name] = _entry(DataFile, name, body, path)
    return registry


def _entry(kind: type, name: str, body: dict[str, Any], path: Path):
    try:
        return kind(name=name, **body)
    except TypeError as error:
        raise RegistryError(f"{path}: {name}: not a {kind.__name__} entry ({error})") from None
