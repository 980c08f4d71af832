"""Notebook 06's sections as functions: each runs one step or turns its table into text.

Every branch the notebook would otherwise hold (a skipped control, too few pairs, a missing
attack table) lives here, so tests reach it and the notebook only calls and shows.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd
from torch import nn

from xcorr_lib.measures.mas import iia_table, train_mas
from xcorr_lib.nets.evaluate import accuracy_rows
from xcorr_lib.measures.agreement import measure_agreement

from .compare import attack_agreement, rank_gaps, tidy_measures
from .control import untrained_control

__all__ = ["accuracy_with_layers", "run_mas", "describe_iia", "run_control", "describe_control",
           "describe_agreement", "describe_rank_gaps", "describe_attack"]


def accuracy_with_layers(nets: Mapping[str, nn.Module], layers: Mapping[str, str], X_test: Any,
                         y_test: Any) -> pd.DataFrame:
    """:func:`xcorr_lib.nets.evaluate.accuracy_rows` plus the aligned ``layer`` of each net."""
    accuracy = accuracy_rows(nets, X_test, y_test)
    accuracy["layer"] = [layers[n] for n in accuracy.net]
    return accuracy


def run_mas(nets: Mapping[str, nn.Module], layers: Mapping[str, str], split: Any, dims: Sequence[int], *,
            n_pairs: int, seed: int, **mas: Any) -> tuple[pd.DataFrame, dict[int, float]]:
    """MAS at every d (:func:`xcorr_lib.measures.mas.train_mas`, options ``mas``), then the IIA of
    every ordered pair on held-out pairs (seed + 1). Returns (IIA rows of all d, final loss per d:
    the mean of the last 10 steps)."""
    rows, final_loss = [], {}
    for d in dims:
        result = train_mas(nets, layers, split.X_train, split.y_train, d=d, seed=seed, **mas)
        final_loss[d] = sum(result.losses[-10:]) / len(result.losses[-10:])
        rows.append(iia_table(result, split.X_test, split.y_test, n_pairs=n_pairs, seed=seed + 1))
    return pd.concat(rows, ignore_index=True), final_loss


def describe_iia(iia: pd.DataFrame, final_loss: Mapping[int, float], chance: float) -> str:
    """Per d: the final training loss and the IIA matrix (source rows, target columns)."""
    out = []
    for d, loss in final_loss.items():
        out.append(f"d = {d}: final training loss {loss:.4f}; IIA source (rows) -> target (columns), "
                   f"chance {chance:.0%}")
        out.append(iia[iia.d == d].pivot(index="source", columns="target", values="iia").round(4).to_string())
    return "\n".join(out)


def run_control(control_model: str | None, nets: Mapping[str, nn.Module], layers: Mapping[str, str], split: Any,
                dims: Sequence[int], **options: Any) -> pd.DataFrame | None:
    """:func:`untrained_control` of ``control_model`` (a column ``model`` first); None when it is None."""
    if control_model is None:
        return None
    control = untrained_control(nets[control_model], layers[control_model], split.X_train, split.y_train,
                                split.X_test, split.y_test, dims=dims, **options)
    control.insert(0, "model", control_model)
    return control


def describe_control(control: pd.DataFrame | None, chance: float) -> str:
    """The control table in words and numbers (or why it was skipped)."""
    if control is None:
        return "Skipped: control_model is None."
    head = f"{control.model.iloc[0]} (A) against its untrained copy (U), chance {chance:.0%}:"
    return head + "\n" + control.drop(columns=["model", "seed"]).round(4).to_string(index=False)


def describe_agreement(table: pd.DataFrame, dims: Sequence[int]) -> str:
    """Kendall tau of every two measures at the largest d, and of mean IIA with each measure per d."""
    d_max, n_pairs = max(dims), int((table.subspace_dim == max(dims)).sum())
    if n_pairs < 3:
        return f"{n_pairs} pairs: too few to compare rankings"
    agreement = measure_agreement(tidy_measures(table, d_max))
    by_d = pd.concat([measure_agreement(tidy_measures(table, d)).query("measure_a == 'iia_mean'").assign(subspace_dim=d)
                      for d in dims])
    cols = ["measure_a", "measure_b", "kendall_tau", "p_value", "n_pairs"]
    return (f"every two measures, IIA at d = {d_max}:\n{agreement[cols].round(4).to_string(index=False)}\n\n"
            "Kendall tau of mean IIA (rows: d) with each other measure:\n"
            + by_d.pivot(index="subspace_dim", columns="measure_b", values="kendall_tau").round(4).to_string())


def describe_rank_gaps(table: pd.DataFrame, d: int, a: str = "iia_mean", b: str = "neuron_corr") -> str:
    """The rank table of :func:`rank_gaps` and the largest disagreement between ``a`` and ``b``."""
    gaps = rank_gaps(table, d, a=a, b=b)
    top = gaps.iloc[0]
    if top.gap == 0:
        verdict = "The causal measure and the paper's score put every pair at the same rank."
    else:
        more = "more" if top.gap < 0 else "less"
        verdict = (f"Largest disagreement: {top.pair} ranks {top[f'rank_{a}']} by IIA and {top[f'rank_{b}']} by the "
                   f"paper's score: it is {more} similar causally than its correlations suggest.")
    return f"{gaps.to_string(index=False)}\n\n{verdict}"


def describe_attack(table: pd.DataFrame, degradation: Mapping[str, float] | None, reason: str,
                    models: Sequence[str], dims: Sequence[int]) -> str:
    """Kendall tau of each measure of (net, CNN) with the net's attack degradation, per d."""
    if degradation is None:
        return f"Skipped: {reason}."
    if "CNN" not in models or sum(1 for n in models if n != "CNN") < 3:
        return f"Skipped: needs the CNN and at least 3 fully connected networks, got {list(models)}."
    out = ["relative degradation: " + str({n: round(degradation[n], 4) for n in models if n in degradation})]
    for d in dims:
        out += [f"d = {d}", attack_agreement(table, degradation, d).round(4).to_string(index=False)]
    return "\n".join(out)
