"""Resumable, verified downloads with short timeouts and a progress bar.

:func:`download` tries each URL in turn. Bytes go to ``<target>.part``; an interrupted
transfer resumes from there with an HTTP ``Range`` request (a server that ignores it
answers 200 and the file restarts from zero). Only after the whole file passed the
``verify`` callback (checksums, structure) is it renamed to ``target``; a file that fails
verification is deleted and the next URL is tried.

Timeouts: :data:`TIMEOUT` seconds for connecting and for every single read (a stalled
transfer fails after that long, then resumes up to :data:`RETRIES` times if it had made
progress). A host that could not be reached at all (DNS failure, refused, timeout) is
skipped for the remaining files of the same call (``dead_hosts``), so a machine without
internet fails within seconds. Proxies from the usual ``*_proxy`` environment variables
are honoured (``urllib``), read at every request. Redirects are followed.
"""

from __future__ import annotations

import http.client
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import urlparse

from tqdm import tqdm

TIMEOUT = 5.0
RETRIES = 2
CHUNK = 1 << 16
USER_AGENT = "xcorr-lib (https://github.com/; dataset download)"


def urlopen(request: urllib.request.Request, timeout: float):
    """Open ``request`` with a fresh opener, so ``*_proxy`` variables are read now (the cached
    opener of ``urllib.request.urlopen`` keeps the proxies of its first use). Tests run it
    against a real server on 127.0.0.1; some monkeypatch it to simulate failures."""
    return urllib.request.build_opener().open(request, timeout=timeout)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"{type(exc.reason).__name__}: {exc.reason}"
    return f"{type(exc).__name__}: {exc}"


def _unreachable(exc: BaseException) -> bool:
    """Whether the error means the host cannot be reached at all (vs. an HTTP answer)."""
    if isinstance(exc, urllib.error.HTTPError):
        return False
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return isinstance(reason, (socket.gaierror, ConnectionError, TimeoutError, socket.timeout))


def fetch(url: str, part: Path, *, timeout: float | None = None, retries: int | None = None,
          progress: bool = True, desc: str | None = None) -> None:
    """Download ``url`` into ``part``, resuming from its current size.

    Raises the underlying ``urllib``/``OSError`` exception on failure; ``part`` keeps what
    arrived so a later call can resume. Raises ``OSError`` when the server announced a
    length that did not arrive. ``timeout`` and ``retries`` default to :data:`TIMEOUT`
    and :data:`RETRIES`, read at call time.
    """
    timeout = TIMEOUT if timeout is None else timeout
    retries = RETRIES if retries is None else retries
    for attempt in range(retries + 1):
        offset = part.stat().st_size if part.exists() else 0
        headers = {"User-Agent": USER_AGENT}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        req = urllib.request.Request(url, headers=headers)
        try:
            with urlopen(req, timeout) as resp:
                status = getattr(resp, "status", None) or resp.getcode()
                if offset and status != 206:
                    offset = 0  # server ignored the Range request: start again
                length = resp.headers.get("Content-Length")
                total = offset + int(length) if length is not None else None
                part.parent.mkdir(parents=True, exist_ok=True)  # only once a server answered
                with open(part, "ab" if offset else "wb") as fh, tqdm(
                        total=total, initial=offset, unit="B", unit_scale=True,
                        unit_divisor=1024, desc=desc or part.name, disable=not progress,
                        leave=False) as bar:
                    while True:
                        chunk = resp.read(CHUNK)
                        if not chunk:
                            break
                        fh.write(chunk)
                        bar.update(len(chunk))
            size = part.stat().st_size
            if total is not None and size != total:
                raise OSError(f"incomplete transfer: {size} of {total} bytes")
            return
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:  # range beyond the end: stale .part, restart
                part.unlink(missing_ok=True)
                continue
            raise
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            grew = part.exists() and part.stat().st_size > offset
            if grew and attempt < retries and not isinstance(exc, urllib.error.HTTPError):
                continue  # resume from the new offset
            raise


def download(urls: Iterable[str], target: Path, *, verify: Callable[[Path], None],
             timeout: float | None = None, retries: int | None = None, progress: bool = True,
             dead_hosts: set[str] | None = None) -> tuple[bool, list[tuple[str, str]]]:
    """Try ``urls`` in order until one gives a file that passes ``verify``.

    Parameters
    ----------
    urls : iterable of str
        Mirrors, tried in order.
    target : Path
        Final path; its folder is created once a server answers. ``<target>.part`` holds
        partial data.
    verify : callable(Path) -> None
        Raises (e.g. ``DataIntegrityError``) when the downloaded file is wrong.
    dead_hosts : set of str, optional
        Host names known unreachable; skipped, and updated in place.

    Returns
    -------
    ok : bool
        Whether ``target`` now holds a verified file.
    attempts : list of (url, error)
        Every URL tried that failed, with a one-line reason.
    """
    dead = dead_hosts if dead_hosts is not None else set()
    attempts: list[tuple[str, str]] = []
    target = Path(target)
    part = target.with_name(target.name + ".part")
    for url in urls:
        host = urlparse(url).hostname or ""
        if host in dead:
            attempts.append((url, "skipped: host unreachable earlier in this call"))
            continue
        try:
            fetch(url, part, timeout=timeout, retries=retries, progress=progress,
                  desc=target.name)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none hidden
            if _unreachable(exc) and not (part.exists() and part.stat().st_size):
                dead.add(host)
            attempts.append((url, _describe(exc)))
            continue
        try:
            verify(part)
        except Exception as exc:  # noqa: BLE001
            part.unlink(missing_ok=True)
            attempts.append((url, f"downloaded but failed verification: {exc}"))
            continue
        part.replace(target)
        return True, attempts
    return False, attempts
