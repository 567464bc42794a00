"""Downloads of the md5-known files (SQuAD train, GloVe 6B 100d out of glove.6B.zip) against a real
https server on 127.0.0.1.

The server is Python's http.server behind TLS with a self-signed certificate made here (with the
`cryptography` package, else the openssl command); only ``iss_harness.data.fetch.SSL_CONTEXT`` trusts it, for the test's duration, and any
address other than 127.0.0.1 fails the test. Served: a correct file, a truncated body
(Content-Length larger than what is sent, then close), a wrong file, a transfer that breaks off
once and then resumes with HTTP Range (or restarts when the server ignores Range), and a small
zip with a fake glove.6B.100d.txt among other members.
"""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import socket
import ssl
import subprocess
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from iss_harness.data import fetch as data

from iss_harness.data import download
from iss_harness.data.fetch import MIRROR_ENV_VAR, Archive, DataError, Md5File, fetch

BODY = b"".join(b'{"paragraph": %d, "text": "the cat sat on the mat"}\n' % i for i in range(3000))
MD5 = hashlib.md5(BODY).hexdigest()
MEMBER = b"".join(b"word%d 0.1 -0.2 0.3\n" % i for i in range(2000))


# --- the server


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A fresh self-signed certificate for 127.0.0.1 (one day): with the `cryptography` package when
    it is installed, else with the openssl command."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        _certificate_with_cryptography(cert, key)
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("a test certificate needs the `cryptography` package or the openssl command; neither is here")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                        str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=120)
    return cert, key


def _certificate_with_cryptography(cert: Path, key: Path) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    signed = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                             critical=False)
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .sign(private, hashes.SHA256()))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    cert.write_bytes(signed.public_bytes(serialization.Encoding.PEM))


class Handler(BaseHTTPRequestHandler):
    timeout = 10  # a stuck client cannot hold a server thread for long

    def do_GET(self):  # noqa: N802 - http.server's name
        self.server.requests.append((self.path, self.headers.get("Range")))
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
        else:
            route(self)

    def log_message(self, *args):
        pass


def send(handler, body: bytes, *, claim: int | None = None, ranges: bool = False, cut: int | None = None):
    """Answer with `body` (from the Range start when `ranges`), claiming `claim` bytes, sending up to `cut`."""
    start = 0
    wanted = handler.headers.get("Range")
    if ranges and wanted and wanted.startswith("bytes=") and wanted.endswith("-"):
        start = int(wanted[6:-1])
        handler.send_response(206)
        handler.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
    else:
        handler.send_response(200)
    rest = body[start:]
    handler.send_header("Content-Length", str(claim if claim is not None else len(rest)))
    handler.end_headers()
    handler.wfile.write(rest[:cut] if cut is not None else rest)
    handler.wfile.flush()
    handler.close_connection = True


@pytest.fixture
def server(certificate, monkeypatch):
    cert, key = certificate
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    httpd.routes, httpd.requests = {}, []
    httpd.url = f"https://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setattr(data, "SSL_CONTEXT", ssl.create_default_context(cafile=str(cert)))
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """The only address a test may reach is 127.0.0.1; no mirror from the environment."""
    real = socket.getaddrinfo

    def only_loopback(host, *args, **kwargs):
        if host not in ("127.0.0.1", b"127.0.0.1"):
            raise RuntimeError(f"a test tried to reach {host!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", only_loopback)
    monkeypatch.delenv(MIRROR_ENV_VAR, raising=False)


def register(monkeypatch, spec: Md5File) -> None:
    monkeypatch.setattr(data, "DATASETS", {"toy": {spec.name: spec}})


def toy(url: str | None, archive: Archive | None = None, name="train.json", md5=MD5, size=len(BODY)) -> Md5File:
    return Md5File(name, url, md5, "the test", size, "toy.file", archive=archive)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --- single files


def test_download_checks_md5_and_pins_the_sha256_in_a_lock(tmp_path, server, monkeypatch):
    server.routes["/train.json"] = lambda h: send(h, BODY)
    register(monkeypatch, toy(server.url + "/train.json"))
    got = fetch("toy", tmp_path)["train.json"]
    assert got.read_bytes() == BODY and leftovers(tmp_path) == []
    lock = json.loads((tmp_path / "train.json.sha256.lock").read_text())
    assert lock["sha256"] == hashlib.sha256(BODY).hexdigest() and lock["size"] == len(BODY) and lock["md5"] == MD5
    fetch("toy", tmp_path)  # verified against the lock, not downloaded again
    assert len(server.requests) == 1


