"""Blocked machinery behind :func:`xcorr_lib.correlation.neuron_correlation`.

Internal module. Two steps:

1. :func:`standardize` turns activations (M probes, N units) into z (N, M) with
   ``z_u = (a_u - mean(a_u)) / ||a_u - mean(a_u)||``, so that the Pearson correlation
   of two units is the dot product ``rho(u, v) = z_u . z_v``. Constant units get z = 0.
2. :func:`best_matches` walks over blocks of ``|z_a z_b^T|`` (never the whole matrix)
   and keeps, for every unit, the running maximum of ``|rho| * weight`` and its
   argmax, for side a (row maxima) and side b (column maxima) in the same pass.
   ``weight`` is one number per (layer_a, layer_b) pair, so the units of each side
   are grouped by layer and a block never straddles two layers when weights matter.

Ties are broken towards the lowest original index of the matched unit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

#: Target size of one correlation block in bytes (the engine's working memory).
BLOCK_BYTES = 64 * 2**20
#: A unit is constant when std(a_u) <= CONSTANT_RTOL * max_m |a_u(m)| (exact zeros too).
CONSTANT_RTOL = 1e-6
#: Units standardized at a time (bounds the float64 temporary of :func:`standardize`).
_STANDARDIZE_BYTES = 64 * 2**20


class Group(NamedTuple):
    """A contiguous run ``[start, stop)`` of (layer-sorted) units sharing ``layer``."""

    layer: int
    start: int
    stop: int


def default_block_size(dtype: torch.dtype) -> int:
    """Units per side of a block so that one block holds about ``BLOCK_BYTES``."""
    itemsize = torch.empty((), dtype=dtype).element_size()
    return math.isqrt(BLOCK_BYTES // itemsize)


def standardize(
    acts: torch.Tensor, *, dtype: torch.dtype, device: torch.device, order: np.ndarray
) -> tuple[torch.Tensor, np.ndarray]:
    """Centre and L2-normalise every unit, in float64, then cast.

    Parameters
    ----------
    acts : torch.Tensor, shape (M, N)
        Activations, finite, any real dtype, any device.
    dtype, device
        Dtype and device of the returned z.
    order : numpy.ndarray of int, shape (N,)
        Unit order of the output rows (``z[k]`` belongs to unit ``order[k]``).

    Returns
    -------
    z : torch.Tensor, shape (N, M)
        Unit-norm centred rows (zero rows for constant units), contiguous.
    constant : numpy.ndarray of bool, shape (N,)
        True for constant units, in the ORIGINAL unit order.
    """
    m, n = acts.shape
    z = torch.empty((n, m), dtype=dtype, device=device)
    constant = np.zeros(n, dtype=bool)
    # float32 inputs are centred in float32 around a float64-accumulated mean (exact
    # enough: the input has no more digits); anything else is centred in float64.
    work = torch.float32 if acts.dtype == torch.float32 and dtype == torch.float32 else torch.float64
    step = max(1, _STANDARDIZE_BYTES // (8 * m))
    identity = bool(np.array_equal(order, np.arange(n)))
    order_t = None if identity else torch.as_tensor(order, device=acts.device)
    for s in range(0, n, step):
        raw = acts[:, s : s + step] if identity else acts.index_select(1, order_t[s : s + step])
        x = raw.to(work) - raw.mean(dim=0, dtype=torch.float64).to(work)  # (M, k), a new tensor
        norm = torch.linalg.vector_norm(x, dim=0, dtype=torch.float64)  # (k,)
        scale = raw.abs().amax(dim=0).to(torch.float64)
        const = norm <= CONSTANT_RTOL * math.sqrt(m) * scale  # std <= rtol * max|a|, zeros included
        inv = torch.where(const, 0.0, 1.0 / torch.where(const, 1.0, norm)).to(work)
        z[s : s + step] = (x * inv).T.to(device=device, dtype=dtype)
        constant[order[s : s + step]] = const.cpu().numpy()
    return z, constant


def layer_groups(layers_sorted: np.ndarray, *, by_layer: bool) -> list[Group]:
    """Runs of equal layer ids in an already sorted array (one run if not ``by_layer``)."""
    n = len(layers_sorted)
    if not by_layer:
        return [Group(-1, 0, n)]
    cuts = np.flatnonzero(np.diff(layers_sorted)) + 1
    bounds = [0, *cuts.tolist(), n]
    return [Group(int(layers_sorted[s]), s, e) for s, e in zip(bounds[:-1], bounds[1:])]


def _chunks(groups: list[Group], size: int) -> list[Group]:
    """Split every group into near-equal chunks of at most ``size`` units."""
    out = []
    for g in groups:
        n = g.stop - g.start
        step = -(-n // -(-n // size))  # ceil(n / ceil(n / size))
        out += [Group(g.layer, s, min(s + step, g.stop)) for s in range(g.start, g.stop, step)]
    return out


def _fold_side(
    c: torch.Tensor, buf_t: torch.Tensor | None, *, by_rows: bool, w: float, fresh: bool,
    best: torch.Tensor, arg: torch.Tensor, orig: torch.Tensor,
) -> None:  # fmt: skip
    """Fold one block ``c`` = |rho| (p, q) into one side's running (best, arg), in place.

    The side's units are the rows of ``c`` (``by_rows``) or its columns; ``orig`` maps a
    position along the other axis to the other side's original unit index, ``w`` is
    the block's weight. torch's amax is much faster than its argmax, and its column
    reductions much slower than row reductions, so: amax first, then an argmax only
    for the units whose running best can change (``val >= best``), columns through a
    transposed copy. ``fresh`` (first block of these units): one argmax does all.
    Exact ties go to the lower original index: argmax returns the first maximum
    within the block (original order there), the comparison below decides across blocks.
    """

    def as_rows(sel: torch.Tensor | None = None) -> torch.Tensor:  # (k, other) with units as rows
        if by_rows:
            return c if sel is None else c.index_select(0, sel)
        if sel is None:
            return buf_t[: c.numel()].view(c.shape[1], c.shape[0]).copy_(c.T)
        return c.T.index_select(0, sel)

    if fresh:
        m = as_rows()
        j = m.argmax(dim=1)
        val = m.gather(1, j[:, None]).squeeze(1)
        best.copy_(val.mul_(w) if w != 1.0 else val)
        arg.copy_(orig[j])
        return
    val = c.amax(dim=1 if by_rows else 0)
    if w != 1.0:
        val.mul_(w)
    sel = torch.nonzero(val >= best).squeeze(1)
    if sel.numel() == 0:
        return
    j = as_rows()[sel].argmax(dim=1) if 4 * sel.numel() > val.numel() else as_rows(sel).argmax(dim=1)
    idx, v, b, a = orig[j], val[sel], best[sel], arg[sel]
    better = (v > b) | ((v == b) & (idx < a))
    best[sel] = torch.where(better, v, b)
    arg[sel] = torch.where(better, idx, a)


def best_matches(
    za: torch.Tensor,
    groups_a: list[Group],
    orig_a: torch.Tensor,
    zb: torch.Tensor,
    groups_b: list[Group],
    orig_b: torch.Tensor,
    *,
    weight: Callable[[int, int], float],
    both: bool,
    block_size: int,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Running max and argmax of ``|rho| * weight(layer_a, layer_b)`` over blocks.

    Parameters
    ----------
    za, zb : torch.Tensor, shapes (N_a, M) and (N_b, M)
        Standardized units, rows sorted so that each group is contiguous.
    groups_a, groups_b : list of Group
        Row ranges of za / zb with one layer id each.
    orig_a, orig_b : torch.Tensor of int64, shapes (N_a,), (N_b,)
        Original unit index of every row (increasing inside a group).
    weight : callable (layer_a, layer_b) -> float
        Factor applied to a whole block before the maxima.
    both : bool
        Also compute the column maxima (side b -> a).
    block_size : int
        Rows per side of one block.

    Returns
    -------
    best_a, arg_a : (N_a,) weighted maxima for rows of za, original b index of the argmax.
    best_b, arg_b : same for rows of zb (None unless ``both``).
    """
    dev, dt = za.device, za.dtype
    big = torch.iinfo(torch.int64).max
    best_a = torch.full((za.shape[0],), -1.0, dtype=dt, device=dev)
    arg_a = torch.full((za.shape[0],), big, dtype=torch.int64, device=dev)
    best_b = torch.full((zb.shape[0],), -1.0, dtype=dt, device=dev) if both else None
    arg_b = torch.full((zb.shape[0],), big, dtype=torch.int64, device=dev) if both else None
    chunks_a, chunks_b = _chunks(groups_a, block_size), _chunks(groups_b, block_size)
    buf = torch.empty(block_size * block_size, dtype=dt, device=dev)  # the block, reused
    buf_t = torch.empty(block_size * block_size, dtype=dt, device=dev) if both else None
    bar = tqdm(total=len(chunks_a) * len(chunks_b), desc="correlation blocks", disable=not progress)
    for ia, ca in enumerate(chunks_a):
        a = za[ca.start : ca.stop]  # (p, M)
        for ib, cb in enumerate(chunks_b):
            c = buf[: (ca.stop - ca.start) * (cb.stop - cb.start)].view(ca.stop - ca.start, -1)
            torch.mm(a, zb[cb.start : cb.stop].T, out=c)  # rho(u, v) for the block, (p, q)
            c.abs_()
            w = weight(ca.layer, cb.layer)
            _fold_side(c, buf_t, by_rows=True, w=w, fresh=ib == 0, best=best_a[ca.start : ca.stop],
                       arg=arg_a[ca.start : ca.stop], orig=orig_b[cb.start : cb.stop])  # fmt: skip
            if both:
                _fold_side(c, buf_t, by_rows=False, w=w, fresh=ia == 0, best=best_b[cb.start : cb.stop],
                           arg=arg_b[cb.start : cb.stop], orig=orig_a[ca.start : ca.stop])  # fmt: skip
            bar.update()
    bar.close()
    return best_a, arg_a, best_b, arg_b
