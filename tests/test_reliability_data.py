"""Reliability of the data layer: every bad input is one clear DataError, downloads are safe.

Requirements checked here, one group of tests each:

* bad data files (missing, truncated, wrong checksum, wrong format, empty) give ONE DataError
  that names the file, says what was expected and what to do -- at the fetch layer
  (mirror, download, an old file in dest_dir) and at the PTB reader;
* downloads use https only (no http URL, no redirect to http), are verified before use, and a
  partial download never sits at the final name (temporary name, rename after verification;
  interruptions and killed runs leave nothing that is used);
* offline, the message says how to use a mirror;
* a verified file whose size or mtime changed later is re-verified, not trusted.

No test touches the network: sockets are blocked, and the web is faked below urllib's
HTTPS handler, so urllib's own redirect and error handling is what gets exercised.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import lzma
import os
import socket
import time
import urllib.request
from email.message import Message
from pathlib import Path

import pytest

from iss_harness import io as iss_io
from iss_harness.data import fetch as data
from iss_harness.data.fetch import MIRROR_ENV_VAR, DataError, DataFile, fetch
from iss_harness.data.ptb import Corpus, read_tokens

CONTENT = b" the cat sat on the <unk> \n a dog N years \n"
SHA = hashlib.sha256(CONTENT).hexdigest()
URL = "https://example.invalid/toy/toy.txt"
REAL_MIRROR = os.environ.get(MIRROR_ENV_VAR)  # read before the fixtures below clear it
HTML_PAGE = b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>Not Found</body></html>\n"


# --- fixtures: no network, a tiny registry, a fake web below urllib


@pytest.fixture(autouse=True)
def offline_without_mirror(no_network, monkeypatch):
    """No network (tests/conftest.py) and no mirror from the environment."""
    monkeypatch.delenv(MIRROR_ENV_VAR, raising=False)


@pytest.fixture
def toy(monkeypatch):
    spec = DataFile("toy.txt", URL, SHA, len(CONTENT), lines=2)
    monkeypatch.setattr(data, "DATASETS", {"toy": {"toy.txt": spec}})
    return spec


class FakeResponse:
    """Enough of http.client.HTTPResponse for urllib: the body comes in chunks, and may fail."""

    def __init__(self, url, code=200, body=b"", headers=None, fail_after=None, fail_with=None):
        self.url, self.code, self.msg = url, code, http.client.responses.get(code, "")
        self.headers = Message()
        for key, value in (headers or {}).items():
            self.headers[key] = value
        self._body = io.BytesIO(body)
        self._fail_after, self._fail_with = fail_after, fail_with
        self.on_read = None

    def read(self, n=-1):
        if self.on_read is not None:
            self.on_read()
        if self._fail_after is not None and self._body.tell() >= self._fail_after:
            raise self._fail_with
        if self._fail_after is not None:
            n = min(n if n >= 0 else self._fail_after, self._fail_after - self._body.tell())
        return self._body.read(n)

    def info(self):
        return self.headers

    def geturl(self):
        return self.url

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class FakeWeb:
    """Replaces the http(s) handlers' network calls; records every URL requested."""

    def __init__(self, monkeypatch):
        self.routes: dict[str, dict] = {}
        self.requested: list[str] = []
        web = self

        def answer(handler, req):
            url = req.full_url
            web.requested.append(url)
            if url not in web.routes:
                return FakeResponse(url, 404, b"not found")
            return FakeResponse(url, **web.routes[url])

        monkeypatch.setattr(urllib.request.HTTPSHandler, "https_open", answer)
        monkeypatch.setattr(urllib.request.HTTPHandler, "http_open", answer)

    def serve(self, url, body=b"", code=200, **kwargs):
        self.routes[url] = {"body": body, "code": code, **kwargs}

    def redirect(self, url, location, code=302):
        self.routes[url] = {"code": code, "headers": {"Location": location}}


