"""The paper's cross-model neuronal correlation score in one call, with its nulls and interval.

:func:`neuron_correlation` prepares both networks (:mod:`.engine`: the formula, the blocked
exact engine and the result), scores them and, when asked, attaches nulls and a probe
interval (:mod:`.inference`). The engine's names are re-exported here, so
``from xcorr_lib.score.correlation import prepare, score_prepared, CorrelationResult`` works.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from xcorr_lib.common.checks import check_option
from xcorr_lib.score import inference
from xcorr_lib.score.engine import (CONSTANTS, DIRECTIONS, MATCHINGS, VARIANTS, ConstantPolicy, CorrelationResult,
                                    Direction, Matching, Prepared, Variant, depth_penalty, match_weight, prepare,
                                    score_prepared)

__all__ = ["CorrelationResult", "Prepared", "neuron_correlation", "prepare", "score_prepared", "depth_penalty",
           "match_weight", "CONSTANTS", "DIRECTIONS", "MATCHINGS", "VARIANTS"]


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
    matching: Matching = "semi",
    null: str | Sequence[str] | None = None,
    n_null: int = 200,
    twins: Sequence[Any] | None = None,
    interval: bool = False,
    n_boot: int = 200,
    level: float = 0.95,
    interval_method: str = "normal",
    seed: int = 0,
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
    constant : {"zero", "exclude", "minus-one"}
        Constant units count as S = 0 in the mean, are left out of the mean, or count as
        S = -1 (what the original ImageNet scripts did: a unit starts at ``max_corr = -1``
        and a NaN correlation never beats it; also every unit whose candidates are all
        constant). Scores can then be negative (clamped to [-1, 1]).
    block_size : int, optional
        Units per side of one correlation block (rounded down to a multiple of 32
        when larger); default: blocks of about 64 MiB on the CPU, 256 MiB on a GPU.
        Working memory: one block plus the standardized inputs, M * (N_a + N_b).
    device : str or torch.device, optional
        Where to compute ("cpu" default, "cuda" if available).
    dtype : torch.float32 (default) or torch.float64 (or "float32"/"float64").
    progress : bool
        Show tqdm bars over blocks, null draws and resamples.
    matching : {"semi", "one-to-one"}
        Each unit's best partner (the paper; partners may repeat) or a one-to-one
        assignment maximising the total |rho| (``"original"``: |rho| x depth penalty), each
        unit of the other network used once; with unequal widths the larger network's
        unmatched units are left out of its mean (:mod:`xcorr_lib.score.matching`).
    null : None (default), "shuffle", "untrained", "analytic", or a sequence of them
        Nulls to compute (:mod:`xcorr_lib.score.inference`): B's probes permuted
        (``n_null`` seeded draws, with a permutation p-value), B's architecture untrained
        (``twins``), independent Gaussian units (exact). The first one is the result's
        ``chance_level``; ``result.nulls[kind]`` holds each.
    n_null : int
        Permutations of the shuffled null (default 200: one score pass each).
    twins : sequence of (M, N_b) activations, optional
        B's architecture re-initialized (:func:`xcorr_lib.nets.twins.untrained_twin`), on the
        same probes, same units as ``acts_b``; required by ``null="untrained"``.
    interval : bool
        Attach the probe-bootstrap interval (``result.interval``): probes resampled with
        replacement, the same rows for A and B. It covers probe sets of this size from the
        same source, for these two networks, not other training seeds.
    n_boot, level, interval_method : resamples (default 200), coverage (0.95) and
        ``"normal"`` (score +- z sd, default) or ``"percentile"`` (biased upward: a repeated
        probe raises the best |rho|; :mod:`xcorr_lib.score.inference`).
    seed : int
        Seeds the permutations and the resamples (same seed, same numbers).

    Returns
    -------
    CorrelationResult (``score``, per-unit arrays, ``nulls``, ``interval``, ``chance_level``,
    ``chance_corrected``, ``independent_unit_level``, ``layer_breakdown``).

    Example
    -------
    >>> res = neuron_correlation(acts_a, layers_a, acts_b, layers_b, null="shuffle", interval=True)
    >>> res.score, (res.interval.low, res.interval.high), res.nulls["shuffle"].p_value  # doctest: +SKIP
    """
    for option, value, valid in (("variant", variant, VARIANTS), ("direction", direction, DIRECTIONS),
                                 ("constant", constant, CONSTANTS), ("matching", matching, MATCHINGS)):
        check_option(option, value, valid)  # before preparing: a typo fails before any work
    check_option("interval method", interval_method, inference.INTERVAL_METHODS)
    inference.null_kinds(null, twins)
    pa = prepare(acts_a, layers_a, name="acts_a", dtype=dtype, device=device)
    pb = prepare(acts_b, layers_b, name="acts_b", dtype=dtype, device=device)
    options = dict(variant=variant, direction=direction, constant=constant, block_size=block_size, matching=matching)
    result = score_prepared(pa, pb, progress=progress, **options)
    if null is None and not interval:
        return result
    prepared_twins = [prepare(t, layers_b, name=f"twins[{i}]", dtype=dtype, device=device)
                      for i, t in enumerate(twins or ())]
    for twin in prepared_twins:
        if (twin.n_probes, twin.n_units) != (pb.n_probes, pb.n_units):
            raise ValueError(f"{twin.name} has shape ({twin.n_probes}, {twin.n_units}) but acts_b has "
                             f"({pb.n_probes}, {pb.n_units}); a twin is B's architecture on the same probes")
    return inference.with_inference(result, pa, pb, null=null, n_null=n_null, twins=prepared_twins, interval=interval,
                                    n_boot=n_boot, level=level, interval_method=interval_method, seed=seed,
                                    progress=progress, **options)
