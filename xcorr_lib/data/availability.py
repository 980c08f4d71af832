"""What a run needs, found or not, without reading or downloading anything: the preflight's view.

:func:`missing_dataset_files` says which files of one dataset split are not on this machine,
where they were looked for, where to put them and which URLs a download would try (mirrors
of ``$XCORR_DATA_MIRROR`` first). It only checks that the files exist (milliseconds); their
content is verified when they are loaded.
"""

from __future__ import annotations

import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from .datasets import dataset_plan
from .files import locate, mirror_bases, urls_for
from .paths import download_dir, resolve_root, search_roots
from .sources import FileSpec

__all__ = ["Missing", "needed_files", "missing_dataset_files", "missing_probe_images"]


@dataclass(frozen=True)
class Missing:
    """One missing input: ``what`` (e.g. "fashion-mnist train (protocol original)"), the file,
    the folders ``looked`` in, where to ``place`` it and the ``urls`` a download would try."""

    what: str
    file: str
    looked: tuple[str, ...]
    place: str
    urls: tuple[str, ...]


def needed_files(name: str, split: str, protocol: str, script: str = "ethiopic") -> list[FileSpec]:
    """The files :func:`xcorr_lib.data.load_dataset` reads for this split and protocol
    (:func:`xcorr_lib.data.datasets.dataset_plan`, the loader's own plan)."""
    return dataset_plan(name, split, protocol, script)[2]


def on_a_mirror(url: str, timeout: float = 3.0) -> bool:
    """Whether a ``$XCORR_DATA_MIRROR`` URL holds the file: a local file exists, or a server
    answers a HEAD request with 2xx within ``timeout`` seconds."""
    if url.startswith("file://"):
        return Path(urllib.request.url2pathname(urlparse(url).path)).is_file()
    try:
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.build_opener().open(request, timeout=timeout) as resp:
            return 200 <= (getattr(resp, "status", None) or resp.getcode()) < 300
    except (OSError, ValueError):
        return False


def missing_dataset_files(name: str, split: str, protocol: str, *, script: str = "ethiopic",
                          root: str | os.PathLike[str] | None = None) -> list[Missing]:
    """The files of ``needed_files`` that are on none of the search roots nor on a mirror
    of ``$XCORR_DATA_MIRROR`` (those will be downloaded from there)."""
    spec, _, files = dataset_plan(name, split, protocol, script)
    if spec is None:  # digits: embedded in scikit-learn
        return []
    looked = tuple(str(base / spec.folder) for base in search_roots(root))
    place = download_dir(spec.folder, root) or resolve_root(root) / spec.folder
    what = f"dataset {name} (protocol {protocol!r})"
    out = []
    for fs in files:
        mirrored = [f"{base}/{spec.folder}/{fs.filename}" for base in mirror_bases()]
        if locate(spec, fs, root) is None and not any(on_a_mirror(u) for u in mirrored):
            out.append(Missing(what, fs.filename, looked + tuple(mirrored), str(place / fs.filename),
                               tuple(urls_for(spec, fs))))
    return out


def missing_probe_images(folder: str | os.PathLike[str] | None = None) -> list[Missing]:
    """[] when the ImageNet probe folder exists and holds images, else one :class:`Missing`."""
    from .images import IMAGE_SUFFIXES

    path = Path(folder) if folder else resolve_root() / "imagenet-samples"
    if path.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.rglob("*")):
        return []
    return [Missing("ImageNet probe images", "*.JPEG (+ labels.csv)", (str(path),), str(path), ())]
