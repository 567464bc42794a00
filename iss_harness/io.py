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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


class UnreadableFile(RuntimeError):
    """A results file that cannot be read: missing, damaged, written by an older version, or (a
    torch file) holding more than data. The message is one line naming the file and the remedy."""


class MissingResultsFile(UnreadableFile, FileNotFoundError):
    """A results file that does not exist yet: the remedy is to make it, not to delete it."""

    def __init__(self, path: Path):
        super().__init__(f"{path} does not exist: run the step that produces it first "
                         f"(snakemake --cores 2 {path})")


def read_json(path: str | Path) -> dict:
    """A results JSON file; a missing or damaged one is a one-line error naming it and the remedy."""
    path = Path(path)
    if not path.exists():
        raise MissingResultsFile(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UnreadableFile(f"{path} is not valid JSON ({error}); delete it and rerun the step that "
                             f"writes it (snakemake {path})") from None


def save_torch_atomic(obj, path: str | Path) -> None:
    """torch.save, atomically (checkpoints, models, prepared data)."""
    import torch
    with replacing(path) as temp:
        torch.save(obj, temp)


def load_torch(path: str | Path, remedy: str, map_location=None):
    """``torch.load(weights_only=True)``: a file can hold tensors and plain containers (dicts, lists,
    strings, numbers) but never run code when it is loaded, so results copied from another machine
    or person are safe to read. ``remedy`` says how to remake a damaged file (e.g. "rerun `iss
    prepare --table table3`"); it ends the one-line error raised for a file that cannot be read. A
    missing file is MissingResultsFile, whose remedy is the step that makes it."""
    import torch
    path = Path(path)
    if not path.is_file():
        raise MissingResultsFile(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        # what the weights-only unpickler raises for any class or function it is asked to build
        reason = "it holds Python objects, not only tensors and plain data (written by an older version?)"
    except (RuntimeError, EOFError, ValueError, OSError) as error:
        reason = f"it is damaged or truncated ({str(error).splitlines()[0] if str(error) else type(error).__name__})"
    raise UnreadableFile(f"{path} cannot be loaded: {reason}; {remedy}")
