"""How much of the score is signal: null baselines and probe-size curves.

All functions work on activations captured once on a pool of probes,
``acts = {model name: (activations (M_pool, N) , layer ids (N,))}``, and score random
subsets of that pool: for probe size m and repeat r the subset is drawn with
``numpy.random.default_rng([seed, m, r])``, the same for every pair and every null, so
score and null score are paired.

Two nulls for a pair (A, B):

- ``shuffled``: B's probes are permuted (seeded) before scoring, which destroys the
  probe correspondence but keeps every unit's distribution;
- ``untrained``: B is replaced by the same architecture, untrained (its activations on
  the same probes, passed as ``untrained``).

Under independence the best |rho| of a unit among K candidates is large when probes are
few; :func:`xcorr_lib.score.null.expected_max_abs_corr` gives its expectation.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from xcorr_lib.score.null import chance_score
from xcorr_lib.score.pairs import pair_table
from xcorr_lib.score.reference import constant_units

Acts = Mapping[str, tuple[Any, Any]]
NULL_KINDS: tuple[str, ...] = ("shuffled", "untrained")


def as_numpy_acts(acts: Acts, name: str = "acts") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Copy ``{model: (acts, layers)}`` to float32 / int64 numpy, checking shapes."""
    out = {}
    for model, (x, layers) in acts.items():
        x = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
        x = np.asarray(x, dtype=np.float32)
        layers = np.asarray(layers, dtype=np.int64)
        if x.ndim != 2 or layers.shape != (x.shape[1],):
            raise ValueError(f"{name}[{model!r}]: need acts (M, N) and layers (N,), got "
                             f"{x.shape} and {layers.shape}")
        out[model] = (x, layers)
    return out


def pair_label(a: str, b: str) -> str:
    """The ``pair`` column of every audit table: ``"Net1-CNN"``."""
    return f"{a}-{b}"


