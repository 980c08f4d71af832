"""REGENERATED Afro-MNIST-style digits, for running the Afro experiments offline.

This is NOT the original Afro-MNIST data (Wu, Yang & Prabhu 2020, Zenodo 4050071); it
imitates the recipe those authors describe: render each numeral of a script from a
Unicode font, then make every sample by a random small affine transform and an elastic
deformation (Simard et al. 2003: a random displacement field smoothed by a Gaussian of
width ``sigma`` and scaled by ``alpha``). Results on it are not comparable with the
paper's Afro-MNIST numbers; label them "Afro-MNIST (regenerated)".

Fonts: N'Ko renders with DejaVu Sans, which matplotlib ships, so ``script="nko"`` works on
any machine with this project's dependencies. Ethiopic, Vai and Osmanya need a font with
those digits (e.g. Noto Sans Ethiopic / Vai / Osmanya, or Abyssinica SIL); pass its path
as ``font=`` (a few common system locations are searched). A font lacking the glyphs is
rejected with a ValueError, never rendered as empty boxes.

Labels follow :func:`~xcorr_lib.data.load_dataset`: class k is numeral k for N'Ko, Vai and
Osmanya (0..9); Ethiopic has no zero, its numerals 1..10 are classes 0..9.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from xcorr_lib.common.checks import check_option

from .datasets import SCRIPTS

#: Unicode code points of the ten numerals of each script, in class order.
NUMERALS: dict[str, tuple[int, ...]] = {
    "ethiopic": tuple(range(0x1369, 0x1373)),  # ETHIOPIC DIGIT ONE .. NUMBER TEN
    "vai": tuple(range(0xA620, 0xA62A)),       # VAI DIGIT ZERO .. NINE
    "osmanya": tuple(range(0x104A0, 0x104AA)),  # OSMANYA DIGIT ZERO .. NINE
    "nko": tuple(range(0x07C0, 0x07CA)),       # NKO DIGIT ZERO .. NINE
}
_FONT_GUESSES: dict[str, tuple[str, ...]] = {
    "ethiopic": ("NotoSansEthiopic-Regular.ttf", "AbyssinicaSIL-Regular.ttf",
                 "NotoSerifEthiopic-Regular.ttf"),
    "vai": ("NotoSansVai-Regular.ttf",),
    "osmanya": ("NotoSansOsmanya-Regular.ttf",),
    "nko": ("NotoSansNKo-Regular.ttf",),
}
_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts",
              "/Library/Fonts", "~/Library/Fonts", "C:/Windows/Fonts")


def find_font(script: str) -> Path:
    """A font file that has the script's digits (see module docstring), or ValueError."""
    check_option("script", script, SCRIPTS)
    names = _FONT_GUESSES[script]
    for d in _FONT_DIRS:
        base = Path(d).expanduser()
        if base.is_dir():
            for name in names:
                hits = sorted(base.rglob(name))
                if hits:
                    return hits[0]
    if script == "nko":
        import matplotlib

        return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    raise ValueError(f"no font with {script} digits found (looked for {', '.join(names)}); "
                     "install one (e.g. Noto Sans) and pass font='/path/to/font.ttf'")


