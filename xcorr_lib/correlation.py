"""The paper's cross-model neuronal correlation score (SPEC section 1).

For every hidden unit u of network A (activation vector a_u over M probes) and every
unit v of network B, rho(u, v) is the Pearson correlation over the probes. Then

    paper    (text of the paper):   v* = argmax_v |rho(u, v)|
    original (authors' notebooks):  v* = argmax_v |rho(u, v)| / (1 + |layer(u) - layer(v)|)
    both:                           S(u; A->B) = |rho(u, v*)| / (1 + |layer(u) - layer(v*)|)

    Corr(A, B) = mean_u S(u; A->B)                                   direction="forward"
    Corr(A, B) = 1/2 (mean_u S(u; A->B) + mean_v S(v; B->A))         direction="both"

The rule lives in :func:`match_weight` and :func:`unit_scores`; the blocked matrix
products that find v* without building the N_a x N_b matrix live in ``_blocked``.

Conventions: ties in the argmax go to the lowest index of v; |rho| is clamped to
[0, 1]; a constant unit (std <= 1e-6 * max|a_u|, exact zeros included) has rho = 0
with every unit, so its S is 0 and its match is -1. ``constant="zero"`` keeps those
zeros in the mean (reproduces the original MLP numbers), ``constant="exclude"`` drops
them from the mean. The result reports how many there were on each side.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from xcorr_lib import _blocked, _inputs

Variant = Literal["paper", "original"]
Direction = Literal["both", "forward"]
ConstantPolicy = Literal["zero", "exclude"]
_VARIANTS = ("paper", "original")
_DIRECTIONS = ("both", "forward")
_CONSTANTS = ("zero", "exclude")

__all__ = ["CorrelationResult", "neuron_correlation", "select_units", "depth_penalty", "match_weight", "unit_scores"]


# ----------------------------------------------------------------------------- the rule
def depth_penalty(layer_u: Any, layer_v: Any) -> np.ndarray:
    """``1 / (1 + |layer_u - layer_v|)``, elementwise (scalars or arrays)."""
    return 1.0 / (1.0 + np.abs(np.asarray(layer_u, dtype=np.float64) - np.asarray(layer_v, dtype=np.float64)))


def match_weight(variant: Variant, layer_u: Any, layer_v: Any) -> np.ndarray:
    """Factor on ``|rho(u, v)|`` inside the max over v: the only difference between variants.

    ``"paper"``: 1 (take the most correlated v, penalise afterwards);
    ``"original"``: the depth penalty (penalised argmax, as the authors' notebooks).
    """
    pen = depth_penalty(layer_u, layer_v)
    return pen if variant == "original" else np.ones_like(pen)


def unit_scores(variant: Variant, best: np.ndarray, layer_u: np.ndarray, layer_match: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn the maxima found by the engine into ``(|rho(u, v*)|, S(u))``.

    Parameters
    ----------
    best : (N,) float
        ``max_v |rho(u, v)| * match_weight(variant, layer(u), layer(v))``.
    layer_u, layer_match : (N,) int
        Layer of each unit and of its match v*.
    """
    abs_rho = np.clip(best / match_weight(variant, layer_u, layer_match), 0.0, 1.0)
    return abs_rho, abs_rho * depth_penalty(layer_u, layer_match)


# ----------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False, repr=False)
class CorrelationResult:
    """Outcome of :func:`neuron_correlation`.

    Attributes
    ----------
    score : float
        Corr(A, B) in [0, 1].
    scores_a, match_a, abs_rho_a : (N_a,) arrays
        S(u; A->B), index of v* in B (-1 for constant units), |rho(u, v*)|.
    scores_b, match_b, abs_rho_b : (N_b,) arrays or None
        The B->A side; None when ``direction="forward"``.
    n_constant_a, n_constant_b : int
        Constant units on each side (counted as S = 0 or excluded, see ``constant``).
    layers_a, layers_b : (N_a,), (N_b,) int64 arrays
        Depth ids as given.
    layer_breakdown : pandas.DataFrame (property, computed on first access)
        Columns side ('a->b' / 'b->a'), layer_u, layer_match (<NA> for constant units),
        n_units, mean_score, mean_abs_rho: where the score comes from.
    """

    score: float
    scores_a: np.ndarray
    match_a: np.ndarray
    abs_rho_a: np.ndarray
    scores_b: np.ndarray | None
    match_b: np.ndarray | None
    abs_rho_b: np.ndarray | None
    n_constant_a: int
    n_constant_b: int
    variant: str
    direction: str
    constant: str
    n_probes: int
    layers_a: np.ndarray
    layers_b: np.ndarray

    @cached_property
    def layer_breakdown(self) -> pd.DataFrame:
        """Per (side, layer_u, layer_match): n_units, mean_score, mean_abs_rho (computed on first use)."""
        sides = [("a->b", self.layers_a, self.layers_b, self.scores_a, self.match_a, self.abs_rho_a)]
        if self.scores_b is not None:
            sides.append(("b->a", self.layers_b, self.layers_a, self.scores_b, self.match_b, self.abs_rho_b))
        frames = []
        for side, lu, lv, scores, match, abs_rho in sides:
            keep = match >= 0 if self.constant == "exclude" else np.ones(len(match), dtype=bool)
            frames.append(_breakdown(side, lu, lv, scores, match, abs_rho, keep))
        return pd.concat(frames, ignore_index=True)

    def __repr__(self) -> str:
        n_b = len(self.scores_b) if self.scores_b is not None else "-"
        return (
            f"CorrelationResult(score={self.score:.4f}, variant={self.variant!r}, direction={self.direction!r}, "
            f"n_a={len(self.scores_a)}, n_b={n_b}, n_probes={self.n_probes}, "
            f"n_constant_a={self.n_constant_a}, n_constant_b={self.n_constant_b})"
        )

    def summary(self) -> str:
        """A few lines for a notebook: the score, the options and the per-layer table."""
        table = self.layer_breakdown.to_string(index=False, float_format=lambda x: f"{x:.4f}")
        return f"{self!r}\nconstant units: {self.constant!r} policy\n{table}"


# ----------------------------------------------------------------------------- engine
def neuron_correlation(
    acts_a: Any,
    layers_a: Any,
    acts_b: Any,
    layers_b: Any,
    *,
    variant: Variant = "paper",
    direction: Direction = "both",
    constant: ConstantPolicy = "zero",
    block_size: int | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
    progress: bool = False,
) -> CorrelationResult:
    """Cross-model neuronal correlation Corr(A, B) of two sets of units.

    Parameters
    ----------
    acts_a, acts_b : numpy.ndarray or torch.Tensor, shapes (M, N_a), (M, N_b)
        Activations of the units of A and B on the same M >= 3 probes (rows).
    layers_a, layers_b : array-like of int, shapes (N_a,), (N_b,)
        Depth index of every unit.
    variant : {"paper", "original"}
        Argmax first then penalty (paper text) or penalised argmax (original code).
    direction : {"both", "forward"}
        Symmetric average (Tables 5-7) or A->B only (Tables 2-3).
    constant : {"zero", "exclude"}
        Constant units count as S = 0 in the mean, or are left out of the mean.
    block_size : int, optional
        Units per side of one correlation block (rounded down to a multiple of 32
        when larger); default: blocks of about 64 MiB on the CPU, 256 MiB on a GPU.
        Working memory: one block plus the standardized inputs, M * (N_a + N_b).
    device : str or torch.device, optional
        Where to compute ("cpu" default, "cuda" if available).
    dtype : torch.float32 (default) or torch.float64 (or "float32"/"float64").
    progress : bool
        Show a tqdm bar over blocks.

    Returns
    -------
    CorrelationResult
    """
    _inputs.check_option("variant", variant, _VARIANTS)
    _inputs.check_option("direction", direction, _DIRECTIONS)
    _inputs.check_option("constant", constant, _CONSTANTS)
    a, la = _inputs.as_acts(acts_a, "acts_a"), _inputs.as_layers(layers_a, "layers_a")
    b, lb = _inputs.as_acts(acts_b, "acts_b"), _inputs.as_layers(layers_b, "layers_b")
    for x, lay, side in ((a, la, "a"), (b, lb, "b")):
        if x.shape[1] == 0:
            raise ValueError(f"acts_{side} has no units (shape {tuple(x.shape)}); select at least one unit")
        if len(lay) != x.shape[1]:
            raise ValueError(f"layers_{side} has {len(lay)} entries but acts_{side} has {x.shape[1]} units (columns)")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"acts_a has {a.shape[0]} probes (rows) but acts_b has {b.shape[0]}; both need the same probe set")
    if a.shape[0] < 3:
        raise ValueError(f"need at least 3 probes (rows) for a meaningful correlation, got {a.shape[0]}")
    dt, dev = _inputs.resolve_dtype(dtype), _inputs.resolve_device(device)
    if block_size is None:
        block_size = _blocked.default_block_size(dt, dev)
    elif isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size < 1:
        raise ValueError(f"block_size must be a positive integer or None, got {block_size!r}")
    block_size = int(block_size)

    both = direction == "both"
    # The original variant's weight is per layer pair, so its blocks must not straddle
    # layers: units are grouped by layer. The paper variant's argmax ignores layers.
    strip, by_layer = _blocked.strip_width(block_size), variant == "original"
    layout_a = _blocked.make_layout(la, by_layer=by_layer, strip=strip)
    layout_b = _blocked.make_layout(lb, by_layer=by_layer, strip=strip)
    try:
        za, const_a = _blocked.standardize(a, layout_a, dtype=dt, device=dev)
    except _blocked.NonFiniteError:
        raise _inputs.nonfinite_error(a, "acts_a") from None
    try:
        zb, const_b = _blocked.standardize(b, layout_b, dtype=dt, device=dev)
    except _blocked.NonFiniteError:
        raise _inputs.nonfinite_error(b, "acts_b") from None
    best_a, arg_a, best_b, arg_b = _blocked.best_matches(
        za, layout_a, zb, layout_b, weight=lambda l_a, l_b: float(match_weight(variant, l_a, l_b)),
        both=both, block_size=block_size, progress=progress,
    )  # fmt: skip
    side_a = _finish(variant, best_a, arg_a, la, lb, const_a)
    side_b = _finish(variant, best_b, arg_b, lb, la, const_b) if both else None

    def side_mean(scores: np.ndarray, const: np.ndarray, name: str) -> float:
        keep = ~const if constant == "exclude" else np.ones_like(const)
        if not keep.any():
            raise ValueError(f"all {len(const)} units of {name} are constant; constant='exclude' leaves nothing to average")
        return float(scores[keep].mean())

    score = side_mean(side_a[0], const_a, "acts_a")
    if side_b is not None:
        score = 0.5 * (score + side_mean(side_b[0], const_b, "acts_b"))
    return CorrelationResult(
        score=min(max(score, 0.0), 1.0),
        scores_a=side_a[0], match_a=side_a[1], abs_rho_a=side_a[2],
        scores_b=None if side_b is None else side_b[0],
        match_b=None if side_b is None else side_b[1],
        abs_rho_b=None if side_b is None else side_b[2],
        n_constant_a=int(const_a.sum()), n_constant_b=int(const_b.sum()),
        variant=variant, direction=direction, constant=constant, n_probes=int(a.shape[0]),
        layers_a=la, layers_b=lb,
    )  # fmt: skip


