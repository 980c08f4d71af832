"""Is a pair's score more than chance, and how sure is it? Three nulls and a probe interval.

A score alone says little: with few probes and many candidate units the best |rho| of
every unit is high by chance, and neither the paper (sections 3.2-3.3) nor its original
notebooks report a null. Each null below answers a different question, and each rescoring reuses the engine
(:func:`xcorr_lib.score.engine.score_prepared`) on blocks already prepared:

``"shuffle"`` (:func:`shuffled_null`)
    B's probe rows permuted relative to A's, ``n_null`` seeded draws. Every unit keeps its
    values and every within-network correlation survives; only the probe correspondence
    goes. The null of "these two networks, unrelated responses". Its p-value is
    ``(1 + #{null >= score}) / (1 + n_null)``.
``"untrained"`` (:func:`twin_null`)
    A against B's architecture re-initialized (activations of ``n`` seeded twins,
    :func:`xcorr_lib.nets.twins.untrained_twin`): how much of the score training explains.
    Architecture and input statistics alone can make random networks look alike.
``"analytic"``
    Independent Gaussian units of the same widths, depths and probe count
    (:mod:`xcorr_lib.score.chance`). Real units of one network move together on a probe
    set, so unrelated real networks usually score *below* this level: it is what chance
    gives independent units, not the null of real networks.

The interval (:func:`probe_interval`) resamples probes with replacement, the same rows for
A and B, ``n_boot`` times, and re-prepares each resample. It covers the variation over
probe sets of this size from the same source, for these two (trained) networks: it says
how much another probe set would move the score, not how much another training seed
would (notebook 05 measures that). A resample that repeats a probe raises the best |rho|
of many units, so the resampled scores sit *above* the score; a percentile interval
inherits that shift and, in the simulation of tests/test_inference.py, covers the expected
score far less often than its nominal 95%. The default is centred on the score itself (the
score +- z times the resamples' standard deviation) and covers it in 90-98% of simulated
probe sets there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
import torch
from tqdm import tqdm

from xcorr_lib.common.checks import check_fraction, check_option, check_positive_int
from xcorr_lib.common.stats import Interval, normal_interval, percentile_interval, permutation_p
from xcorr_lib.score.engine import CorrelationResult, Prepared, prepare, score_prepared

__all__ = ["NULL_KINDS", "INTERVAL_METHODS", "NullDistribution", "shuffle_orders", "shuffled_null", "twin_null", "analytic_null",
           "probe_interval", "null_kinds", "with_inference"]

NULL_KINDS = ("shuffle", "untrained", "analytic")
INTERVAL_METHODS = ("normal", "percentile")
_STREAMS = {"shuffle": 1, "bootstrap": 2}  # independent random streams from one seed


@dataclass(frozen=True, eq=False)
class NullDistribution:
    """What a null scores, beside the score it is compared with.

    kind : "shuffle", "untrained" or "analytic"; draws : (n,) null scores (None for analytic);
    mean, sd : of the draws (sd NaN for analytic and single draws); p_value : one-sided
    permutation p-value of the score against the draws (None for analytic); seed : what drew
    them; what : how the draws were made, in words.
    """

    kind: str
    mean: float
    sd: float
    p_value: float | None
    draws: np.ndarray | None
    seed: int | None
    what: str

    def describe(self) -> str:
        """One line: ``shuffle 0.2911 +- 0.0120 (200 probe permutations), p = 0.005``."""
        spread = "" if np.isnan(self.sd) else f" +- {self.sd:.4f}"
        p = "" if self.p_value is None else f", p = {self.p_value:.3g}"
        return f"{self.kind} {self.mean:.4f}{spread} ({self.what}){p}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: kind, mean, sd (None if undefined), p_value, n, seed, what, draws."""
        return {"kind": self.kind, "mean": self.mean, "sd": None if np.isnan(self.sd) else self.sd,
                "p_value": self.p_value, "n": 0 if self.draws is None else len(self.draws), "seed": self.seed,
                "what": self.what, "draws": None if self.draws is None else self.draws.tolist()}


def _from_draws(kind: str, draws: Sequence[float], observed: float, seed: int | None, what: str) -> NullDistribution:
    arr = np.asarray(draws, dtype=float)
    sd = float(arr.std(ddof=1)) if len(arr) > 1 else float("nan")
    return NullDistribution(kind, float(arr.mean()), sd, permutation_p(observed, arr), arr, seed, what)


def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), _STREAMS[stream]])


def shuffle_orders(n_probes: int, n_null: int, seed: int = 0) -> list[np.ndarray]:
    """The ``n_null`` probe orders of :func:`shuffled_null` (B's row ``order[i]`` faces A's row i)."""
    n_null = check_positive_int("n_null", n_null)
    rng = _rng(seed, "shuffle")
    return [rng.permutation(int(n_probes)) for _ in range(n_null)]


def shuffled_null(pa: Prepared, pb: Prepared, observed: float, *, n_null: int = 200, seed: int = 0,
                  progress: bool = False, **score_options: Any) -> NullDistribution:
    """``n_null`` scores of A against B with B's probe rows permuted (seeded).

    Parameters
    ----------
    pa, pb : the two prepared networks (M probes each); pb's standardized blocks are permuted,
        not recomputed (:meth:`Prepared.permuted_probes`).
    observed : the score the null is compared with (for the p-value).
    n_null, seed : number of permutations and their seed (same seed, same draws).
    score_options : variant, direction, constant, matching, block_size, as the score.
    """
    orders = shuffle_orders(pb.n_probes, n_null, seed)
    draws = [score_prepared(pa, pb.permuted_probes(order), **score_options).score
             for order in tqdm(orders, desc="shuffled-probe null", disable=not progress, leave=False,
                               delay=2.0)]
    return _from_draws("shuffle", draws, observed, seed, f"{n_null} probe permutations")


