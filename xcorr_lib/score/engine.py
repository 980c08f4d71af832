"""The engine of the paper's score (paper sections 3.2-3.3): prepare once, score many, exactly.

For every hidden unit u of network A (activation vector a_u over M probes) and every
unit v of network B, rho(u, v) is the Pearson correlation over the probes. Then

    paper    (text of the paper):   v* = argmax_v |rho(u, v)|
    original (authors' notebooks):  v* = argmax_v |rho(u, v)| / (1 + |layer(u) - layer(v)|)
    both:                           S(u; A->B) = |rho(u, v*)| / (1 + |layer(u) - layer(v*)|)

    Corr(A, B) = mean_u S(u; A->B)                                   direction="forward"
    Corr(A, B) = 1/2 (mean_u S(u; A->B) + mean_v S(v; B->A))         direction="both"

The plain dense version of this rule, in one numpy function, is
:func:`xcorr_lib.score.reference.neuron_correlation_reference` (the tests' oracle). Here
the rule is :func:`match_weight` (inside the max) and :func:`depth_penalty` (after it);
``_blocked`` finds v* and |rho(u, v*)| without building the N_a x N_b matrix.

:func:`prepare` checks and standardizes one network's activations (cached per block
layout), :func:`score_prepared` scores two prepared sets. The public one-call entry point,
with nulls and an interval on request, is :func:`xcorr_lib.score.correlation.neuron_correlation`;
a table of K networks prepares each once (:mod:`xcorr_lib.score.pairs`) instead of K - 1 times;
the nulls and the interval (:mod:`xcorr_lib.score.inference`) rescore prepared blocks.

``matching="one-to-one"`` replaces the max over v by a one-to-one assignment (each unit of B
used once, :mod:`.matching`). Every result knows its independent-unit level (what
independent units of the same widths, depths and probe count score).

Conventions: ties in the argmax go to the lowest index of v; |rho| is clamped to
[0, 1]; a constant unit (std <= 1e-6 * max|a_u|, exact zeros included) has rho = 0
with every unit, so its S is 0 and its match is -1. ``constant="zero"`` keeps those
zeros in the mean (reproduces the original MLP numbers), ``constant="exclude"`` drops
them from the mean, ``constant="minus-one"`` counts them as -1 (the original ImageNet
scripts, Tables 5-7). The result reports how many there were on each side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Mapping

import numpy as np
import pandas as pd
import torch

from xcorr_lib.common.checks import check_option, check_positive_int
from xcorr_lib.score import _blocked, _inputs, chance, matching as _matching

Variant = Literal["paper", "original"]
Direction = Literal["both", "forward"]
ConstantPolicy = Literal["zero", "exclude", "minus-one"]
Matching = Literal["semi", "one-to-one"]
VARIANTS = ("paper", "original")
MATCHINGS = ("semi", "one-to-one")
DIRECTIONS = ("both", "forward")
CONSTANTS = ("zero", "exclude", "minus-one")

__all__ = ["CorrelationResult", "Prepared", "prepare", "score_prepared", "depth_penalty", "match_weight"]


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


# ----------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False, repr=False)
class CorrelationResult:
    """Outcome of :func:`~xcorr_lib.score.correlation.neuron_correlation` (and of :func:`score_prepared`).

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
    matching : "semi" (the paper's: each unit's best partner) or "one-to-one".
    layer_breakdown : pandas.DataFrame (property, computed on first access)
        Columns side ('a->b' / 'b->a'), layer_u, layer_match (<NA> for constant units and
        units one-to-one matching left without a partner), n_units, mean_score, mean_abs_rho.
    nulls : {kind: NullDistribution}
        The nulls that were asked for (:func:`~xcorr_lib.score.correlation.neuron_correlation`'s ``null``), in that
        order: ``"shuffle"``, ``"untrained"``, ``"analytic"`` (:mod:`xcorr_lib.score.inference`).
        Empty unless asked.
    interval : xcorr_lib.common.stats.Interval or None
        The probe-bootstrap interval of the score (``interval=True``), else None.
    independent_unit_level : float (property)
        The score of independent Gaussian units with these widths, depths, probes and
        options: exact for the semi-matching (:func:`xcorr_lib.score.chance.analytic_null_score`),
        the mean of 3 seeded simulations for one-to-one matching. Real units of one network
        are correlated, so unrelated real networks usually score below it.
    chance_level : float (property)
        The mean of the first null in ``nulls``; the independent-unit level when none was asked.
    null_used : str (property), which null ``chance_level`` is: a key of ``nulls`` or
        ``"analytic"``.
    chance_corrected : float (property), ``score - chance_level``: the part of the score
        that the null does not reach.
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
    matching: str = "semi"
    nulls: Mapping[str, Any] = field(default_factory=dict)
    interval: Any = None

    @cached_property
    def independent_unit_level(self) -> float:
        if self.matching == "semi":
            return chance.analytic_null_score(self.layers_a, self.layers_b, self.n_probes, self.variant, self.direction)
        rng = np.random.default_rng(0)
        draws = [score_prepared(prepare(rng.standard_normal((self.n_probes, len(self.layers_a)), dtype=np.float32),
                                        self.layers_a),
                                prepare(rng.standard_normal((self.n_probes, len(self.layers_b)), dtype=np.float32),
                                        self.layers_b),
                                variant=self.variant, direction=self.direction,  # type: ignore[arg-type]
                                matching="one-to-one").score for _ in range(3)]
        return float(np.mean(draws))

    @property
    def null_used(self) -> str:
        return next(iter(self.nulls), "analytic")

    @property
    def chance_level(self) -> float:
        return float(self.nulls[self.null_used].mean) if self.nulls else self.independent_unit_level

    @property
    def chance_corrected(self) -> float:
        return self.score - self.chance_level

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
            f"n_constant_a={self.n_constant_a}, n_constant_b={self.n_constant_b}"
            + (f", matching={self.matching!r})" if self.matching != "semi" else ")")
        )

    def summary(self) -> str:
        """A few lines for a notebook: the score, its interval and nulls, the options, the per-layer table."""
        table = self.layer_breakdown.to_string(index=False, float_format=lambda x: f"{x:.4f}")
        lines = [repr(self)]
        if self.interval is not None:
            lines.append(f"{self.interval.level:.0%} probe-bootstrap interval [{self.interval.low:.4f}, "
                         f"{self.interval.high:.4f}] ({self.interval.method})")
        lines += [f"null {null.describe()}" for null in self.nulls.values()]
        if "analytic" not in self.nulls:
            lines.append(f"independent-unit level {self.independent_unit_level:.4f}")
        lines.append(f"chance-corrected score {self.chance_corrected:+.4f} (score - {self.null_used} null)")
        return "\n".join([*lines, f"constant units: {self.constant!r} policy", table])


