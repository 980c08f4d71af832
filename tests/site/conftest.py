"""Fixtures of the browser checks: the built site (``XCORR_SITE_DIR``), a local HTTP server
on 127.0.0.1 that serves it and records every request it could not answer, and headless
Chromium with every outside host blocked.

``make test`` builds the smoke site after running the notebooks and then runs this folder
with ``XCORR_SITE_DIR=results/test/html``; ``pytest tests/`` alone skips it (no site yet).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BLOCK_OUTSIDE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("XCORR_SITE_DIR"):
        skip = pytest.mark.skip(reason="no built site: `make test` builds it and sets XCORR_SITE_DIR")
        for item in items:
            if Path(str(item.fspath)).parent == Path(__file__).parent:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def site() -> Path:
    path = Path(os.environ["XCORR_SITE_DIR"]).resolve()
    if not (path / "index.html").is_file():
        pytest.fail(f"XCORR_SITE_DIR={path} holds no index.html: run `make html` first")
    return path


class _Handler(SimpleHTTPRequestHandler):
    missing: list[str]

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        if code == 404 and not self.path.startswith("/favicon.ico"):
            self.missing.append(self.path)
        super().send_error(code, message, explain)


@pytest.fixture(scope="session")
def server(site: Path):
    """(base URL, list of paths answered 404) of an http.server on a free local port."""
    missing: list[str] = []
    handler = type("Handler", (_Handler,), {"missing": missing})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", missing
    httpd.shutdown()


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory):
    """``run(url, *flags) -> stdout`` of headless Chromium, outside hosts unreachable."""
    if CHROMIUM is None:
        pytest.skip("headless Chromium not installed (Debian: apt-get install chromium; CI installs it)")
    profile = tmp_path_factory.mktemp("chromium-profile")

    def run(url: str, *flags: str, timeout: int = 120) -> str:
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--allow-file-access-from-files", BLOCK_OUTSIDE, f"--user-data-dir={profile}", *flags, url]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    return run
