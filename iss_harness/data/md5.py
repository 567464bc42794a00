"""Files known only by md5 (SQuAD train-v1.1.json, GloVe 6B 100d): fetched, md5-checked, pinned.

Sources, in this order (the registry entries are :class:`iss_harness.data.fetch.Md5File`):

1. a copy the user pointed at through the file's config key (plain or ``.xz``);
2. the data mirror: ``<mirror>/<dataset>/<name>`` or ``<name>.xz``, and for a file that is
   published inside an archive also the archive itself (``<mirror>/glove/glove.6B.zip``);
3. a download over https (``iss_harness.data.download``: resumable, with a progress bar). For an archive
   member, the archive is downloaded, its md5 checked, only the member extracted, and the
   archive deleted (glove.6B.zip is 822 MB; the 100d member is 331 MB).

Every new copy is streamed into a temporary file beside the target, checked against the md5, and
renamed into place only then. md5 is what the publishers list, but it is weak; so the first
verified copy's sha256 and size are recorded in ``<name>.sha256.lock`` beside it, and from then on
the file (and any later replacement copy) must match that lock. A mismatch is one DataError that
names the file and the lock.
"""
from __future__ import annotations

import hashlib
import json
import lzma
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Callable

from iss_harness.data import fetch as data
from iss_harness.data.fetch import CHUNK_BYTES, PART_SUFFIX, DataError, Md5File
from iss_harness.data.download import download_resumable, resume_path
from iss_harness.io import replacing, write_json_atomic

LOCK_SUFFIX = ".sha256.lock"
# A download may exceed the registry's approximate size by this factor before it is cut off.
SIZE_MARGIN = 1.5


class _Digests:
    """md5 (to check against the publisher), sha256 and size (for the lock) in one pass."""

    def __init__(self):
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha256 = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self.md5.update(chunk)
        self.sha256.update(chunk)
        self.size += len(chunk)


def lock_path(target: Path) -> Path:
    return target.with_name(target.name + LOCK_SUFFIX)


def read_lock(target: Path) -> dict | None:
    """The sha256 and size recorded for ``target`` when it was first verified, or None."""
    lock = lock_path(target)
    if not lock.exists():
        return None
    try:
        record = json.loads(lock.read_text())
        if isinstance(record.get("sha256"), str) and isinstance(record.get("size"), int):
            return record
    except (OSError, ValueError, AttributeError):
        pass
    raise DataError(f"The lock file {lock} is unreadable or not a JSON object with sha256 and size. "
                    f"Delete it and re-run: {target.name} is then md5-checked again and the lock rewritten.")


def fetch_md5_file(dataset: str, spec: Md5File, dest: Path, mirror_dir: Path | None, download: bool,
                   explicit: str | Path | None) -> Path:
    """``dest/<name>``, verified (md5 the first time, its lock afterwards), from the first source that has it."""
    target = dest / spec.name
    data._remove_stale_parts(target)
    lock = read_lock(target)
    if target.is_file():
        if lock is not None:
            _check_against_lock(target, lock)
            return target
        if _md5_of(target) == spec.md5:
            _write_lock(target, _digest_file(target), f"{target} (already there)")
            return target
        target.unlink()  # a wrong file at the final name must not survive
        print(f"[iss] {target} did not have the md5 of {spec.name}; deleted it", flush=True)
    _get_copy(dataset, spec, target, mirror_dir, download, explicit)
    return target


def _get_copy(dataset: str, spec: Md5File, target: Path, mirror_dir: Path | None, download: bool,
              explicit: str | Path | None) -> None:
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise DataError(f"{spec.config_key} is {str(explicit)!r}, which is not a file. Point it at a copy of "
                            f"{spec.name} (plain or .xz), or set it to null to use the mirror or the download.")
        _install_from_file(target, spec, path, f"Fix {spec.config_key} or the file it points at, then re-run.")
    elif mirror_dir is not None:
        _copy_from_mirror(dataset, spec, target, mirror_dir)
    elif not download:
        raise DataError(f"{target} is missing and downloading is disabled. " + _how_to_get(dataset, spec))
    elif spec.archive is not None:
        _download_member(dataset, spec, target)
    else:
        fix_hint = "Re-run to try again; if it keeps failing, hand a copy over: " + _how_to_get(dataset, spec)
        part = download_resumable(spec.url, resume_path(target), _cap(spec.approx_bytes), fix_hint)
        try:
            _install_from_file(target, spec, part, fix_hint, label=spec.url)
        finally:
            part.unlink(missing_ok=True)  # complete: either installed, or wrong and not worth resuming


def _copy_from_mirror(dataset: str, spec: Md5File, target: Path, mirror_dir: Path) -> None:
    folder = mirror_dir / dataset
    fix_hint = f"Fix or replace the file in the mirror {mirror_dir}, then re-run."
    for path in (folder / spec.name, folder / f"{spec.name}.xz"):
        if path.is_file():
            _install_from_file(target, spec, path, fix_hint)
            return
    looked = [folder / spec.name, folder / f"{spec.name}.xz"]
    if spec.archive is not None:
        archive = folder / spec.archive.name
        if archive.is_file():
            _check_archive(archive, spec, fix_hint)
            _install_member(target, spec, archive, fix_hint)
            return
        looked.append(archive)
    raise DataError(f"The mirror has no {spec.name}: looked for {', '.join(map(str, looked))}. "
                    + _how_to_get(dataset, spec))


