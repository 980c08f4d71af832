"""Score tables of notebooks 01 (Table 2: FCN pairs) and 02 (Table 3: FCN -> CNN).

Each table is computed under one or more score settings (:mod:`xcorr_lib.score.settings`:
``original-code`` and ``paper-text``), on probes made from the test split, for the main
Net4 variant and (Net4 rows only) the others.
"""

from __future__ import annotations

from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
from torch import nn

from xcorr_lib.data.probes import ProbeSet, make_probe
from xcorr_lib.data.splits import Split
from xcorr_lib.nets.capture import capture_all
from xcorr_lib.nets.evaluate import accuracy_rows
from xcorr_lib.nets.models import FCN_NAMES, FCN_SPECS, NET4_VARIANTS
from xcorr_lib.score.pairs import Acts, all_pairs, pair_table
from xcorr_lib.score.settings import ORIGINAL_PROBE, ScoreSetting

def unit_activations(models: Mapping[str, nn.Module], probe: ProbeSet | np.ndarray, *,
                     batch_size: int = 1000, device: str | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{name: (acts (M, N) float32, layer ids (N,))} for every model's hidden units."""
    return capture_all(models, probe.x if isinstance(probe, ProbeSet) else probe, batch_size=batch_size,
                       device=device)


def fcn_pair_table(acts: Acts, names: Sequence[str], setting: ScoreSetting, *,
                   constant: str = "zero", pairs: Sequence[tuple[str, str]] | None = None,
                   device: str | None = None) -> pd.DataFrame:
    """Scores of every pair (names[i] -> names[j], i < j), Table 2's upper triangle.

    Returns columns net_a, net_b, setting, score, variant, direction, constant,
    n_units_a, n_units_b, n_constant_a, n_constant_b (one row per pair).
    """
    table = pair_table(acts, all_pairs(names) if pairs is None else pairs, variant=setting.variant,
                       direction=setting.direction, constant=constant, device=device)
    table = table.rename(columns={"model_a": "net_a", "model_b": "net_b", "value": "score"})
    table.insert(2, "setting", setting.name)
    return table.drop(columns="measure")


def cnn_vs_fcn_table(acts: Acts, fcn_names: Sequence[str], setting: ScoreSetting, *, cnn: str = "CNN",
                     constant: str = "zero", device: str | None = None) -> pd.DataFrame:
    """Table 3: score of every FCN (side a) against the CNN (side b); column ``net``."""
    df = fcn_pair_table(acts, [], setting, constant=constant, pairs=[(n, cnn) for n in fcn_names], device=device)
    return df.rename(columns={"net_a": "net"}).drop(columns="net_b")


def table1(net4_variants: Sequence[str] = NET4_VARIANTS) -> pd.DataFrame:
    """Hidden sizes of the five FCNs, one column per Net4 variant (from xcorr_lib.common.paper)."""
    return pd.DataFrame({f"hidden ({v})": [str(FCN_SPECS[v][n]) for n in FCN_NAMES] for v in net4_variants},
                        index=pd.Index(FCN_NAMES, name="net"))


# --- one dataset, end to end ------------------------------------------------------

def accuracy_table(split: Split, nets: Mapping[str, Mapping[str, nn.Module]], *, net4: str,
                   device: str | None = None) -> pd.DataFrame:
    """Test accuracy of every net of the main variant, plus Net4 of the other variants."""
    frames = [accuracy_rows({n: m for n, m in models.items() if v == net4 or n == "Net4"},
                            split.X_test, split.y_test, device=device).assign(net4=v)
              for v, models in nets.items()]
    return pd.concat(frames, ignore_index=True).assign(dataset=split.dataset, **_split_columns(split))


def _split_columns(split: Split) -> dict[str, Any]:
    return {"protocol": split.key["protocol"], "n_train": len(split.X_train), "n_test": len(split.X_test)}


def _probes(split: Split, settings: Iterable[ScoreSetting], n_probes: int | None, selection: str, seed: int,
            original_probe: Mapping[str, str]) -> dict[str, ProbeSet]:
    kinds = {s.probe_kind(split.dataset, original_probe) for s in settings}
    return {k: make_probe(k, split.X_test, n_probes, selection=selection, seed=seed) for k in sorted(kinds)}


def score_tables(split: Split, nets: Mapping[str, Mapping[str, nn.Module]], settings: Sequence[ScoreSetting], *,
                 table: Literal["fcn", "cnn"], net4: str, n_probes: int | None, probe_selection: str = "first", seed: int = 0,
                 original_probe: Mapping[str, str] = ORIGINAL_PROBE, constant: str = "zero",
                 device: str | None = None) -> pd.DataFrame:
    """Table 2 (``table="fcn"``: FCN pairs) or Table 3 (``table="cnn"``: FCN -> CNN) rows.

    For the main Net4 variant every pair / net is scored; for the other variants only
    the rows that involve Net4. Returns one row per (setting, net4 variant, pair) with
    columns dataset, protocol, n_train, n_test, net4, setting, net_a, net_b (Table 2) or
    net (Table 3), score, variant, direction, probe, n_probes, probe_selection,
    probe_seed, seed, constant, unit and constant-unit counts. ``device``: where the
    captures and the score run (default: the CPU).
    """
    if table not in ("fcn", "cnn"):
        raise ValueError(f"table must be 'fcn' or 'cnn', got {table!r}")
    probes = _probes(split, settings, n_probes, probe_selection, seed, original_probe)
    frames = []
    for variant, models in nets.items():
        main = variant == net4
        if table == "cnn":
            scored = list(FCN_NAMES) if main else ["Net4"]
            wanted = [*scored, "CNN"]
        else:
            pairs = [(a, b) for i, a in enumerate(FCN_NAMES) for b in FCN_NAMES[i + 1:] if main or "Net4" in (a, b)]
            wanted = list(FCN_NAMES)
        for kind, probe in probes.items():
            kind_settings = [s for s in settings if s.probe_kind(split.dataset, original_probe) == kind]
            if not kind_settings:
                continue
            acts = unit_activations({n: models[n] for n in wanted}, probe, device=device)
            for s in kind_settings:
                df = (cnn_vs_fcn_table(acts, scored, s, constant=constant, device=device) if table == "cnn"
                      else fcn_pair_table(acts, FCN_NAMES, s, constant=constant, pairs=pairs, device=device))
                frames.append(df.assign(net4=variant, **probe.describe()))
    out = pd.concat(frames, ignore_index=True).assign(dataset=split.dataset, seed=seed, **_split_columns(split))
    first = ["dataset", "protocol", "n_train", "n_test", "net4", "setting",
             *(["net"] if table == "cnn" else ["net_a", "net_b"]), "score", "variant", "direction",
             "probe", "n_probes", "probe_selection", "probe_seed", "seed"]
    return out[first + [c for c in out.columns if c not in first]]