# ----------------------------------------------------------------------------- prepare once
@dataclass(frozen=True, eq=False, repr=False)
class Prepared:
    """One network's activations, checked and standardized once for many pair scores.

    Attributes
    ----------
    acts : torch.Tensor (M, N), as given (any real dtype, any device).
    layers : numpy int64 (N,), depth id of every unit.
    name : str, the argument name used in error messages.
    dtype, device : where and in what precision the blocks are computed.

    ``standardized(by_layer, strip)`` returns ``(layout, z, constant)`` and caches it: the
    paper variant needs one layout, the original variant one grouped by layer.
    """

    acts: torch.Tensor
    layers: np.ndarray
    name: str
    dtype: torch.dtype
    device: torch.device
    _cache: dict = field(default_factory=dict)

    @property
    def n_probes(self) -> int:
        return int(self.acts.shape[0])

    @property
    def n_units(self) -> int:
        return int(self.acts.shape[1])

    def standardized(self, by_layer: bool, strip: int) -> tuple[_blocked.Layout, torch.Tensor, np.ndarray]:
        key = (bool(by_layer), int(strip))
        if key not in self._cache:
            layout = _blocked.make_layout(self.layers, by_layer=by_layer, strip=strip)
            try:
                z, const = _blocked.standardize(self.acts, layout, dtype=self.dtype, device=self.device)
            except _blocked.NonFiniteError:
                raise _inputs.nonfinite_error(self.acts, self.name) from None
            self._cache[key] = (layout, z, const)
        return self._cache[key]

    def permuted_probes(self, order: np.ndarray) -> "Prepared":
        """The same network with its probe rows in ``order`` (a permutation of range(M)).

        Every cached standardized block is permuted, not recomputed: a unit's mean and norm
        do not depend on the order of its rows. The shuffled-probe null scores these."""
        order = np.asarray(order, dtype=np.int64)
        if order.shape != (self.n_probes,) or not np.array_equal(np.sort(order), np.arange(self.n_probes)):
            raise ValueError(f"order must be a permutation of range({self.n_probes}), got shape {order.shape}")
        rows = torch.as_tensor(order, device=self.acts.device)
        z_rows = torch.as_tensor(order, device=self.device)
        cache = {key: (layout, z.index_select(0, z_rows), const) for key, (layout, z, const) in self._cache.items()}
        return Prepared(self.acts.index_select(0, rows), self.layers, self.name, self.dtype, self.device, cache)

    def __repr__(self) -> str:
        return f"Prepared({self.name!r}, n_probes={self.n_probes}, n_units={self.n_units}, layouts={len(self._cache)})"


