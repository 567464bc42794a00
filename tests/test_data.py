"""Tests for iss_harness.data.fetch: fetching verified files from a mirror or a download (no real data, no network)."""

from __future__ import annotations

import hashlib
import lzma
import urllib.error
import urllib.request

import pytest

from iss_harness.data import fetch as data
from iss_harness.data.fetch import DataError, DataFile, fetch, resolve_mirror, sha256_file

CONTENT = b" the cat sat on the mat \n a dog \n"
SHA = hashlib.sha256(CONTENT).hexdigest()


pytestmark = pytest.mark.usefixtures("no_network")  # tests/conftest.py


@pytest.fixture
def tiny_registry(monkeypatch):
    """Replace the registry with one tiny data set, 'toy', holding toy.txt == CONTENT."""
    spec = DataFile("toy.txt", "https://example.invalid/toy.txt", SHA, len(CONTENT), lines=2)
    monkeypatch.setattr(data, "DATASETS", {"toy": {"toy.txt": spec}})
    monkeypatch.delenv(data.MIRROR_ENV_VAR, raising=False)
    return spec


def make_mirror(tmp_path, payload: bytes = CONTENT, xz: bool = False):
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    if xz:
        (mirror / "toy" / "toy.txt.xz").write_bytes(lzma.compress(payload))
    else:
        (mirror / "toy" / "toy.txt").write_bytes(payload)
    return mirror


def leftovers(dest):
    """Files in dest other than verified outputs: temporaries must never remain."""
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_sha256_file_matches_hashlib(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(CONTENT)
    assert sha256_file(path) == SHA


def test_registry_has_the_expected_files():
    assert set(data.DATASETS["ptb"]) == {"ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"}
    assert data.DATASETS["ptb"]["ptb.train.txt"].size == 5_101_618
    assert "dev-v1.1.json" in data.DATASETS["squad"]
    assert "glove.6B.50d.txt" in data.DATASETS["glove"]
    for files in data.DATASETS.values():
        for spec in files.values():
            if isinstance(spec, data.DataFile):
                assert len(spec.sha256) == 64
            else:  # known by md5 only, pinned by a sha256 lock once fetched (tests/test_download_https.py)
                assert len(spec.md5) == 32
            assert spec.url is None or spec.url.startswith("https://")


@pytest.mark.parametrize("xz", [False, True], ids=["plain", "xz"])
def test_fetch_from_mirror(tmp_path, tiny_registry, xz):
    mirror = make_mirror(tmp_path, xz=xz)
    dest = tmp_path / "dest"
    paths = fetch("toy", dest, mirror=mirror)
    assert paths == {"toy.txt": dest / "toy.txt"}
    assert paths["toy.txt"].read_bytes() == CONTENT
    assert leftovers(dest) == ["toy.txt", "toy.txt.sha256"]


def test_env_variable_is_honoured(tmp_path, tiny_registry, monkeypatch):
    mirror = make_mirror(tmp_path, xz=True)
    monkeypatch.setenv(data.MIRROR_ENV_VAR, str(mirror))
    assert resolve_mirror(None) == mirror
    assert resolve_mirror(tmp_path / "explicit") == tmp_path / "explicit"  # the argument wins
    paths = fetch("toy", tmp_path / "dest", download=False)
    assert paths["toy.txt"].read_bytes() == CONTENT


def test_resolve_mirror_none_without_env(tiny_registry):
    assert resolve_mirror(None) is None


def test_wrong_checksum_is_reported_and_not_installed(tmp_path, tiny_registry):
    bad = CONTENT.replace(b"cat", b"cow")  # same size, different bytes
    mirror = make_mirror(tmp_path, payload=bad)
    dest = tmp_path / "dest"
    with pytest.raises(DataError) as info:
        fetch("toy", dest, mirror=mirror)
    message = str(info.value)
    assert "toy.txt" in message
    assert SHA in message
    assert hashlib.sha256(bad).hexdigest() in message
    assert leftovers(dest) == []


def test_truncated_file_is_reported_and_not_installed(tmp_path, tiny_registry):
    mirror = make_mirror(tmp_path, payload=CONTENT[:10], xz=True)
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match=rf"is truncated: expected {len(CONTENT)} bytes .*, got 10 bytes"):
        fetch("toy", dest, mirror=mirror)
    assert leftovers(dest) == []


def test_missing_mirror_file_names_the_paths_looked_at(tmp_path, tiny_registry):
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    with pytest.raises(DataError) as info:
        fetch("toy", tmp_path / "dest", mirror=mirror)
    assert str(mirror / "toy" / "toy.txt") in str(info.value)
    assert str(mirror / "toy" / "toy.txt.xz") in str(info.value)


def test_mirror_that_is_not_a_folder(tmp_path, tiny_registry):
    with pytest.raises(DataError, match="not a folder"):
        fetch("toy", tmp_path / "dest", mirror=tmp_path / "nowhere")