@pytest.fixture
def web(monkeypatch):
    return FakeWeb(monkeypatch)


def make_mirror(tmp_path, dataset, name, payload, xz=False):
    folder = tmp_path / "mirror" / dataset
    folder.mkdir(parents=True, exist_ok=True)
    (folder / (name + (".xz" if xz else ""))).write_bytes(lzma.compress(payload) if xz else payload)
    return tmp_path / "mirror"


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def assert_one_clear_error(err: DataError, file_name: str, *expected: str) -> str:
    """The message names the file, says what to do, and is one paragraph (no traceback text)."""
    message = str(err)
    assert file_name in message
    assert "\n" not in message and "Traceback" not in message
    for text in expected:
        assert text in message, f"{text!r} not in: {message}"
    return message


# --- bad data files at the fetch layer: one DataError naming the file, the expectation, the fix


BAD_PAYLOADS = {
    "truncated": (CONTENT[:12], ["is truncated", f"expected {len(CONTENT)} bytes", "got 12 bytes"]),
    "wrong_checksum": (CONTENT.replace(b"cat", b"cow"), ["wrong checksum", SHA]),
    "html_page": (HTML_PAGE, ["looks like an HTML page", f"expected {len(CONTENT)} bytes"]),
    "empty": (b"", ["is empty", f"expected {len(CONTENT)} bytes"]),
    "compressed_under_plain_name": (lzma.compress(CONTENT), ["xz-compressed"]),
}


@pytest.mark.parametrize("case", sorted(BAD_PAYLOADS))
def test_bad_file_in_mirror_is_one_clear_error(tmp_path, toy, case):
    payload, expected = BAD_PAYLOADS[case]
    mirror = make_mirror(tmp_path, "toy", "toy.txt", payload)
    dest = tmp_path / "dest"
    with pytest.raises(DataError) as info:
        fetch("toy", dest, mirror=mirror)
    assert_one_clear_error(info.value, "toy.txt", str(mirror / "toy" / "toy.txt"), "Fix or replace", *expected)
    assert listing(dest) == []  # nothing partial or wrong is left at (or next to) the final name


@pytest.mark.parametrize("case", sorted(BAD_PAYLOADS))
def test_bad_download_is_one_clear_error(tmp_path, toy, web, case):
    payload, expected = BAD_PAYLOADS[case]
    web.serve(URL, payload)
    dest = tmp_path / "dest"
    with pytest.raises(DataError) as info:
        fetch("toy", dest)
    assert_one_clear_error(info.value, "toy.txt", URL, MIRROR_ENV_VAR, *expected)
    assert listing(dest) == []


@pytest.mark.parametrize("case", sorted(BAD_PAYLOADS))
def test_bad_file_already_in_dest_is_deleted_and_explained(tmp_path, toy, case):
    payload, _ = BAD_PAYLOADS[case]
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "toy.txt").write_bytes(payload)
    with pytest.raises(DataError) as info:
        fetch("toy", dest, download=False)
    message = assert_one_clear_error(info.value, str(dest / "toy.txt"), "was not the expected file",
                                     "deleted", MIRROR_ENV_VAR, "data.mirror")
    if case == "html_page":
        assert "HTML page" in message
    assert listing(dest) == []


def test_bad_file_in_dest_is_replaced_from_a_good_mirror(tmp_path, toy):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "toy.txt").write_bytes(HTML_PAGE)
    mirror = make_mirror(tmp_path, "toy", "toy.txt", CONTENT, xz=True)
    assert fetch("toy", dest, mirror=mirror)["toy.txt"].read_bytes() == CONTENT


def test_missing_file_without_source_is_one_clear_error(tmp_path, toy):
    with pytest.raises(DataError) as info:
        fetch("toy", tmp_path / "dest", download=False)
    assert_one_clear_error(info.value, "toy.txt", "is missing", "downloading is disabled",
                           MIRROR_ENV_VAR, "data.mirror", "toy/toy.txt.xz")


