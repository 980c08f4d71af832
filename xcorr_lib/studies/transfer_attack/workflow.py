"""Notebook 03 end to end: per dataset, trained nets, the attack, Table 4 rows, Table 3 scores."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pandas as pd
from torch import nn

from xcorr_lib.data.probes import make_probe
from xcorr_lib.data.splits import Split, available_splits
from xcorr_lib.nets.attack import attack_like_notebook_03
from xcorr_lib.nets.capture import capture_all
from xcorr_lib.nets.models import FCN_NAMES
from xcorr_lib.nets.training import CNN_RECIPE, FCN_RECIPE, train_nets
from xcorr_lib.score.pairs import pair_table
from xcorr_lib.score.settings import DEFAULT_SETTINGS, resolve_settings

from .report import evaluate_variants, example_panel

__all__ = ["AttackRun", "run_attack", "table3_scores"]

TABLE4_FIRST = ["dataset", "attack", "substitute_init", "net4", "net", "acc_clean", "acc_attacked",
                "rel_degradation"]


@dataclass(frozen=True)
class AttackRun:
    """What :func:`run_attack` made, all datasets together.

    ``table4``: accuracy clean / attacked per (dataset, net4 variant, net) with the attack's
    settings and perturbation; ``per_round``: the substitute's accuracy and the distance per
    round; ``perturbation``: one summary row per dataset; ``scores``: Table 3's original-code
    score of every FCN against the CNN (``dataset, net, score``); ``panels``: Figure 1's
    images; ``data``: the manifest's description of the data used.
    """

    table4: pd.DataFrame
    per_round: pd.DataFrame
    perturbation: pd.DataFrame
    scores: pd.DataFrame
    panels: list
    data: str


def table3_scores(split: Split, nets: Mapping[str, nn.Module], *, n_probes: int, seed: int,
                  setting: str = "original-code", device: str | None = None) -> pd.DataFrame:
    """Table 3 for one dataset (each FCN -> the CNN), as notebook 02 computes it: ``dataset, net, score``.

    The probes are the first ``n_probes`` inputs of the setting's probe kind (the original's
    noise for Fashion-MNIST), so the numbers equal notebook 02's for the same data and seed.
    """
    (s,) = resolve_settings({setting: DEFAULT_SETTINGS[setting]})
    probe = make_probe(s.probe_kind(split.dataset), split.X_test, n_probes, selection="first", seed=seed)
    acts = capture_all({n: nets[n] for n in (*FCN_NAMES, "CNN")}, probe.x, batch_size=1000, device=device)
    table = pair_table(acts, [(n, "CNN") for n in FCN_NAMES], variant=s.variant, direction=s.direction,
                       device=device)
    return pd.DataFrame({"dataset": split.dataset, "net": table["model_a"], "score": table["value"]})


def run_attack(*, datasets: Sequence[str], protocol: Mapping[str, str], n_train: int | None, n_test: int | None,
               fcn_epochs: int | None, cnn_epochs: int | None, net4: str, net4_variants: Sequence[str],
               rounds: int, eps_255: float, substitute_epochs: int, loss: str, substitute_init: str,
               substitute_init_beside: str | None = None, n_probes: int, n_examples: int, seed: int, skip_unavailable: bool = False,
               progress: bool = True, device: str = "auto", **_unused: Any) -> AttackRun:
    """Table 4 for every dataset (the arguments are notebook 03's parameters; others ignored).

    Per dataset: load the split, train (or load) the paper's nets, attack the test images
    (:func:`xcorr_lib.nets.attack.substitute_attack`, cached) with ``substitute_init`` (the
    ``attack="main"`` rows) and, when given, again with ``substitute_init_beside`` (rows
    ``attack="beside"``), evaluate every net on clean and attacked images, and score Table 3
    (:func:`table3_scores`). Prints one line per dataset
    and the elapsed time; RuntimeError when no dataset is available. ``device`` (``"auto"``: a
    GPU when torch sees one) trains the nets and substitutes, takes the gradients, evaluates
    and scores.
    """
    eps, t0 = eps_255 / 255, time.time()
    fcn_recipe, cnn_recipe = FCN_RECIPE.with_epochs(fcn_epochs), CNN_RECIPE.with_epochs(cnn_epochs)
    table4, per_round, perturbation, scores, panels, used = [], [], [], [], [], []
    for split in available_splits(datasets, protocol, n_train=n_train, n_test=n_test, seed=seed,
                                  skip_unavailable=skip_unavailable):
        dataset = split.dataset
        used.append(split.describe())
        nets = train_nets(split, net4=net4, net4_variants=net4_variants, fcn_recipe=fcn_recipe,
                          cnn_recipe=cnn_recipe, with_cnn=True, seed=seed, progress=progress,
                          device=device)
        inits = [substitute_init] + ([substitute_init_beside] if substitute_init_beside not in (None, substitute_init) else [])
        for role, init in zip(("main", "beside"), inits):
            attack = attack_like_notebook_03(split.X_test, split.y_test, rounds=rounds, eps_255=eps_255,
                                             substitute_epochs=substitute_epochs, loss=loss, substitute_init=init,
                                             seed=seed, progress=progress, device=device)
            summary = attack.summary()
            table4.append(evaluate_variants(nets, net4, split.X_test, attack.X_adv, split.y_test,
                                            device=device).assign(
                dataset=dataset, protocol=split.key["protocol"], n_test=len(split.X_test), eps=eps, eps_255=eps_255,
                rounds=rounds, substitute_epochs=substitute_epochs, loss=loss, substitute_init=init, attack=role,
                seed=seed, linf_mean_255=summary["linf_mean_255"], linf_max_255=summary["linf_max_255"],
                l2_mean=summary["l2_mean"]))
            per_round.append(attack.per_round.assign(dataset=dataset, substitute_init=init, attack=role))
            perturbation.append({"dataset": dataset, "substitute_init": init, "attack": role, **summary})
            if role == "main":
                panels.append(example_panel(dataset, nets[net4]["CNN"], split.X_test, attack.X_adv, split.y_test,
                                            n=n_examples))
        scores.append(table3_scores(split, nets[net4], n_probes=n_probes, seed=seed, device=device))
    if not table4:
        raise RuntimeError(f"none of the datasets {list(datasets)} is available; nothing to report")
    t4 = pd.concat(table4, ignore_index=True)
    print(f"done in {time.time() - t0:.0f} s")
    return AttackRun(t4[TABLE4_FIRST + [c for c in t4.columns if c not in TABLE4_FIRST]],
                     pd.concat(per_round, ignore_index=True), pd.DataFrame(perturbation),
                     pd.concat(scores, ignore_index=True), panels, "; ".join(used))
