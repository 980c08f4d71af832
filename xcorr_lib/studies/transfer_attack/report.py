"""Table 4 (accuracy before/after the transfer attack) and its relation to Table 3.

- :func:`evaluate_variants`: clean vs attacked accuracy of every net (the paper's Net4 and
  the authors' one), from :func:`xcorr_lib.nets.attack.evaluate_attack`;
- :func:`compare_with_paper`, :func:`paper_column_markdown`: "ours vs paper" per cell;
- :func:`join_scores`, :func:`relation_stats`: does a net that correlates more with the
  CNN degrade less? Spearman and Kendall with exact permutation p-values;
- :func:`plot_relation`, :func:`plot_attack_examples`: the scatter and Figure 1.

Accuracies and degradations are fractions in [0, 1] in our tables; the paper prints
percentages, so comparisons convert ours to percent.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from xcorr_lib.common.paper import DATASETS, table3, table4
from xcorr_lib.nets.evaluate import as_pixel_images, evaluate_attack
from xcorr_lib.common.stats import permutation_test_rank, rank_correlation
from xcorr_lib.nets.evaluate import predict

__all__ = ["CLASS_NAMES", "compare_with_paper",
           "paper_column_markdown", "join_scores", "relation_stats",
           "plot_relation", "plot_attack_examples", "format_cell", "evaluate_variants",
           "example_panel", "paper_relation"]

CLASS_NAMES: dict[str, list[str]] = {
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"],
}


# --------------------------------------------------------------------------- Table 4
def evaluate_variants(nets: Mapping[str, Mapping[str, nn.Module]], net4: str, X: Any, X_adv: Any,
                      y: Any, device: str | None = None) -> pd.DataFrame:
    """:func:`evaluate_attack` of every net of the main Net4 variant, plus Net4 of the others.

    ``nets`` is ``{net4 variant: {name: model}}`` (:func:`xcorr_lib.nets.training.train_nets`); adds a
    ``net4`` column. The other variants' rows show the Net4 the authors actually trained.
    ``device``: where the networks run (default: where they are).
    """
    if net4 not in nets:
        raise ValueError(f"net4={net4!r} is not among the trained variants {list(nets)}")
    frames = [evaluate_attack({n: m for n, m in models.items() if v == net4 or n == "Net4"}, X, X_adv, y,
                              device=device)
              .assign(net4=v) for v, models in nets.items()]
    return pd.concat(frames, ignore_index=True)


def example_panel(name: str, model: nn.Module, X: Any, X_adv: Any, y: Any, *, n: int = 8,
                  class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """The first ``n`` images of one dataset with ``model``'s predictions, for Figure 1."""
    X, X_adv = as_pixel_images(X)[:n], as_pixel_images(X_adv, "X_adv")[:n]
    with torch.no_grad():
        preds = [predict(model, a, batch_size=len(a)) for a in (X, X_adv)]
    return {"name": name, "X": X, "X_adv": X_adv, "y": np.asarray(y)[:n], "pred_clean": preds[0],
            "pred_adv": preds[1], "class_names": class_names or CLASS_NAMES.get(name)}


def format_cell(clean: float, attacked: float, degradation: float) -> str:
    """The paper's cell format from percentages: ``96.2 -> 73.7 (23.4%)``."""
    return f"{clean:.1f} -> {attacked:.1f} ({degradation:.1f}%)"


