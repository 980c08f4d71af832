"""Where data files are looked for and where downloads go.

Root resolution (:func:`resolve_root`): the ``root`` argument, else the environment
variable ``XCORR_DATA_DIR``, else the project cache ``<project>/data``. Files are looked for
first under the root, then under the project cache. Downloads go to the root when it is
writable, else to the project cache (so a read-only shared folder such as
``../shared/data`` is never written to). A folder whose permission bits deny writing
counts as read-only even for a superuser.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from xcorr_lib.common.provenance import project_root


def resolve_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``root``, else ``$XCORR_DATA_DIR``, else ``<project>/data``.

    Parameters
    ----------
    root : str or path-like, optional
        Explicit data folder (``~`` is expanded).

    Returns
    -------
    Path
        Absolute path (it need not exist yet).
    """
    if root is not None and str(root) != "":
        return Path(root).expanduser().resolve()
    env = os.environ.get("XCORR_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return cache_root()


def cache_root() -> Path:
    """The project's writable data cache, ``<project>/data`` (git-ignored)."""
    return (project_root() / "data").resolve()


def search_roots(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Roots to look in, in order: the resolved root, then the project cache."""
    out = [resolve_root(root)]
    if cache_root() not in out:
        out.append(cache_root())
    return out


def is_writable(path: Path) -> bool:
    """Whether files can be created in ``path`` (or in its nearest existing parent).

    A folder is read-only when ``os.access`` says so OR when none of its write
    permission bits is set (a superuser could still write there; we do not).
    """
    path = Path(path)
    while not path.exists():
        if path.parent == path:
            return False
        path = path.parent
    if not path.is_dir():
        return False
    any_write_bit = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    return os.access(path, os.W_OK) and bool(path.stat().st_mode & any_write_bit)


def download_dir(folder: str, root: str | os.PathLike[str] | None = None) -> Path | None:
    """Where downloads of a dataset go: ``<root>/<folder>`` if writable, else
    ``<project cache>/<folder>``, else None (nowhere writable)."""
    for cand in search_roots(root):
        if is_writable(cand / folder):
            return cand / folder
    return None