def test_missing_file_in_mirror_is_one_clear_error(tmp_path, toy):
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    with pytest.raises(DataError) as info:
        fetch("toy", tmp_path / "dest", mirror=mirror)
    assert_one_clear_error(info.value, "toy.txt", str(mirror / "toy" / "toy.txt"),
                           str(mirror / "toy" / "toy.txt.xz"), MIRROR_ENV_VAR)


def test_folder_at_the_final_name_is_one_clear_error(tmp_path, toy):
    dest = tmp_path / "dest"
    (dest / "toy.txt").mkdir(parents=True)
    with pytest.raises(DataError, match="is a folder"):
        fetch("toy", dest, mirror=make_mirror(tmp_path, "toy", "toy.txt", CONTENT))


def test_unwritable_dest_is_a_data_error(tmp_path, toy, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(iss_io.tempfile, "mkstemp", disk_full)  # the one atomic writer's temporary file
    with pytest.raises(DataError) as info:
        fetch("toy", tmp_path / "dest", mirror=make_mirror(tmp_path, "toy", "toy.txt", CONTENT))
    assert_one_clear_error(info.value, "toy.txt", "No space left", "free")


# --- SQuAD files through the fetch layer (the JSON format check itself lives in iss_harness.data.squad)


def test_squad_json_that_is_not_the_registered_file_is_rejected(tmp_path):
    not_squad = json.dumps({"version": "2.0", "data": []}).encode()
    mirror = make_mirror(tmp_path, "squad", "dev-v1.1.sample.json", not_squad)
    dest = tmp_path / "squad"
    with pytest.raises(DataError) as info:
        fetch("squad", dest, mirror=mirror, names=["dev-v1.1.sample.json"])
    assert_one_clear_error(info.value, "dev-v1.1.sample.json", data.DATASETS["squad"]["dev-v1.1.sample.json"].sha256,
                           "Fix or replace")
    assert listing(dest) == []


def test_squad_html_page_download_is_rejected(tmp_path, web):
    url = data.DATASETS["squad"]["dev-v1.1.json"].url
    web.serve(url, HTML_PAGE)
    dest = tmp_path / "squad"
    with pytest.raises(DataError) as info:
        fetch("squad", dest, names=["dev-v1.1.json"])
    assert_one_clear_error(info.value, "dev-v1.1.json", "HTML page", MIRROR_ENV_VAR)
    assert listing(dest) == []


def test_squad_mirror_only_file_without_mirror_says_so(tmp_path, web):
    with pytest.raises(DataError) as info:
        fetch("squad", tmp_path / "squad", names=["dev-v1.1.sample.json"])
    assert_one_clear_error(info.value, "dev-v1.1.sample.json", "only available from a mirror", MIRROR_ENV_VAR)
    assert web.requested == []


def test_ptb_html_page_saved_as_train_file_is_explained(tmp_path):
    dest = tmp_path / "ptb"
    dest.mkdir()
    (dest / "ptb.train.txt").write_bytes(HTML_PAGE)
    with pytest.raises(DataError) as info:
        fetch("ptb", dest, download=False)
    assert_one_clear_error(info.value, "ptb.train.txt", "HTML page", "deleted", MIRROR_ENV_VAR)


# --- downloads: https only, verified before use, never partial


def test_download_success_through_urllib(tmp_path, toy, web):
    web.serve(URL, CONTENT)
    dest = tmp_path / "dest"
    assert fetch("toy", dest)["toy.txt"].read_bytes() == CONTENT
    assert listing(dest) == ["toy.txt", "toy.txt.sha256"]
    assert web.requested == [URL]


def test_http_url_is_refused_without_a_request(tmp_path, web, monkeypatch):
    insecure = "http://example.invalid/toy.txt"
    monkeypatch.setattr(data, "DATASETS", {"toy": {"toy.txt": DataFile("toy.txt", insecure, SHA, len(CONTENT))}})
    web.serve(insecure, CONTENT)
    with pytest.raises(DataError) as info:
        fetch("toy", tmp_path / "dest")
    assert_one_clear_error(info.value, "toy.txt", "only https:// URLs", MIRROR_ENV_VAR)
    assert web.requested == []


def test_redirect_to_http_is_refused_before_it_is_followed(tmp_path, toy, web):
    insecure = "http://mirror.example.invalid/toy.txt"
    web.redirect(URL, insecure)
    web.serve(insecure, CONTENT)  # the right bytes, but over plain http: must not be fetched
    dest = tmp_path / "dest"
    with pytest.raises(DataError) as info:
        fetch("toy", dest)
    assert_one_clear_error(info.value, "toy.txt", "redirected to " + insecure, "not https")
    assert web.requested == [URL]
    assert listing(dest) == []


def test_redirect_chain_ending_in_http_is_refused(tmp_path, toy, web):
    hop = "https://cdn.example.invalid/toy.txt"
    web.redirect(URL, hop, code=301)
    web.redirect(hop, "http://cdn.example.invalid/toy.txt", code=307)
    with pytest.raises(DataError, match="not https"):
        fetch("toy", tmp_path / "dest")
    assert web.requested == [URL, hop]


def test_redirect_to_https_is_followed(tmp_path, toy, web):
    hop = "https://cdn.example.invalid/toy.txt"
    web.redirect(URL, hop, code=301)
    web.serve(hop, CONTENT)
    assert fetch("toy", tmp_path / "dest")["toy.txt"].read_bytes() == CONTENT
    assert web.requested == [URL, hop]


def test_http_error_status_is_one_clear_error(tmp_path, toy, web):
    web.serve(URL, b"rate limited", code=429)
    with pytest.raises(DataError) as info:
        fetch("toy", tmp_path / "dest")
    assert_one_clear_error(info.value, URL, "HTTP 429", MIRROR_ENV_VAR)


@pytest.mark.parametrize("failure", [
    socket.gaierror(-3, "Temporary failure in name resolution"),
    ConnectionRefusedError(111, "Connection refused"),
    TimeoutError("timed out"),
], ids=["dns", "refused", "timeout"])
def test_offline_says_how_to_use_a_mirror(tmp_path, toy, monkeypatch, failure):
    def connect(self):
        raise failure

    monkeypatch.setattr(http.client.HTTPSConnection, "connect", connect)
    dest = tmp_path / "dest"
    with pytest.raises(DataError) as info:
        fetch("toy", dest)
    assert_one_clear_error(info.value, URL, "offline", f"{MIRROR_ENV_VAR}=", "data.mirror", "toy/toy.txt.xz")
    assert listing(dest) == []


@pytest.mark.parametrize("failure", [
    ConnectionResetError(104, "Connection reset by peer"),
    http.client.IncompleteRead(b"", 10),
    TimeoutError("The read operation timed out"),
], ids=["reset", "incomplete", "timeout"])
def test_connection_lost_mid_download_leaves_nothing(tmp_path, toy, web, failure):
    web.serve(URL, CONTENT, fail_after=10, fail_with=failure)
    dest = tmp_path / "dest"
    with pytest.raises(DataError) as info:
        fetch("toy", dest)
    assert_one_clear_error(info.value, URL, f"broke off after 10 of {len(CONTENT)} bytes", "nothing was saved",
                           MIRROR_ENV_VAR)
    assert listing(dest) == []


def test_interrupted_download_leaves_nothing(tmp_path, toy, web):
    web.serve(URL, CONTENT, fail_after=10, fail_with=KeyboardInterrupt())
    dest = tmp_path / "dest"
    with pytest.raises(KeyboardInterrupt):
        fetch("toy", dest)
    assert listing(dest) == []


def test_truncated_stream_is_never_installed(tmp_path, toy, web):
    web.serve(URL, CONTENT[:-5])  # the server closes early without any error
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match=f"is truncated: expected {len(CONTENT)} bytes"):
        fetch("toy", dest)
    assert listing(dest) == []


