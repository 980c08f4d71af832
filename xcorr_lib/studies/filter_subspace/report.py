"""Analysis of the pair table of notebook 07 (:func:`xcorr_lib.studies.filter_subspace.study.pair_table`).

- :func:`relation_table`: Pearson (linear), Spearman and Kendall (rank) correlation of atom
  similarity with each probe-based measure across pairs, per probe set;
- :func:`mantel_test`, :func:`mantel_table`: p-values that respect that pairs share models
  (the null relabels whole models);
- :func:`probe_robustness`: how much each measure moves when the probe set changes;
- :func:`cost_summary`: seconds per pair and the ratio probe-based / atom-based;
- :func:`describe_findings`: a plain-language summary; :func:`plot_study`: the figure.

Input: a DataFrame with columns model_a, model_b, probe, atom_similarity and the measures.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["MEASURES", "relation_table", "mantel_test", "mantel_table", "probe_robustness",
           "cost_summary", "describe_findings", "plot_study"]

#: Probe-based measures compared with atom similarity (columns of the pair table).
MEASURES: tuple[str, ...] = ("neuron_correlation", "linear_cka")


def _need(df: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"the table lacks column(s) {missing}; it has {list(df.columns)}")


def relation_table(df: pd.DataFrame, measures: Sequence[str] = MEASURES,
                   against: str = "atom_similarity") -> pd.DataFrame:
    """Linear (Pearson) and rank (Spearman, Kendall) correlation across pairs, per probe.

    Returns one row per (probe, measure): n_pairs, pearson_r, pearson_p, spearman_rho,
    spearman_p, kendall_tau, kendall_p. NaN where one side is constant. The p-values
    treat pairs as independent, which they are not (pairs share models): see
    :func:`mantel_test` for a test that respects that.
    """
    _need(df, ["probe", against, *measures])
    rows = []
    for probe, part in df.groupby("probe", sort=False):
        x = part[against].to_numpy(float)
        for m in measures:
            y = part[m].to_numpy(float)
            row: dict[str, Any] = {"probe": probe, "measure": m, "n_pairs": len(part)}
            if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
                row.update(dict.fromkeys(["pearson_r", "pearson_p", "spearman_rho", "spearman_p",
                                          "kendall_tau", "kendall_p"], float("nan")))
            else:
                for name, fn in (("pearson_r", stats.pearsonr), ("spearman_rho", stats.spearmanr),
                                 ("kendall_tau", stats.kendalltau)):
                    res = fn(x, y)
                    row[name], row[f"{name.split('_')[0]}_p"] = float(res.statistic), float(res.pvalue)
            rows.append(row)
    return pd.DataFrame(rows)


def _matrix(part: pd.DataFrame, names: list[str], column: str) -> np.ndarray:
    idx = {n: i for i, n in enumerate(names)}
    mat = np.full((len(names), len(names)), np.nan)
    for a, b, v in zip(part["model_a"], part["model_b"], part[column]):
        mat[idx[a], idx[b]] = mat[idx[b], idx[a]] = v
    return mat


def mantel_test(df: pd.DataFrame, measure: str, probe: str, *, against: str = "atom_similarity",
                method: str = "pearson", n_permutations: int = 9999, seed: int = 0) -> dict[str, float]:
    """Mantel test: correlation of two pairwise-similarity matrices over the same models.

    The null relabels the models of one matrix (rows and columns together), which keeps
    the dependence between pairs that share a model. Returns statistic, pvalue
    (two-sided, (1 + #|r_perm| >= |r|) / (1 + n_permutations)), n_models.
    """
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    _need(df, ["model_a", "model_b", "probe", against, measure])
    part = df[df["probe"] == probe]
    if part.empty:
        raise ValueError(f"no rows with probe {probe!r}; probes present: {sorted(df['probe'].unique())}")
    names = sorted(set(part["model_a"]) | set(part["model_b"]))
    if len(names) < 4:
        raise ValueError(f"a Mantel test needs at least 4 models, got {len(names)}")
    x, y = _matrix(part, names, against), _matrix(part, names, measure)
    iu = np.triu_indices(len(names), 1)
    if np.isnan(x[iu]).any() or np.isnan(y[iu]).any():
        raise ValueError("the table does not hold every pair of models for this probe")

    def corr(mx: np.ndarray) -> float:
        a, b = mx[iu], y[iu]
        if method == "spearman":
            a, b = stats.rankdata(a), stats.rankdata(b)
        return float(np.corrcoef(a, b)[0, 1])

    r = corr(x)
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(len(names)) for _ in range(n_permutations)]
    null = np.array([corr(x[np.ix_(p, p)]) for p in perms])
    p = (1 + int(np.sum(np.abs(null) >= abs(r) - 1e-12))) / (1 + n_permutations)
    return {"statistic": r, "pvalue": p, "n_models": len(names)}


def mantel_table(df: pd.DataFrame, measures: Sequence[str] = MEASURES, *, n_permutations: int = 9999,
                 seed: int = 0) -> pd.DataFrame:
    """:func:`mantel_test` (Pearson and Spearman) of atom similarity against each measure,
    per probe set. Columns: probe, measure, method, statistic, pvalue, n_models."""
    rows = []
    for probe in dict.fromkeys(df["probe"]):
        for m in measures:
            for method in ("pearson", "spearman"):
                res = mantel_test(df, m, probe, method=method, n_permutations=n_permutations, seed=seed)
                rows.append({"probe": probe, "measure": m, "method": method, **res})
    return pd.DataFrame(rows)


def probe_robustness(df: pd.DataFrame, columns: Sequence[str] = ("atom_similarity", *MEASURES)
                     ) -> pd.DataFrame:
    """How much each measure moves when the probe set changes (same pairs).

    The first probe in the table is the reference. One row per (other probe, column):
    mean_abs_change, max_abs_change over pairs, and spearman_across_probes (do the pairs
    keep their order? NaN when a side is constant).
    """
    _need(df, ["model_a", "model_b", "probe", *columns])
    probes = list(dict.fromkeys(df["probe"]))
    if len(probes) < 2:
        raise ValueError(f"need at least two probe sets, got {probes}")
    ref = df[df["probe"] == probes[0]].set_index(["model_a", "model_b"])
    rows = []
    for other in probes[1:]:
        cur = df[df["probe"] == other].set_index(["model_a", "model_b"]).loc[ref.index]
        for col in columns:
            d = cur[col].to_numpy(float) - ref[col].to_numpy(float)
            a, b = ref[col].to_numpy(float), cur[col].to_numpy(float)
            rho = float(stats.spearmanr(a, b).statistic) if np.ptp(a) > 0 and np.ptp(b) > 0 else float("nan")
            rows.append({"reference": probes[0], "probe": other, "measure": col,
                         "mean_abs_change": float(np.abs(d).mean()), "max_abs_change": float(np.abs(d).max()),
                         "spearman_across_probes": rho})
    return pd.DataFrame(rows)


def cost_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Median seconds per pair of each step and the ratio probe-based / atom-based."""
    cols = ["seconds_atoms", "seconds_capture", "seconds_correlation", "seconds_cka", "seconds_probe"]
    out = df.groupby("probe", sort=False)[cols].median()
    out["ratio_probe_over_atoms"] = out["seconds_probe"] / out["seconds_atoms"]
    return out.reset_index()


def _strength(r: float) -> str:
    return "strong" if abs(r) >= 0.8 else "moderate" if abs(r) >= 0.5 else "weak"


def describe_findings(relations: pd.DataFrame, mantel: pd.DataFrame, robustness: pd.DataFrame) -> str:
    """Plain-language summary of :func:`relation_table`, :func:`mantel_table` and
    :func:`probe_robustness` (numbers rounded; no timings)."""
    lines = []
    for _, r in relations.iterrows():
        mt = mantel[(mantel["probe"] == r["probe"]) & (mantel["measure"] == r["measure"])
                    & (mantel["method"] == "pearson")]
        p = float(mt["pvalue"].iloc[0]) if len(mt) else float("nan")
        if np.isnan(r["pearson_r"]):
            lines.append(f"{r['measure']} ({r['probe']} probes): undefined (a constant column).")
            continue
        verdict = "significant" if p < 0.05 else "not significant"
        lines.append(f"{r['measure']} ({r['probe']} probes, {r['n_pairs']} pairs): Pearson r = "
                     f"{r['pearson_r']:.3f} ({_strength(r['pearson_r'])} linear relation, Mantel p = {p:.4f}, "
                     f"{verdict}); Spearman rho = {r['spearman_rho']:.3f}, Kendall tau = {r['kendall_tau']:.3f}.")
    for _, r in robustness.iterrows():
        keep = ("" if np.isnan(r["spearman_across_probes"])
                else f"; order of the pairs kept with Spearman {r['spearman_across_probes']:.3f}")
        lines.append(f"{r['reference']} -> {r['probe']} probes: {r['measure']} moves by {r['mean_abs_change']:.4f} "
                     f"on average (at most {r['max_abs_change']:.4f}){keep}.")
    return "\n".join(lines)


def plot_study(df: pd.DataFrame, measures: Sequence[str] = MEASURES) -> Any:
    """Scatter of each probe-based measure against atom similarity (one colour per probe
    set), and the seconds per pair of both kinds of measure (log scale)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(measures) + 1, figsize=(4.2 * (len(measures) + 1), 3.8))
    probes = list(dict.fromkeys(df["probe"]))
    for ax, m in zip(axes, measures):
        for probe in probes:
            part = df[df["probe"] == probe]
            ax.scatter(part["atom_similarity"], part[m], s=18, alpha=0.8, label=f"{probe} probes")
        ax.set_xlabel("atom similarity (no probes)")
        ax.set_ylabel(m.replace("_", " "))
        ax.set_title(f"{m.replace('_', ' ')} vs atom similarity")
    axes[0].legend(fontsize=8)
    ax = axes[-1]
    data = [df["seconds_atoms"].to_numpy(), df["seconds_probe"].to_numpy()]
    ax.boxplot(data, tick_labels=["atom\nsimilarity", "probe-based\n(capture + NC + CKA)"])
    ax.set_yscale("log")
    ax.set_ylabel("seconds per pair")
    ax.set_title("cost per pair")
    fig.tight_layout()
    return fig


def without(df: pd.DataFrame, model: str) -> pd.DataFrame:
    """The rows of a pair table that do not involve ``model`` (e.g. the fine-tuned models only)."""
    return df[(df["model_a"] != model) & (df["model_b"] != model)]


def per_layer_relations(df: pd.DataFrame, blocks: Sequence[int] = (0, 1)) -> pd.DataFrame:
    """Linear CKA of each conv block against the atom similarity of the same conv layer."""
    return pd.concat([relation_table(df, measures=[f"linear_cka_block{d}"], against=f"atom_conv{d}")
                      .assign(atoms=f"conv{d}") for d in blocks], ignore_index=True)


def describe_cost(cost: pd.DataFrame) -> str:
    """The cost table and, per probe set, how many times slower the probe-based measures are."""
    lines = [cost.to_string(index=False, float_format=lambda v: f"{v:.3g}")]
    lines += [f"{r['probe']} probes: probe-based / atom-based = {r['ratio_probe_over_atoms']:,.0f} x"
              for _, r in cost.iterrows()]
    return "\n".join(lines)