def test_a_file_that_changed_after_it_was_locked_is_an_error_naming_it(tmp_path, server, monkeypatch):
    server.routes["/train.json"] = lambda h: send(h, BODY)
    register(monkeypatch, toy(server.url + "/train.json"))
    got = fetch("toy", tmp_path)["train.json"]
    got.write_bytes(BODY[:-1] + b"X")
    with pytest.raises(DataError, match=r"train\.json does not match .*train\.json\.sha256\.lock.*Delete it"):
        fetch("toy", tmp_path)
    got.unlink()  # as the message says: a fresh copy is fetched and must match the lock
    assert fetch("toy", tmp_path)["train.json"].read_bytes() == BODY


def test_a_fresh_copy_that_does_not_match_the_lock_is_refused(tmp_path, server, monkeypatch):
    """The right md5 is not enough once a lock exists: the sha256 pinned by the first copy decides."""
    server.routes["/train.json"] = lambda h: send(h, BODY)
    register(monkeypatch, toy(server.url + "/train.json"))
    lock = tmp_path / "train.json.sha256.lock"
    lock.write_text(json.dumps({"file": "train.json", "sha256": "f" * 64, "size": len(BODY)}))
    with pytest.raises(DataError, match=r"train\.json from https://.* has the right md5 but sha256 "
                                        + hashlib.sha256(BODY).hexdigest() + r", not the f{64} recorded in .*lock"):
        fetch("toy", tmp_path)
    assert not (tmp_path / "train.json").exists() and json.loads(lock.read_text())["sha256"] == "f" * 64


def test_an_unreadable_lock_is_an_error_naming_it(tmp_path, server, monkeypatch):
    register(monkeypatch, toy(server.url + "/train.json"))
    (tmp_path / "train.json.sha256.lock").write_text("not json")
    with pytest.raises(DataError, match=r"train\.json\.sha256\.lock is unreadable .*Delete it and re-run"):
        fetch("toy", tmp_path)
    assert server.requests == []