def test_oversized_stream_stops_early(tmp_path, toy, web):
    web.serve(URL, CONTENT * 10_000)
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match="larger than expected"):
        fetch("toy", dest)
    assert listing(dest) == []


def test_bytes_go_to_a_temporary_name_until_verified(tmp_path, toy, monkeypatch):
    dest = tmp_path / "dest"
    seen = []

    def opened(url):
        response = FakeResponse(url, body=CONTENT)
        response.on_read = lambda: seen.append(listing(dest))
        return response

    monkeypatch.setattr(data, "_open_url", opened)
    fetch("toy", dest)
    assert seen, "the download was never read"
    for names in seen:  # while downloading: only the temporary file, nothing at the final name
        assert "toy.txt" not in names
        assert len(names) == 1 and names[0].startswith(".toy.txt.") and names[0].endswith(".part")


def test_installed_file_gets_the_usual_permissions(tmp_path, toy):
    old = os.umask(0o022)
    try:
        target = fetch("toy", tmp_path / "dest", mirror=make_mirror(tmp_path, "toy", "toy.txt", CONTENT))["toy.txt"]
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


def test_checksum_is_verified_before_the_rename(tmp_path, toy, monkeypatch):
    renames = []
    real_replace = os.replace
    monkeypatch.setattr(iss_io.os, "replace", lambda src, dst: (renames.append(Path(dst).name), real_replace(src, dst)))
    mirror = make_mirror(tmp_path, "toy", "toy.txt", CONTENT.replace(b"cat", b"cow"))
    with pytest.raises(DataError, match="wrong checksum"):
        fetch("toy", tmp_path / "dest", mirror=mirror)
    assert "toy.txt" not in renames


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_leftover_temporary_file_from_a_killed_run_is_ignored_and_removed(tmp_path, toy):
    dest = tmp_path / "dest"
    dest.mkdir()
    leftover = dest / ".toy.txt.k1ll3d.part"
    leftover.write_bytes(CONTENT)  # even complete and correct, a .part file is never used as is
    age(leftover, data.STALE_PART_S + 60)
    with pytest.raises(DataError, match="is missing"):
        fetch("toy", dest, download=False)
    assert listing(dest) == []
    leftover.write_bytes(CONTENT[:5])
    age(leftover, data.STALE_PART_S + 60)
    assert fetch("toy", dest, mirror=make_mirror(tmp_path, "toy", "toy.txt", CONTENT))["toy.txt"].read_bytes() == CONTENT
    assert listing(dest) == ["toy.txt", "toy.txt.sha256"]


