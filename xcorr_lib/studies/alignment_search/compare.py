"""MAS and stitching beside the correlational measures (notebook 06's tables and figure).

- :func:`pair_measures`: the paper's score (all hidden units, and the MAS layer alone) and
  linear CKA of the MAS layer, for every pair;
- :func:`mas_comparison`: one row per (pair, d) with IIA, stitching and those measures;
- :func:`tidy_measures`, :func:`rank_gaps`, :func:`attack_agreement`: rankings compared;
- :func:`load_attack_degradation`: notebook 03's Table 4 (declared in the profiles:
  ``needs: [03_transfer_attack]``); :func:`plot_mas`, :func:`describe_mas`.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from torch import nn

from xcorr_lib.common.provenance import results_dir, tables_dir
from xcorr_lib.common.stats import rank_correlation
from xcorr_lib.measures.cka import linear_cka
from xcorr_lib.nets.capture import capture_all
from xcorr_lib.nets.hooks import layer_outputs
from xcorr_lib.score.pairs import pair_table

from .control import pair_iia


def pair_measures(models: Mapping[str, nn.Module], layers: Mapping[str, str], probe: np.ndarray,
                  pairs: Sequence[tuple[str, str]], *, variant: str = "paper",
                  direction: str = "both", device: str | None = None) -> pd.DataFrame:
    """Correlational measures of each pair on the same probes (the score on ``device``, default CPU).

    Columns model_a, model_b, ``neuron_corr`` (the paper's score over every hidden unit of
    ``model.unit_modules()``), ``neuron_corr_layer`` and ``linear_cka_layer`` (both on the
    MAS layers only, one depth each). probe: (M, ...) inputs.
    """
    units = capture_all(models, probe)
    flat = {k: layer_outputs(m, layers[k], probe) for k, m in models.items()}
    one_layer = {k: (x, np.zeros(x.shape[1], int)) for k, x in flat.items()}
    opts = dict(variant=variant, direction=direction, device=device)
    tables = [pair_table(units, pairs, name="neuron_corr", **opts),
              pair_table(one_layer, pairs, name="neuron_corr_layer", **opts),
              pair_table(one_layer, pairs, measure=linear_cka, name="linear_cka_layer")]
    wide = pd.concat(tables).pivot(index=["model_a", "model_b"], columns="measure", values="value")
    return wide.loc[list(pairs), ["neuron_corr", "neuron_corr_layer", "linear_cka_layer"]].reset_index().rename_axis(columns=None)


def mas_comparison(iia: pd.DataFrame, stitching: pd.DataFrame, measures: pd.DataFrame,
                   layers: Mapping[str, str], pairs: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """One row per (pair, d): IIA both ways and within each model, stitching, measures.

    iia: rows of :func:`xcorr_lib.measures.mas.iia_table` for every d (columns source, target, d,
    iia); stitching: :func:`stitch_table`; measures: :func:`pair_measures`.
    Adds ``iia_mean`` / ``stitch_acc``: the mean of the two directions, and ``iia_min``, the
    bidirectional IIA (the smaller direction; see :mod:`xcorr_lib.studies.alignment_search`).
    """
    look = {(r.source, r.target, r.d): r.iia for r in iia.itertuples()}
    acc = {(r.source, r.target): r.stitch_acc for r in stitching.itertuples()}
    meas = measures.set_index(["model_a", "model_b"])
    rows = []
    for d in sorted(iia.d.unique()):
        for a, b in pairs:
            ab, ba = look[(a, b, d)], look[(b, a, d)]
            rows.append({"model_a": a, "model_b": b, "layer_a": layers[a], "layer_b": layers[b],
                         "subspace_dim": int(d), "iia_a_to_b": ab, "iia_b_to_a": ba,
                         "iia_a_to_a": look[(a, a, d)], "iia_b_to_b": look[(b, b, d)],
                         "iia_mean": (ab + ba) / 2, "iia_min": pair_iia(ab, ba),
                         "stitch_a_to_b": acc[(a, b)],
                         "stitch_b_to_a": acc[(b, a)],
                         "stitch_acc": (acc[(a, b)] + acc[(b, a)]) / 2,
                         **meas.loc[(a, b)].to_dict()})
    return pd.DataFrame(rows)


MEASURE_COLUMNS = ("iia_mean", "stitch_acc", "neuron_corr", "neuron_corr_layer", "linear_cka_layer")


def tidy_measures(table: pd.DataFrame, d: int,
                  columns: Sequence[str] = MEASURE_COLUMNS) -> pd.DataFrame:
    """Long format (pair, measure, value) of one d's rows, for ranking comparisons."""
    rows = table[table.subspace_dim == d]
    return pd.DataFrame([{"pair": f"{r['model_a']}-{r['model_b']}", "measure": c, "value": r[c]}
                         for _, r in rows.iterrows() for c in columns])