def _finish(
    variant: Variant, best: np.ndarray, match: np.ndarray, layers_u: np.ndarray, layers_v: np.ndarray, const: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores, match, abs_rho) of one side, with constant units set to 0 / -1."""
    abs_rho, scores = unit_scores(variant, best, layers_u, layers_v[np.where(const, 0, match)])
    abs_rho[const], scores[const], match[const] = 0.0, 0.0, -1
    return scores, match, abs_rho


def _breakdown(side: str, layers_u: np.ndarray, layers_v: np.ndarray, scores: np.ndarray,
               match: np.ndarray, abs_rho: np.ndarray, keep: np.ndarray) -> pd.DataFrame:  # fmt: skip
    """Mean S and |rho| per (layer of u, layer of its match); constant units: match <NA>."""
    const = match[keep] < 0
    layer_u = layers_u[keep]
    layer_m = np.where(const, 0, layers_v[np.maximum(match[keep], 0)])
    keys, inverse, counts = np.unique(np.stack([layer_u, const, layer_m], axis=1), axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    layer_match = pd.array(keys[:, 2], dtype="Int64")
    layer_match[keys[:, 1].astype(bool)] = pd.NA
    return pd.DataFrame({
        "side": side, "layer_u": keys[:, 0], "layer_match": layer_match, "n_units": counts,
        "mean_score": np.bincount(inverse, weights=scores[keep], minlength=len(keys)) / counts,
        "mean_abs_rho": np.bincount(inverse, weights=abs_rho[keep], minlength=len(keys)) / counts,
    })  # fmt: skip


# ----------------------------------------------------------------------------- partial correlation
def select_units(
    acts: Any, layers: Any, *, keep_layers: Any = None, per_layer: int | None = None, seed: int = 0
) -> tuple[Any, np.ndarray, np.ndarray]:
    """Partial correlation (SPEC 1, paper section 3.4): chosen layers, random units per layer.

    Parameters
    ----------
    acts : numpy.ndarray or torch.Tensor, shape (M, N)
    layers : array-like of int, shape (N,)
    keep_layers : iterable of int, optional
        Layer ids to keep (all layers if None). Every id must occur in ``layers``.
    per_layer : int, optional
        Keep a seeded random subset of this many units from every kept layer. A layer
        with fewer units is kept whole (documented clamp, not an error).
    seed : int
        Seed of ``numpy.random.default_rng``; layers are drawn in increasing id order.

    Returns
    -------
    acts_sub : same type as ``acts``, shape (M, K)
    layers_sub : numpy int64, shape (K,)
    index : numpy int64, shape (K,)
        Columns of ``acts`` that were kept, increasing (original order is preserved).
    """
    lay = _inputs.as_layers(layers, "layers")
    n_units = acts.shape[1] if getattr(acts, "ndim", 0) == 2 else None
    if n_units is None:
        raise ValueError(f"acts must be 2-D (M probes, N units), got shape {tuple(np.shape(acts))}")
    if len(lay) != n_units:
        raise ValueError(f"layers has {len(lay)} entries but acts has {n_units} units (columns)")
    present = np.unique(lay)
    if keep_layers is None:
        chosen = present
    else:
        chosen = np.unique(np.asarray(list(np.atleast_1d(keep_layers)), dtype=np.int64))
        missing = sorted(set(chosen.tolist()) - set(present.tolist()))
        if missing:
            raise ValueError(f"keep_layers {missing} not present; available layers: {present.tolist()}")
    if per_layer is not None and (isinstance(per_layer, bool) or not isinstance(per_layer, (int, np.integer)) or per_layer < 1):
        raise ValueError(f"per_layer must be a positive integer or None, got {per_layer!r}")
    rng = np.random.default_rng(seed)
    parts = []
    for layer in chosen:
        idx = np.flatnonzero(lay == layer)
        if per_layer is not None and per_layer < len(idx):
            idx = rng.choice(idx, size=int(per_layer), replace=False)
        parts.append(idx)
    index = np.sort(np.concatenate(parts)).astype(np.int64)
    sub = acts[:, torch.as_tensor(index)] if isinstance(acts, torch.Tensor) else np.asarray(acts)[:, index]
    return sub, lay[index], index
