"""Tests of the download path of xcorr_lib.data, without network.

The real code path runs with ``xcorr_lib.data.download.urlopen`` replaced by a fake server
(serves bytes, honours Range, fails on demand). One test really tries the network: on a
machine without internet it must raise DatasetUnavailableError quickly.
"""

from __future__ import annotations

import email.message
import gzip
import hashlib
import io
import os
import socket
import stat
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from xcorr_lib.data import DatasetUnavailableError, load_dataset
from xcorr_lib.data import download as dl
from xcorr_lib.data import sources
from xcorr_lib.data.sources import DatasetSpec, FileSpec

from test_data import idx_bytes  # noqa: E402  (tests/ is on sys.path under pytest)


class FakeResponse:
    def __init__(self, body: bytes, status: int, fail_after: int | None = None):
        self._buf = io.BytesIO(body)
        self.status = status
        self.headers = {"Content-Length": str(len(body))}
        self._fail_after = fail_after
        self._sent = 0

    def read(self, n: int = -1) -> bytes:
        if self._fail_after is not None and self._sent >= self._fail_after:
            raise TimeoutError("read timed out")
        if self._fail_after is not None:
            n = min(n, self._fail_after - self._sent)
        chunk = self._buf.read(n)
        self._sent += len(chunk)
        return chunk

    def getcode(self) -> int:
        return self.status

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class FakeServer:
    """Serves ``files`` {url: bytes}; records (url, Range) of every request."""

    def __init__(self, files: dict[str, bytes], *, honour_range: bool = True,
                 fail_first_after: int | None = None, unreachable: set[str] = frozenset()):
        self.files = files
        self.honour_range = honour_range
        self.fail_first_after = fail_first_after
        self.unreachable = unreachable
        self.requests: list[tuple[str, str | None]] = []

    def __call__(self, req, timeout):
        url = req.full_url
        rng = req.get_header("Range")
        self.requests.append((url, rng))
        host = url.split("/")[2]
        if host in self.unreachable:
            raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))
        if url not in self.files:
            raise urllib.error.HTTPError(url, 404, "Not Found", email.message.Message(), None)
        body = self.files[url]
        if rng and self.honour_range:
            start = int(rng.split("=")[1].rstrip("-"))
            resp = FakeResponse(body[start:], 206)
        else:
            resp = FakeResponse(body, 200)
        if self.fail_first_after is not None:
            resp._fail_after, self.fail_first_after = self.fail_first_after, None
        return resp


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Private project cache (XCORR_ROOT), empty data root, a tiny gz-IDX dataset spec
    registered as "kmnist" whose files live at fake URLs."""
    monkeypatch.setenv("XCORR_ROOT", str(tmp_path / "project"))
    monkeypatch.delenv("XCORR_DATA_DIR", raising=False)
    rng = np.random.default_rng(0)
    bodies, files = {}, {}
    for split, stem, n in (("train", "train", 30), ("test", "t10k", 12)):
        pair = []
        for kind, arr in (("images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
                          ("labels-idx1-ubyte.gz", rng.integers(0, 10, n).astype(np.uint8))):
            name = f"{stem}-{kind}"
            body = gzip.compress(idx_bytes(arr), mtime=0)
            urls = (f"http://dead.invalid/{name}", f"http://mirror.test/{name}")
            bodies[urls[1]] = body
            pair.append(FileSpec(name, urls, md5=hashlib.md5(body).hexdigest()))
        files[split] = tuple(pair)
    spec = DatasetSpec("kmnist", "kmnist", "idx", files=files)
    monkeypatch.setitem(sources.FILE_DATASETS, "kmnist", spec)
    root = tmp_path / "root"
    root.mkdir()
    return root, spec, bodies


def test_download_verifies_and_caches(env, monkeypatch):
    root, spec, bodies = env
    server = FakeServer(bodies, unreachable={"dead.invalid"})
    monkeypatch.setattr(dl, "urlopen", server)
    X, y = load_dataset("kmnist", "test", root=root, progress=False)
    assert X.shape == (12, 28, 28) and y.shape == (12,)
    assert (root / "kmnist" / "t10k-images-idx3-ubyte.gz").read_bytes() == bodies["http://mirror.test/t10k-images-idx3-ubyte.gz"]
    assert not list((root / "kmnist").glob("*.part"))
    # dead host tried once, then skipped for the second file
    assert [u for u, _ in server.requests].count("http://dead.invalid/t10k-images-idx3-ubyte.gz") == 1
    assert not any(u == "http://dead.invalid/t10k-labels-idx1-ubyte.gz" for u, _ in server.requests)
    n = len(server.requests)
    load_dataset("kmnist", "test", root=root, progress=False)  # cached: no new request
    assert len(server.requests) == n


def test_resume_from_part_file(env, monkeypatch):
    root, spec, bodies = env
    url = "http://mirror.test/t10k-images-idx3-ubyte.gz"
    part = root / "kmnist" / "t10k-images-idx3-ubyte.gz.part"
    part.parent.mkdir()
    part.write_bytes(bodies[url][:1000])
    server = FakeServer(bodies, unreachable={"dead.invalid"})
    monkeypatch.setattr(dl, "urlopen", server)
    load_dataset("kmnist", "test", root=root, progress=False)
    assert (url, "bytes=1000-") in server.requests


def test_interrupted_transfer_resumes(env, monkeypatch):
    root, spec, bodies = env
    server = FakeServer(bodies, unreachable={"dead.invalid"}, fail_first_after=700)
    monkeypatch.setattr(dl, "urlopen", server)
    load_dataset("kmnist", "test", root=root, progress=False)
    url = "http://mirror.test/t10k-images-idx3-ubyte.gz"
    assert (url, None) in server.requests and (url, "bytes=700-") in server.requests


def test_range_ignored_restarts(env, monkeypatch):
    root, spec, bodies = env
    part = root / "kmnist" / "t10k-images-idx3-ubyte.gz.part"
    part.parent.mkdir()
    part.write_bytes(b"garbage that is not a prefix")
    monkeypatch.setattr(dl, "urlopen", FakeServer(bodies, honour_range=False, unreachable={"dead.invalid"}))
    X, _ = load_dataset("kmnist", "test", root=root, progress=False)
    assert X.shape == (12, 28, 28)


def test_wrong_bytes_rejected(env, monkeypatch):
    root, spec, bodies = env
    bad = dict(bodies)
    bad["http://mirror.test/t10k-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(np.zeros(12, np.uint8)))
    monkeypatch.setattr(dl, "urlopen", FakeServer(bad, unreachable={"dead.invalid"}))
    with pytest.raises(DatasetUnavailableError, match="failed verification") as info:
        load_dataset("kmnist", "test", root=root, progress=False)
    assert "checksum mismatch" in str(info.value)
    assert not (root / "kmnist" / "t10k-labels-idx1-ubyte.gz").exists()
    assert not (root / "kmnist" / "t10k-labels-idx1-ubyte.gz.part").exists()


def test_offline_error_lists_everything(env, monkeypatch):
    root, spec, bodies = env
    monkeypatch.setattr(dl, "urlopen", FakeServer({}, unreachable={"dead.invalid", "mirror.test"}))
    with pytest.raises(DatasetUnavailableError) as info:
        load_dataset("kmnist", "train", root=root, protocol="original", progress=False)
    msg, err = str(info.value), info.value
    for fs in (*spec.files["train"], *spec.files["test"]):
        assert fs.filename in msg and str(root / "kmnist" / fs.filename) in msg
        assert all(u in msg for u in fs.urls)
    assert "gaierror" in msg and "by hand" in msg
    assert len(err.missing) == 4 and len(err.attempts) == 8
    assert not (root / "kmnist").exists()  # nothing created when no server answered


def test_download_false_does_not_touch_network(env, monkeypatch):
    root, spec, bodies = env
    def boom(req, timeout):
        raise AssertionError("network used")
    monkeypatch.setattr(dl, "urlopen", boom)
    with pytest.raises(DatasetUnavailableError, match="download=False"):
        load_dataset("kmnist", "test", root=root, download=False)


@pytest.mark.skipif(os.name == "nt" or not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_read_only_root_downloads_to_project_cache(env, monkeypatch, tmp_path):
    root, spec, bodies = env
    root.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        monkeypatch.setattr(dl, "urlopen", FakeServer(bodies, unreachable={"dead.invalid"}))
        load_dataset("kmnist", "test", root=root, progress=False)
        cache = tmp_path / "project" / "data" / "kmnist"
        assert (cache / "t10k-images-idx3-ubyte.gz").is_file()
        assert not (root / "kmnist").exists()
    finally:
        root.chmod(0o755)


@pytest.mark.parametrize("name", ["kmnist", "afro-mnist"])
def test_real_network_attempt_fails_fast(tmp_path, monkeypatch, name):
    """Real urllib, real URLs. Without internet this must raise, naming the URLs; the short
    timeout guarantees it cannot hang."""
    monkeypatch.setenv("XCORR_ROOT", str(tmp_path / "project"))
    monkeypatch.setattr(dl, "TIMEOUT", 2.0)
    monkeypatch.setattr(dl, "RETRIES", 0)
    spec = sources.dataset_spec(name)
    try:
        load_dataset(name, "test", root=tmp_path / "empty", progress=False)
    except DatasetUnavailableError as exc:
        assert all(u in str(exc) for fs in spec.files["test"] for u in fs.urls)
    else:  # pragma: no cover - only on a machine with internet and the files downloadable
        pytest.skip("network available: the download succeeded")