def prepare(acts: Any, layers: Any, *, name: str = "acts", dtype: torch.dtype | str | None = None,
            device: str | torch.device | None = None) -> Prepared:
    """Check one network's activations for :func:`score_prepared`.

    Parameters
    ----------
    acts : numpy.ndarray or torch.Tensor (M, N); layers : array-like of int (N,)
    name : how errors call this input (``"acts_a"`` in :func:`~xcorr_lib.score.correlation.neuron_correlation`).
    dtype, device : as :func:`~xcorr_lib.score.correlation.neuron_correlation`.
    """
    layers_name = name.replace("acts", "layers", 1) if name.startswith("acts") else f"layers of {name}"
    x, lay = _inputs.as_acts(acts, name), _inputs.as_layers(layers, layers_name)
    if x.shape[1] == 0:
        raise ValueError(f"{name} has no units (shape {tuple(x.shape)}); select at least one unit")
    if len(lay) != x.shape[1]:
        raise ValueError(f"{layers_name} has {len(lay)} entries but {name} has {x.shape[1]} units (columns)")
    return Prepared(x, lay, name, _inputs.resolve_dtype(dtype), _inputs.resolve_device(device))


def score_prepared(
    pa: Prepared,
    pb: Prepared,
    *,
    variant: Variant = "paper",
    direction: Direction = "both",
    constant: ConstantPolicy = "zero",
    block_size: int | None = None,
    progress: bool = False,
    matching: Matching = "semi",
) -> CorrelationResult:
    """Corr(A, B) of two :func:`prepare`-d networks (options as :func:`~xcorr_lib.score.correlation.neuron_correlation`)."""
    check_option("variant", variant, VARIANTS)
    check_option("matching", matching, MATCHINGS)
    check_option("direction", direction, DIRECTIONS)
    check_option("constant", constant, CONSTANTS)
    if pa.n_probes != pb.n_probes:
        raise ValueError(f"{pa.name} has {pa.n_probes} probes (rows) but {pb.name} has {pb.n_probes}; "
                         "both need the same probe set")
    if pa.n_probes < 3:
        raise ValueError(f"need at least 3 probes (rows) for a meaningful correlation, got {pa.n_probes}")
    if (pa.dtype, pa.device) != (pb.dtype, pb.device):
        raise ValueError(f"{pa.name} is prepared as {pa.dtype} on {pa.device}, {pb.name} as {pb.dtype} on "
                         f"{pb.device}; prepare both alike")
    block_size = (_blocked.default_block_size(pa.dtype, pa.device) if block_size is None
                  else check_positive_int("block_size", block_size))
    # The original variant's weight is per layer pair, so its blocks must not straddle
    # layers: units are grouped by layer. The paper variant's argmax ignores layers.
    strip, by_layer, both = _blocked.strip_width(block_size), variant == "original", direction == "both"
    if matching == "one-to-one":  # the full |rho| matrix, one assignment serves both sides
        (_, za, const_a), (_, zb, const_b) = pa.standardized(False, strip), pb.standardized(False, strip)
        abs_rho = _matching.abs_rho_matrix(za[:, :pa.n_units], zb[:, :pb.n_units])
        found_a, found_b = _matching.one_to_one(
            abs_rho, const_a, const_b, None if variant == "paper" else
            lambda rows, cols: match_weight(variant, pa.layers[rows][:, None], pb.layers[cols][None, :]))
    else:
        layout_a, za, const_a = pa.standardized(by_layer, strip)
        layout_b, zb, const_b = pb.standardized(by_layer, strip)
        found_a, found_b = _blocked.best_matches(
            za, layout_a, zb, layout_b, weight=lambda l_a, l_b: float(match_weight(variant, l_a, l_b)),
            both=both, block_size=block_size, progress=progress)
    side_a = _side(found_a, pa.layers, pb.layers, const_a, constant, pa.name, bool(const_b.all()))
    side_b = _side(found_b, pb.layers, pa.layers, const_b, constant, pb.name, bool(const_a.all())) if both else None
    score = side_a[3] if side_b is None else 0.5 * (side_a[3] + side_b[3])
    return CorrelationResult(
        score=min(max(score, -1.0 if constant == "minus-one" else 0.0), 1.0),
        scores_a=side_a[0], match_a=side_a[1], abs_rho_a=side_a[2],
        scores_b=None if side_b is None else side_b[0],
        match_b=None if side_b is None else side_b[1],
        abs_rho_b=None if side_b is None else side_b[2],
        n_constant_a=int(const_a.sum()), n_constant_b=int(const_b.sum()),
        variant=variant, direction=direction, constant=constant, n_probes=pa.n_probes,
        layers_a=pa.layers, layers_b=pb.layers, matching=matching,
    )  # fmt: skip


def _side(found: tuple[np.ndarray, np.ndarray, np.ndarray], layers_u: np.ndarray, layers_v: np.ndarray,
          const: np.ndarray, constant: str, name: str,
          other_all_constant: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(S, match, |rho|, mean S) of one side: S = |rho(u, v*)| * depth penalty; a constant unit gets
    S = 0 (``"zero"``, ``"exclude"``) or -1 (``"minus-one"``) and match -1."""
    _, match, abs_rho = found
    unmatched = (match < 0) & ~const  # one-to-one matching: the larger side's leftover units
    abs_rho = np.clip(abs_rho, 0.0, 1.0)
    scores = abs_rho * depth_penalty(layers_u, layers_v[np.where(const, 0, match)])
    if constant == "minus-one" and other_all_constant:
        const = np.ones_like(const)  # every candidate correlation is undefined: -1 for every unit
    abs_rho[const], match[const] = 0.0, -1
    scores[const] = -1.0 if constant == "minus-one" else 0.0
    keep = (~const if constant == "exclude" else np.ones_like(const)) & ~unmatched
    if not keep.any():
        raise ValueError(f"all {len(const)} units of {name} are constant; constant='exclude' leaves nothing to average")
    return scores, match, abs_rho, float(scores[keep].mean())


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