def test_corrupt_xz_names_the_file(tmp_path, tiny_registry):
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    packed = mirror / "toy" / "toy.txt.xz"
    packed.write_bytes(lzma.compress(CONTENT)[:-8])  # cut off the end of the stream
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match="not a valid .xz") as info:
        fetch("toy", dest, mirror=mirror)
    assert str(packed) in str(info.value)
    assert leftovers(dest) == []


def test_garbage_xz_names_the_file(tmp_path, tiny_registry):
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "toy.txt.xz").write_bytes(b"this is not xz at all")
    with pytest.raises(DataError, match="toy.txt.xz"):
        fetch("toy", tmp_path / "dest", mirror=mirror)


def test_cached_verified_file_is_reused(tmp_path, tiny_registry, monkeypatch):
    mirror = make_mirror(tmp_path)
    dest = tmp_path / "dest"
    fetch("toy", dest, mirror=mirror)
    (mirror / "toy" / "toy.txt").unlink()  # the mirror is no longer needed

    def no_hashing(path):
        raise AssertionError("a file with a valid .sha256 sidecar should not be re-hashed")

    monkeypatch.setattr(data, "sha256_file", no_hashing)
    assert fetch("toy", dest, mirror=mirror, download=False)["toy.txt"].read_bytes() == CONTENT


def test_cached_file_without_sidecar_is_rehashed_and_reused(tmp_path, tiny_registry):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "toy.txt").write_bytes(CONTENT)
    assert fetch("toy", dest, download=False)["toy.txt"].read_bytes() == CONTENT
    assert (dest / "toy.txt.sha256").exists()


def test_wrong_cached_file_is_replaced_from_mirror(tmp_path, tiny_registry):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "toy.txt").write_bytes(CONTENT.replace(b"cat", b"cow"))
    mirror = make_mirror(tmp_path, xz=True)
    assert fetch("toy", dest, mirror=mirror)["toy.txt"].read_bytes() == CONTENT


def test_wrong_cached_file_is_removed_when_it_cannot_be_replaced(tmp_path, tiny_registry):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "toy.txt").write_bytes(CONTENT[:5])
    with pytest.raises(DataError, match="downloading is disabled"):
        fetch("toy", dest, download=False)
    assert leftovers(dest) == []


def test_non_https_download_refused(tmp_path, monkeypatch):
    spec = DataFile("toy.txt", "http://example.invalid/toy.txt", SHA, len(CONTENT))
    monkeypatch.setattr(data, "DATASETS", {"toy": {"toy.txt": spec}})
    monkeypatch.delenv(data.MIRROR_ENV_VAR, raising=False)

    def must_not_open(*args, **kwargs):
        raise AssertionError("urlopen must not be called for a non-https URL")

    monkeypatch.setattr(urllib.request, "urlopen", must_not_open)
    monkeypatch.setattr(data, "_open_url", must_not_open)
    with pytest.raises(DataError, match="only https"):
        fetch("toy", tmp_path / "dest")


def test_offline_download_gives_mirror_hint(tmp_path, tiny_registry, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(data, "_open_url", offline)
    dest = tmp_path / "dest"
    with pytest.raises(DataError) as info:
        fetch("toy", dest)
    message = str(info.value)
    assert "offline" in message
    assert "ISS_DATA_MIRROR" in message
    assert "data.mirror" in message
    assert "toy/toy.txt.xz" in message  # the expected layout
    assert leftovers(dest) == []


class FakeResponse:
    def __init__(self, payload: bytes, url: str):
        self._payload, self._url, self._pos = payload, url, 0

    def read(self, n: int) -> bytes:
        chunk = self._payload[self._pos : self._pos + n]
        self._pos += len(chunk)
        return chunk

    def geturl(self) -> str:
        return self._url

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_download_writes_verified_file(tmp_path, tiny_registry, monkeypatch):
    monkeypatch.setattr(data, "_open_url", lambda url: FakeResponse(CONTENT, url))
    paths = fetch("toy", tmp_path / "dest")
    assert paths["toy.txt"].read_bytes() == CONTENT


def test_download_of_error_page_is_rejected(tmp_path, tiny_registry, monkeypatch):
    page = b"<!DOCTYPE html><html>404</html>"
    monkeypatch.setattr(data, "_open_url", lambda url: FakeResponse(page, url))
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match="truncated.*looks like an HTML page"):
        fetch("toy", dest)
    assert leftovers(dest) == []


def test_glove_zip_download_is_not_implemented(tmp_path, monkeypatch):
    monkeypatch.delenv(data.MIRROR_ENV_VAR, raising=False)
    with pytest.raises(DataError, match="glove.6B.zip"):
        fetch("glove", tmp_path / "dest")


def test_unknown_dataset_and_file(tmp_path, tiny_registry):
    with pytest.raises(DataError, match="known ones are: toy"):
        fetch("nope", tmp_path)
    with pytest.raises(DataError, match="no file"):
        fetch("toy", tmp_path, names=["other.txt"])
