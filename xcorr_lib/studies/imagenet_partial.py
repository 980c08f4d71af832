"""Notebook 04: partial correlation between ImageNet models (Tables 5-7).

Every pair of models within a family is scored on the same probe images, with the units
of one stage per model (channel 0 of it, as the original scripts, or every unit); each
row carries the score expected of unrelated units (:mod:`xcorr_lib.score.null`).
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from xcorr_lib.common.paper import tables5_7
from xcorr_lib.data.images import load_probe_images
from xcorr_lib.nets.capture import capture_activations
from xcorr_lib.nets.training import derive_seed
from xcorr_lib.nets.zoo import MODELS, check_stage, family_models, load_model, stage_units, truncate
from xcorr_lib.score.correlation import neuron_correlation
from xcorr_lib.score.pairs import all_pairs, pair_table
from xcorr_lib.score.select import select_units
from xcorr_lib.score.null import chance_score

UnitsMode = Literal["original", "full"]
UNITS_MODES = ("original", "full")


def stage_activations(model: nn.Module, images: torch.Tensor, stage: str, *,
                      units_mode: UnitsMode = "original", units_per_stage: int | None = None,
                      seed: int = 0, batch_size: int = 32, device: str | torch.device | None = None,
                      progress: bool = False) -> tuple[torch.Tensor, np.ndarray]:
    """Units of one stage on the probe images, all at depth 0.

    ``units_mode="original"``: channel 0 only, every spatial position (what the original
    scripts kept: 7x7 = 49 units for ResNet ``layer4``). ``"full"``: every (channel, row,
    col) unit, optionally a seeded random subset of ``units_per_stage`` of them
    (:func:`xcorr_lib.score.select.select_units`). Only the layers up to the stage run
    (:func:`truncate`).

    Returns
    -------
    acts : float32 tensor (M probes, N units) on CPU; layers : int64 array (N,) of zeros.
    """
    if units_mode not in UNITS_MODES:
        raise ValueError(f"unknown units_mode {units_mode!r}; valid: {', '.join(UNITS_MODES)}")
    if units_mode == "original" and units_per_stage is not None:
        raise ValueError("units_per_stage applies to units_mode='full' only (original = channel 0)")
    acts, layers = capture_activations(truncate(model, stage), images, {stage: 0}, batch_size=batch_size,
                                       channels=[0] if units_mode == "original" else None,
                                       device=device, progress=progress)
    if units_per_stage is not None:
        acts, layers, _ = select_units(acts, layers, per_layer=units_per_stage, seed=seed)
    return acts, layers


def partial_correlation_table(models: Mapping[str, Sequence[str]], images: torch.Tensor, *,
                              stages: Mapping[str, str] | None = None, weights: Any = "default",
                              units_mode: UnitsMode = "original", units_per_stage: int | None = None,
                              variant: str = "paper", constant: str = "zero", seed: int = 0,
                              batch_size: int = 32, device: str | torch.device | None = None,
                              progress: bool = True, n_null: int = 0, n_twins: int = 1,
                              n_boot: int = 200) -> pd.DataFrame:
    """Symmetric Corr(A, B) of every pair of models within each family (Tables 5-7).

    Parameters
    ----------
    models : {family: [model names]}; pairs are formed within a family.
    images : (M, 3, H, W) probe images, the same for every model.
    stages : {model name: stage}; default the paper's stage of each model.
    weights : passed to :func:`load_model` (None = seeded random init, ``seed``).
    units_mode, units_per_stage : see :func:`stage_activations` (subset seeded by ``seed``).
    variant, constant : passed to :func:`xcorr_lib.score.correlation.neuron_correlation`
        (``direction="both"``, as Tables 5-7). One stage per model means every unit has
        depth 0, so the depth penalty is 1 and both variants give the same score.
    n_null : with n_null > 0, each pair also gets its shuffled-probe null (``n_null`` draws),
        its untrained-twin null (B's architecture with ``n_twins`` fresh random inits, always
        possible, whatever ``weights``) and the score's probe interval (``n_boot`` resamples).

    Returns
    -------
    DataFrame, one row per pair: family, model_a, model_b, stage_a, stage_b, n_probes,
    units ("N_a/N_b"), units_a, units_b, n_constant_a, n_constant_b, n_minus_one, weights, variant,
    constant, units_mode, score, null_independent (the score expected if every unit were
    unrelated to all units of the other model and the units were independent Gaussians:
    the max-of-many baseline, :func:`xcorr_lib.score.null.chance_score`); with ``n_null``
    also ci_low, ci_high, null_shuffled_mean, null_shuffled_sd, p_shuffled, null_untrained_mean,
    p_untrained.
    """
    stages = dict(stages or {})
    rows = []
    for family, names in models.items():
        if set(names) - set(family_models(family)):
            raise ValueError(f"models {sorted(set(names) - set(family_models(family)))} are not in "
                             f"family {family!r}: {', '.join(family_models(family))}")
        acts: dict[str, tuple[torch.Tensor, np.ndarray, str, str]] = {}
        twins: dict[str, list[torch.Tensor]] = {}
        for name in tqdm(names, desc=f"{family} ({units_mode})", disable=not progress):
            stage = check_stage(name, stages.get(name, MODELS[name].paper_stage))
            model = load_model(name, weights, seed=seed, device=device)
            a, lay = stage_activations(model, images, stage, units_mode=units_mode,
                                       units_per_stage=units_per_stage, seed=seed,
                                       batch_size=batch_size, device=device)
            acts[name] = (a, lay, stage, model.xcorr_weights)
            del model
            if n_null:
                twins[name] = [stage_activations(load_model(name, None, seed=derive_seed(seed, "twin", name, i), device=device),
                                                 images, stage, units_mode=units_mode, units_per_stage=units_per_stage,
                                                 seed=seed, batch_size=batch_size, device=device)[0]
                               for i in range(n_twins)]
        scored = pair_table({n: v[:2] for n, v in acts.items()}, all_pairs(names), variant=variant,
                            direction="both", constant=constant, device=device)
        for r in scored.itertuples():
            (a, _, sa, wa), (b, _, sb, wb) = acts[r.model_a], acts[r.model_b]
            rows.append({"family": family, "model_a": r.model_a, "model_b": r.model_b, "stage_a": sa,
                         "stage_b": sb, "n_probes": int(a.shape[0]), "units": f"{a.shape[1]}/{b.shape[1]}",
                         "units_a": int(a.shape[1]), "units_b": int(b.shape[1]),
                         "n_constant_a": r.n_constant_a, "n_constant_b": r.n_constant_b,
                         "n_minus_one": r.n_minus_one,
                         "weights": wa if wa == wb else f"{wa}/{wb}", "variant": variant,
                         "constant": constant, "units_mode": units_mode, "score": r.value,
                         "null_independent": chance_score(len(a), a.shape[1], b.shape[1], "both"),
                         **(_nulls(acts[r.model_a][:2], acts[r.model_b][:2], twins[r.model_b], variant=variant,
                                   constant=constant, n_null=n_null, n_boot=n_boot, seed=seed, device=device)
                            if n_null else {})})
    return pd.DataFrame(rows)


def _nulls(a: tuple, b: tuple, twins: list, *, n_null: int, n_boot: int, seed: int, **options: Any) -> dict:
    """The score's probe interval, shuffled-probe and untrained-twin nulls of one pair (both directions)."""
    res = neuron_correlation(*a, *b, direction="both", null=["shuffle", "untrained"], n_null=n_null, twins=twins,
                             interval=True, n_boot=n_boot, seed=seed, **options)
    shuffled, untrained = res.nulls["shuffle"], res.nulls["untrained"]
    return {"ci_low": res.interval.low, "ci_high": res.interval.high, "null_shuffled_mean": shuffled.mean,
            "null_shuffled_sd": shuffled.sd, "p_shuffled": shuffled.p_value,
            "null_untrained_mean": untrained.mean, "p_untrained": untrained.p_value}


