"""Notebook 08 end to end: train the population, attack, capture, every pair matrix."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from xcorr_lib.common.checks import check_option
from xcorr_lib.common.provenance import results_dir
from xcorr_lib.data.probes import make_probe
from xcorr_lib.data.splits import load_split
from xcorr_lib.measures import MEASURES, pair_matrix
from xcorr_lib.nets.attack import attack_like_notebook_03
from xcorr_lib.nets.evaluate import evaluate_attack
from xcorr_lib.nets.family import n_params, train_spec
from xcorr_lib.nets.store import probe_hash, stored_acts
from xcorr_lib.score.correlation import neuron_correlation
from xcorr_lib.score.tiles import load_acts

from .design import population
from .stats import references

__all__ = ["MEASURE_SETTINGS", "PopulationRun", "above_null", "run_population"]

#: The measures of the study: the score in both variants as the paper used them, and the field's standards.
MEASURE_SETTINGS: dict[str, dict[str, Any]] = {
    "score_paper": {"measure": "score", "variant": "paper", "direction": "both"},
    "score_original": {"measure": "score", "variant": "original", "direction": "forward"},
    **{name: {"measure": name} for name in MEASURES},
}


@dataclass(frozen=True)
class PopulationRun:
    """``models``: one row per network (population_models.csv); ``pairs``: long table of every
    matrix cell (population_pairs.csv); ``matrices[(measure, probe)]``: K x K DataFrames;
    ``data``: the split and probes; ``seconds``: per stage; ``above_null[(measure, probe)]``: each
    model's score with the best CNN minus that score's shuffled-probe null mean (:func:`above_null`),
    as a K x K frame holding the reference's column (for ``prediction_table(..., only=["best_cnn"])``)."""

    models: pd.DataFrame
    pairs: pd.DataFrame
    matrices: dict[tuple[str, str], pd.DataFrame]
    data: str
    seconds: dict[str, float]
    above_null: dict[tuple[str, str], pd.DataFrame]  # (score measure, probe) -> K x K, the best CNN's column only


def run_population(*, dataset: str, protocol: str, n_train: int | None, n_test: int | None, size: str,
                   n_probes: int, probes: Sequence[str], measures: Sequence[str], attack: Mapping[str, Any],
                   scheduler: Any = None, tile_size: int = 8, seed: int = 0, progress: bool = True,
                   device: str = "auto", null_draws: int = 20, **_unused: Any) -> PopulationRun:
    """Train (or load) every network of ``population(size)``, evaluate it on clean and
    transfer-attacked test images (the attack of notebook 03 with ``attack``'s settings: its
    cache file when notebook 03 ran with the same split), capture hidden units on each probe
    kind (stored once per model, memory-mapped), and compute every measure's K x K matrix
    with :func:`xcorr_lib.measures.pair_matrix` (``scheduler``: None, "dask" or an address;
    finished tiles kept under ``results/pairs/``). ``device`` (``"auto"``: a GPU when torch sees
    one) trains, attacks, evaluates, captures and computes the score's matrices; ``null_draws``:
    shuffled-probe draws behind each model's alignment above its own null (0: none)."""
    for m in measures:
        check_option("measure", m, tuple(MEASURE_SETTINGS))
    t0, seconds = time.time(), {}
    split = load_split(dataset, protocol, n_train=n_train, n_test=n_test, seed=seed)
    specs = population(size, seed=seed)
    nets = {s.name: train_spec(s, split.X_train, split.y_train, key=split.key, device=device)
            for s in tqdm(specs, desc="population", unit="net", disable=not progress)}
    seconds["train"] = time.time() - t0
    adv = attack_like_notebook_03(split.X_test, split.y_test, seed=seed, progress=progress, device=device, **attack)
    acc = evaluate_attack(nets, split.X_test, adv.X_adv, split.y_test, device=device)
    seconds["attack"] = time.time() - t0 - seconds["train"]
    sources, probe_text = {}, []
    for kind in probes:
        probe = make_probe(kind, split.X_test, n_probes, seed=seed)
        key = probe_hash(probe.x)
        sources[kind] = {n: stored_acts(m, probe.x, stem=n, probe_key=key, device=device) for n, m in nets.items()}
        probe_text.append(f"{probe.n} {kind} probes")
    models = _model_table(specs, nets, acc, sources[probes[0]])
    matrices, cells = {}, []
    for kind in probes:
        for name in measures:
            opts = dict(MEASURE_SETTINGS[name])
            if opts["measure"] == "score":  # the other measures run on the CPU
                opts["device"] = device
            mat = pair_matrix(sources[kind], opts.pop("measure"), **opts, scheduler=scheduler, tile_size=tile_size,
                              workdir=results_dir() / "pairs", progress=progress)
            matrices[name, kind] = mat
            long = mat.stack().rename("value").rename_axis(["model_a", "model_b"]).reset_index()
            cells.append(long.assign(measure=name, probe=kind))
    seconds["pairs"] = time.time() - t0 - seconds["train"] - seconds["attack"]
    pairs = pd.concat(cells, ignore_index=True)[["model_a", "model_b", "measure", "probe", "value"]]
    ref = references(models).get("best_cnn")
    above = {(name, kind): above_null(sources[kind], ref, MEASURE_SETTINGS[name], n_null=null_draws, seed=seed,
                                      device=device)
             for kind in probes for name in measures
             if null_draws and ref is not None and MEASURE_SETTINGS[name]["measure"] == "score"}
    print(f"{len(nets)} networks, {len(matrices)} matrices, done in {time.time() - t0:.0f} s")
    return PopulationRun(models, pairs, matrices, f"{split.describe()}; {', '.join(probe_text)}", seconds, above)


def above_null(sources: Mapping[str, tuple[Any, np.ndarray]], reference: str, setting: Mapping[str, Any], *,
               n_null: int, seed: int = 0, device: str | None = None) -> pd.DataFrame:
    """Each model's score with ``reference`` minus the mean of its shuffled-probe null (``n_null``
    draws: the reference's probes in random order), in ``setting`` (variant, direction): does
    alignment above its own null predict better than the raw score? K x K, NaN but the
    reference's column (row model -> reference, as :func:`~.stats.alignment` reads it)."""
    names = list(sources)
    out = pd.DataFrame(np.nan, index=names, columns=names)
    ref_acts, ref_layers = load_acts(sources[reference][0]), sources[reference][1]
    for name in names:
        if name == reference:
            continue
        res = neuron_correlation(load_acts(sources[name][0]), sources[name][1], ref_acts, ref_layers, variant=setting["variant"],
                                 direction=setting["direction"], null="shuffle", n_null=n_null, seed=seed, device=device)
        out.loc[name, reference] = res.score - res.nulls["shuffle"].mean
    return out


def _model_table(specs, nets, acc: pd.DataFrame, sources) -> pd.DataFrame:
    acc = acc.set_index("net")
    rows = [{"model": s.name, "family": s.family, "kind": s.kind, "n_units": int(len(sources[s.name][1])),
             "n_layers": int(len(np.unique(sources[s.name][1]))), "n_params": n_params(nets[s.name]),
             "trained": s.trained, "epochs": s.epochs, "dropout": s.dropout, "lr": s.recipe().lr, "seed": s.seed,
             "acc_clean": acc.loc[s.name, "acc_clean"], "acc_attacked": acc.loc[s.name, "acc_attacked"],
             "degradation": acc.loc[s.name, "rel_degradation"]} for s in specs]
    return pd.DataFrame(rows)
