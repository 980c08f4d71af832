"""Linear model stitching: the classic baseline beside Model Alignment Search.

A free affine map ``S(h) = W h + b`` (``nn.Linear(n_a, n_b)``) takes model A's layer
output on an input ``x`` and replaces model B's layer output on the same ``x``; B finishes
its forward pass. Only ``S`` is trained (both models frozen), by cross-entropy on B's
output against the class of ``x`` (true label, or A's prediction with
``counterfactual="source"``). Stitching accuracy on held-out inputs is the similarity.

Unlike MAS, the map is neither orthogonal nor restricted to a d-dimensional subspace, so it
can exploit directions of B's layer that B does not normally use. Use the same ``steps``
and ``batch_size`` as the MAS run for the same data budget.

The second half holds the building blocks of notebook 06 (MAS and stitching beside the
correlational measures): :func:`pair_measures`, :func:`mas_comparison`,
:func:`tidy_measures`, :func:`rank_gaps`, :func:`attack_agreement`,
:func:`load_attack_degradation` and :func:`plot_mas`.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from xcorr_lib.mas import (COUNTERFACTUALS, Counterfactual, _check_option, _check_positive,
                           _predict, as_inputs, as_labels, frozen, get_module, layer_output,
                           model_device, replace_output)
from xcorr_lib.mas_control import pair_iia


def stitch(model_a: nn.Module, layer_a: str, model_b: nn.Module, layer_b: str,
           X_train: np.ndarray | torch.Tensor, y_train: np.ndarray | torch.Tensor,
           X_test: np.ndarray | torch.Tensor, y_test: np.ndarray | torch.Tensor, *,
           steps: int = 1000, batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
           counterfactual: Counterfactual = "true", progress: bool = True) -> float:
    """Train a linear stitch from A's ``layer_a`` into B's ``layer_b``; return its test accuracy.

    Parameters
    ----------
    model_a, layer_a : source model and the module whose flattened output (n_a units) is read.
    model_b, layer_b : target model and the module whose output (n_b units) is replaced.
    X_train, y_train : training inputs (N, ...) and integer labels (N,).
    X_test, y_test : held-out inputs and labels for the accuracy.
    steps, batch_size, lr, seed : Adam steps, inputs per step, learning rate, seed (init
        of the map and the batch draws).
    counterfactual : "true" (labels) or "source" (A's predictions) as training and
        scoring targets.

    Returns
    -------
    float in [0, 1]: fraction of test inputs where stitched B outputs the target class.
    """
    _check_option("counterfactual", counterfactual, COUNTERFACTUALS)
    _check_positive(steps=steps, batch_size=batch_size)
    get_module(model_a, layer_a)
    get_module(model_b, layer_b)
    device = model_device(model_b)
    Xtr, Xte = as_inputs(X_train, device), as_inputs(X_test, device)
    ytr, yte = as_labels(y_train, len(Xtr)), as_labels(y_test, len(Xte))
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    with frozen([model_a, model_b]):
        if counterfactual == "source":
            ytr, yte = _predict(model_a, Xtr), _predict(model_a, Xte)
        n_a = layer_output(model_a, layer_a, Xtr[:2]).shape[1]
        n_b = layer_output(model_b, layer_b, Xtr[:2]).shape[1]
        link = nn.Linear(n_a, n_b)
        bound = 1.0 / np.sqrt(n_a)
        with torch.no_grad():  # PyTorch's default init range, drawn from our generator
            link.weight.copy_(torch.rand(n_b, n_a, generator=gen) * 2 * bound - bound)
            link.bias.copy_(torch.rand(n_b, generator=gen) * 2 * bound - bound)
        link.to(device)
        opt = torch.optim.Adam(link.parameters(), lr=lr)
        bar = tqdm(range(steps), desc="stitch", disable=not progress, leave=False)
        for step in bar:
            idx = rng.integers(0, len(Xtr), batch_size)
            x = Xtr[idx]
            with torch.no_grad():
                h_a = layer_output(model_a, layer_a, x)
            with replace_output(model_b, layer_b, lambda _h: link(h_a)):
                loss = nn.functional.cross_entropy(model_b(x), ytr[idx].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            if progress and step % 20 == 0:
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        hits = 0
        with torch.no_grad():
            for i in range(0, len(Xte), 1024):
                x = Xte[i:i + 1024]
                h_a = layer_output(model_a, layer_a, x)
                with replace_output(model_b, layer_b, lambda _h: link(h_a)):
                    hits += int((model_b(x).argmax(1).cpu() == yte[i:i + 1024]).sum())
    return hits / len(Xte)


def stitch_table(models: Mapping[str, nn.Module], layers: Mapping[str, str],
                 X_train: np.ndarray | torch.Tensor, y_train: np.ndarray | torch.Tensor,
                 X_test: np.ndarray | torch.Tensor, y_test: np.ndarray | torch.Tensor, *,
                 pairs: Sequence[tuple[str, str]] | None = None, steps: int = 1000,
                 batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
                 counterfactual: Counterfactual = "true", progress: bool = True) -> pd.DataFrame:
    """Stitching accuracy of every ordered pair of different models (or the given pairs).

    Returns columns source, target, stitch_acc (one row per ordered pair).
    """
    names = list(models)
    if set(names) != set(layers):
        raise ValueError(f"models and layers need the same keys, got {sorted(models)} "
                         f"and {sorted(layers)}")
    pairs = [(a, b) for a in names for b in names if a != b] if pairs is None else list(pairs)
    rows = [{"source": a, "target": b,
             "stitch_acc": stitch(models[a], layers[a], models[b], layers[b], X_train, y_train,
                                  X_test, y_test, steps=steps, batch_size=batch_size, lr=lr,
                                  seed=seed, counterfactual=counterfactual, progress=progress)}
            for a, b in pairs]
    return pd.DataFrame(rows, columns=["source", "target", "stitch_acc"])


# --- notebook 06: MAS and stitching beside the correlational measures ----------------------

def pair_measures(models: Mapping[str, nn.Module], layers: Mapping[str, str], probe: np.ndarray,
                  pairs: Sequence[tuple[str, str]], *, variant: str = "paper",
                  direction: str = "both") -> pd.DataFrame:
    """Correlational measures of each pair on the same probes.

    Columns model_a, model_b, ``neuron_corr`` (the paper's score over every hidden unit of
    ``model.unit_modules()``), ``neuron_corr_layer`` and ``linear_cka_layer`` (both on the
    MAS layers only, one depth each). probe: (M, ...) inputs.
    """
    from xcorr_lib.audit import capture_all
    from xcorr_lib.correlation import neuron_correlation
    from xcorr_lib.measures import linear_cka

    units = capture_all(models, probe)
    x = torch.as_tensor(np.asarray(probe, dtype=np.float32))
    with torch.no_grad():
        flat = {k: np.concatenate([layer_output(m, layers[k], x[i:i + 500]).cpu().numpy()
                                   for i in range(0, len(x), 500)]) for k, m in models.items()}
    rows = []
    for a, b in pairs:
        zero_a, zero_b = np.zeros(flat[a].shape[1], int), np.zeros(flat[b].shape[1], int)
        rows.append({
            "model_a": a, "model_b": b,
            "neuron_corr": neuron_correlation(*units[a], *units[b], variant=variant,
                                              direction=direction).score,
            "neuron_corr_layer": neuron_correlation(flat[a], zero_a, flat[b], zero_b,
                                                    variant=variant, direction=direction).score,
            "linear_cka_layer": linear_cka(flat[a], flat[b])})
    return pd.DataFrame(rows)


def mas_comparison(iia: pd.DataFrame, stitching: pd.DataFrame, measures: pd.DataFrame,
                   layers: Mapping[str, str], pairs: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """One row per (pair, d): IIA both ways and within each model, stitching, measures.

    iia: rows of :func:`xcorr_lib.mas.iia_table` for every d (columns source, target, d,
    iia); stitching: :func:`stitch_table`; measures: :func:`pair_measures`.
    Adds ``iia_mean`` / ``stitch_acc``: the mean of the two directions, and ``iia_min``, the
    bidirectional IIA (the smaller direction; see :mod:`xcorr_lib.mas_control`).
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
    from xcorr_lib.stats import rank_correlation

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
    from xcorr_lib.provenance import results_dir, tables_dir

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
    if table.empty:
        return None, f"{path.name} has no rows for {dataset!r}"
    return dict(zip(table.net, table.rel_degradation.astype(float))), ""


def describe_mas(table: pd.DataFrame, accuracy: Mapping[str, float], *, chance: float = 0.1,
                 columns: Sequence[str] = MEASURE_COLUMNS) -> str:
    """The notebook's answer in sentences, every number taken from ``table`` (largest d).

    accuracy: test accuracy of each network (name -> fraction).
    """
    from xcorr_lib.stats import rank_correlation

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
