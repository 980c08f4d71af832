"""Probe images for the ImageNet-model experiments: :func:`load_probe_images`.

Folder layouts understood (checked in this order):

1. ``labels.csv`` in the folder, with a ``file`` column (path relative to the folder) and
   optionally ``class_index``, ``name``, ``synset`` (the layout of
   ``../shared/data/imagenet-samples``); other columns are kept.
2. ImageFolder style: one subfolder per class; ``class_index`` = position of the subfolder
   in sorted order, ``name`` = subfolder name.
3. Plain image files (``.jpg .jpeg .png .bmp .webp``, any case); ``class_index`` = -1 and
   ``name`` = file stem.

Files are sorted by relative path (platform independent) before the seeded choice of ``n``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pandas as pd

from .errors import ProbeImageError
from .paths import resolve_root

if TYPE_CHECKING:
    import torch

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
DEFAULT_WEIGHTS = "ResNet18_Weights.IMAGENET1K_V1"


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES


def list_probe_images(folder: Path) -> pd.DataFrame:
    """Table of the images in ``folder`` (columns ``file``, ``class_index``, ``name``, ...),
    sorted by ``file``; see the module docstring for the layouts."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"probe image folder {folder} does not exist")
    csv = folder / "labels.csv"
    if csv.is_file():
        df = pd.read_csv(csv)
        if "file" not in df.columns:
            raise ValueError(f"{csv}: needs a 'file' column, has {list(df.columns)}")
        df["file"] = df["file"].astype(str)
        absent = [f for f in df["file"] if not (folder / f).is_file()]
        if absent:
            raise FileNotFoundError(f"{csv} lists {len(absent)} file(s) missing from {folder}: "
                                    + ", ".join(absent[:5]) + (" ..." if len(absent) > 5 else ""))
        if "class_index" not in df.columns:
            df["class_index"] = -1
        if "name" not in df.columns:
            df["name"] = [Path(f).stem for f in df["file"]]
    else:
        classes = sorted(d.name for d in folder.iterdir()
                         if d.is_dir() and any(_is_image(p) for p in d.rglob("*")))
        rows: list[dict[str, Any]] = []
        if classes:
            for ci, cls in enumerate(classes):
                rows += [{"file": p.relative_to(folder).as_posix(), "class_index": ci, "name": cls}
                         for p in (folder / cls).rglob("*") if _is_image(p)]
        else:
            rows = [{"file": p.name, "class_index": -1, "name": p.stem}
                    for p in folder.iterdir() if _is_image(p)]
        df = pd.DataFrame(rows, columns=["file", "class_index", "name"])
    if df.empty:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {folder}")
    df = df.sort_values("file", kind="stable").reset_index(drop=True)
    df["class_index"] = df["class_index"].astype(np.int64)
    return df


def resolve_transform(weights: Any = None, transform: Callable | None = None) -> Callable:
    """The preprocessing: ``transform`` if given, else ``weights.transforms()``.

    ``weights`` may be a torchvision weights enum member or its name as a string
    (e.g. ``"ResNet18_Weights.IMAGENET1K_V1"``, resolved with
    ``torchvision.models.get_weight``). The transforms are defined locally: no download.
    Default (both None): ``ResNet18_Weights.IMAGENET1K_V1`` (resize 256, centre crop 224,
    ImageNet mean/std), as in the original code.
    """
    if transform is not None and weights is not None:
        raise ValueError("give either weights or transform, not both")
    if transform is not None:
        if not callable(transform):
            raise ValueError(f"transform must be callable, got {type(transform).__name__}")
        return transform
    from torchvision.models import get_weight

    w = weights if weights is not None else DEFAULT_WEIGHTS
    if isinstance(w, str):
        try:
            w = get_weight(w)
        except (ValueError, KeyError, AttributeError) as exc:
            raise ValueError(f"unknown torchvision weights {weights!r} (expected e.g. "
                             f"{DEFAULT_WEIGHTS!r}): {exc}") from exc
    if not hasattr(w, "transforms"):
        raise ValueError(f"weights {weights!r} has no .transforms(); pass a torchvision "
                         "weights enum, its name, or transform=")
    return w.transforms()


def load_probe_images(folder: str | os.PathLike[str] | None = None, n: int | None = None,
                      seed: int = 0, *, weights: Any = None,
                      transform: Callable | None = None) -> tuple[torch.Tensor, pd.DataFrame]:
    """Load and preprocess a seeded selection of probe images.

    Parameters
    ----------
    folder : str or path-like, optional
        Image folder; default ``<data root>/imagenet-samples`` (see ``resolve_root``).
    n : int, optional
        Number of images; ``None`` = all. ``n`` larger than the number available or below 1
        raises ValueError.
    seed : int
        Seed of ``numpy.random.default_rng`` choosing the ``n`` images (without
        replacement, from the files sorted by path); the chosen images keep that order.
    weights : torchvision weights enum or str, optional
        Use its ``transforms()`` (default ``ResNet18_Weights.IMAGENET1K_V1``).
    transform : callable, optional
        Explicit preprocessing ``PIL.Image (RGB) -> tensor (3, H, W)`` instead of weights.

    Returns
    -------
    images : torch.Tensor, float32, shape (n, 3, H, W) (224 x 224 for the default)
    info : pandas.DataFrame, one row per image in the same order, columns ``file``
        (relative to ``folder``), ``path`` (absolute), ``class_index`` (int, -1 when
        unknown), ``name``, and any extra columns of ``labels.csv``.

    Raises
    ------
    ProbeImageError
        An image cannot be read or decoded (names the file).
    ValueError
        Empty folder, bad ``n``, unknown weights, or transform outputs of unequal shapes.
    """
    import torch
    from PIL import Image

    folder = Path(folder) if folder is not None else resolve_root() / "imagenet-samples"
    table = list_probe_images(folder)
    total = len(table)
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer or None, got {n!r}")
        if n > total:
            raise ValueError(f"n={n} images requested but {folder} holds only {total}")
        idx = np.sort(np.random.default_rng(seed).choice(total, size=int(n), replace=False))
        table = table.iloc[idx].reset_index(drop=True)
    tf = resolve_transform(weights, transform)
    tensors = []
    for rel in table["file"]:
        path = folder / rel
        try:
            with Image.open(path) as im:
                im.load()
                rgb = im.convert("RGB")
        except Exception as exc:  # noqa: BLE001 - PIL raises many types for bad files
            raise ProbeImageError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from exc
        out = tf(rgb)
        if not isinstance(out, torch.Tensor) or out.ndim != 3:
            raise ValueError(f"transform must return a (C, H, W) tensor; got "
                             f"{getattr(out, 'shape', type(out).__name__)} for {path}")
        tensors.append(out.to(torch.float32))
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"transform gives images of different shapes {sorted(shapes)}; "
                         "use a transform with a fixed output size (resize + crop)")
    images = torch.stack(tensors)
    info = table.copy()
    info.insert(1, "path", [str((folder / f).resolve()) for f in info["file"]])
    return images, info
