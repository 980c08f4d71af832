"""Data, probes, trained nets and score tables for notebooks 01 (Table 2) and 02 (Table 3).

A *score setting* names one way of computing the score (SPEC section 1):

- ``original-code``: what the authors' notebooks computed for Tables 2 and 3:
  penalised argmax (``variant="original"``), one direction (row net -> column net),
  on the original probes (test images; uniform noise for Fashion-MNIST);
- ``paper-text``: the definition printed in the paper: argmax then penalty
  (``variant="paper"``), the symmetric average of both directions, on real test images.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
from torch import nn

from xcorr_lib.models import FCN_NAMES, NET4_VARIANTS
from xcorr_lib.probes import PROBE_KINDS, ProbeSet, make_probe
from xcorr_lib.training import CNN_RECIPE, FCN_RECIPE, Recipe, evaluate, train_paper_nets

#: The probe kind the original notebooks used per dataset (noise for Fashion-MNIST).
ORIGINAL_PROBE: dict[str, str] = {"mnist": "test", "fashion-mnist": "noise", "kmnist": "test",
                                  "afro-mnist": "test"}

DEFAULT_SETTINGS: dict[str, dict[str, str]] = {
    "original-code": {"variant": "original", "direction": "forward", "probe": "original"},
    "paper-text": {"variant": "paper", "direction": "both", "probe": "test"},
}


@dataclasses.dataclass(frozen=True)
class ScoreSetting:
    """One way of computing the score: variant, direction and probe kind.

    ``probe`` is "test", "noise" or "original" (= :data:`ORIGINAL_PROBE` of the dataset).
    """

    name: str
    variant: str
    direction: str
    probe: str

    def probe_kind(self, dataset: str, original_probe: Mapping[str, str] = ORIGINAL_PROBE) -> str:
        """The concrete probe kind ("test" or "noise") for ``dataset``."""
        if self.probe != "original":
            return self.probe
        if dataset not in original_probe:
            raise ValueError(f"no original probe kind known for {dataset!r}; "
                             f"known: {sorted(original_probe)}")
        return original_probe[dataset]


def resolve_settings(settings: Mapping[str, Mapping[str, str]]) -> list[ScoreSetting]:
    """Validate a {name: {variant, direction, probe}} mapping (a notebook parameter)."""
    out = []
    for name, s in settings.items():
        missing = {"variant", "direction", "probe"} - set(s)
        if missing:
            raise ValueError(f"setting {name!r} lacks {sorted(missing)}")
        if s["variant"] not in ("paper", "original"):
            raise ValueError(f"setting {name!r}: variant must be 'paper' or 'original', got {s['variant']!r}")
        if s["direction"] not in ("both", "forward"):
            raise ValueError(f"setting {name!r}: direction must be 'both' or 'forward', got {s['direction']!r}")
        if s["probe"] not in (*PROBE_KINDS, "original"):
            raise ValueError(f"setting {name!r}: probe must be one of {(*PROBE_KINDS, 'original')}, "
                             f"got {s['probe']!r}")
        out.append(ScoreSetting(name, s["variant"], s["direction"], s["probe"]))
    if not out:
        raise ValueError("at least one score setting is needed")
    return out


# --- data ----------------------------------------------------------------------------

@dataclasses.dataclass
class Split:
    """Train and test arrays of one dataset plus the key that identifies them."""

    dataset: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    key: dict[str, Any]

    def describe(self) -> str:
        return (f"{self.dataset} (protocol {self.key['protocol']}): "
                f"{len(self.X_train)} train / {len(self.X_test)} test images")


def load_split(dataset: str, protocol: str, *, n_train: int | None = None, n_test: int | None = None,
               seed: int = 0, skip_unavailable: bool = False, root: Any = None,
               download: bool = True) -> Split | None:
    """Load a dataset's train/test split, optionally a seeded subset of each.

    Parameters
    ----------
    dataset, protocol : as :func:`xcorr_lib.data.load_dataset`.
    n_train, n_test : int, optional
        Seeded random subsets (``xcorr_lib.data.subset``); None keeps everything.
    skip_unavailable : bool
        When the data cannot be found or downloaded, print the reason and return None
        instead of raising :class:`xcorr_lib.data.DatasetUnavailableError` (smoke runs
        only; the paper profile must fail loudly).
    root, download : passed to :func:`xcorr_lib.data.load_dataset`.
    """
    from xcorr_lib import data

    try:
        X_train, y_train = data.load_dataset(dataset, "train", root, protocol=protocol, download=download)
        X_test, y_test = data.load_dataset(dataset, "test", root, protocol=protocol, download=download)
    except data.DatasetUnavailableError as exc:
        if not skip_unavailable:
            raise
        print(f"SKIPPED {dataset}: not available on this machine ({exc})")
        return None
    if n_train is not None and n_train < len(X_train):
        X_train, y_train = data.subset(X_train, y_train, n_train, seed)
    if n_test is not None and n_test < len(X_test):
        X_test, y_test = data.subset(X_test, y_test, n_test, seed + 1)
    key = {"dataset": dataset, "protocol": protocol, "n_train": n_train, "n_test": n_test,
           "subset_seed": seed}
    return Split(dataset, X_train, y_train, X_test, y_test, key)


# --- activations and scores --------------------------------------------------------

Acts = dict[str, tuple[Any, np.ndarray]]


def unit_activations(models: Mapping[str, nn.Module], probe: ProbeSet | np.ndarray, *,
                     batch_size: int = 1000) -> Acts:
    """{name: (acts (M, N) float32 tensor, layer ids (N,))} for every model's hidden units."""
    from xcorr_lib.capture import capture_activations

    x = probe.x if isinstance(probe, ProbeSet) else np.asarray(probe, dtype=np.float32)
    return {name: capture_activations(m, x, m.unit_modules(), batch_size=batch_size, progress=False)
            for name, m in models.items()}


