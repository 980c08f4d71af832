"""Downloads against a real HTTP server on 127.0.0.1 (a random port), serving copies of the
real files of ../shared/data, with a switch for every fault a mirror can have.

No test here touches the network: every URL points at the local server (or, for the proxy
test, at a host name that only the local proxy resolves).
"""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from xcorr_lib.data import ChecksumMismatchError, DatasetUnavailableError, load_dataset
from xcorr_lib.data import download as dl
from xcorr_lib.data.files import urls_for, verify_file
from xcorr_lib.data.sources import dataset_spec

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FASHION = "fashion-mnist"
LABELS = "t10k-labels-idx1-ubyte.gz"   # 5 kB
IMAGES = "t10k-images-idx3-ubyte.gz"   # 4.4 MB

pytestmark = pytest.mark.skipif(not (SHARED / FASHION / IMAGES).is_file(), reason="needs ../shared/data/fashion-mnist")


class Faults:
    """What the server does per request path (set by each test)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.mode: dict[str, str] = {}   # path -> ok | close-mid | ignore-range | wrong | 404 | redirect:<to> | stall
        self.requests: list[tuple[str, str | None]] = []  # (path or absolute URL, Range header)
        self.closed_once: set[str] = set()


class Handler(http.server.BaseHTTPRequestHandler):
    faults: Faults  # set on the subclass made per server

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        f = self.faults
        f.requests.append((self.path, self.headers.get("Range")))
        path = self.path.split("://", 1)[-1]            # a proxied request carries the full URL
        path = "/" + path.split("/", 1)[1] if self.path.startswith("http") else path
        mode = f.mode.get(path, "ok")
        if mode == "404" or path not in f.files:
            self.send_error(404, "not here")
            return
        if mode.startswith("redirect:"):
            self.send_response(302)
            self.send_header("Location", mode.split(":", 1)[1])
            self.end_headers()
            return
        if mode == "stall":
            time.sleep(3.0)  # longer than the client's timeout
            return
        body = f.files[path]
        if mode == "wrong":
            body = bytes(len(body))  # right length, wrong bytes
        start = 0
        rng = self.headers.get("Range")
        if rng and mode != "ignore-range":
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if mode == "close-mid" and path not in f.closed_once:
            f.closed_once.add(path)
            self.wfile.write(body[start:start + (len(body) - start) // 2])
            self.wfile.flush()
            self.close_connection = True
            return  # the connection closes with half the announced bytes sent
        self.wfile.write(body[start:])


@pytest.fixture
def server():
    faults = Faults()
    for name in (LABELS, IMAGES):
        faults.files[f"/mirror/{FASHION}/{name}"] = (SHARED / FASHION / name).read_bytes()
        faults.files[f"/second/{FASHION}/{name}"] = (SHARED / FASHION / name).read_bytes()
    handler = type("H", (Handler,), {"faults": faults})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield base, faults
    httpd.shutdown()
    httpd.server_close()


def fashion_file(name: str):
    spec = dataset_spec(FASHION)
    return spec, next(fs for pair in spec.files.values() for fs in pair if fs.filename == name)


def fetch(urls, target: Path, name: str = LABELS, **kw):
    spec, fs = fashion_file(name)
    return dl.download(urls, target, verify=lambda p: verify_file(spec, fs, p), progress=False, **kw)


def test_full_download_is_verified_by_checksum(server, tmp_path) -> None:
    base, faults = server
    ok, attempts = fetch([f"{base}/mirror/{FASHION}/{LABELS}"], tmp_path / LABELS)
    assert ok and attempts == []
    assert (tmp_path / LABELS).read_bytes() == (SHARED / FASHION / LABELS).read_bytes()
    assert not (tmp_path / (LABELS + ".part")).exists()


def test_connection_closed_mid_file_resumes_with_range(server, tmp_path) -> None:
    base, faults = server
    url_path = f"/mirror/{FASHION}/{IMAGES}"
    faults.mode[url_path] = "close-mid"
    ok, _ = fetch([base + url_path], tmp_path / IMAGES, name=IMAGES)
    assert ok
    ranges = [r for p, r in faults.requests if p == url_path]
    half = len(faults.files[url_path]) // 2
    assert ranges == [None, f"bytes={half}-"]  # the second request resumed where the first stopped
    assert hashlib.sha256((tmp_path / IMAGES).read_bytes()).digest() == \
        hashlib.sha256(faults.files[url_path]).digest()


def test_range_ignored_restarts_from_zero(server, tmp_path) -> None:
    base, faults = server
    url_path = f"/mirror/{FASHION}/{IMAGES}"
    body = faults.files[url_path]
    (tmp_path / (IMAGES + ".part")).write_bytes(body[:1000])  # an earlier partial download
    faults.mode[url_path] = "ignore-range"
    ok, _ = fetch([base + url_path], tmp_path / IMAGES, name=IMAGES)
    assert ok and (tmp_path / IMAGES).read_bytes() == body
    assert faults.requests == [(url_path, "bytes=1000-")]  # asked to resume, got 200, started over


def test_wrong_bytes_fail_the_checksum_and_nothing_is_kept(server, tmp_path) -> None:
    base, faults = server
    url_path = f"/mirror/{FASHION}/{LABELS}"
    faults.mode[url_path] = "wrong"
    ok, attempts = fetch([base + url_path], tmp_path / LABELS)
    assert not ok and "failed verification" in attempts[0][1]
    assert list(tmp_path.iterdir()) == []  # neither the file nor its .part


def test_404_on_the_first_mirror_then_the_second(server, tmp_path) -> None:
    base, faults = server
    first, second = f"/mirror/{FASHION}/{LABELS}", f"/second/{FASHION}/{LABELS}"
    faults.mode[first] = "404"
    ok, attempts = fetch([base + first, base + second], tmp_path / LABELS)
    assert ok and attempts == [(base + first, "HTTP 404 not here")]


def test_a_redirect_is_followed(server, tmp_path) -> None:
    base, faults = server
    faults.files["/old"] = b""
    faults.mode["/old"] = f"redirect:{base}/second/{FASHION}/{LABELS}"
    ok, _ = fetch([base + "/old"], tmp_path / LABELS)
    assert ok and [p for p, _ in faults.requests] == ["/old", f"/second/{FASHION}/{LABELS}"]


def test_a_stalled_server_times_out_within_seconds(server, tmp_path) -> None:
    base, faults = server
    url_path = f"/mirror/{FASHION}/{LABELS}"
    faults.mode[url_path] = "stall"
    t0 = time.perf_counter()
    ok, attempts = fetch([base + url_path], tmp_path / LABELS, timeout=0.5, retries=0)
    assert not ok and "timed out" in attempts[0][1].lower()
    assert time.perf_counter() - t0 < 2.9  # well before the server would have answered


def test_a_proxy_from_http_proxy_is_used(server, tmp_path, monkeypatch) -> None:
    base, faults = server
    monkeypatch.setenv("http_proxy", base)
    monkeypatch.setenv("no_proxy", "")
    monkeypatch.delenv("NO_PROXY", raising=False)
    url = f"http://data.mirror.invalid/mirror/{FASHION}/{LABELS}"  # resolvable only by the proxy
    ok, _ = fetch([url], tmp_path / LABELS)
    assert ok and faults.requests[0][0] == url  # the proxy saw the absolute URL


def test_mirror_setting_comes_before_the_official_urls(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XCORR_DATA_MIRROR", f"http://mirror.example/data, {tmp_path}")
    spec, fs = fashion_file(LABELS)
    urls = urls_for(spec, fs)
    assert urls[:2] == [f"http://mirror.example/data/{FASHION}/{LABELS}", (tmp_path / FASHION / LABELS).as_uri()]
    assert urls[2:] == list(fs.urls)


def test_load_dataset_through_the_mirror_from_an_empty_data_dir(server, tmp_path, monkeypatch) -> None:
    base, faults = server
    empty = tmp_path / "data"
    empty.mkdir()
    monkeypatch.setenv("XCORR_DATA_DIR", str(empty))
    monkeypatch.setenv("XCORR_ROOT", str(tmp_path))  # the project cache (data/) is empty too
    monkeypatch.setenv("XCORR_DATA_MIRROR", f"{base}/mirror")
    X, y = load_dataset(FASHION, "test", protocol="official", progress=False)
    assert X.shape == (10000, 28, 28) and y.shape == (10000,) and set(np.unique(y)) == set(range(10))
    assert sorted(p.name for p in (empty / FASHION).iterdir()) == [IMAGES, LABELS]
    assert all("://" not in p for p, _ in faults.requests)  # the mirror answered, no official host was tried
    faults.mode[f"/mirror/{FASHION}/{LABELS}"] = "wrong"
    (empty / FASHION / LABELS).unlink()
    monkeypatch.setattr(dl, "TIMEOUT", 0.5)
    with pytest.raises((DatasetUnavailableError, ChecksumMismatchError)) as err:
        load_dataset(FASHION, "test", protocol="official", progress=False)
    assert f"{base}/mirror/{FASHION}/{LABELS} -> downloaded but failed verification" in str(err.value)