@pytest.mark.skipif(data.fcntl is None, reason="needs POSIX advisory locks")
def test_temporary_file_of_a_live_download_is_left_alone(tmp_path, toy):
    import fcntl

    dest = tmp_path / "dest"
    dest.mkdir()
    recent = dest / ".toy.txt.recent.part"
    recent.write_bytes(b"x")
    locked = dest / ".toy.txt.locked.part"
    locked.write_bytes(b"x")
    age(locked, data.STALE_PART_S + 60)
    mirror = make_mirror(tmp_path, "toy", "toy.txt", CONTENT)
    with open(locked, "rb") as holder:  # another writer, as far as flock is concerned
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        fetch("toy", dest, mirror=mirror)
    assert recent.exists() and locked.exists()


# --- a verified file that changed later is re-verified, not trusted


def test_truncated_after_verification_is_refetched(tmp_path, toy):
    mirror = make_mirror(tmp_path, "toy", "toy.txt", CONTENT)
    dest = tmp_path / "dest"
    target = fetch("toy", dest, mirror=mirror)["toy.txt"]
    target.write_bytes(CONTENT[:7])  # truncated later; the sidecar still says verified
    assert fetch("toy", dest, mirror=mirror)["toy.txt"].read_bytes() == CONTENT


def test_truncated_after_verification_without_source_is_one_clear_error(tmp_path, toy):
    dest = tmp_path / "dest"
    target = fetch("toy", dest, mirror=make_mirror(tmp_path, "toy", "toy.txt", CONTENT))["toy.txt"]
    with open(target, "r+b") as f:
        f.truncate(7)
    with pytest.raises(DataError) as info:
        fetch("toy", dest, download=False)
    assert_one_clear_error(info.value, str(target), f"truncated: 7 bytes, expected {len(CONTENT)}", "deleted")