def pair_matrix(table: pd.DataFrame, family: str) -> pd.DataFrame:
    """Symmetric model x model matrix of ``score`` for one family (NaN diagonal)."""
    sub = table[table["family"] == family]
    names = [n for n in family_models(family) if n in set(sub["model_a"]) | set(sub["model_b"])]
    mat = pd.DataFrame(np.nan, index=names, columns=names)
    for row in sub.itertuples():
        mat.loc[row.model_a, row.model_b] = mat.loc[row.model_b, row.model_a] = row.score
    return mat


# ----------------------------------------------------------------------------- notebook 04
def is_pretrained(weights: Any) -> bool:
    """True unless ``weights`` is None (seeded random initialisation)."""
    return weights is not None


def describe_setup(models: Mapping[str, Sequence[str]], stages: Mapping[str, str], weights: Any) -> str:
    """The stage and output shape of every model, and what the weights mean for the scores."""
    lines = []
    for family, names in models.items():
        for name in names:
            stage = check_stage(name, stages.get(name, MODELS[name].paper_stage))
            lines.append(f"{family:12s} {name:16s} stage {stage:22s} output (C, H, W) = {stage_units(name, stage)}")
    if is_pretrained(weights):
        lines.append(f"\nPretrained weights: {weights!r} (\"default\" = torchvision's DEFAULT of each model, as the original scripts: "
                     f"IMAGENET1K_V2 for ResNet-50/101/152 and EfficientNet-B1, V1 for the others).")
    else:
        lines.append("\nRANDOM WEIGHTS (weights=None): every model is randomly initialised (seeded).\n"
                     "The scores below are MEANINGLESS for the paper's question; this run only checks\n"
                     "that loading, capture, scoring, tables and figures work end to end.")
    return "\n".join(lines)


