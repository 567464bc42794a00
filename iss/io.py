"""Files that are never half written: every results, report, figure, checkpoint and data file.

One primitive, ``replacing(path)``: the caller writes a temporary file beside ``path`` (same folder,
so the final rename stays on one file system); on success it is flushed to disk and renamed over
``path`` in one step, on any failure (an exception, Ctrl-C) it is deleted. A reader therefore sees
the old file or the new one, and a killed job leaves nothing under the final name.

torch is imported only by the two functions that save or load torch files, so the reporting and
comparison steps use this module without it.
"""
from __future__ import annotations

import json
import os
import pickle
import tempfile
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Modules of the flat layout before the package split (2026-12-04), for pickled files written then:
# checkpoints hold the training loop's EpochProgress, prepared SQuAD files hold the dataset classes.
RENAMED_MODULES = {
    "iss.train": "iss.tasks.train_lm", "iss.train_bidaf": "iss.tasks.train_bidaf", "iss.ema": "iss.tasks.ema",
    "iss.experiment": "iss.tasks.lm", "iss.squad_prepare": "iss.tasks.table3_data", "iss.squad": "iss.data.squad",
    "iss.ptb": "iss.data.ptb",
}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def replacing(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(handle)
    temp = Path(name)
    try:
        yield temp
        with open(temp, "rb+") as written:
            os.fsync(written.fileno())
        os.chmod(temp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    with replacing(path) as temp:
        temp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | Path, payload: dict) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2) + "\n")


def read_json(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run the step that produces it first "
                                f"(snakemake {path})")
    return json.loads(path.read_text())


def save_torch_atomic(obj, path: str | Path) -> None:
    """torch.save, atomically (checkpoints, models, prepared data)."""
    import torch
    with replacing(path) as temp:
        torch.save(obj, temp)


class _RenamingUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        return super().find_class(RENAMED_MODULES.get(module, module), name)


# What torch.load calls a pickle module: it subclasses ``Unpickler`` and calls ``load``.
_RENAMING_PICKLE = types.SimpleNamespace(Unpickler=_RenamingUnpickler, load=pickle.load, __name__="pickle")


def load_torch(path: str | Path, map_location=None, weights_only: bool = False):
    """torch.load; a file that pickles classes (not only tensors) may name them by their module
    before the package split, and loads all the same."""
    import torch
    if weights_only:
        return torch.load(path, map_location=map_location, weights_only=True)
    return torch.load(path, map_location=map_location, weights_only=False, pickle_module=_RENAMING_PICKLE)
