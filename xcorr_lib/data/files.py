"""Finding, downloading and verifying the files of one dataset.

:func:`ensure_files` returns a local path for every requested file: found under the data
root or the project cache (see :mod:`xcorr_lib.data.paths`), else downloaded from the
official mirrors, else a :class:`DatasetUnavailableError` naming the missing files, every
URL tried with its error, and where to place the files by hand.

:func:`verify_file` accepts a file when ANY known digest matches (md5 of the ``.gz`` as
served, sha256 of the decompressed IDX content, sha256 of a ``.npy``); a file whose form
has no known digest is checked for structure only (later, while decoding).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Sequence

from . import download as _dl
from .errors import ChecksumMismatchError, DatasetUnavailableError
from .idx import file_digest, read_bytes
from .paths import download_dir, resolve_root, search_roots
from .sources import AFRO_SCRIPTS, DatasetSpec, FileSpec


def candidate_names(spec: DatasetSpec, fs: FileSpec) -> list[str]:
    """Relative names (inside the dataset folder) a file may have on disk, preferred first.

    IDX files may also be stored decompressed (name without ``.gz``); Afro-MNIST files may
    sit in a ``<Script>/`` subfolder, as in the authors' zip and GitHub repository.
    """
    names = [fs.filename]
    if spec.fmt == "idx" and fs.filename.endswith(".gz"):
        names.append(fs.filename[:-3])
    if spec.fmt == "npy":
        script_dir = fs.filename.split("_MNIST_")[0]
        if script_dir in AFRO_SCRIPTS.values():
            names.append(f"{script_dir}/{fs.filename}")
    return names


#: Environment variable naming mirrors tried before the official ones: base URLs or local
#: folders holding ``<dataset folder>/<official file name>`` (the data folder's layout),
#: several separated by spaces or commas.
MIRROR_ENV = "XCORR_DATA_MIRROR"


def mirror_bases() -> list[str]:
    """The bases of ``$XCORR_DATA_MIRROR``, in order (local folders as ``file://`` URLs)."""
    out = []
    for base in os.environ.get(MIRROR_ENV, "").replace(",", " ").split():
        if "://" not in base:
            base = Path(base).expanduser().resolve().as_uri()
        out.append(base.rstrip("/"))
    return out


def urls_for(spec: DatasetSpec, fs: FileSpec) -> list[str]:
    """Where ``fs`` is downloaded from: the ``$XCORR_DATA_MIRROR`` bases first, then the official URLs."""
    return [f"{base}/{spec.folder}/{fs.filename}" for base in mirror_bases()] + list(fs.urls)


def locate(spec: DatasetSpec, fs: FileSpec, root: str | os.PathLike[str] | None) -> Path | None:
    """The first existing path of ``fs`` under the search roots, or None."""
    for base in search_roots(root):
        for name in candidate_names(spec, fs):
            path = base / spec.folder / name
            if path.is_file():
                return path
    return None


def verify_file(spec: DatasetSpec, fs: FileSpec, path: Path) -> tuple[str, bytes | None]:
    """Check ``path`` (the file ``fs``, possibly a ``.part`` download) against known digests.

    Returns
    -------
    method : str
        Which digest matched ("md5", "sha256", "sha256 of decompressed content"), or
        "structure only" when no digest is known for this form of the file.
    content : bytes or None
        The decompressed IDX content (IDX files only), so callers need not read it twice.

    Raises
    ------
    DataIntegrityError
        Corrupt gzip (from :func:`read_bytes`).
    ChecksumMismatchError
        A digest is known but none matches.
    """
    checks: list[tuple[str, str, Callable[[], str]]] = []  # (label, expected, compute actual)
    content: bytes | None = None
    if spec.fmt == "idx":
        compressed = fs.filename.endswith(".gz") and not (
            path.name == fs.filename[:-3] or path.name == fs.filename[:-3] + ".part")
        raw, content = read_bytes(path, gz=compressed)
        if compressed and fs.md5:
            checks.append(("md5", fs.md5, lambda: hashlib.md5(raw).hexdigest()))
        if fs.sha256_content:
            checks.append(("sha256 of decompressed content", fs.sha256_content,
                           lambda: hashlib.sha256(content).hexdigest()))
    else:
        size = path.stat().st_size
        if fs.size is not None and size != fs.size:
            raise ChecksumMismatchError(
                f"{path}: {size} bytes, expected {fs.size}. The file is truncated or a "
                f"different version; delete it and download it again from {fs.urls[0]}")
        if fs.sha256:
            checks.append(("sha256", fs.sha256, lambda: file_digest(path, "sha256")))
    if not checks:
        return "structure only", content
    actual: list[str] = []
    for label, expected, compute in checks:  # cheapest first; stop at the first match
        actual.append(compute())
        if actual[-1] == expected:
            return label, content
    details = "; ".join(f"{label} {got} (expected {expected})"
                        for (label, expected, _), got in zip(checks, actual))
    raise ChecksumMismatchError(
        f"{path}: checksum mismatch: {details}. The file is corrupt or a different version; "
        f"delete it and download it again from {fs.urls[0]}")


def ensure_files(spec: DatasetSpec, files: Sequence[FileSpec], *,
                 root: str | os.PathLike[str] | None, download: bool, progress: bool,
                 what: str, hint: str = "") -> dict[str, Path]:
    """Local paths of ``files`` (keyed by file name), downloading missing ones.

    Raises
    ------
    DatasetUnavailableError
        Some files are missing and could not be downloaded (or ``download`` is False).
    """
    found: dict[str, Path] = {}
    missing: list[FileSpec] = []
    for fs in files:
        path = locate(spec, fs, root)
        if path is None:
            missing.append(fs)
        else:
            found[fs.filename] = path
    if not missing:
        return found
    target_dir = download_dir(spec.folder, root)
    attempts: list[tuple[str, str]] = []
    still: list[FileSpec] = []
    dead_hosts: set[str] = set()
    for fs in missing:
        if not download:
            still.append(fs)
            continue
        if target_dir is None:
            still.append(fs)
            attempts.extend((u, "not tried: no writable data folder") for u in urls_for(spec, fs))
            continue
        ok, tried = _dl.download(
            urls_for(spec, fs), target_dir / fs.filename, progress=progress, dead_hosts=dead_hosts,
            verify=lambda p, fs=fs: verify_file(spec, fs, p))
        attempts.extend(tried)
        if ok:
            found[fs.filename] = target_dir / fs.filename
        else:
            still.append(fs)
    if still:
        place_dir = target_dir or resolve_root(root) / spec.folder
        raise DatasetUnavailableError(
            _unavailable_message(spec, still, attempts, place_dir, root, download, what, hint),
            missing=[place_dir / fs.filename for fs in still], attempts=attempts)
    return found


def _unavailable_message(spec: DatasetSpec, still: Sequence[FileSpec],
                         attempts: Sequence[tuple[str, str]], place_dir: Path,
                         root: str | os.PathLike[str] | None, download: bool, what: str,
                         hint: str) -> str:
    looked = ", ".join(str(b / spec.folder) for b in search_roots(root))
    lines = [f"{what} is not available: {len(still)} file(s) missing "
             f"({', '.join(fs.filename for fs in still)}).",
             f"Looked in: {looked}."]
    if download:
        lines.append("Download attempts (all failed):")
        lines += [f"  {url} -> {err}" for url, err in attempts] or ["  (none)"]
    else:
        lines.append("download=False, so nothing was downloaded. URLs:")
        lines += [f"  {u}" for fs in still for u in urls_for(spec, fs)]
    lines.append("To place the files by hand, get them from one of these URLs (any copy "
                 "with the same content works) and save them as:")
    lines += [f"  {place_dir / fs.filename}" for fs in still]
    lines.append("or point XCORR_DATA_DIR (or root=) to a folder holding "
                 f"{spec.folder}/<file>, or XCORR_DATA_MIRROR to a server or folder with that "
                 "layout. See data/README.md.")
    if hint:
        lines.append(hint)
    return "\n".join(lines)