def render_exemplars(script: str, font: str | os.PathLike[str] | None = None) -> np.ndarray:
    """The ten numerals rendered MNIST-style: float32 (10, 28, 28) in [0, 1], each glyph
    scaled so its longer side is 20 px and centred by its centre of mass."""
    from PIL import Image, ImageDraw, ImageFont
    from scipy import ndimage

    check_option("script", script, SCRIPTS)
    path = Path(font) if font is not None else find_font(script)
    ttf = ImageFont.truetype(str(path), 96)

    def draw(ch: str) -> np.ndarray:
        img = Image.new("L", (192, 192), 0)
        ImageDraw.Draw(img).text((96, 96), ch, fill=255, font=ttf, anchor="mm")
        return np.asarray(img)

    missing = draw(chr(0x10FFFD))  # how the font draws a code point it lacks
    out = np.zeros((10, 28, 28), np.float32)
    for k, cp in enumerate(NUMERALS[script]):
        glyph = draw(chr(cp))
        if not glyph.any() or np.array_equal(glyph, missing):
            raise ValueError(f"font {path} has no glyph for U+{cp:04X} ({script} numeral); "
                             "pass font= with a font covering the script")
        rows, cols = np.nonzero(glyph)
        crop = Image.fromarray(glyph[rows.min():rows.max() + 1, cols.min():cols.max() + 1])
        h, w = crop.height, crop.width
        scale = 20.0 / max(h, w)
        small = np.asarray(crop.resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                       Image.Resampling.LANCZOS), np.float32) / 255.0
        canvas = np.zeros((28, 28), np.float32)
        top, left = (28 - small.shape[0]) // 2, (28 - small.shape[1]) // 2
        canvas[top:top + small.shape[0], left:left + small.shape[1]] = small
        cy, cx = ndimage.center_of_mass(canvas)
        canvas = ndimage.shift(canvas, (13.5 - cy, 13.5 - cx), order=1)
        out[k] = np.clip(canvas, 0.0, 1.0)
    return out


def deform(image: np.ndarray, rng: np.random.Generator, *, alpha: float = 34.0,
           sigma: float = 4.0, max_rotation: float = 15.0,
           scale_range: Sequence[float] = (0.85, 1.15), max_shear: float = 0.2) -> np.ndarray:
    """One random affine + elastic deformation of a (28, 28) image (float32, [0, 1])."""
    from scipy import ndimage

    h, w = image.shape
    theta = np.deg2rad(rng.uniform(-max_rotation, max_rotation))
    s = rng.uniform(*scale_range)
    shear = rng.uniform(-max_shear, max_shear)
    # inverse map: output pixel -> input pixel, about the image centre
    A = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]) @ \
        np.array([[1.0, shear], [0.0, 1.0]]) / s
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    c = np.array([(h - 1) / 2, (w - 1) / 2])
    coords = np.tensordot(A, np.stack([yy - c[0], xx - c[1]]), axes=1) + c[:, None, None]
    dy = ndimage.gaussian_filter(rng.uniform(-1, 1, (h, w)), sigma, mode="constant") * alpha
    dx = ndimage.gaussian_filter(rng.uniform(-1, 1, (h, w)), sigma, mode="constant") * alpha
    coords = coords + np.stack([dy, dx])
    out = ndimage.map_coordinates(image, coords, order=1, mode="constant", cval=0.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def regenerate_afro_mnist(script: str = "nko", n_per_class: int = 100, seed: int = 0, *,
                          font: str | os.PathLike[str] | None = None, alpha: float = 34.0,
                          sigma: float = 4.0, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Generate a REGENERATED Afro-MNIST-style dataset (not the original data).

    Parameters
    ----------
    script : {"ethiopic", "vai", "osmanya", "nko"}
        Default "nko" (its font ships with matplotlib; the others need ``font=``).
    n_per_class : int
        Samples per class (classes interleaved: 0, 1, ..., 9, 0, 1, ...).
    seed : int
        Seed of ``numpy.random.default_rng``; same seed, same data.
    font : path, optional
        Font file with the script's digits.
    alpha, sigma : float
        Elastic deformation strength and smoothness in pixels (Simard et al. defaults).

    Returns
    -------
    X : float32 (10 * n_per_class, 28, 28) in [0, 1]
    y : int64 (10 * n_per_class,) in 0..9
    """
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, (int, np.integer)) or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive integer, got {n_per_class!r}")
    exemplars = render_exemplars(script, font)
    rng = np.random.default_rng(seed)
    y = np.tile(np.arange(10, dtype=np.int64), int(n_per_class))
    X = np.empty((len(y), 28, 28), np.float32)
    for i in tqdm(range(len(y)), desc=f"regenerating {script}", disable=not progress):
        X[i] = deform(exemplars[y[i]], rng, alpha=alpha, sigma=sigma)
    return X, y