def run_partial(models: Mapping[str, Sequence[str]], folder: Any, *, units_modes: Sequence[str],
                n_probes_original: int, n_probes_full: int | None, units_per_stage: int | None,
                stages: Mapping[str, str], weights: Any, random_baseline_modes: Sequence[str] = (),
                variant: str = "paper", constant: str = "zero", original_constant: str = "minus-one",
                seed: int = 0, batch_size: int = 32, progress: bool = True, device: str = "auto",
                n_null: int = 0, n_twins: int = 1, n_boot: int = 200) -> pd.DataFrame:
    """:func:`partial_correlation_table` in every units mode (with pretrained weights, also
    random-init models in ``random_baseline_modes``), all rows in one table. Probe images:
    ``n_probes_original`` (original mode) or ``n_probes_full`` seeded draws from ``folder``.
    The original mode scores constant units with ``original_constant`` ("minus-one": -1, as the
    original scripts; column ``n_minus_one`` counts them), the full mode with ``constant``.
    ``device`` (``"auto"``: a GPU when torch sees one) runs the models and the score; ``n_null``,
    ``n_twins``, ``n_boot``: each pair's nulls and interval (:func:`partial_correlation_table`)."""
    runs = [(mode, weights) for mode in units_modes]
    if is_pretrained(weights):
        runs += [(mode, None) for mode in random_baseline_modes]
    tables = []
    for mode, w in runs:
        images, _ = load_probe_images(folder, n=n_probes_original if mode == "original" else n_probes_full, seed=seed)
        tables.append(partial_correlation_table(
            models, images, stages=stages, weights=w, units_mode=mode,  # type: ignore[arg-type]
            units_per_stage=units_per_stage if mode == "full" else None, variant=variant,
            constant=original_constant if mode == "original" else constant,
            seed=seed, batch_size=batch_size, device=device, progress=progress, n_null=n_null, n_twins=n_twins,
            n_boot=n_boot))
    return pd.concat(tables, ignore_index=True)