def compare_with_paper(table: pd.DataFrame) -> pd.DataFrame:
    """Our Table 4 rows beside the paper's, all in percent.

    ``table`` needs ``dataset, net, acc_clean, acc_attacked, rel_degradation``
    (fractions). Returns ``dataset, net, ours, paper`` (formatted cells) and the numeric
    columns ``acc_clean, paper_acc_clean, acc_attacked, paper_acc_attacked,
    rel_degradation, paper_rel_degradation, delta_rel_degradation`` (points, ours -
    paper). Rows without a published number (e.g. a dataset the paper lacks) get NaN.
    """
    missing = {"dataset", "net", "acc_clean", "acc_attacked", "rel_degradation"} - set(table.columns)
    if missing:
        raise ValueError(f"table lacks columns {sorted(missing)}")
    ours = table[["dataset", "net"]].copy()
    for col in ("acc_clean", "acc_attacked", "rel_degradation"):
        ours[col] = 100.0 * table[col].to_numpy(dtype=float)
    out = ours.merge(table4(), on=["dataset", "net"], how="left")
    out["delta_rel_degradation"] = out["rel_degradation"] - out["paper_rel_degradation"]
    out["ours"] = [format_cell(*r) for r in out[["acc_clean", "acc_attacked", "rel_degradation"]].to_numpy()]
    out["paper"] = [(format_cell(*r) + (" [copy error]" if err else "")) if np.isfinite(r).all() else "-"
                    for r, err in zip(out[["paper_acc_clean", "paper_acc_attacked", "paper_rel_degradation"]].to_numpy(),
                                      out["copy_error"].fillna(""))]
    cols = ["dataset", "net", "ours", "paper", "acc_clean", "paper_acc_clean", "acc_attacked",
            "paper_acc_attacked", "rel_degradation", "paper_rel_degradation", "delta_rel_degradation"]
    return out[cols]


def paper_column_markdown(comparison: pd.DataFrame, dataset: str) -> str:
    """Markdown table ``net | ours | paper`` of one dataset (for the README)."""
    rows = comparison[comparison["dataset"] == dataset]
    if rows.empty:
        raise ValueError(f"no rows for dataset {dataset!r}; have {sorted(comparison['dataset'].unique())}")
    lines = [f"| net | ours ({dataset}) | paper ({dataset}) |", "|---|---|---|"]
    lines += [f"| {r.net} | {r.ours} | {r.paper} |" for r in rows.itertuples()]
    return "\n".join(lines)


# --------------------------------------------------------------------------- Table 3 link
def join_scores(degradation: pd.DataFrame, scores: pd.DataFrame, *,
                score_col: str = "score") -> pd.DataFrame:
    """Rows present in both tables, on (dataset, net): the FCNs of Table 4 with their score."""
    for name, df, cols in (("degradation", degradation, ["dataset", "net", "rel_degradation"]),
                           ("scores", scores, ["dataset", "net", score_col])):
        if set(cols) - set(df.columns):
            raise ValueError(f"{name} lacks columns {sorted(set(cols) - set(df.columns))}")
    return degradation.merge(scores[["dataset", "net", score_col]], on=["dataset", "net"], how="inner")


def relation_stats(joined: pd.DataFrame, *, x: str = "score", y: str = "rel_degradation",
                   by: str = "dataset") -> pd.DataFrame:
    """Spearman rho and Kendall tau of x vs y per group, with exact permutation p-values.

    The paper's claim ("nets more aligned with the CNN degrade less") predicts a
    NEGATIVE correlation. With n = 5 nets the smallest possible two-sided p-value is
    2/120 = 0.017 (a perfect ranking); groups with fewer than 3 points get NaN.
    """
    rows = []
    for group, df in joined.groupby(by, sort=False):
        row: dict[str, Any] = {by: group, "n": len(df)}
        for method in ("spearman", "kendall"):
            ok = len(df) >= 3 and df[x].nunique() > 1 and df[y].nunique() > 1
            if ok:
                res = permutation_test_rank(df[x].to_numpy(float), df[y].to_numpy(float), method)
                row[method], row[f"{method}_p"] = rank_correlation(df[x], df[y], method), res.pvalue
            else:
                row[method], row[f"{method}_p"] = float("nan"), float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def paper_relation(datasets: Sequence[str], *, copy_errors: bool = True) -> pd.DataFrame:
    """The paper's own Tables 3 and 4 joined (:func:`join_scores`) for these datasets; degradation
    as a fraction, like ours. ``copy_errors=False`` leaves out the cells flagged in
    :data:`xcorr_lib.common.paper.COPY_ERRORS` (Fashion-MNIST's Net5 shows Net1's attacked accuracy)."""
    t4 = table4()
    t4 = t4 if copy_errors else t4[t4["copy_error"] == ""]
    joined = join_scores(t4.rename(columns={"paper_rel_degradation": "rel_degradation"}),
                         table3().rename(columns={"paper_score": "score"}))
    joined = joined[joined["dataset"].isin(list(datasets))].reset_index(drop=True)
    return joined.assign(rel_degradation=joined["rel_degradation"] / 100)


