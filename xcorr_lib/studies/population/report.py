"""Notebook 08's sentences (built from the numbers) and figures."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from .stats import alignment, references

__all__ = ["describe_population", "describe_prediction", "describe_memory", "plot_matrix", "plot_alignment",
           "plot_memory"]

TARGET_WORDS = {"acc_clean": "clean accuracy", "acc_attacked": "attacked accuracy",
                "degradation": "relative degradation under the transfer attack"}


def describe_population(models: pd.DataFrame) -> str:
    trained = models[models["trained"]]
    untrained = models[~models["trained"]]
    return (f"{len(models)} networks in {models['family'].nunique()} families: {len(trained)} trained "
            f"(clean accuracy {trained['acc_clean'].min():.1%}-{trained['acc_clean'].max():.1%}, "
            f"attacked {trained['acc_attacked'].min():.1%}-{trained['acc_attacked'].max():.1%}) and "
            f"{len(untrained)} untrained (clean accuracy {untrained['acc_clean'].mean():.1%} on average); "
            f"{models['n_units'].min()}-{models['n_units'].max()} hidden units, "
            f"{models['n_params'].min():,}-{models['n_params'].max():,} parameters.")


def _rho(row: pd.Series) -> str:
    ci = "" if np.isnan(row["ci_low"]) else f", 95% CI [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]"
    p = ("" if np.isnan(row["p_value"]) else ", p < 0.001" if row["p_value"] < 0.001
         else f", p = {row['p_value']:.3f}")
    return f"{row['value']:+.2f}{ci}{p}"


def _interval_says(row: pd.Series) -> str:
    if np.isnan(row["ci_low"]):
        return "no interval (too few families to resample)"
    return ("its interval excludes zero" if row["ci_low"] > 0 or row["ci_high"] < 0
            else "its interval includes zero")


def describe_prediction(table: pd.DataFrame, *, reference: str = "best_cnn", measure: str = "score_paper",
                        against: str = "linear_cka") -> str:
    """One line per target: the score's Spearman rho with the target among the trained networks
    (also with units and layers partialled out, and the comparison measure's), then the untrained
    networks' own rho. Each verdict sits beside the group and the statistic it is about."""
    t = table[(table["reference"] == reference)].set_index(["group", "measure", "target", "statistic"])
    lines = []
    for target, words in TARGET_WORDS.items():
        key = ("trained", measure, target)
        if (*key, "spearman") not in t.index:
            continue
        main, part = t.loc[(*key, "spearman")], t.loc[(*key, "partial_spearman")]
        other = t.loc[("trained", against, target, "spearman")] if ("trained", against, target, "spearman") in t.index else None
        null = t.loc[("untrained", measure, target, "spearman")] if ("untrained", measure, target, "spearman") in t.index else None
        sentence = (f"- {words}: among the {int(main['n_models'])} trained networks ({int(main['n_clusters'])} "
                    f"families) Spearman rho {_rho(main)}, {_interval_says(main)}; {_rho(part)} with log(units) "
                    f"and layers partialled out")
        if other is not None:
            sentence += f"; {against} gives {_rho(other)}"
        sentence += "."
        if null is not None and not np.isnan(null["value"]):
            sentence += (f" Among the {int(null['n_models'])} untrained networks rho {_rho(null)}, "
                         f"{_interval_says(null)}.")
        lines.append(sentence)
    ref_model = table.loc[table["reference"] == reference, "reference_model"].iloc[0]
    return f"Alignment ({measure}) with the reference {ref_model}:\n" + "\n".join(lines)


def describe_memory(claim: Mapping[str, object]) -> str:
    return (f"Among the {claim['n_aligned']} trained networks best aligned with the reference (alignment >= "
            f"{claim['threshold']:.3f}), accuracy and parameter count have Spearman rho {claim['rho_acc_params']:+.2f}; "
            f"the most accurate of them, {claim['best_model']} ({claim['best_acc']:.1%}, {claim['best_params']:,} "
            f"parameters), is matched within one point by {claim['smallest_close']} ({claim['smallest_close_acc']:.1%}, "
            f"{claim['smallest_close_params']:,} parameters).")


def plot_matrix(matrix: pd.DataFrame, models: pd.DataFrame, *, title: str):
    """The K x K matrix ordered by family (families by kind and size), family boundaries drawn."""
    import matplotlib.pyplot as plt

    order = models.sort_values(["kind", "n_units", "family", "trained", "epochs"])["model"].tolist()
    mat = matrix.loc[order, order]
    fig, ax = plt.subplots(figsize=(9, 8))
    im = ax.imshow(mat.to_numpy(float), cmap="viridis", vmin=np.nanmin(mat.values), vmax=1)
    fams = models.set_index("model").loc[order, "family"].to_numpy()
    edges = [i for i in range(1, len(fams)) if fams[i] != fams[i - 1]]
    for e in edges:
        ax.axhline(e - 0.5, color="white", lw=0.6)
        ax.axvline(e - 0.5, color="white", lw=0.6)
    starts = [0, *edges]
    ax.set_yticks([(s + e) / 2 - 0.5 for s, e in zip(starts, [*edges, len(fams)])], [fams[s] for s in starts], fontsize=7)
    ax.set_xticks([])
    ax.set_title(title)
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def plot_alignment(models: pd.DataFrame, matrices: Mapping[str, pd.DataFrame], table: pd.DataFrame, *,
                   reference: str = "best_cnn"):
    """Alignment with the reference vs each target, one row of panels per measure; rho and its
    interval (trained networks) in each title; untrained networks as open circles."""
    import matplotlib.pyplot as plt

    ref = references(models)[reference]
    targets = list(TARGET_WORDS)
    fig, axes = plt.subplots(len(matrices), len(targets), figsize=(4.2 * len(targets), 3.0 * len(matrices)), squeeze=False)
    t = table[(table["reference"] == reference) & (table["group"] == "trained") & (table["statistic"] == "spearman")]
    for i, (name, mat) in enumerate(matrices.items()):
        align = alignment(mat, ref)
        df = models.set_index("model").loc[align.index].assign(alignment=align)
        for j, target in enumerate(targets):
            ax = axes[i, j]
            for trained, style in ((True, {"s": 14}), (False, {"s": 30, "facecolors": "none", "edgecolors": "k"})):
                d = df[df["trained"] == trained]
                ax.scatter(d["alignment"], d[target], label="trained" if trained else "untrained", **style)
            row = t[(t["measure"] == name) & (t["target"] == target)].iloc[0]
            ax.set_title(f"{name}: rho {row['value']:+.2f} [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]", fontsize=9)
            ax.set_xlabel(f"alignment with {reference}" if i == len(matrices) - 1 else "")
            ax.set_ylabel(target if j == 0 else "")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_memory(models: pd.DataFrame, align: pd.Series, *, measure: str):
    """Accuracy vs parameters (log), coloured by alignment with the reference."""
    import matplotlib.pyplot as plt

    df = models.set_index("model").loc[align.index].assign(alignment=align)
    df = df[df["trained"]]
    fig, ax = plt.subplots(figsize=(6, 4))
    sc = ax.scatter(df["n_params"], df["acc_clean"], c=df["alignment"], cmap="viridis", s=22)
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("clean test accuracy")
    fig.colorbar(sc, ax=ax, label=f"alignment ({measure})")
    fig.tight_layout()
    return fig