def _score(acts: Acts, a: str, b: str, setting: ScoreSetting, constant: str) -> dict[str, Any]:
    from xcorr_lib.correlation import neuron_correlation

    (xa, la), (xb, lb) = acts[a], acts[b]
    res = neuron_correlation(xa, la, xb, lb, variant=setting.variant, direction=setting.direction,
                             constant=constant)
    return {"score": res.score, "variant": setting.variant, "direction": setting.direction,
            "constant": constant, "n_units_a": len(la), "n_units_b": len(lb),
            "n_constant_a": res.n_constant_a, "n_constant_b": res.n_constant_b}


def fcn_pair_table(acts: Acts, names: Sequence[str], setting: ScoreSetting, *,
                   constant: str = "zero", pairs: Sequence[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Scores of every pair (names[i] -> names[j], i < j), Table 2's upper triangle.

    Returns columns net_a, net_b, setting, score, variant, direction, constant,
    n_units_a, n_units_b, n_constant_a, n_constant_b (one row per pair).
    """
    if pairs is None:
        pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    rows = [{"net_a": a, "net_b": b, "setting": setting.name, **_score(acts, a, b, setting, constant)}
            for a, b in pairs]
    return pd.DataFrame(rows)


def cnn_vs_fcn_table(acts: Acts, fcn_names: Sequence[str], setting: ScoreSetting, *, cnn: str = "CNN",
                     constant: str = "zero") -> pd.DataFrame:
    """Table 3: score of every FCN (side a) against the CNN (side b); column ``net``."""
    df = fcn_pair_table(acts, [], setting, constant=constant, pairs=[(n, cnn) for n in fcn_names])
    return df.rename(columns={"net_a": "net"}).drop(columns="net_b")


def table1(net4_variants: Sequence[str] = NET4_VARIANTS) -> pd.DataFrame:
    """Hidden sizes of the five FCNs, one column per Net4 variant (from xcorr_lib.paper)."""
    from xcorr_lib.models import FCN_SPECS

    return pd.DataFrame({f"hidden ({v})": [str(FCN_SPECS[v][n]) for n in FCN_NAMES] for v in net4_variants},
                        index=pd.Index(FCN_NAMES, name="net"))


def accuracy_rows(models: Mapping[str, nn.Module], X_test: Any, y_test: Any) -> pd.DataFrame:
    """Columns net, hidden, n_params, test_acc (accuracy in [0, 1]) and final valid_acc."""
    rows = []
    for name, m in models.items():
        hist = getattr(m, "train_history_", None)
        rows.append({"net": name, "hidden": str(list(m.hidden)) if hasattr(m, "hidden") else "conv",
                     "n_params": sum(p.numel() for p in m.parameters()),
                     "test_acc": evaluate(m, X_test, y_test),
                     "valid_acc": float(hist["valid_acc"].iloc[-1]) if hist is not None else np.nan,
                     "epochs": int(len(hist)) if hist is not None else np.nan})
    return pd.DataFrame(rows)


# --- one dataset, end to end ------------------------------------------------------

def train_nets(split: Split, *, net4: str = "paper", net4_variants: Sequence[str] = ("paper",),
               fcn_recipe: Recipe = FCN_RECIPE, cnn_recipe: Recipe = CNN_RECIPE, with_cnn: bool = False,
               seed: int = 0, progress: bool = True) -> dict[str, dict[str, nn.Module]]:
    """{net4 variant: {name: trained net}} (cached checkpoints, see ``train_paper_nets``).

    Every variant's dict holds all nets; only Net4 differs between variants (the other
    nets share their checkpoints). ``net4`` (the main variant) is always included.
    """
    variants = list(dict.fromkeys([net4, *net4_variants]))
    names = (*FCN_NAMES, "CNN") if with_cnn else FCN_NAMES
    return {v: train_paper_nets(split.key, split.X_train, split.y_train, names=names, net4=v,
                                fcn_recipe=fcn_recipe, cnn_recipe=cnn_recipe, seed=seed, progress=progress)
            for v in variants}


def accuracy_table(split: Split, nets: Mapping[str, Mapping[str, nn.Module]], *, net4: str) -> pd.DataFrame:
    """Test accuracy of every net of the main variant, plus Net4 of the other variants."""
    frames = [accuracy_rows({n: m for n, m in models.items() if v == net4 or n == "Net4"},
                            split.X_test, split.y_test).assign(net4=v)
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
                 original_probe: Mapping[str, str] = ORIGINAL_PROBE, constant: str = "zero") -> pd.DataFrame:
    """Table 2 (``table="fcn"``: FCN pairs) or Table 3 (``table="cnn"``: FCN -> CNN) rows.

    For the main Net4 variant every pair / net is scored; for the other variants only
    the rows that involve Net4. Returns one row per (setting, net4 variant, pair) with
    columns dataset, protocol, n_train, n_test, net4, setting, net_a, net_b (Table 2) or
    net (Table 3), score, variant, direction, probe, n_probes, probe_selection,
    probe_seed, seed, constant, unit and constant-unit counts.
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
            acts = unit_activations({n: models[n] for n in wanted}, probe)
            for s in kind_settings:
                df = (cnn_vs_fcn_table(acts, scored, s, constant=constant) if table == "cnn"
                      else fcn_pair_table(acts, FCN_NAMES, s, constant=constant, pairs=pairs))
                frames.append(df.assign(net4=variant, **probe.describe()))
    out = pd.concat(frames, ignore_index=True).assign(dataset=split.dataset, seed=seed, **_split_columns(split))
    first = ["dataset", "protocol", "n_train", "n_test", "net4", "setting",
             *(["net"] if table == "cnn" else ["net_a", "net_b"]), "score", "variant", "direction",
             "probe", "n_probes", "probe_selection", "probe_seed", "seed"]
    return out[first + [c for c in out.columns if c not in first]]