# --------------------------------------------------------------------------- figures
def plot_relation(joined: pd.DataFrame, *, x: str = "score", y: str = "rel_degradation",
                  label: str = "net", hue: str = "dataset", ax=None, title: str | None = None):
    """Scatter of score vs relative degradation (percent), one colour per dataset, labelled."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4))
    groups = list(joined.groupby(hue, sort=False))
    order = [g for g in DATASETS if g in dict(groups)] + [g for g, _ in groups if g not in DATASETS]
    for group, df in groups:  # a dataset keeps its colour across figures
        color = f"C{order.index(group)}"
        ax.scatter(df[x], 100 * df[y], color=color, label=str(group))
        for _, r in df.iterrows():
            ax.annotate(str(r[label]), (r[x], 100 * r[y]), textcoords="offset points",
                        xytext=(4, 3), fontsize=8, color=color)
    ax.set_xlabel("correlation score FCN -> CNN (Table 3)")
    ax.set_ylabel("relative accuracy degradation under attack (%)")
    ax.set_title(title or "More aligned with the CNN = less degraded?")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax.figure


def plot_attack_examples(panels: Sequence[Mapping[str, Any]], *, n: int = 8, model_name: str = "CNN"):
    """Figure 1: test images and their attacked versions, with predicted classes.

    ``panels``: one per dataset, a mapping with ``name``, ``X``, ``X_adv`` (N, 28, 28),
    ``y``, ``pred_clean``, ``pred_adv`` (N,) and optionally ``class_names``. Each dataset
    gets two rows (clean, attacked) of its first ``n`` images; panel titles are
    ``model_name``'s predictions, red when wrong; the true class is under the clean image.
    """
    import matplotlib.pyplot as plt

    if not panels:
        raise ValueError("panels is empty")
    fig, axes = plt.subplots(2 * len(panels), n, figsize=(1.45 * n, 3.6 * len(panels)), squeeze=False,
                             gridspec_kw={"hspace": 0.45, "wspace": 0.1})
    for p, panel in enumerate(panels):
        X, X_adv = np.asarray(panel["X"]), np.asarray(panel["X_adv"])
        y, pc, pa = (np.asarray(panel[k]) for k in ("y", "pred_clean", "pred_adv"))
        if not (len(X) == len(X_adv) == len(y) == len(pc) == len(pa)):
            raise ValueError("X, X_adv, y, pred_clean and pred_adv must have the same length")
        names = list(panel.get("class_names") or [str(c) for c in range(10)])
        for col in range(n):
            for row, (imgs, pred) in enumerate(((X, pc), (X_adv, pa))):
                ax = axes[2 * p + row, col]
                ax.set_xticks([])
                ax.set_yticks([])
                if col >= len(X):
                    ax.axis("off")
                    continue
                ax.imshow(imgs[col].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
                ax.set_title(names[int(pred[col])], fontsize=7,
                             color="black" if pred[col] == y[col] else "red")
                if row == 0:
                    ax.text(0.5, -0.04, f"true: {names[int(y[col])]}", transform=ax.transAxes,
                            ha="center", va="top", fontsize=7, color="dimgray")
        axes[2 * p, 0].set_ylabel(f"{panel['name']}\nclean", fontsize=8)
        axes[2 * p + 1, 0].set_ylabel(f"{panel['name']}\nattacked", fontsize=8)
    fig.suptitle(f"{model_name} predictions before and after the transfer attack (red = wrong)",
                 fontsize=9, y=0.99)
    return fig