def test_same_size_edit_after_verification_is_rehashed(tmp_path, toy, monkeypatch):
    mirror = make_mirror(tmp_path, "toy", "toy.txt", CONTENT)
    dest = tmp_path / "dest"
    target = fetch("toy", dest, mirror=mirror)["toy.txt"]
    before = target.stat().st_mtime_ns
    target.write_bytes(CONTENT.replace(b"cat", b"cow"))
    os.utime(target, ns=(before + 1_000_000, before + 1_000_000))  # a new mtime, whatever the clock's resolution
    hashed = []
    real_hash = data.sha256_file
    monkeypatch.setattr(data, "sha256_file", lambda path: (hashed.append(Path(path).name), real_hash(path))[1])
    assert fetch("toy", dest, mirror=mirror)["toy.txt"].read_bytes() == CONTENT
    assert hashed == ["toy.txt"]  # the changed file was hashed (and found wrong), not trusted


def test_unchanged_verified_file_is_not_rehashed(tmp_path, toy, monkeypatch):
    dest = tmp_path / "dest"
    fetch("toy", dest, mirror=make_mirror(tmp_path, "toy", "toy.txt", CONTENT))
    monkeypatch.setattr(data, "sha256_file", lambda path: pytest.fail("an unchanged verified file was re-hashed"))
    assert fetch("toy", dest, download=False)["toy.txt"].read_bytes() == CONTENT


def test_corrupt_sidecar_means_rehash(tmp_path, toy):
    dest = tmp_path / "dest"
    target = fetch("toy", dest, mirror=make_mirror(tmp_path, "toy", "toy.txt", CONTENT))["toy.txt"]
    (dest / "toy.txt.sha256").write_text('{"sha256": "')
    assert fetch("toy", dest, download=False)["toy.txt"] == target
    assert json.loads((dest / "toy.txt.sha256").read_text())["sha256"] == SHA


# --- PTB text format: clearly-not-PTB files are one DataError that says what to do

NOT_PTB = {
    "doctype": b"<!DOCTYPE html>\n<html><body>404</body></html>\n",
    "html_tag_after_blank_lines": b"\n\n  <HTML>\n<head><title>Error</title></head>\n",
    "html_body_only": b"<body>\nService unavailable\n</body>\n",
    "nul_bytes": b" the cat \x00\x00 sat \n",
    "non_utf8": b" the caf\xe9 \n",
    "xz": lzma.compress(b" a b \n"),
    "gzip": b"\x1f\x8b\x08\x00" + b"\x00" * 12,
    "json_error": b'{"message": "Not Found", "documentation_url": "https://docs.github.com"}\n',
    "empty": b"",
    "only_newlines": b"\n\n\n",
    "only_spaces_no_newline": b"    ",
}


@pytest.mark.parametrize("case", sorted(NOT_PTB))
def test_read_tokens_rejects_what_is_not_ptb(tmp_path, case):
    path = tmp_path / "ptb.train.txt"
    path.write_bytes(NOT_PTB[case])
    with pytest.raises(DataError) as info:
        read_tokens(path)
    assert_one_clear_error(info.value, str(path), "expected PTB text", "Delete it", "iss fetch-data ptb",
                           "data.mirror", MIRROR_ENV_VAR)