def main_rows(table: pd.DataFrame, weights: Any) -> pd.DataFrame:
    """The rows of the run's own weights (random-init baselines left out when pretrained)."""
    return table[~table["weights"].str.startswith("random-init")] if is_pretrained(weights) else table


def plot_partial(table: pd.DataFrame, families: Sequence[str], units_modes: Sequence[str], weights: Any):
    """One heatmap of :func:`pair_matrix` per (units mode, family); returns the Figure."""
    import matplotlib.pyplot as plt

    from xcorr_lib.common.plotting import score_heatmap

    main = main_rows(table, weights)
    fig, axes = plt.subplots(len(units_modes), len(families), squeeze=False,
                             figsize=(4.6 * len(families), 3.8 * len(units_modes)))
    for i, mode in enumerate(units_modes):
        for j, family in enumerate(families):
            score_heatmap(pair_matrix(main[main["units_mode"] == mode], family), ax=axes[i, j],
                          title=f"{family}, {mode} units")
    label = f"pretrained {weights}" if is_pretrained(weights) else "RANDOM weights: meaningless, plumbing check"
    fig.suptitle(f"ImageNet partial correlation ({label})")
    fig.tight_layout()
    return fig


def paper_comparison(table: pd.DataFrame, weights: Any) -> pd.DataFrame | None:
    """Ours beside Tables 5-7 (``score_<mode>``, ``diff_original``), or None with random weights
    (their scores say nothing about the pretrained networks of the paper)."""
    if not is_pretrained(weights):
        return None
    ours = main_rows(table, weights).pivot_table(index=["family", "model_a", "model_b"], columns="units_mode",
                                                 values="score").add_prefix("score_").reset_index()
    vs = tables5_7().merge(ours, on=["family", "model_a", "model_b"], how="inner")
    if "score_original" in vs:
        vs["diff_original"] = vs["score_original"] - vs["paper_score"]
    return vs


def published_null(n_probes: int = 10) -> pd.DataFrame:
    """Per family of Tables 5-7: the published range beside the score of unrelated units with
    the original setting (channel 0 of the paper's stage, ``n_probes`` images, both directions)."""
    ref = tables5_7()
    hw = {n: stage_units(n, MODELS[n].paper_stage)[1:] for n in MODELS}
    units = {n: h * w for n, (h, w) in hw.items()}
    ref["units"] = [units[n] for n in ref["model_a"]]
    ref[f"null_independent_{n_probes}"] = [chance_score(n_probes, units[a], units[b], "both")
                                           for a, b in zip(ref["model_a"], ref["model_b"])]
    return ref.groupby("family", sort=False).agg(
        pairs=("paper_score", "size"), units=("units", "first"), paper_min=("paper_score", "min"),
        paper_max=("paper_score", "max"), **{f"null_independent_{n_probes}": (f"null_independent_{n_probes}", "mean")})


def describe_comparison(vs: pd.DataFrame | None) -> str:
    """:func:`paper_comparison`'s table as text, or why there is none."""
    if vs is None:
        return ("No 'ours vs paper' table: the models have random weights, so their scores say\n"
                "nothing about the pretrained networks of Tables 5-7.")
    return vs.round(3).to_string(index=False)


def dead_units_needed(n_probes: int = 10) -> pd.DataFrame:
    """Per published pair: the share of dead units that would bring live units at chance level
    (channel 0, ``n_probes`` images) down to the published score, if dead units count -1 (the
    original loop) or 0. A share above 1 (or below 0) means chance and dead units cannot explain it."""
    ref = published_null(n_probes).reset_index()[["family", f"null_independent_{n_probes}"]]
    t = tables5_7().merge(ref, on="family")
    live = t[f"null_independent_{n_probes}"]
    t["dead_share_if_minus_one"] = (live - t["paper_score"]) / (live + 1.0)
    t["dead_share_if_zero"] = (live - t["paper_score"]) / live
    return t.rename(columns={f"null_independent_{n_probes}": "live_unit_chance"})
