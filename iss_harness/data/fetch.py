"""Getting the data files the experiments need, verified by size and sha256.

Every file comes from one of three places, tried in this order:

1. ``dest_dir/<name>`` if it is already there and its checksum matches;
2. a local *mirror* folder (argument, or the ``ISS_DATA_MIRROR`` environment
   variable) laid out like ``<mirror>/<dataset>/<name>`` or ``<name>.xz``;
3. a download over https.

New files are written to a temporary name in ``dest_dir``, verified, and only
then renamed into place, so a truncated or wrong file never sits at the final
name where a later run would trust it. A temporary file left by a killed run is
never used, and is removed by the next fetch. Downloads use https only, and a
redirect to any other scheme is refused before it is followed.

Two files of the paper scale (SQuAD train-v1.1.json, GloVe 6B 100d) are published
with an md5 only; they are :class:`Md5File` entries of the same registry, fetched
and pinned by a sha256 lock in :mod:`iss_harness.data.md5` (downloads: :mod:`iss_harness.data.download`).

Every failure is one :class:`DataError` whose message names the file, says what
was expected and what to do about it.

About 500 lines, one job: a verified file from one of three sources. Most of it is the
failure handling (partial files, wrong checksums, HTML error pages, redirects, full disks),
each with its own message; the registry itself is data (``iss_harness/data/registry.yaml``).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import lzma
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Mapping

from iss_harness.data.registry import Archive, DataFile, Md5File, load_registry  # noqa: F401  (Archive: part of this API)
from iss_harness.io import replacing, write_text_atomic

try:  # advisory locks tell a live download's temporary file from a dead one's
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

MIRROR_ENV_VAR = "ISS_DATA_MIRROR"
CHUNK_BYTES = 1 << 20
DOWNLOAD_TIMEOUT_S = 60
PART_SUFFIX = ".part"
# A temporary file not written to for this long, and not locked, was left by a killed run.
STALE_PART_S = 600
# The TLS context downloads use; None = Python's default (system CAs, hostname checked). Tests point
# it at a context that trusts their own self-signed 127.0.0.1 certificate, and nothing else.
SSL_CONTEXT: ssl.SSLContext | None = None


class DataError(Exception):
    """A data file is missing, unreachable, corrupt or in the wrong format."""


# {data set: {file name: entry}}; the entries are data, in iss_harness/data/registry.yaml.
DATASETS: dict[str, dict[str, DataFile | Md5File]] = load_registry()


def mirror_hint(dataset: str) -> str:
    """How to point the harness at a local copy of the data."""
    layout = ", ".join(f"{dataset}/{name} (or {dataset}/{name}.xz)" for name in DATASETS.get(dataset, {}))
    return (
        f"To work offline, use a local mirror folder: set {MIRROR_ENV_VAR}=/path/to/folder "
        f"or the config key data.mirror. The folder must hold {layout or dataset + '/<file>'}."
    )


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks so large files need little memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_mirror(explicit: str | Path | None) -> Path | None:
    """The mirror folder to use: the explicit argument, else $ISS_DATA_MIRROR, else None."""
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser()
    from_env = os.environ.get(MIRROR_ENV_VAR, "").strip()
    if from_env:
        return Path(from_env).expanduser()
    return None


def fetch(
    dataset: str,
    dest_dir: str | Path,
    mirror: str | Path | None = None,
    download: bool = True,
    names: Iterable[str] | None = None,
    explicit: Mapping[str, str | Path | None] | None = None,
) -> dict[str, Path]:
    """Make sure every file of `dataset` is in `dest_dir`, verified; return name -> path.

    Files go directly into `dest_dir` (e.g. ``resources/data/ptb/ptb.train.txt`` for
    ``dest_dir=resources/data/ptb``). `names` restricts the fetch to some files.
    `mirror=None` falls back to $ISS_DATA_MIRROR. `explicit` maps an :class:`Md5File`'s name to a
    copy the user pointed at (its config key); that copy is used before the mirror and downloads.
    """
    if dataset not in DATASETS:
        raise DataError(f"Unknown data set {dataset!r}; known ones are: {', '.join(sorted(DATASETS))}.")
    files = DATASETS[dataset]
    wanted = list(files) if names is None else list(names)
    unknown = [n for n in wanted if n not in files]
    if unknown:
        raise DataError(f"Data set {dataset!r} has no file(s) {unknown}; it has: {', '.join(files)}.")

    mirror_dir = resolve_mirror(mirror)
    if mirror_dir is not None and not mirror_dir.is_dir():
        raise DataError(
            f"The data mirror {mirror_dir} is not a folder (from the argument, the config key data.mirror "
            f"or ${MIRROR_ENV_VAR}). " + mirror_hint(dataset)
        )

    dest = Path(dest_dir)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"Cannot create the data folder {dest} ({err}). Check the config key data.dir "
                        "and the folder's permissions.") from err
    given = {name: path for name, path in (explicit or {}).items() if path}
    for name in given:
        if not isinstance(files.get(name), Md5File):
            raise DataError(f"{dataset}/{name} is in the sha256 registry: it comes from the mirror or its download "
                            "address, not from a config path; set the config's file key to null.")
    out = {}
    for name in wanted:
        spec = files[name]
        if isinstance(spec, Md5File):
            from iss_harness.data.md5 import fetch_md5_file  # imported here: it builds on this module
            out[name] = fetch_md5_file(dataset, spec, dest, mirror_dir, download, given.get(name))
        else:
            out[name] = _fetch_one(dataset, spec, dest, mirror_dir, download)
    return out


def _fetch_one(dataset: str, spec: DataFile, dest: Path, mirror_dir: Path | None, download: bool) -> Path:
    target = dest / spec.name
    _remove_stale_parts(target)
    removed = ""
    if target.exists() or target.is_symlink():
        problem = _existing_problem(target, spec)
        if problem is None:
            return target
        # A wrong file at the final name must not survive, or a later run might use it.
        _remove(target)
        _sidecar(target).unlink(missing_ok=True)
        removed = f"{target} was not the expected file ({problem}), so it was deleted. "

    try:
        if mirror_dir is not None:
            _copy_from_mirror(dataset, spec, mirror_dir, target)
        elif not download:
            raise DataError(f"{target} is missing and downloading is disabled. " + mirror_hint(dataset))
        else:
            _download(dataset, spec, target)
    except DataError as err:
        if removed:
            raise DataError(removed + "Getting a good copy failed: " + str(err)) from err
        raise
    try:
        _write_sidecar(target, spec)
    except OSError:
        pass  # only a cache: the next run re-hashes the file
    return target


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        raise DataError(f"{path} is a folder, not the data file {path.name}. Move or delete it, then re-run.")
    try:
        path.unlink()
    except OSError as err:
        raise DataError(f"{path} is not the expected file and cannot be deleted ({err}). "
                        "Delete it by hand, then re-run.") from err


# --- verification cache: <file>.sha256 holds the checksum with the size and mtime it was computed for


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _existing_problem(path: Path, spec: DataFile) -> str | None:
    """None when `path` is the verified file; otherwise what is wrong with it.

    The sidecar is trusted only while the file keeps the size and mtime it was
    hashed with; any change (a later truncation, an edit, a copy over it) re-hashes.
    """
    try:
        if not path.is_file():
            return "not a regular file"
        stat = path.stat()
        if stat.st_size != spec.size:
            return _describe_wrong(path, spec, stat.st_size)
        try:
            cached = json.loads(_sidecar(path).read_text())
            if cached == {"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}:
                return None
        except (OSError, ValueError):
            pass  # no usable cache: re-hash
        actual = sha256_file(path)
    except OSError as err:
        raise DataError(f"Cannot read {path} ({err}). Check its permissions, or delete it and re-run.") from err
    if actual != spec.sha256:
        return f"sha256 {actual}, expected {spec.sha256}"
    try:
        _write_sidecar(path, spec)
    except OSError:
        pass
    return None


def _describe_wrong(path: Path, spec: DataFile, size: int) -> str:
    if size == 0:
        return f"it is empty, expected {spec.size} bytes"
    kind = _sniff(path)
    what = "truncated" if size < spec.size else "too large"
    return f"{what}: {size} bytes, expected {spec.size}" + (f"; it {kind}" if kind else "")


def _sniff(path: Path) -> str:
    """A hint at what a wrong file is instead, from its first bytes ('' when nothing stands out)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return ""
    return sniff_bytes(head)


_HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<title", b"<script", b"<meta ")


def sniff_bytes(head: bytes) -> str:
    """Describe `head` when it is clearly not a plain-text data file ('' when nothing stands out).

    The answer completes "<file> ...": "looks like an HTML page ...", "is gzip-compressed ...",
    "holds binary data ...". Real data never trips it: PTB's only markup is ``<unk>``.
    """
    lowered = head.lower()
    if any(tag in lowered for tag in _HTML_MARKERS):
        return "looks like an HTML page (an error, login or captive-portal page?), not the data file"
    for magic, kind in ((b"\xfd7zXZ\x00", "xz"), (b"\x1f\x8b", "gzip"), (b"PK\x03\x04", "zip"),
                        (b"BZh", "bzip2")):
        if head.startswith(magic) and (kind != "bzip2" or head[4:10] == b"1AY&SY"):
            return f"is {kind}-compressed, not the uncompressed data file"
    if b"\x00" in head:
        return "holds binary data (NUL bytes), not text"
    return ""


def _write_sidecar(path: Path, spec: DataFile) -> None:
    stat = path.stat()
    record = {"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    # Written atomically, so a reader never trusts a half-written record.
    write_text_atomic(_sidecar(path), json.dumps(record) + "\n")


# --- temporary files: .<name>.<random>.part next to the target, locked while written


def _is_part_of(path: Path, target: Path) -> bool:
    return path.name.startswith(f".{target.name}.") and path.name.endswith(PART_SUFFIX)


def _remove_stale_parts(target: Path) -> None:
    """Delete temporary files of `target` left by killed runs; leave a live download's alone."""
    try:
        candidates = [p for p in target.parent.iterdir() if _is_part_of(p, target)]
    except OSError:
        return
    now = time.time()
    for part in candidates:
        try:
            if not part.is_file() or now - part.stat().st_mtime < STALE_PART_S:
                continue  # maybe still being written
            with open(part, "rb") as f:
                if fcntl is not None:
                    try:
                        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:
                        continue  # another process holds it: a live download
                part.unlink()
        except OSError:
            continue  # it is only ever ignored, so failing to clean it is harmless


# --- writing: stream into a temporary file next to the target, verify, then rename


def _install(target: Path, source_label: str, fix_hint: str, spec: DataFile,
             write: Callable[[BinaryIO, "hashlib._Hash"], int]) -> None:
    """Run `write(out_file, digest) -> bytes_written`, verify the result, rename it to `target`.

    The temporary file (``iss_harness.io.replacing``) is locked while it is written, so a concurrent
    cleaner leaves it alone; it is renamed only once verified, and any failure (including an
    interruption) deletes it, so nothing partial is left behind.
    """
    def disk_error(err: OSError) -> DataError:
        return DataError(
            f"Could not write {target} ({err}). Check that {target.parent} is writable and has "
            f"{spec.size:,} bytes free, then re-run."
        )

    try:
        with replacing(target, suffix=PART_SUFFIX) as tmp, open(tmp, "wb") as out:
            if fcntl is not None:
                fcntl.flock(out.fileno(), fcntl.LOCK_EX)
            digest = hashlib.sha256()
            written = write(out, digest)
            out.flush()
            _check_written(spec, source_label, fix_hint, tmp, written, digest.hexdigest())
    except OSError as err:
        raise disk_error(err) from err


def _check_written(spec: DataFile, source_label: str, fix_hint: str, tmp: Path, written: int, actual: str) -> None:
    """A DataError naming what the written file is, unless it is exactly the registered one."""
    if written != spec.size or actual != spec.sha256:
        if written == 0:
            problem = "is empty"
        elif written != spec.size:
            problem = "is truncated" if written < spec.size else "is larger than expected"
        else:
            problem = "has the wrong checksum"
        kind = _sniff(tmp)
        raise DataError(
            f"{spec.name} from {source_label} {problem}: expected {spec.size} bytes with sha256 "
            f"{spec.sha256}, got {written} bytes with sha256 {actual}"
            + (f"; it {kind}" if kind else "") + f". {fix_hint}"
        )


class _GuardedReader:
    """Wraps a source so that failures while *reading* become a DataError about the source.

    Errors while writing stay OSErrors: they are about the local disk, not the source.
    """

    def __init__(self, src, make_error: Callable[[BaseException, int], DataError]):
        self._src = src
        self._make_error = make_error
        self.bytes_read = 0

    def read(self, n: int) -> bytes:
        try:
            chunk = self._src.read(n)
        except (http.client.HTTPException, OSError) as err:
            raise self._make_error(err, self.bytes_read) from err
        self.bytes_read += len(chunk)
        return chunk


def _copy_stream(src, out: BinaryIO, digest, limit: int) -> int:
    """Copy src to out while hashing; stop just past `limit` bytes so a huge stream cannot fill the disk."""
    written = 0
    while chunk := src.read(CHUNK_BYTES):
        out.write(chunk)
        digest.update(chunk)
        written += len(chunk)
        if written > limit:
            break
    return written


def _copy_from_mirror(dataset: str, spec: DataFile, mirror_dir: Path, target: Path) -> None:
    plain = mirror_dir / dataset / spec.name
    packed = mirror_dir / dataset / (spec.name + ".xz")
    fix_hint = f"Fix or replace the file in the mirror {mirror_dir}, then re-run."
    if plain.is_file():
        _install(target, str(plain), fix_hint, spec, lambda out, digest: _copy_plain(plain, out, digest, spec.size))
    elif packed.is_file():
        _install(target, str(packed), fix_hint, spec, lambda out, digest: _copy_xz(packed, out, digest, spec.size))
    else:
        raise DataError(
            f"The mirror has no {spec.name}: looked for {plain} and {packed}. " + mirror_hint(dataset)
        )


def _unreadable(path: Path):
    def make(err: BaseException, _done: int) -> DataError:
        return DataError(f"Cannot read {path} ({err}). Check the mirror's permissions, or replace the file.")
    return make


def _copy_plain(path: Path, out: BinaryIO, digest, limit: int) -> int:
    try:
        src = open(path, "rb")
    except OSError as err:
        raise _unreadable(path)(err, 0) from err
    with src:
        return _copy_stream(_GuardedReader(src, _unreadable(path)), out, digest, limit)


def _copy_xz(path: Path, out: BinaryIO, digest, limit: int) -> int:
    try:
        src = lzma.open(path, "rb")
    except OSError as err:
        raise _unreadable(path)(err, 0) from err
    try:
        with src:
            return _copy_stream(_GuardedReader(src, _unreadable(path)), out, digest, limit)
    except (lzma.LZMAError, EOFError) as err:
        raise DataError(
            f"{path} is not a valid .xz file ({err}). Replace it with a good copy, "
            f"or put the uncompressed file next to it."
        ) from err


def _is_https(url: str) -> bool:
    return urllib.parse.urlsplit(url).scheme.lower() == "https"


class _InsecureRedirect(Exception):
    def __init__(self, new_url: str):
        super().__init__(new_url)
        self.new_url = new_url


class _HttpsOnlyRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows redirects only to https URLs; anything else is refused before it is requested."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not _is_https(newurl):
            fp.close()
            raise _InsecureRedirect(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _open_url(url: str, headers: Mapping[str, str] | None = None):
    """Open `url` (https only, redirects to https only); the single place that touches the network."""
    handlers = [_HttpsOnlyRedirectHandler]
    if SSL_CONTEXT is not None:
        handlers.append(urllib.request.HTTPSHandler(context=SSL_CONTEXT))
    opener = urllib.request.build_opener(*handlers)
    return opener.open(urllib.request.Request(url, headers=dict(headers or {})), timeout=DOWNLOAD_TIMEOUT_S)


def _download(dataset: str, spec: DataFile, target: Path) -> None:
    if spec.url is None:
        raise DataError(f"{spec.name} has no download address; it is only available from a mirror. "
                        + mirror_hint(dataset))
    if spec.url_is_archive:
        raise DataError(
            f"Not implemented: {spec.name} is published only inside the archive {spec.url}, "
            f"and extracting it is not supported. Use a mirror instead. " + mirror_hint(dataset)
        )
    if not _is_https(spec.url):
        raise DataError(f"Refusing to download {spec.name} from {spec.url}: only https:// URLs are allowed. "
                        + mirror_hint(dataset))

    fix_hint = "Re-run to try again; if it keeps failing, use a mirror. " + mirror_hint(dataset)

    def broke_off(err: BaseException, done: int) -> DataError:
        return DataError(
            f"The download of {spec.url} broke off after {done} of {spec.size} bytes ({err}); nothing was "
            f"saved as {target}. " + fix_hint
        )

    def write(out: BinaryIO, digest) -> int:
        try:
            response = _open_url(spec.url)
        except _InsecureRedirect as err:
            raise DataError(
                f"Refusing to download {spec.name}: {spec.url} redirected to {err.new_url}, which is not "
                "https. " + mirror_hint(dataset)
            ) from None
        except urllib.error.HTTPError as err:
            err.close()
            raise DataError(
                f"Downloading {spec.url} failed: the server answered HTTP {err.code} ({err.reason}). "
                + fix_hint
            ) from err
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            reason = getattr(err, "reason", err)
            raise DataError(
                f"Could not download {spec.url} ({reason}); this machine looks offline or cannot reach "
                f"the server. " + mirror_hint(dataset)
            ) from err
        with response:
            final_url = response.geturl()
            if not _is_https(final_url):
                raise DataError(f"Refusing to download {spec.name}: {spec.url} ended at {final_url}, "
                                "which is not https. " + mirror_hint(dataset))
            return _copy_stream(_GuardedReader(response, broke_off), out, digest, spec.size)

    _install(target, spec.url, fix_hint, spec, write)
