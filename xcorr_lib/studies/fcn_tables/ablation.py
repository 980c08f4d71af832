"""What each choice of the score does, one at a time, on the same networks (Table 3's FCN -> CNN).

The step from the published Fashion-MNIST numbers to the paper-text numbers changes three
things at once: the variant (penalty inside or after the max), the direction (one or both)
and the probes (uniform noise or test images). :func:`setting_ablation` scores all 2 x 2 x 2
combinations, with and without the depth penalty, each beside the score of unrelated units
in the same setting (:func:`xcorr_lib.null_score`), so every step can be read on its own.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from xcorr_lib.data.probes import make_probe
from xcorr_lib.nets.capture import capture_all
from xcorr_lib.nets.models import FCN_NAMES
from xcorr_lib.score.null import null_score
from xcorr_lib.score.pairs import pair_table

__all__ = ["setting_ablation", "describe_ablation"]

COLUMNS = ["dataset", "pair", "variant", "direction", "probe", "depth_penalty", "score", "null_mean"]


def setting_ablation(run: Any, *, n_probes: int, seed: int = 0, net4: str = "paper",
                     probe_selection: str = "first", device: str | None = None) -> pd.DataFrame:
    """Every (variant, direction, probe kind, depth penalty on/off) for each FCN -> CNN pair.

    ``run``: a :class:`~xcorr_lib.studies.fcn_tables.workflow.TablesRun` of Table 3 (its
    trained networks are reused). Penalty "off" gives every unit depth 0. Returns
    :data:`COLUMNS`, one row per (dataset, pair, setting). ``device``: where captures and
    scores run (default: the CPU).
    """
    rows = []
    for dataset, (split, nets) in run.trained.items():
        models = {n: nets[net4][n] for n in (*FCN_NAMES, "CNN")}
        for probe_kind in ("noise", "test"):
            probe = make_probe(probe_kind, split.X_test, n_probes, selection=probe_selection, seed=seed)
            acts = capture_all(models, probe.x, batch_size=1000, device=device)
            flat = {n: (x, np.zeros_like(layers)) for n, (x, layers) in acts.items()}
            for penalty, use in (("on", acts), ("off", flat)):
                for variant, direction in itertools.product(("original", "paper"), ("forward", "both")):
                    table = pair_table(use, [(n, "CNN") for n in FCN_NAMES], variant=variant, direction=direction,
                                       device=device)
                    for r in table.itertuples():
                        null, _ = null_score(use[r.model_a][1], use["CNN"][1], probe.n, variant=variant,
                                             direction=direction)
                        rows.append((dataset, f"{r.model_a}-CNN", variant, direction, probe_kind, penalty, r.value, null))
    return pd.DataFrame(rows, columns=COLUMNS)


def describe_ablation(table: pd.DataFrame) -> str:
    """Mean over the pairs of score and null, per setting (one line each, numbers from the table)."""
    g = table.groupby(["dataset", "probe", "variant", "direction", "depth_penalty"], sort=False)[["score", "null_mean"]].mean()
    g["above_null"] = g["score"] - g["null_mean"]
    return g.round(3).to_string()
