"""Seeds and the paper's central claim: retrain with several seeds, measure the spread,
and test whether alignment with the CNN predicts robustness to the transfer attack.

The long table of :func:`seed_runs` has one row per (seed, quantity, net, partner):

- ``accuracy`` (clean test accuracy), ``accuracy_attacked`` and ``rel_degradation``
  (relative drop under the attack) for every net, partner "";
- ``score`` for every pair (net = model_a, partner = model_b).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from torch import nn

from xcorr_lib.nets.evaluate import evaluate_attack
from xcorr_lib.nets.capture import capture_all
from xcorr_lib.nets.models import make_model
from xcorr_lib.nets.training import derive_seed, train_paper_nets
from xcorr_lib.score.pairs import pair_table
from xcorr_lib.common.stats import (bootstrap_ci, cluster_bootstrap_ci, cluster_permutation_p, permutation_test_rank, rank_correlation, summarize,
                             t_interval)

from .null import pair_label

RANK_STATISTICS: tuple[str, ...] = ("spearman", "kendall")


def untrained_models(names: Sequence[str], *, net4: str = "paper", seed: int = 0) -> dict[str, nn.Module]:
    """Untrained copies (seeded initial weights, eval mode) of the named models."""
    return {n: make_model(n, net4=net4, seed=derive_seed(seed, "untrained", n)).eval() for n in names}  # type: ignore[arg-type]


def train_seeds(dataset_key: str | Mapping[str, Any], X_train: Any, y_train: Any,
                seeds: Sequence[int], **kwargs: Any) -> dict[int, dict[str, nn.Module]]:
    """``{seed: train_paper_nets(dataset_key, X_train, y_train, seed=seed, **kwargs)}`` (cached)."""
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ValueError(f"seeds must be distinct and non-empty, got {list(seeds)}")
    return {int(s): train_paper_nets(dataset_key, X_train, y_train, seed=int(s), **kwargs) for s in seeds}


def seed_runs(models_by_seed: Mapping[int, Mapping[str, nn.Module]], X_test: Any, y_test: Any,
              probe: Any, pairs: Sequence[tuple[str, str]], *, X_adv: Any = None,
              variant: str = "original", direction: str = "forward", device: str | None = None) -> pd.DataFrame:
    """Accuracies (clean and, with ``X_adv``, attacked) and pair scores for every seed.

    Parameters
    ----------
    models_by_seed : {seed: {name: model}}
    X_test, y_test : test images (N, 28, 28) in [0, 1] and labels (N,)
    probe : (M, 28, 28) probe inputs for the scores
    pairs : [(model_a, model_b), ...] scored with ``neuron_correlation``
    X_adv : attacked copy of X_test (same shape), optional
    variant, direction : score settings (default: Table 3's, original code)
    device : where the networks and the score run (default: where the models are / the CPU)

    Returns
    -------
    Long DataFrame: seed, quantity, net, partner, value.
    """
    rows: list[dict[str, Any]] = []
    for seed, models in models_by_seed.items():
        acc = evaluate_attack(models, X_test, X_test if X_adv is None else X_adv, y_test, device=device)
        for r in acc.itertuples():
            rows.append({"seed": seed, "quantity": "accuracy", "net": r.net, "partner": "", "value": r.acc_clean})
            if X_adv is not None:
                rows.append({"seed": seed, "quantity": "accuracy_attacked", "net": r.net, "partner": "",
                             "value": r.acc_attacked})
                rows.append({"seed": seed, "quantity": "rel_degradation", "net": r.net, "partner": "",
                             "value": r.rel_degradation})
        needed = list(dict.fromkeys(n for p in pairs for n in p))
        scores = pair_table(capture_all({n: models[n] for n in needed}, probe, device=device), pairs,
                            variant=variant, direction=direction, device=device)
        rows += [{"seed": seed, "quantity": "score", "net": r.model_a, "partner": r.model_b, "value": r.value}
                 for r in scores.itertuples()]
    return pd.DataFrame(rows)


def seed_variability(runs: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Mean, sd and Student-t interval over seeds of every quantity of :func:`seed_runs`.

    Returns quantity, name (net, or pair label for scores), n (seeds), mean, sd, ci_low,
    ci_high.
    """
    df = runs.copy()
    df["name"] = [pair_label(n, p) if p else n for n, p in zip(df["net"], df["partner"])]
    return summarize(df, ["quantity", "name"], "value", level)


def alignment_points(runs: pd.DataFrame, *, cnn: str = "CNN") -> pd.DataFrame:
    """One row per (seed, FCN): its score against the CNN and its relative degradation."""
    score = runs[(runs.quantity == "score") & (runs.partner == cnn)][["seed", "net", "value"]]
    deg = runs[runs.quantity == "rel_degradation"][["seed", "net", "value"]]
    if score.empty or deg.empty:
        raise ValueError(f"runs need 'score' rows against {cnn!r} and 'rel_degradation' rows "
                         "(run seed_runs with X_adv and pairs (net, CNN))")
    out = score.rename(columns={"value": "score"}).merge(
        deg.rename(columns={"value": "rel_degradation"}), on=["seed", "net"])
    return out.reset_index(drop=True)


def alignment_vs_robustness(points: pd.DataFrame, *, x: str = "score", y: str = "rel_degradation",
                            n_boot: int = 2000, n_resamples: int = 9999, level: float = 0.95,
                            seed: int = 0) -> pd.DataFrame:
    """Rank correlation between alignment and degradation, with intervals and p-values.

    The paper's claim ("nets more aligned with the CNN degrade less") predicts a negative
    correlation. Rows:

    - ``spearman``, ``kendall``: pooled over all (net, seed) points; percentile bootstrap
      interval over points (seeded) and a two-sided permutation p-value (this treats the seeds
      of one network as independent: pseudo-replication, kept for comparison);
    - ``spearman_clustered``, ``kendall_clustered``: the same statistic with the networks as
      the independent units: cluster bootstrap (networks, then seeds within them) and a
      permutation of whole networks; ``n`` is the number of networks;
    - ``spearman_within_seed``: the mean over seeds of Spearman across nets within one
      seed, with a Student-t interval over seeds (needs >= 2 seeds); p_value empty.

    Returns statistic, value, ci_low, ci_high, n, p_value, method.
    """
    pts = points.dropna(subset=[x, y])
    if len(pts) < 3:
        raise ValueError(f"need at least 3 (net, seed) points, got {len(pts)}")
    xs, ys = pts[x].to_numpy(float), pts[y].to_numpy(float)
    rows = []
    for stat in RANK_STATISTICS:
        iv = bootstrap_ci(lambda a, b, s=stat: rank_correlation(a, b, s), xs, ys,  # type: ignore[misc]
                          n_boot=n_boot, level=level, seed=seed)
        p = permutation_test_rank(xs, ys, stat, n_resamples=n_resamples, seed=seed)  # type: ignore[arg-type]
        rows.append({"statistic": stat, "value": iv.estimate, "ci_low": iv.low, "ci_high": iv.high,
                     "n": iv.n, "p_value": p.pvalue,
                     "method": f"pooled points; {iv.method} ({n_boot}); permutation "
                               f"({'exact' if p.exact else p.n_resamples})"})
    nets = pts["net"].to_numpy()
    if len(set(nets)) >= 3 and len(set(pts["seed"])) >= 1:  # networks are the independent units
        pts_sorted = pts.sort_values(["net", "seed"], kind="stable")
        cx, cy, cn = (pts_sorted[c].to_numpy() for c in (x, y, "net"))
        for stat in RANK_STATISTICS:
            def fn(a, b, s=stat):
                return rank_correlation(a, b, s)
            iv = cluster_bootstrap_ci(fn, cn, cx.astype(float), cy.astype(float), n_boot=n_boot, level=level, seed=seed)
            try:
                p, used = cluster_permutation_p(fn, cn, cx, cy, n_resamples=n_resamples, seed=seed)
            except ValueError:  # unequal seeds per net
                p, used = float("nan"), 0
            rows.append({"statistic": f"{stat}_clustered", "value": iv.estimate, "ci_low": iv.low, "ci_high": iv.high,
                         "n": iv.n, "p_value": p,
                         "method": f"cluster bootstrap over {iv.n} networks, then seeds within them ({n_boot}); "
                                   f"permutation of whole networks ({used}); n = networks, the independent units"})
    per_seed = [rank_correlation(g[x], g[y]) for _, g in pts.groupby("seed") if len(g) >= 3]
    per_seed = [v for v in per_seed if np.isfinite(v)]
    if len(per_seed) >= 2:
        iv = t_interval(per_seed, level)
        rows.append({"statistic": "spearman_within_seed", "value": iv.estimate, "ci_low": iv.low,
                     "ci_high": iv.high, "n": iv.n, "p_value": np.nan,
                     "method": "mean over seeds of Spearman across nets; t-interval"})
    return pd.DataFrame(rows)