def _download_member(dataset: str, spec: Md5File, target: Path) -> None:
    archive = spec.archive
    fix_hint = "Re-run to try again; if it keeps failing, hand a copy over: " + _how_to_get(dataset, spec)
    part = download_resumable(archive.url, resume_path(target.with_name(archive.name)),
                              _cap(archive.approx_bytes), fix_hint)
    try:
        _check_archive(part, spec, fix_hint, label=archive.url)
        _install_member(target, spec, part, fix_hint)
    finally:
        part.unlink(missing_ok=True)  # only the member is kept


def _check_archive(path: Path, spec: Md5File, fix_hint: str, label: str | None = None) -> None:
    actual = _md5_of(path)
    if actual != spec.archive.md5:
        raise DataError(f"{spec.archive.name} from {label or path} has md5 {actual}, expected {spec.archive.md5} "
                        f"(from {spec.archive.md5_source}); it is damaged or another file. {fix_hint}")


def _install_member(target: Path, spec: Md5File, archive: Path, fix_hint: str) -> None:
    """Extract only ``spec.name`` from the zip ``archive`` into ``target`` (verified, atomic)."""
    label = f"{archive} (member {spec.name})"
    try:
        with zipfile.ZipFile(archive) as zipped:
            with zipped.open(spec.name) as member:
                _install(target, spec, label, fix_hint, lambda out, digests: _copy(member, out, digests))
    except KeyError:
        raise DataError(f"{archive} has no member {spec.name}. {fix_hint}") from None
    except (zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"{archive} is not a readable zip archive ({err}). {fix_hint}") from err


def _install_from_file(target: Path, spec: Md5File, source: Path, fix_hint: str, label: str | None = None) -> None:
    opener = lzma.open if source.suffix == ".xz" else open
    try:
        with opener(source, "rb") as src:
            _install(target, spec, label or str(source), fix_hint, lambda out, digests: _copy(src, out, digests))
    except (lzma.LZMAError, EOFError) as err:
        raise DataError(f"{source} is not a valid .xz file ({err}). {fix_hint}") from err


def _copy(src, out: BinaryIO, digests: _Digests) -> None:
    while chunk := src.read(CHUNK_BYTES):
        out.write(chunk)
        digests.update(chunk)


def _install(target: Path, spec: Md5File, label: str, fix_hint: str,
             write: Callable[[BinaryIO, _Digests], None]) -> None:
    """Stream ``write`` into a temporary file beside ``target``; check md5 and lock; rename; lock."""
    digests = _Digests()
    try:
        with replacing(target, suffix=PART_SUFFIX) as tmp:
            with open(tmp, "wb") as out:
                try:
                    write(out, digests)
                except OSError as err:
                    raise DataError(f"Copying {spec.name} from {label} failed ({err}). Check that {target.parent} "
                                    f"has {spec.approx_bytes:,} bytes free and the source is readable.") from err
            actual = digests.md5.hexdigest()
            if actual != spec.md5:
                kind = data._sniff(tmp)
                raise DataError(f"{spec.name} from {label} has md5 {actual} ({digests.size:,} bytes), expected "
                                f"{spec.md5} (from {spec.md5_source})" + (f"; it {kind}" if kind else "")
                                + f". Nothing was saved as {target}. {fix_hint}")
            lock = read_lock(target)
            if lock is not None and lock["sha256"] != digests.sha256.hexdigest():
                raise DataError(f"{spec.name} from {label} has the right md5 but sha256 {digests.sha256.hexdigest()}, "
                                f"not the {lock['sha256']} recorded in {lock_path(target)} when {spec.name} was first "
                                "verified: two different files with one md5, or the lock is from another copy. Check "
                                "the source; delete the lock only if you trust this copy.")
    except OSError as err:
        raise DataError(f"Could not write in {target.parent} ({err}). Check that it is writable, then re-run.") from err
    if lock is None:
        _write_lock(target, digests, label)
    print(f"[iss] {spec.name}: from {label}, md5 verified", flush=True)


def _check_against_lock(target: Path, lock: dict) -> None:
    size = target.stat().st_size
    actual = _digest_file(target).sha256.hexdigest() if size == lock["size"] else None
    if actual != lock["sha256"]:
        found = f"sha256 {actual}" if actual else f"{size:,} bytes"
        raise DataError(f"{target} does not match {lock_path(target)}: it has {found}, the lock recorded sha256 "
                        f"{lock['sha256']} ({lock['size']:,} bytes) when it was first verified, so the file changed "
                        "since. Delete it and re-run to fetch a fresh copy (which must match the lock).")


def _write_lock(target: Path, digests: _Digests, source: str) -> None:
    write_json_atomic(lock_path(target), {
        "file": target.name, "sha256": digests.sha256.hexdigest(), "size": digests.size,
        "md5": digests.md5.hexdigest(), "source": source,
        "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds")})


def _digest_file(path: Path) -> _Digests:
    digests = _Digests()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digests.update(chunk)
    return digests


def _md5_of(path: Path) -> str:
    return _digest_file(path).md5.hexdigest()


def _cap(approx_bytes: int) -> int:
    return int(approx_bytes * SIZE_MARGIN)


def _how_to_get(dataset: str, spec: Md5File) -> str:
    where = spec.url or f"{spec.archive.url} (member {spec.name})"
    return (f"{spec.name} (md5 {spec.md5}, from {spec.md5_source}) is published at {where}. Download it where there "
            f"is internet access and set the config key {spec.config_key} to its path, or put it (plain or .xz) in "
            f"the data mirror as {dataset}/{spec.name}" + (f" or {dataset}/{spec.archive.name}" if spec.archive else "")
            + f" (config data.mirror or ${data.MIRROR_ENV_VAR}); with no mirror set it is downloaded.")