def test_truncated_download_is_retried_then_reported_and_nothing_installed(tmp_path, server, monkeypatch):
    server.routes["/train.json"] = lambda h: send(h, BODY, claim=len(BODY), cut=len(BODY) // 3)
    register(monkeypatch, toy(server.url + "/train.json"))
    with pytest.raises(DataError, match=r"did not complete in 3 attempts.*closed the connection after") as err:
        fetch("toy", tmp_path)
    assert "train.json" in str(err.value) and not (tmp_path / "train.json").exists()
    assert len(server.requests) == download.ATTEMPTS
    assert not (tmp_path / "train.json.sha256.lock").exists()


def test_wrong_checksum_is_rejected_and_leaves_nothing(tmp_path, server, monkeypatch):
    server.routes["/train.json"] = lambda h: send(h, BODY.replace(b"cat", b"dog"))
    register(monkeypatch, toy(server.url + "/train.json"))
    with pytest.raises(DataError, match=rf"train\.json from https://127\.0\.0\.1:\d+/train\.json has md5 .*expected {MD5}"):
        fetch("toy", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_transfer_resumes_with_range(tmp_path, server, monkeypatch):
    cut = len(BODY) * 2 // 5
    calls = []

    def flaky(handler):
        calls.append(1)
        if len(calls) == 1:
            send(handler, BODY, claim=len(BODY), cut=cut)  # breaks off
        else:
            send(handler, BODY, ranges=True)

    server.routes["/train.json"] = flaky
    register(monkeypatch, toy(server.url + "/train.json"))
    assert fetch("toy", tmp_path)["train.json"].read_bytes() == BODY
    assert [r for _, r in server.requests] == [None, f"bytes={cut}-"]
    assert leftovers(tmp_path) == []


def test_interrupted_transfer_restarts_cleanly_when_the_server_ignores_range(tmp_path, server, monkeypatch):
    calls = []

    def flaky(handler):
        calls.append(1)
        send(handler, BODY, claim=len(BODY), cut=1000 if len(calls) == 1 else None)

    server.routes["/train.json"] = flaky
    register(monkeypatch, toy(server.url + "/train.json"))
    assert fetch("toy", tmp_path)["train.json"].read_bytes() == BODY
    assert server.requests[1][1] == "bytes=1000-"  # asked to resume, got the whole file: started over


def test_a_partial_download_left_by_a_killed_run_is_resumed(tmp_path, server, monkeypatch):
    server.routes["/train.json"] = lambda h: send(h, BODY, ranges=True)
    register(monkeypatch, toy(server.url + "/train.json"))
    download.resume_path(tmp_path / "train.json").write_bytes(BODY[:5000])
    assert fetch("toy", tmp_path)["train.json"].read_bytes() == BODY
    assert server.requests == [("/train.json", "bytes=5000-")]


def test_plain_http_is_refused_before_any_request(tmp_path, server, monkeypatch):
    register(monkeypatch, toy(server.url.replace("https", "http") + "/train.json"))
    with pytest.raises(DataError, match="only https"):
        fetch("toy", tmp_path)
    assert server.requests == []


def test_mirror_and_explicit_path_take_precedence_over_the_download(tmp_path, server, monkeypatch):
    register(monkeypatch, toy(server.url + "/train.json"))
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "train.json").write_bytes(BODY)
    assert fetch("toy", tmp_path / "a", mirror=mirror)["train.json"].read_bytes() == BODY
    given = tmp_path / "mine.json"
    given.write_bytes(BODY)
    assert fetch("toy", tmp_path / "b", explicit={"train.json": given})["train.json"].read_bytes() == BODY
    assert server.requests == []


# --- a member of a zip archive


def make_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, body in (("glove.6B.50d.txt", b"a 1\n" * 500), ("glove.6B.100d.txt", MEMBER),
                           ("glove.6B.300d.txt", b"b 2\n" * 500)):
            zipped.writestr(name, body)
    return buffer.getvalue()


def glove(url: str, zip_md5: str) -> Md5File:
    archive = Archive("glove.6B.zip", url, zip_md5, "the test", 100_000)
    return toy(None, archive, name="glove.6B.100d.txt", md5=hashlib.md5(MEMBER).hexdigest(), size=len(MEMBER))


def test_only_the_needed_member_is_extracted_from_the_downloaded_zip(tmp_path, server, monkeypatch):
    packed = make_zip()
    server.routes["/glove.6B.zip"] = lambda h: send(h, packed)
    register(monkeypatch, glove(server.url + "/glove.6B.zip", hashlib.md5(packed).hexdigest()))
    assert fetch("toy", tmp_path)["glove.6B.100d.txt"].read_bytes() == MEMBER
    assert sorted(p.name for p in tmp_path.iterdir()) == ["glove.6B.100d.txt", "glove.6B.100d.txt.sha256.lock"]


def test_a_zip_with_the_wrong_md5_is_rejected_before_extraction(tmp_path, server, monkeypatch):
    packed = make_zip()
    server.routes["/glove.6B.zip"] = lambda h: send(h, packed)
    register(monkeypatch, glove(server.url + "/glove.6B.zip", "0" * 32))
    with pytest.raises(DataError, match=r"glove\.6B\.zip from https://.* has md5 .*expected 0{32}"):
        fetch("toy", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_mirror_may_hold_the_zip_instead_of_the_member(tmp_path, server, monkeypatch):
    packed = make_zip()
    register(monkeypatch, glove(server.url + "/glove.6B.zip", hashlib.md5(packed).hexdigest()))
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "glove.6B.zip").write_bytes(packed)
    assert fetch("toy", tmp_path / "dest", mirror=mirror)["glove.6B.100d.txt"].read_bytes() == MEMBER
    assert server.requests == []


def test_the_registry_has_the_paper_scale_files_with_their_published_md5s():
    train = data.DATASETS["squad"]["train-v1.1.json"]
    assert train.md5 == "981b29407e0affa3b1b156f72073b945" and train.url.startswith("https://")
    vectors = data.DATASETS["glove"]["glove.6B.100d.txt"]
    assert vectors.md5 == "dd7f3ad906768166883176d69cc028de"
    assert vectors.archive.md5 == "056ea991adb4740ac6bf1b6d9b50408b" and vectors.archive.url.startswith("https://")
