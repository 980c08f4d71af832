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

from xcorr_lib.nets.capture import capture_activations
from xcorr_lib.nets.zoo import MODELS, check_stage, family_models, load_model, truncate
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
                              progress: bool = True) -> pd.DataFrame:
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

    Returns
    -------
    DataFrame, one row per pair: family, model_a, model_b, stage_a, stage_b, n_probes,
    units ("N_a/N_b"), units_a, units_b, n_constant_a, n_constant_b, weights, variant,
    constant, units_mode, score, null_independent (the score expected if every unit were
    unrelated to all units of the other model and the units were independent Gaussians:
    the max-of-many baseline, :func:`xcorr_lib.score.null.chance_score`).
    """
    stages = dict(stages or {})
    rows = []
    for family, names in models.items():
        if set(names) - set(family_models(family)):
            raise ValueError(f"models {sorted(set(names) - set(family_models(family)))} are not in "
                             f"family {family!r}: {', '.join(family_models(family))}")
        acts: dict[str, tuple[torch.Tensor, np.ndarray, str, str]] = {}
        for name in tqdm(names, desc=f"{family} ({units_mode})", disable=not progress):
            stage = check_stage(name, stages.get(name, MODELS[name].paper_stage))
            model = load_model(name, weights, seed=seed, device=device)
            a, lay = stage_activations(model, images, stage, units_mode=units_mode,
                                       units_per_stage=units_per_stage, seed=seed,
                                       batch_size=batch_size, device=device)
            acts[name] = (a, lay, stage, model.xcorr_weights)
            del model
        scored = pair_table({n: v[:2] for n, v in acts.items()}, all_pairs(names), variant=variant,
                            direction="both", constant=constant, device=device)
        for r in scored.itertuples():
            (a, _, sa, wa), (b, _, sb, wb) = acts[r.model_a], acts[r.model_b]
            rows.append({"family": family, "model_a": r.model_a, "model_b": r.model_b, "stage_a": sa,
                         "stage_b": sb, "n_probes": int(a.shape[0]), "units": f"{a.shape[1]}/{b.shape[1]}",
                         "units_a": int(a.shape[1]), "units_b": int(b.shape[1]),
                         "n_constant_a": r.n_constant_a, "n_constant_b": r.n_constant_b,
                         "weights": wa if wa == wb else f"{wa}/{wb}", "variant": variant,
                         "constant": constant, "units_mode": units_mode, "score": r.value,
                         "null_independent": chance_score(len(a), a.shape[1], b.shape[1], "both")})
    return pd.DataFrame(rows)


def pair_matrix(table: pd.DataFrame, family: str) -> pd.DataFrame:
    """Symmetric model x model matrix of ``score`` for one family (NaN diagonal)."""
    sub = table[table["family"] == family]
    names = [n for n in family_models(family) if n in set(sub["model_a"]) | set(sub["model_b"])]
    mat = pd.DataFrame(np.nan, index=names, columns=names)
    for row in sub.itertuples():
        mat.loc[row.model_a, row.model_b] = mat.loc[row.model_b, row.model_a] = row.score
    return mat