def twin_null(pa: Prepared, twins: Sequence[Prepared], observed: float, *, seed: int | None = None,
              **score_options: Any) -> NullDistribution:
    """Scores of A against each untrained twin of B (prepared activations on the same probes).

    ``seed`` is only recorded (it made the twins). With n twins the p-value cannot go below
    1 / (n + 1): read the mean and sd, the p-value only with many twins.
    """
    if not twins:
        raise ValueError("the untrained null needs at least one twin: activations of B's architecture, "
                         "re-initialized, on the same probes (xcorr_lib.nets.twins.untrained_twin)")
    draws = [score_prepared(pa, twin, **score_options).score for twin in twins]
    return _from_draws("untrained", draws, observed, seed, f"{len(twins)} untrained twin{'s' * (len(twins) > 1)} of B")


def analytic_null(result: CorrelationResult) -> NullDistribution:
    """The independent-unit level of ``result`` as a null (no draws, no p-value)."""
    return NullDistribution("analytic", result.independent_unit_level, float("nan"), None, None, None,
                            "independent Gaussian units, same widths, depths and probes")


def probe_interval(pa: Prepared, pb: Prepared, observed: float, *, n_boot: int = 200, level: float = 0.95,
                   method: str = "normal", seed: int = 0, progress: bool = False, **score_options: Any) -> Interval:
    """Probe-bootstrap interval of the score: probes resampled with replacement (the same rows
    for A and B), each resample prepared again and scored.

    What it covers: the expected score over probe sets of this size drawn like this one,
    for these two networks (its population value at M probes; with few probes and many
    candidates that value itself sits high by chance, which is what the nulls measure).

    Returns
    -------
    :class:`xcorr_lib.common.stats.Interval`: ``estimate`` (the score), ``low``, ``high``, ``level``,
    ``n`` (probes), ``method`` and ``n_invalid`` (resamples whose score is undefined: every unit
    of one side constant under ``constant="exclude"``; left out). ``method="normal"`` (default):
    score +- z sd(resampled scores); ``"percentile"``: their quantiles (biased upward, see the
    module's docstring).
    """
    n_boot = check_positive_int("n_boot", n_boot)
    level = check_fraction("level", level, low=0.5, high=1.0)
    check_option("interval method", method, INTERVAL_METHODS)
    rng, m = _rng(seed, "bootstrap"), pa.n_probes

    def resampled(p: Prepared, rows: torch.Tensor) -> Prepared:
        return prepare(p.acts.index_select(0, rows.to(p.acts.device)), p.layers, name=p.name, dtype=p.dtype,
                       device=p.device)

    draws = []
    for _ in tqdm(range(n_boot), desc="probe bootstrap", disable=not progress, leave=False, delay=2.0):
        rows = torch.as_tensor(rng.integers(0, m, m))
        try:
            draws.append(score_prepared(resampled(pa, rows), resampled(pb, rows), **score_options).score)
        except ValueError:  # every unit of one side constant on this resample ("exclude")
            draws.append(float("nan"))
    make = normal_interval if method == "normal" else percentile_interval
    return make(observed, draws, level, m, f"probe bootstrap, {method}, {n_boot} resamples, seed {seed}")


def null_kinds(null: str | Sequence[str] | None, twins: Sequence[Any] | None = None) -> tuple[str, ...]:
    """The asked nulls as a tuple without repeats, checked (and ``twins`` against them)."""
    kinds = () if null is None else (null,) if isinstance(null, str) else tuple(null)
    for kind in kinds:
        check_option("null", kind, NULL_KINDS)
    if "untrained" in kinds and not twins:
        raise ValueError("null='untrained' needs twins: activations of B's architecture re-initialized, on the "
                         "same probes (build them with xcorr_lib.nets.twins.untrained_twin)")
    if twins and "untrained" not in kinds:
        raise ValueError("twins were given but null does not ask for 'untrained'")
    return tuple(dict.fromkeys(kinds))


def with_inference(result: CorrelationResult, pa: Prepared, pb: Prepared, *, null: str | Sequence[str] | None = None,
                   n_null: int = 200, twins: Sequence[Prepared] | None = None, interval: bool = False,
                   n_boot: int = 200, level: float = 0.95, interval_method: str = "normal", seed: int = 0,
                   progress: bool = False, **score_options: Any) -> CorrelationResult:
    """``result`` (the score of ``pa`` vs ``pb``) with the asked nulls and interval attached.

    ``null``: one of :data:`NULL_KINDS` or several (their order is kept; the first one is the
    result's ``chance_level``); ``twins``: prepared activations of B's untrained twins (needed
    for ``"untrained"``). Options as :func:`~xcorr_lib.score.correlation.neuron_correlation`.
    """
    kinds = null_kinds(null, twins)
    nulls: dict[str, NullDistribution] = {}
    for kind in kinds:
        if kind == "shuffle":
            nulls[kind] = shuffled_null(pa, pb, result.score, n_null=n_null, seed=seed, progress=progress,
                                        **score_options)
        elif kind == "untrained":
            nulls[kind] = twin_null(pa, twins or (), result.score, seed=seed, **score_options)
        else:
            nulls[kind] = analytic_null(result)
    band = (probe_interval(pa, pb, result.score, n_boot=n_boot, level=level, method=interval_method, seed=seed,
                           progress=progress, **score_options) if interval else None)
    return replace(result, nulls=nulls, interval=band)
