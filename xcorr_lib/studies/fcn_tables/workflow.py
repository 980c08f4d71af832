"""Notebooks 01 and 02 end to end: every dataset, trained nets, accuracies and score rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

import pandas as pd

from xcorr_lib.data.splits import available_splits
from xcorr_lib.nets.training import CNN_RECIPE, FCN_RECIPE, train_nets
from xcorr_lib.score.settings import resolve_settings

from .scores import accuracy_table, score_tables

__all__ = ["TablesRun", "run_tables"]


@dataclass(frozen=True)
class TablesRun:
    """What :func:`run_tables` made: ``accuracy`` and ``scores`` tables (all datasets), the
    ``data`` description (one entry per dataset used, for the manifest) and the recipes."""

    accuracy: pd.DataFrame
    scores: pd.DataFrame
    data: str
    recipes: dict
    trained: dict  # dataset -> (Split, {net4 variant: {name: model}}), for follow-up analyses


def run_tables(table: Literal["fcn", "cnn"], *, datasets: Sequence[str], protocol: Mapping[str, str],
               n_train: int | None, n_test: int | None, fcn_epochs: int | None, cnn_epochs: int | None = None,
               net4: str = "paper", net4_variants: Sequence[str] = ("paper",),
               settings: Mapping[str, Mapping[str, str]], original_probe: Mapping[str, str],
               n_probes: int | None, probe_selection: str = "first", seed: int = 0,
               skip_unavailable: bool = False, progress: bool = True, device: str = "auto",
               **_unused: Any) -> TablesRun:
    """Table 2 (``table="fcn"``, notebook 01) or Table 3 (``"cnn"``, notebook 02) for every dataset.

    The arguments are the notebooks' parameters (extra ones, e.g. ``profile``, are ignored);
    ``device`` (``"auto"``: a GPU when torch sees one) trains, captures and scores.
    ``skip_unavailable``: a dataset missing on this machine is skipped with a printed reason
    (smoke runs) instead of raising; if none is left, RuntimeError. Prints one line per
    dataset used.
    """
    score_settings = resolve_settings(settings)
    recipes = {"fcn": FCN_RECIPE.with_epochs(fcn_epochs),
               "cnn": CNN_RECIPE.with_epochs(cnn_epochs) if table == "cnn" else None}
    scores, accuracy, used, trained = [], [], [], {}
    for split in available_splits(datasets, protocol, n_train=n_train, n_test=n_test, seed=seed,
                                  skip_unavailable=skip_unavailable):
        dataset = split.dataset
        used.append(split.describe())
        nets = train_nets(split, net4=net4, net4_variants=net4_variants, fcn_recipe=recipes["fcn"],
                          cnn_recipe=recipes["cnn"] or CNN_RECIPE, with_cnn=table == "cnn", seed=seed,
                          progress=progress, device=device)
        trained[dataset] = (split, nets)
        accuracy.append(accuracy_table(split, nets, net4=net4, device=device))
        scores.append(score_tables(split, nets, score_settings, table=table, net4=net4, n_probes=n_probes,
                                   probe_selection=probe_selection, seed=seed, original_probe=original_probe,
                                   device=device))
    if not scores:
        raise RuntimeError(f"none of the datasets {list(datasets)} is available; nothing to report")
    return TablesRun(pd.concat(accuracy, ignore_index=True), pd.concat(scores, ignore_index=True),
                     "; ".join(used), {k: v for k, v in recipes.items() if v is not None}, trained)
