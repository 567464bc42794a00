"""One large file over https into a partial file that survives interruptions and resumes.

The partial file (``.<name>.resume`` beside the data) keeps what has arrived. The next attempt,
in this run or a later one, asks for the rest with an HTTP ``Range`` header; a server that
answers 206 with a matching ``Content-Range`` gets the rest appended, any other answer (200,
416, a Content-Range that starts elsewhere) restarts the file from byte 0, so the result is
either a resumed copy or a clean fresh one, never a mix. Checking the bytes is the caller's job:
a complete partial file is handed back, not trusted.

Attempts are bounded (``ATTEMPTS``), each one is a single request through ``iss_harness.data.fetch._open_url``
(https only, the one place that reaches the network), and the file never grows past
``max_bytes``, so a server that streams forever cannot fill the disk.
"""
from __future__ import annotations

import http.client
import re
import sys
import urllib.error
from pathlib import Path

from tqdm import tqdm

from iss_harness.data import fetch as data
from iss_harness.data.fetch import CHUNK_BYTES, DataError

ATTEMPTS = 3
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def resume_path(target: Path) -> Path:
    """Where the download of ``target`` keeps what has arrived so far."""
    return target.with_name(f".{target.name}.resume")


def download_resumable(url: str, part: Path, max_bytes: int, fix_hint: str) -> Path:
    """Fetch ``url`` completely into ``part`` (resuming what is there); return ``part``."""
    if not data._is_https(url):
        raise DataError(f"Refusing to download {url}: only https:// URLs are allowed. {fix_hint}")
    problems = []
    for _ in range(ATTEMPTS):
        problem = _one_attempt(url, part, max_bytes, fix_hint)
        if problem is None:
            return part
        problems.append(problem)
        print(f"[iss] {url}: {problem}; {'retrying' if len(problems) < ATTEMPTS else 'giving up'}",
              file=sys.stderr, flush=True)
    have = part.stat().st_size if part.exists() else 0
    raise DataError(
        f"The download of {url} did not complete in {ATTEMPTS} attempts ({'; '.join(problems)}). "
        f"{have:,} bytes are kept in {part}; re-running resumes from there (or delete it to start over). "
        + fix_hint)


def _one_attempt(url: str, part: Path, max_bytes: int, fix_hint: str) -> str | None:
    """None when ``part`` now holds the whole file; otherwise what went wrong (worth a retry)."""
    have = part.stat().st_size if part.exists() else 0
    try:
        response = data._open_url(url, {"Range": f"bytes={have}-"} if have else None)
    except data._InsecureRedirect as err:
        raise DataError(f"Refusing to download {url}: it redirected to {err.new_url}, which is not https. "
                        + fix_hint) from None
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and have:  # our partial is no prefix the server knows: start over
            part.unlink()
            return "the server refused to resume (HTTP 416), restarting from byte 0"
        raise DataError(f"Downloading {url} failed: the server answered HTTP {err.code} ({err.reason}). "
                        + fix_hint) from err
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        raise DataError(f"Could not download {url} ({getattr(err, 'reason', err)}); this machine looks offline "
                        "or cannot reach the server. " + fix_hint) from err
    with response:
        if not data._is_https(response.geturl()):
            raise DataError(f"Refusing to download {url}: it ended at {response.geturl()}, which is not https. "
                            + fix_hint)
        start, total = _start_and_total(response, have)
        if total is not None and total > max_bytes:
            raise DataError(f"{url} announces {total:,} bytes, more than the {max_bytes:,} expected; it is not "
                            "the file this harness knows. " + fix_hint)
        return _receive(response, part, start, total, max_bytes, url)


def _start_and_total(response, have: int) -> tuple[int, int | None]:
    """Where the body starts in the file (``have`` when resuming, else 0) and the file's full size."""
    length = response.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if have and response.status == 206:
        match = _CONTENT_RANGE.fullmatch((response.headers.get("Content-Range") or "").strip())
        if match and int(match.group(1)) == have:
            size = match.group(3)
            return have, int(size) if size.isdigit() else (have + length if length is not None else None)
    return 0, length


def _receive(response, part: Path, start: int, total: int | None, max_bytes: int, url: str) -> str | None:
    done = start
    try:
        with open(part, "ab" if start else "wb") as out, tqdm(
                total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024, desc=url.rsplit("/", 1)[-1],
                file=sys.stderr, mininterval=2.0, leave=False) as bar:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                done += len(chunk)
                bar.update(len(chunk))
                if done > max_bytes:
                    break
    except (http.client.HTTPException, TimeoutError, ConnectionError) as err:
        return f"the connection broke off after {done:,} bytes ({err})"
    except OSError as err:
        raise DataError(f"Could not write {part} ({err}). Check that {part.parent} is writable and has "
                        f"{max_bytes:,} bytes free, then re-run.") from err
    if done > max_bytes:
        part.unlink()
        raise DataError(f"{url} sent more than {max_bytes:,} bytes, more than the file this harness knows; "
                        "the partial copy was deleted. Check the address, or use a mirror.")
    if total is not None and done < total:
        # http.client returns b"" when the peer closes early instead of raising: compare ourselves.
        return f"the server closed the connection after {done:,} of {total:,} bytes"
    return None