@pytest.mark.parametrize("make", ["missing", "folder"])
def test_read_tokens_missing_or_folder(tmp_path, make):
    path = tmp_path / "ptb.valid.txt"
    if make == "folder":
        path.mkdir()
    with pytest.raises(DataError) as info:
        read_tokens(path)
    assert_one_clear_error(info.value, str(path), "iss fetch-data ptb")


def test_read_tokens_accepts_ptb_like_text(tmp_path):
    text = (" aer banknote berlitz calloway centrust cluett fromstein gitano guterman \n"
            " pierre <unk> N years old will join the board as a nonexecutive director nov. N \n"
            " mr. <unk> is chairman of <unk> n.v. the dutch publishing group \n"
            " the company 's $ N million & stake in a&p is n't for sale \\/ # N-year \n")
    path = tmp_path / "ptb.train.txt"
    path.write_text(text)
    tokens = read_tokens(path)
    assert tokens.count("<eos>") == 4 and "<unk>" in tokens and "N" in tokens and "\\/" in tokens


def test_corpus_names_the_bad_split(tmp_path):
    good = tmp_path / "ptb.train.txt"
    good.write_text(" a b \n c d \n")
    bad = tmp_path / "ptb.test.txt"
    bad.write_bytes(HTML_PAGE)
    with pytest.raises(DataError) as info:
        Corpus.from_files(good, good, bad)
    assert_one_clear_error(info.value, str(bad), "HTML page", "iss fetch-data ptb")


# --- the command line: one line on stderr, exit status 2, no traceback


def run_cli(capsys, dest):
    from iss_harness import cli

    rc = cli.main(["fetch-data", "ptb", "--overrides-json", json.dumps({"data": {"dir": str(dest)}})])
    captured = capsys.readouterr()
    return rc, captured.err


PTB_TRAIN = data.DATASETS["ptb"]["ptb.train.txt"]


@pytest.mark.parametrize("case", ["missing", "html", "empty", "truncated", "wrong_checksum", "offline"])
def test_cli_fetch_data_prints_one_clear_error(tmp_path, capsys, monkeypatch, case):
    mirror = tmp_path / "mirror"
    (mirror / "ptb").mkdir(parents=True)
    payload = {"html": HTML_PAGE, "empty": b"", "truncated": b" a b \n" * 100,
               "wrong_checksum": b"x" * (PTB_TRAIN.size - 1) + b"\n"}.get(case)
    if payload is not None:
        (mirror / "ptb" / "ptb.train.txt").write_bytes(payload)
    if case == "offline":
        monkeypatch.setattr(http.client.HTTPSConnection, "connect",
                            lambda self: (_ for _ in ()).throw(socket.gaierror(-3, "Temporary failure")))
    else:
        monkeypatch.setenv(MIRROR_ENV_VAR, str(mirror))
    rc, err = run_cli(capsys, tmp_path / "data")
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("iss fetch-data: error: "), err
    assert "ptb.train.txt" in err and "Traceback" not in err
    assert MIRROR_ENV_VAR in err or "mirror" in err
    assert listing(tmp_path / "data" / "ptb") == []


# --- the real files pass every check (needs the mirror)


@pytest.mark.data
def test_real_files_pass_the_format_checks(tmp_path):
    mirror = REAL_MIRROR
    if not mirror:
        pytest.skip(f"set {MIRROR_ENV_VAR} to a data mirror to run this test")
    paths = fetch("ptb", tmp_path / "ptb", mirror=mirror, download=False)
    for path in paths.values():
        assert data.sniff_bytes(path.read_bytes()[:4096]) == ""
        assert len(read_tokens(path)) > 0
    sample = fetch("squad", tmp_path / "squad", mirror=mirror, download=False, names=["dev-v1.1.sample.json"])
    assert json.loads(sample["dev-v1.1.sample.json"].read_text())["version"] == "1.1"
