"""Blocked machinery behind :func:`xcorr_lib.score.correlation.score_prepared`.

Internal module. Three steps:

1. :func:`make_layout` orders the units of one side (by layer when the weight depends
   on layers) and pads every layer group with zero rows up to a multiple of the
   strip width, so that blocks can be viewed as strips without copies.
2. :func:`standardize` turns activations (M probes, N units) into z (M, columns) with
   ``z_u = (a_u - mean(a_u)) / ||a_u - mean(a_u)||``, so that the Pearson correlation
   of two units is the dot product ``rho(u, v) = z_u . z_v``. Constant units and
   padding columns get z = 0, hence rho = 0 with everything.
3. :func:`best_matches` walks over blocks ``|z_a[:, I]^T z_b[:, J]|`` (never the whole
   matrix) and keeps, for every unit, the running maximum of ``|rho| * weight`` and
   its argmax: side a from the rows of each block, side b from its columns, in the
   same pass. ``weight`` is one number per (layer_a, layer_b) pair; a block never
   straddles two layers when layers are grouped.

Speed: torch's ``amax`` is a fast vectorised pass, its ``argmax`` several times
slower, and its column-wise arg-reductions slower still. So a block is reduced with
two ``amax`` passes over strip views (rows: maxima of strips of ``strip`` columns,
columns: maxima of strips of ``strip`` rows); the argmax then only looks at the
strip maxima (1/strip of the block) and inside the one winning strip per unit.

Ties go to the lowest original index: inside a block the first maximum wins (units
keep their original order inside a group, padding comes last and is 0, never above
a real unit of the same block), across blocks the explicit comparison decides.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from tqdm import tqdm

from xcorr_lib.score.reference import CONSTANT_RTOL as REFERENCE_RTOL

#: Default size of one correlation block in bytes, on the CPU and on a GPU. Measured on
#: 2 idle cores, 16-64 MiB blocks are equally fast (smaller ones lose to per-op costs);
#: on an oversubscribed machine fewer, bigger blocks win (each op waits for threads).
BLOCK_BYTES_CPU = 64 * 2**20
BLOCK_BYTES_GPU = 256 * 2**20
#: The constant-unit rule (std(a_u) <= CONSTANT_RTOL * max_m |a_u(m)|) of ``reference``.
CONSTANT_RTOL = REFERENCE_RTOL
#: Width of the strips a block is reduced over (smaller when block_size is smaller).
STRIP = 32
#: Units standardized at a time (bounds the temporaries of :func:`standardize`).
_STANDARDIZE_BYTES = 64 * 2**20


class Group(NamedTuple):
    """Positions ``[start, stop)`` of the padded layout sharing ``layer`` (-1: layers ignored)."""

    layer: int
    start: int
    stop: int


class Layout(NamedTuple):
    """Unit order of one side: ``units[k]`` = original unit at position k (-1 = padding).

    A position is a column of z and a row (side a) or column (side b) of a block."""

    units: np.ndarray
    groups: list[Group]


def default_block_size(dtype: torch.dtype, device: torch.device) -> int:
    """Units per side of a block of about ``BLOCK_BYTES_CPU`` (or ``_GPU``), whole strips."""
    itemsize = torch.empty((), dtype=dtype).element_size()
    budget = BLOCK_BYTES_CPU if device.type == "cpu" else BLOCK_BYTES_GPU
    return math.isqrt(budget // itemsize) // STRIP * STRIP


def strip_width(block_size: int) -> int:
    return min(STRIP, block_size)


def make_layout(layers: np.ndarray, *, by_layer: bool, strip: int) -> Layout:
    """Group units by layer (stable, so original order inside a group) and pad groups."""
    if by_layer:
        order = np.argsort(layers, kind="stable")
        cuts = np.flatnonzero(np.diff(layers[order])) + 1
        runs = np.split(order, cuts)
    else:
        runs = [np.arange(len(layers))]
    units, groups, start = [], [], 0
    for run in runs:
        pad = -len(run) % strip
        units += [run, np.full(pad, -1)]
        groups.append(Group(int(layers[run[0]]) if by_layer else -1, start, start + len(run) + pad))
        start += len(run) + pad
    return Layout(np.concatenate(units).astype(np.int64), groups)


class NonFiniteError(ValueError):
    """Raised by :func:`standardize` when a unit has NaN or Inf activations."""


def standardize(acts: torch.Tensor, layout: Layout, *, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, np.ndarray]:
    """Centre and L2-normalise every unit into the columns of ``layout``.

    Parameters
    ----------
    acts : torch.Tensor, shape (M, N)
        Activations, any real dtype, any device.
    layout : Layout
        Column order (``len(layout.units)`` columns, padding included).
    dtype, device
        Dtype and device of the returned z.

    Returns
    -------
    z : torch.Tensor, shape (M, columns)
        Unit-norm centred columns; zero columns for constant units and padding.
    constant : numpy.ndarray of bool, shape (N,)
        True for constant units, in the original unit order.

    Raises
    ------
    NonFiniteError
        If some activation is NaN or infinite.
    """
    m, n = acts.shape
    z = torch.empty((m, len(layout.units)), dtype=dtype, device=device)
    constant = np.zeros(n, dtype=bool)
    pads = np.flatnonzero(layout.units < 0)
    if len(pads):
        z.index_fill_(1, torch.as_tensor(pads, device=device), 0.0)
    dest = np.empty(n, dtype=np.int64)  # position of every original unit in the layout
    dest[layout.units[layout.units >= 0]] = np.flatnonzero(layout.units >= 0)
    in_place = bool(np.array_equal(dest, np.arange(n)))  # identity layout: write z directly
    # float32 inputs (and dtype) are standardized in float32 (the input has no more
    # digits than that; torch's float32 sums are cascaded), anything else in float64.
    work = torch.float32 if acts.dtype == torch.float32 and dtype == torch.float32 else torch.float64
    step = max(1, _STANDARDIZE_BYTES // (8 * m))
    for s in range(0, n, step):  # original units [s, e): a view of acts, few large ops
        e = min(s + step, n)
        raw = acts[:, s:e].to(device)
        mean = raw.mean(dim=0, dtype=work)  # (k,)
        if not bool(torch.isfinite(mean).all()):
            raise NonFiniteError
        out = z[:, s:e] if in_place and work == dtype else None
        x = torch.sub(raw.to(work), mean, out=out)  # (M, k), centred
        x -= x.mean(dim=0)  # a second pass removes the rounding error of the first mean
        norm = x.square().sum(dim=0).to(torch.float64).sqrt_()
        scale = torch.maximum(raw.amax(dim=0), raw.amin(dim=0).neg()).to(torch.float64)
        const = norm <= CONSTANT_RTOL * math.sqrt(m) * scale  # std <= rtol * max|a|, zeros included
        x.mul_(torch.where(const, 0.0, 1.0 / torch.where(const, 1.0, norm)).to(work))
        if out is None:
            z.index_copy_(1, torch.as_tensor(dest[s:e], device=device), x.to(dtype))
        constant[s:e] = const.cpu().numpy()
    return z, constant


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _chunks(groups: list[Group], size: int, strip: int) -> list[Group]:
    """Split every group into near-equal chunks of at most ``size`` rows, multiples of ``strip``."""
    out = []
    for g in groups:
        n = g.stop - g.start
        step = _ceil_div(_ceil_div(n, _ceil_div(n, size)), strip) * strip
        out += [Group(g.layer, s, min(s + step, g.stop)) for s in range(g.start, g.stop, step)]
    return out


def _row_max(c: torch.Tensor, strip: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Max and first argmax of every row of ``c`` (p, q), q a multiple of ``strip``."""
    p, q = c.shape
    c3 = c.view(p, q // strip, strip)
    sm = c3.amax(dim=2)  # (p, q/strip) strip maxima: one fast pass over the block
    s = sm.argmax(dim=1)  # first strip holding the row maximum
    val = sm.gather(1, s[:, None]).squeeze(1)
    within = c3[torch.arange(p, device=c.device), s].argmax(dim=1)  # (p, strip) -> first max
    return val, s * strip + within


def _col_max(c: torch.Tensor, strip: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Max and first argmax of every column of ``c`` (p, q), p a multiple of ``strip``."""
    p, q = c.shape
    c3 = c.view(p // strip, strip, q)
    sm = c3.amax(dim=1)  # (p/strip, q): a vectorised pass over the block
    s = sm.T.contiguous().argmax(dim=1)  # first strip holding the column maximum
    val = sm.gather(0, s[None]).squeeze(0)
    within = c3[s, :, torch.arange(q, device=c.device)].argmax(dim=1)  # (q, strip) -> first max
    return val, s * strip + within


def _merge(best: torch.Tensor, arg: torch.Tensor, val: torch.Tensor, idx: torch.Tensor,
           rho: torch.Tensor | None = None, raw: torch.Tensor | None = None) -> None:
    """In place: keep the larger value; on an exact tie the lower original index.

    With ``rho``/``raw`` (weighted blocks), ``rho`` keeps the unweighted |rho| of the winner."""
    better = (val > best) | ((val == best) & (idx < arg))
    best.copy_(torch.where(better, val, best))
    arg.copy_(torch.where(better, idx, arg))
    if rho is not None:
        rho.copy_(torch.where(better, raw, rho))


def best_matches(
    za: torch.Tensor,
    layout_a: Layout,
    zb: torch.Tensor,
    layout_b: Layout,
    *,
    weight: Callable[[int, int], float],
    both: bool,
    block_size: int,
    progress: bool = False,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """Max and argmax over v of ``|rho(u, v)| * weight(layer(u), layer(v))``, blockwise.

    Parameters
    ----------
    za, zb : torch.Tensor, shapes (M, columns_a), (M, columns_b)
        Standardized units in the columns of ``layout_a`` / ``layout_b``.
    weight : callable (layer_a, layer_b) -> float
        Factor applied to a whole block before the maxima.
    both : bool
        Also compute side b (the columns of every block).
    block_size : int
        Rows per side of one block (rounded down to whole strips).

    Returns
    -------
    side_a : (best, arg, abs_rho), each (N_a,) in the original unit order: the weighted
        maximum (float64), the original index in b of the argmax (int64) and the unweighted
        |rho(u, v*)| at that argmax (float64; read from the block, not divided back).
    side_b : the same for b, None unless ``both``.
    """
    strip = strip_width(block_size)
    block = max(strip, block_size // strip * strip)
    dev, dt = za.device, za.dtype
    orig_a = torch.as_tensor(layout_a.units, device=dev)
    orig_b = torch.as_tensor(layout_b.units, device=dev)
    big = torch.iinfo(torch.int64).max
    best_a = torch.full((za.shape[1],), -1.0, dtype=dt, device=dev)
    arg_a = torch.full((za.shape[1],), big, dtype=torch.int64, device=dev)
    best_b = torch.full((zb.shape[1],), -1.0, dtype=dt, device=dev)
    arg_b = torch.full((zb.shape[1],), big, dtype=torch.int64, device=dev)
    chunks_a, chunks_b = _chunks(layout_a.groups, block, strip), _chunks(layout_b.groups, block, strip)
    weights = {(ca.layer, cb.layer): float(weight(ca.layer, cb.layer)) for ca in chunks_a for cb in chunks_b}
    weighted = any(w != 1.0 for w in weights.values())  # else |rho| at the argmax is the maximum itself
    rho_a = torch.zeros_like(best_a) if weighted else None
    rho_b = torch.zeros_like(best_b) if weighted and both else None
    buf = torch.empty(max(a.stop - a.start for a in chunks_a) * max(b.stop - b.start for b in chunks_b), dtype=dt, device=dev)
    bar = tqdm(total=len(chunks_a) * len(chunks_b), desc="correlation blocks", disable=not progress,
               delay=2.0)  # a bar only for runs longer than a couple of seconds
    for ca in chunks_a:
        za_blk, ra = za[:, ca.start : ca.stop].T, slice(ca.start, ca.stop)  # (p, M) view
        for cb in chunks_b:
            rb = slice(cb.start, cb.stop)
            c = buf[: (ca.stop - ca.start) * (cb.stop - cb.start)].view(ca.stop - ca.start, -1)
            torch.mm(za_blk, zb[:, rb], out=c)  # rho(u, v) for the block, (p, q)
            c.abs_()
            w = weights[(ca.layer, cb.layer)]
            val, pos = _row_max(c, strip)  # side a: best v in this block for every u
            _merge(best_a[ra], arg_a[ra], val * w if weighted else val, orig_b[rb][pos],
                   None if rho_a is None else rho_a[ra], val)
            if both:
                val, pos = _col_max(c, strip)  # side b: best u in this block for every v
                _merge(best_b[rb], arg_b[rb], val * w if weighted else val, orig_a[ra][pos],
                       None if rho_b is None else rho_b[rb], val)
            bar.update()
    bar.close()

    def original_order(best: torch.Tensor, arg: torch.Tensor, rho: torch.Tensor | None,
                       layout: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        real, out = layout.units >= 0, []
        for values, dtype in ((best, np.float64), (arg, np.int64), (best if rho is None else rho, np.float64)):
            arr = np.empty(int(real.sum()), dtype=dtype)
            arr[layout.units[real]] = values.cpu().numpy()[real]
            out.append(arr)
        return out[0], out[1], out[2]

    side_a = original_order(best_a, arg_a, rho_a, layout_a)
    return side_a, original_order(best_b, arg_b, rho_b, layout_b) if both else None