def probe_indices(n_pool: int, size: int, repeat: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded random subset of ``size`` probes out of ``n_pool``."""
    if not 3 <= size <= n_pool:
        raise ValueError(f"probe size must be between 3 and the pool size {n_pool}, got {size}")
    if size == n_pool:
        return np.arange(n_pool)
    rng = np.random.default_rng([int(seed), int(size), int(repeat)])
    return np.sort(rng.choice(n_pool, size=size, replace=False))


def _check_pairs(pairs: Sequence[tuple[str, str]], a_side: Mapping, b_side: Mapping) -> None:
    if not pairs:
        raise ValueError("pairs is empty; pass [(model_a, model_b), ...]")
    for a, b in pairs:
        if a not in a_side or b not in b_side:
            raise ValueError(f"pair ({a!r}, {b!r}): no activations; have {sorted(set(a_side) | set(b_side))}")


def _pool_size(*sides: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> int:
    sizes = {x.shape[0] for side in sides for x, _ in side.values()}
    if len(sizes) != 1:
        raise ValueError(f"all activations must come from the same probe pool; row counts {sorted(sizes)}")
    return sizes.pop()


def score_curve(acts: Acts, pairs: Sequence[tuple[str, str]], probe_sizes: Iterable[int], *,
                against: Acts | None = None, shuffle: bool = False, ignore_layers: bool = False,
                n_repeats: int = 1, seed: int = 0, variant: str = "paper", direction: str = "both",
                constant: str = "zero", progress: bool = False, device: str | None = None) -> pd.DataFrame:
    """Score of every pair on random probe subsets of every size (computed on ``device``, default CPU).

    Parameters
    ----------
    acts : {model: (acts (M_pool, N), layers (N,))}
        Side A of every pair (and side B unless ``against`` is given).
    pairs : [(model_a, model_b), ...]
    probe_sizes : iterable of int
        Each between 3 and M_pool.
    against : same as acts, optional
        Where side B's activations come from (e.g. untrained copies).
    shuffle : bool
        Permute side B's probes (seeded by seed, size, repeat): the shuffled null.
    ignore_layers : bool
        Give every unit depth 0, so the score is the mean best |rho| (no depth penalty).
    n_repeats, seed : int
        Subsets per size and their seed.
    variant, direction, constant : passed to ``neuron_correlation``.

    Returns
    -------
    DataFrame with columns model_a, model_b, pair, probe_size, repeat, score,
    n_units_a, n_units_b, k_a, k_b (k: units that vary on that subset).
    """
    a_side = as_numpy_acts(acts)
    b_side = a_side if against is None else as_numpy_acts(against, "against")
    _check_pairs(pairs, a_side, b_side)
    n_pool = _pool_size(a_side, b_side)
    sizes = sorted({int(s) for s in probe_sizes})
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be >= 1, got {n_repeats}")
    rows = []
    jobs = [(m, r) for m in sizes for r in range(n_repeats)]
    for m, r in tqdm(jobs, desc="probe subsets", disable=not progress):
        idx = probe_indices(n_pool, m, r, seed)
        perm = np.random.default_rng([int(seed), m, r, 1]).permutation(m) if shuffle else None
        b_key = (lambda n: n) if against is None and perm is None else (lambda n: f"{n} (side B)")

        def subset(x: np.ndarray, layers: np.ndarray, permute: bool) -> tuple[np.ndarray, np.ndarray]:
            x = x[idx][perm] if permute else x[idx]
            return x, np.zeros_like(layers) if ignore_layers else layers

        sub = {a: subset(*a_side[a], False) for a, _ in pairs}
        sub.update({b_key(b): subset(*b_side[b], perm is not None) for _, b in pairs})
        scores = pair_table(sub, [(a, b_key(b)) for a, b in pairs], variant=variant, direction=direction,
                            constant=constant, device=device)
        for (a, b), score in zip(pairs, scores["value"]):
            xa, xb = sub[a][0], sub[b_key(b)][0]
            rows.append({"model_a": a, "model_b": b, "pair": pair_label(a, b), "probe_size": m,
                         "repeat": r, "score": float(score), "n_units_a": xa.shape[1], "n_units_b": xb.shape[1],
                         "k_a": int(np.count_nonzero(~constant_units(xa))),
                         "k_b": int(np.count_nonzero(~constant_units(xb)))})
    return pd.DataFrame(rows)


def null_calibration(acts: Acts, pairs: Sequence[tuple[str, str]], probe_sizes: Iterable[int], *,
                     untrained: Acts | None = None, null_kinds: Sequence[str] = NULL_KINDS,
                     n_repeats: int = 1, seed: int = 0, variant: str = "paper",
                     direction: str = "both", progress: bool = False, device: str | None = None) -> pd.DataFrame:
    """Score vs null score as a function of the number of probes.

    Parameters
    ----------
    acts : {model: (acts (M_pool, N), layers (N,))}
        Trained models' activations on a pool of probes.
    pairs : [(model_a, model_b), ...]
    probe_sizes : iterable of int
    untrained : same as acts, optional
        Untrained copies' activations on the same pool (needed for the ``untrained`` null;
        pair (A, B) is then scored against untrained B).
    null_kinds : subset of ("shuffled", "untrained")
    n_repeats, seed, variant, direction, device : as :func:`score_curve`.

    Returns
    -------
    One row per (pair, probe_size, null_kind): model_a, model_b, pair, probe_size,
    null_kind, score, null_score, difference (score - null_score), score_sd, null_sd,
    n_repeats, chance_max_abs_rho (shuffled probes, no depth penalty, constant units left
    out: the mean best |rho| reached by chance), expected_max_abs_rho (its analytic value
    for independent Gaussian units, :func:`xcorr_lib.score.null.chance_score`), n_units_a, n_units_b.
    """
    kinds = list(dict.fromkeys(null_kinds))
    for k in kinds:
        if k not in NULL_KINDS:
            raise ValueError(f"null kind {k!r} is not valid; choose from {NULL_KINDS}")
    if not kinds:
        raise ValueError("null_kinds is empty")
    if "untrained" in kinds and untrained is None:
        raise ValueError("the 'untrained' null needs the untrained models' activations (untrained=...)")
    sizes = sorted({int(s) for s in probe_sizes})
    kw = dict(n_repeats=n_repeats, seed=seed, direction=direction, progress=progress, device=device)
    score = score_curve(acts, pairs, sizes, variant=variant, **kw)
    nulls = {"shuffled": lambda: score_curve(acts, pairs, sizes, shuffle=True, variant=variant, **kw),
             "untrained": lambda: score_curve(acts, pairs, sizes, against=untrained, variant=variant, **kw)}
    chance = score_curve(acts, pairs, sizes, shuffle=True, ignore_layers=True, constant="exclude",
                         variant="paper", **kw)
    chance["expected"] = [chance_score(m, ka, kb, direction)
                          for m, ka, kb in zip(chance.probe_size, chance.k_a, chance.k_b)]
    keys = ["model_a", "model_b", "pair", "probe_size"]

    def agg(df: pd.DataFrame, col: str, name: str) -> pd.DataFrame:
        g = df.groupby(keys, sort=False)[col]
        return pd.DataFrame({name: g.mean(), f"{name}_sd": g.std(ddof=1)}).reset_index()

    base = agg(score, "score", "score")
    base["n_repeats"] = n_repeats
    ch = chance.groupby(keys, sort=False).agg(chance_max_abs_rho=("score", "mean"),
                                             expected_max_abs_rho=("expected", "mean")).reset_index()
    units = score.groupby(keys, sort=False)[["n_units_a", "n_units_b"]].first().reset_index()
    frames = []
    for kind in kinds:
        df = base.merge(agg(nulls[kind](), "score", "null_score"), on=keys)
        df.insert(4, "null_kind", kind)
        frames.append(df)
    out = pd.concat(frames, ignore_index=True).merge(ch, on=keys).merge(units, on=keys)
    out["difference"] = out["score"] - out["null_score"]
    cols = [*keys, "null_kind", "score", "null_score", "difference", "score_sd", "null_score_sd",
            "n_repeats", "chance_max_abs_rho", "expected_max_abs_rho", "n_units_a", "n_units_b"]
    return out[cols].rename(columns={"null_score_sd": "null_sd"})


def probe_size_table(acts_by_kind: Mapping[str, Acts], pairs: Sequence[tuple[str, str]],
                     probe_sizes: Iterable[int], *, n_repeats: int = 1, seed: int = 0,
                     variant: str = "paper", direction: str = "both",
                     progress: bool = False, device: str | None = None) -> pd.DataFrame:
    """Score vs number of probes for several probe kinds (e.g. test images vs noise).

    ``acts_by_kind = {probe kind: {model: (acts, layers)}}``, each kind with its own pool.
    Returns probe_kind, model_a, model_b, pair, probe_size, score (mean over repeats),
    score_sd, n_repeats, n_units_a, n_units_b. ``device``: as :func:`score_curve`.
    """
    if not acts_by_kind:
        raise ValueError("acts_by_kind is empty; pass {probe kind: activations}")
    frames = []
    for kind, acts in acts_by_kind.items():
        df = score_curve(acts, pairs, probe_sizes, n_repeats=n_repeats, seed=seed, variant=variant,
                         direction=direction, progress=progress, device=device)
        g = df.groupby(["model_a", "model_b", "pair", "probe_size"], sort=False)
        agg = g.agg(score=("score", "mean"), score_sd=("score", "std"),
                    n_units_a=("n_units_a", "first"), n_units_b=("n_units_b", "first")).reset_index()
        agg.insert(0, "probe_kind", kind)
        agg.insert(7, "n_repeats", n_repeats)
        frames.append(agg)
    return pd.concat(frames, ignore_index=True)