def attack_agreement(table: pd.DataFrame, degradation: Mapping[str, float], d: int, *,
                     reference: str = "CNN",
                     columns: Sequence[str] = MEASURE_COLUMNS) -> pd.DataFrame:
    """Kendall tau between each measure of (net, reference) and the net's attack degradation.

    The paper's claim (nets more aligned with the CNN degrade less) predicts tau < 0.
    Returns measure, kendall_tau, n_nets (NaN tau with fewer than 3 nets or constant values).
    """
    involved = (table.model_a == reference) | (table.model_b == reference)
    rows = table[(table.subspace_dim == d) & involved]
    nets = [b if a == reference else a for a, b in zip(rows.model_a, rows.model_b)]
    keep = [i for i, n in enumerate(nets) if n in degradation]
    deg = [degradation[nets[i]] for i in keep]
    out = []
    for c in columns:
        vals = rows[c].to_numpy()[keep]
        tau = rank_correlation(vals, deg, "kendall") if len(keep) >= 3 else float("nan")
        out.append({"measure": c, "kendall_tau": tau, "n_nets": len(keep)})
    return pd.DataFrame(out)


def plot_mas(iia: pd.DataFrame, stitching: pd.DataFrame, table: pd.DataFrame, *,
             chance: float = 0.1):
    """Figure for notebook 06: IIA matrix at the largest d, stitching matrix, IIA vs d.

    Returns the matplotlib Figure. Rows of the matrices are sources, columns targets.
    """
    import matplotlib.pyplot as plt

    d_max = int(iia.d.max())
    names = list(dict.fromkeys(iia.source))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), layout="constrained")
    mats = [(iia[iia.d == d_max].pivot(index="source", columns="target", values="iia"),
             f"IIA, source -> target\n(d = {d_max}; diagonal: within-model)"),
            (stitching.pivot(index="source", columns="target", values="stitch_acc"),
             "linear stitching accuracy,\nsource -> target (same data budget)")]
    for k, (ax, (mat, title)) in enumerate(zip(axes[:2], mats)):
        mat = mat.reindex(index=names, columns=names)
        im = ax.imshow(mat.to_numpy(dtype=float), vmin=0, vmax=1, cmap="viridis")
        for i in range(len(names)):
            for j in range(len(names)):
                v = mat.iat[i, j]
                if np.isfinite(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center",
                            color="white" if v < 0.6 else "black", fontsize=8)
        ax.set_xticks(range(len(names)), names)
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("target")
        if k == 0:
            ax.set_ylabel("source")
        ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=axes[:2], shrink=0.8)
    ax = axes[2]
    for (a, b), rows in table.groupby(["model_a", "model_b"], sort=False):
        ax.plot(rows.subspace_dim, rows.iia_mean, marker="o", label=f"{a}-{b}")
    ax.axhline(chance, color="grey", ls="--", lw=1, label="chance")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("subspace size d")
    ax.set_ylabel("IIA, mean of both directions")
    ax.set_ylim(0, 1)
    ax.set_title("IIA against the size d of the swapped subspace", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    return fig


def rank_gaps(table: pd.DataFrame, d: int, a: str = "iia_mean", b: str = "neuron_corr",
              columns: Sequence[str] = MEASURE_COLUMNS) -> pd.DataFrame:
    """Rank of every pair under each measure (1 = most similar) at one d.

    Returns pair, one ``rank_<measure>`` column per measure and ``gap`` = rank under ``a``
    minus rank under ``b``, sorted by |gap| (largest disagreement first).
    """
    rows = table[table.subspace_dim == d]
    out = pd.DataFrame({"pair": [f"{x}-{y}" for x, y in zip(rows.model_a, rows.model_b)]})
    for c in columns:
        out[f"rank_{c}"] = rows[c].rank(ascending=False, method="min").astype(int).to_numpy()
    out["gap"] = out[f"rank_{a}"] - out[f"rank_{b}"]
    return out.reindex(out.gap.abs().sort_values(ascending=False, kind="stable").index)


def load_attack_degradation(dataset: str, profile: str, *, net4: str | None = None
                            ) -> tuple[dict[str, float] | None, str]:
    """Relative accuracy loss per net from notebook 03's ``table4_attack.csv``, if usable.

    Returns ({net: rel_degradation}, "") or (None, reason) when the table is missing, was
    made by another profile (per results/manifest.csv), or lacks the dataset/columns.
    """
    path = tables_dir() / "table4_attack.csv"
    if not path.is_file():
        return None, f"{path.name} not found (run notebook 03 with profile {profile!r} first)"
    manifest = results_dir() / "manifest.csv"
    made_by = None
    if manifest.is_file():
        rows = pd.read_csv(manifest, dtype=str).fillna("")
        rows = rows[rows.artifact.str.endswith("tables/table4_attack.csv")]
        made_by = rows.profile.iloc[-1] if len(rows) else None
    if made_by != profile:
        return None, f"{path.name} was made by profile {made_by!r}, not {profile!r}"
    table = pd.read_csv(path)
    if not {"dataset", "net", "rel_degradation"} <= set(table.columns):
        return None, f"{path.name} lacks the columns dataset, net, rel_degradation"
    table = table[table.dataset == dataset]
    if net4 is not None and "net4" in table.columns:
        table = table[table.net4 == net4]
    if "attack" in table.columns:  # the main attack, not the variant run beside it
        table = table[table.attack == "main"]
    if table.empty:
        return None, f"{path.name} has no rows for {dataset!r}"
    return dict(zip(table.net, table.rel_degradation.astype(float))), ""


def describe_mas(table: pd.DataFrame, accuracy: Mapping[str, float], *, chance: float = 0.1,
                 columns: Sequence[str] = MEASURE_COLUMNS) -> str:
    """The notebook's answer in sentences, every number taken from ``table`` (largest d).

    accuracy: test accuracy of each network (name -> fraction).
    """
    d = int(table.subspace_dim.max())
    rows = table[table.subspace_dim == d]
    ratio = np.mean([r.stitch_a_to_b / accuracy[r.model_b] for r in rows.itertuples()]
                    + [r.stitch_b_to_a / accuracy[r.model_a] for r in rows.itertuples()])
    out = [f"At d = {d}, the mean IIA over the {len(rows)} pairs is {rows.iia_mean.mean():.2f} "
           f"(chance {chance:.2f}); the mean stitching accuracy is {rows.stitch_acc.mean():.2f}, "
           f"on average {ratio:.0%} of the target network's own test accuracy."]
    asym = rows.assign(gap=(rows.iia_a_to_b - rows.iia_b_to_a).abs()).sort_values(
        "gap", ascending=False, kind="stable").iloc[0]
    a, b = asym.model_a, asym.model_b
    out.append(f"The most asymmetric pair is {a}-{b}: IIA {asym.iia_a_to_b:.2f} from {a} into {b}, "
               f"{asym.iia_b_to_a:.2f} from {b} into {a} (test accuracy {a} {accuracy[a]:.2f}, "
               f"{b} {accuracy[b]:.2f}).")
    if len(rows) >= 3:
        taus = {c: rank_correlation(rows.iia_mean, rows[c], "kendall") for c in columns
                if c != "iia_mean"}
        taus = {c: t for c, t in taus.items() if np.isfinite(t)}
        if taus:
            near, far = max(taus, key=taus.get), min(taus, key=taus.get)
            out.append(f"The measure that ranks the pairs most like IIA is {near} (Kendall tau "
                       f"{taus[near]:.2f}); the least alike is {far} (tau {taus[far]:.2f}).")
    return " ".join(out)
