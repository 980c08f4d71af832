"""Does alignment predict accuracy and robustness? Rank statistics over a population.

Unit of replication: the family (one architecture). Intervals come from a cluster
bootstrap (families, then members within them); p-values from a permutation test of the
same correlation over family means (families are exchangeable, members are not);
partial correlations control for log(units) and layers, on which the score depends by
construction (the depth penalty and the max over candidates).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from scipy import stats

from xcorr_lib.common.stats import (average_ranks, cluster_resamples, percentile_interval, permutation_test_rank,
                                    rank_correlation)

__all__ = ["TARGETS", "references", "alignment", "prediction_table", "measure_differences", "memory_claim"]

TARGETS = ("acc_clean", "acc_attacked", "degradation")
STATISTICS = ("spearman", "kendall", "partial_spearman")


def references(models: pd.DataFrame) -> dict[str, str]:
    """The references: ``best_cnn`` (the most accurate trained CNN, as the paper's CNN),
    ``best_cnn_untrained`` (an untrained network of that CNN's family, its twin: alignment with
    it is what architecture alone gives; present when the population has one), ``most_accurate``
    (any trained model), ``mean`` (mean alignment with all others)."""
    trained = models[models["trained"]]
    cnns = trained[trained["kind"] == "cnn"]
    out = {}
    if len(cnns):
        out["best_cnn"] = cnns.loc[cnns["acc_clean"].idxmax(), "model"]
        family = models.set_index("model").loc[out["best_cnn"], "family"]
        twins = models[(~models["trained"]) & (models["family"] == family)]["model"]
        if len(twins):
            out["best_cnn_untrained"] = twins.iloc[0]
    out["most_accurate"] = trained.loc[trained["acc_clean"].idxmax(), "model"]
    out["mean"] = "mean"
    return out


def alignment(matrix: pd.DataFrame, reference: str) -> pd.Series:
    """Each model's alignment with ``reference``: its row's cell (model -> reference; for a
    forward score, the model's units matched into the reference) or, for ``"mean"``, its
    row mean over all other models. The reference itself is left out."""
    if reference == "mean":
        values = matrix.to_numpy(dtype=float).copy()
        np.fill_diagonal(values, np.nan)
        return pd.Series(np.nanmean(values, axis=1), index=matrix.index)
    return matrix[reference].drop(reference)


def _statistics(xs: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Spearman, Kendall tau-b and partial Spearman (covariates z partialled out) of every row
    of ``xs`` (k, n) with y (n,), vectorized over the rows: an array (k, 3). Equal to
    :func:`rank_correlation` and :func:`partial_rank_correlation` (tested)."""
    out = np.full((len(xs), 3), np.nan)
    ok = np.ptp(xs, axis=1) > 0
    if np.ptp(y) == 0 or not ok.any():
        return out
    xs = xs[ok]
    ranks, ry = stats.rankdata(xs, axis=1), average_ranks(y)
    design = np.column_stack([np.ones(len(y)), *(average_ranks(c) for c in z.T)])
    project = np.eye(len(y)) - design @ np.linalg.pinv(design)
    iu, ju = np.triu_indices(len(y), 1)
    sx, sy = np.sign(xs[:, iu] - xs[:, ju]), np.sign(y[iu] - y[ju])
    kendall = sx @ sy / np.sqrt(np.count_nonzero(sx, axis=1) * np.count_nonzero(sy))
    res_x, res_y = ranks @ project, project @ ry
    partial = _row_pearson(res_x, res_y)
    partial[(np.ptp(res_x, axis=1) <= 1e-9) | (np.ptp(res_y) <= 1e-9)] = np.nan
    out[ok] = np.column_stack([_row_pearson(ranks, ry), kendall, partial])
    return out


def _row_pearson(rows: np.ndarray, v: np.ndarray) -> np.ndarray:
    rows, v = rows - rows.mean(axis=1, keepdims=True), v - v.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.clip(rows @ v / np.sqrt((rows**2).sum(axis=1) * (v @ v)), -1, 1)


def _cells(models: pd.DataFrame, align: pd.Series, target: str):
    df = models.set_index("model").loc[align.index]
    x, y = align.to_numpy(float), df[target].to_numpy(float)
    z = np.column_stack([np.log(df["n_units"].to_numpy(float)), df["n_layers"].to_numpy(float)])
    return x, y, z, df["family"].to_numpy()


def _group_members(models: pd.DataFrame, group: str) -> set:
    keep = {"trained": models["trained"], "untrained": ~models["trained"],
            "all": pd.Series(True, index=models.index)}[group]
    return set(models.loc[keep, "model"])


def prediction_table(models: pd.DataFrame, matrices: Mapping[str, pd.DataFrame], *,
                     groups: Sequence[str] = ("trained", "untrained"), n_boot: int = 1000, level: float = 0.95,
                     seed: int = 0, only: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (group, measure, reference, target, statistic): ``value, ci_low, ci_high,
    p_value, n_models, n_clusters``.

    ``matrices``: {measure: K x K}; ``groups``: "trained", "untrained" (the null group) and/or
    "all"; statistics: spearman, kendall, partial_spearman (log units and layers partialled
    out). Intervals: cluster bootstrap (the same resamples for every measure and statistic;
    3+ families). p-values: permutation test of the rank correlation of family means (4+
    families); partial_spearman has none. ``only``: these references alone (e.g. matrices
    that hold one reference's column).
    """
    refs = {k: v for k, v in references(models).items() if only is None or k in only}
    rows = []
    for group in groups:
        members = _group_members(models, group)
        for ref_label, ref in refs.items():
            aligned = {m: alignment(mat, ref) for m, mat in matrices.items()}
            index = [n for n in next(iter(aligned.values())).index if n in members]
            for target in TARGETS:
                cells = {m: _cells(models, a.loc[index], target) for m, a in aligned.items()}
                _, y, z, fam = next(iter(cells.values()))
                xs = np.array([c[0] for c in cells.values()])
                for measure, infs in zip(cells, _inference(xs, y, z, fam, n_boot, level, seed)):
                    for stat, inf in zip(STATISTICS, infs):
                        rows.append({"group": group, "measure": measure, "reference": ref_label,
                                     "reference_model": ref, "target": target, "statistic": stat, **inf})
    return pd.DataFrame(rows)


def _inference(xs: np.ndarray, y, z, fam, n_boot: int, level: float, seed: int) -> list[list[dict[str, float]]]:
    """Per row of ``xs`` (one measure's alignments), per statistic: value, interval, p-value."""
    n_clusters = len(set(fam.tolist()))
    out = [[{"value": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan, "n_models": len(y),
             "n_clusters": n_clusters} for _ in STATISTICS] for _ in xs]
    if len(y) < 4:
        return out
    values = _statistics(xs, y, z)
    reps = (np.array([_statistics(xs[:, i], y[i], z[i]) for i in cluster_resamples(fam, n_boot, seed)])
            if n_clusters >= 3 else None)  # (n_boot, k, 3)
    for m, x in enumerate(xs):
        means = pd.DataFrame({"x": x, "y": y, "f": fam}).groupby("f")[["x", "y"]].mean()
        testable = n_clusters >= 4 and means["x"].nunique() > 1 and means["y"].nunique() > 1
        for k, stat in enumerate(STATISTICS):
            out[m][k]["value"] = values[m, k]
            if reps is not None and np.isfinite(values[m, k]) and np.isfinite(reps[:, m, k]).sum() >= n_boot / 2:
                ci = percentile_interval(values[m, k], reps[:, m, k], level, n_clusters, "cluster bootstrap")
                out[m][k]["ci_low"], out[m][k]["ci_high"] = ci.low, ci.high
            if testable and stat != "partial_spearman":
                out[m][k]["p_value"] = permutation_test_rank(means["x"], means["y"], stat, n_resamples=4999,
                                                             seed=seed).pvalue
    return out


def measure_differences(models: pd.DataFrame, matrices: Mapping[str, pd.DataFrame], *, reference: str,
                        target: str, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Which measure predicts ``target`` best (trained models, Spearman, one reference): for
    every pair of measures the difference |rho_a| - |rho_b| with a paired cluster-bootstrap
    interval (the same resampled models for both)."""
    ref = references(models)[reference]
    members = _group_members(models, "trained")
    aligned = {m: alignment(mat, ref) for m, mat in matrices.items()}
    index = [n for n in next(iter(aligned.values())).index if n in members]
    cells = {m: _cells(models, a.loc[index], target) for m, a in aligned.items()}
    names = list(cells)
    y, fam = cells[names[0]][1], cells[names[0]][3]
    xs, z = np.array([cells[m][0] for m in names]), cells[names[0]][2]
    absrho = np.abs(_statistics(xs, y, z)[:, 0])
    reps = np.array([np.abs(_statistics(xs[:, i], y[i], z[i])[:, 0]) for i in cluster_resamples(fam, n_boot, seed)])
    rows = []
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            ci = percentile_interval(absrho[a] - absrho[b], reps[:, a] - reps[:, b], level, len(set(fam.tolist())),
                                     "cluster bootstrap")
            rows.append({"measure_a": names[a], "measure_b": names[b], "reference": reference, "target": target,
                         "abs_rho_a": absrho[a], "abs_rho_b": absrho[b], "difference": ci.estimate,
                         "ci_low": ci.low, "ci_high": ci.high, "n_clusters": ci.n})
    return pd.DataFrame(rows)


def memory_claim(models: pd.DataFrame, align: pd.Series, *, quantile: float = 0.75,
                 tolerance: float = 0.01) -> dict[str, object]:
    """The abstract's memory claim: among trained models aligned at least at ``quantile`` of
    the alignment with the reference, does accuracy need parameters (Spearman), and which is
    the smallest model within ``tolerance`` (fraction) of the best of them?"""
    df = models.set_index("model").loc[align.index].assign(alignment=align)
    df = df[df["trained"]]
    top = df[df["alignment"] >= df["alignment"].quantile(quantile)]
    best = top["acc_clean"].max()
    close = top[top["acc_clean"] >= best - tolerance].sort_values("n_params")
    return {"n_aligned": len(top), "threshold": float(df["alignment"].quantile(quantile)),
            "rho_acc_params": rank_correlation(top["n_params"], top["acc_clean"]) if len(top) >= 3 else np.nan,
            "best_model": top["acc_clean"].idxmax(), "best_acc": float(best), "best_params": int(top.loc[top["acc_clean"].idxmax(), "n_params"]),
            "smallest_close": close.index[0], "smallest_close_acc": float(close["acc_clean"].iloc[0]),
            "smallest_close_params": int(close["n_params"].iloc[0])}
