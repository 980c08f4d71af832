"""torchvision ImageNet models with named stages: the networks of Tables 5-7.

The registry lists the 14 models the paper compares, each with its family, the names of
its stages (module names inside the torchvision model, ready for
:func:`xcorr_lib.capture.capture_activations`) and the stage the paper used:

===============  ======================================================  ======================
family           stages                                                  paper stage
===============  ======================================================  ======================
resnet           conv1, layer1 .. layer4                                 layer4 (7x7 at 224 px)
densenet         features.denseblock1..4, features.transition1..3        features.transition3
efficientnet     features.0 .. features.8                                features.3 (see below)
===============  ======================================================  ======================

EfficientNet's "third stage" (the original script is not published). torchvision's
``features`` holds the stem (``features.0``), seven MBConv stages (``features.1..7``) and
a 1x1 conv (``features.8``). We use ``features.3``: the third MBConv stage, which is also
``model.features[3]`` (40 channels, 28x28 for B0 at 224 px). The other reading,
``features.2``, is "Stage 3" of the EfficientNet paper's Table 1, which counts the stem
as stage 1 (24 channels, 56x56). Both are in :data:`EFFICIENTNET_THIRD_STAGE_READINGS`;
any stage can be chosen by name.

Weights. ``weights="default"`` means ``IMAGENET1K_V1``, what the original scripts got from
torchvision's old ``pretrained=True``. ResNet-50/101/152 and EfficientNet-B1 also have
``IMAGENET1K_V2`` (torchvision's newer recipe), which must be asked for by name. Files
are cached in ``$TORCH_HOME/hub/checkpoints`` (torchvision's cache). Without internet
and without the cached file, :func:`load_model` raises :class:`WeightsUnavailableError`
at once, naming the file, its URL and the folder to put it in. ``weights=None`` gives a
seeded random initialisation, labelled ``random-init`` (see :func:`weights_label`):
scores of random networks check the plumbing only.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

__all__ = [
    "DEFAULT_WEIGHTS", "EFFICIENTNET_THIRD_STAGE_READINGS", "FAMILIES", "MODELS", "WeightsUnavailableError",
    "ZooModel", "available_weights", "checkpoint_dir", "family_models", "get_entry",
    "UNITS_MODES", "load_model", "pair_matrix", "partial_correlation_table",
    "resolve_weights", "stage_activations", "stage_units", "truncate", "weights_label",
]

FAMILIES = ("resnet", "densenet", "efficientnet")

EFFICIENTNET_THIRD_STAGE_READINGS: dict[str, str] = {
    "features.3": "third MBConv stage = model.features[3] (our choice)",
    "features.2": "'Stage 3' of the EfficientNet paper's Table 1 (stem conv = stage 1)",
}


DEFAULT_WEIGHTS = "IMAGENET1K_V1"  # what torchvision's old ``pretrained=True`` loaded


@dataclass(frozen=True)
class ZooModel:
    """One registry entry: torchvision builder name, family, stage names (shallow to
    deep) and the stage used for Tables 5-7."""

    name: str
    family: str
    stages: tuple[str, ...]
    paper_stage: str


_RESNET_STAGES = ("conv1", "layer1", "layer2", "layer3", "layer4")
_DENSENET_STAGES = ("features.denseblock1", "features.transition1", "features.denseblock2",
                    "features.transition2", "features.denseblock3", "features.transition3",
                    "features.denseblock4")
_EFFNET_STAGES = tuple(f"features.{i}" for i in range(9))

MODELS: dict[str, ZooModel] = {
    **{n: ZooModel(n, "resnet", _RESNET_STAGES, "layer4")
       for n in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")},
    **{n: ZooModel(n, "densenet", _DENSENET_STAGES, "features.transition3")
       for n in ("densenet121", "densenet161", "densenet169", "densenet201")},
    **{n: ZooModel(n, "efficientnet", _EFFNET_STAGES, "features.3")
       for n in (f"efficientnet_b{i}" for i in range(5))},
}


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are neither cached nor downloadable (e.g. no internet)."""


def get_entry(name: str) -> ZooModel:
    """Registry entry of ``name``; ValueError listing the valid names otherwise."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}")
    return MODELS[name]


def family_models(family: str) -> list[str]:
    """Model names of one family, in registry order (small to large)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; valid families: {', '.join(FAMILIES)}")
    return [m.name for m in MODELS.values() if m.family == family]


def check_stage(name: str, stage: str) -> str:
    """Return ``stage`` if it is a stage of ``name``; ValueError listing valid ones otherwise."""
    entry = get_entry(name)
    if stage not in entry.stages:
        raise ValueError(f"unknown stage {stage!r} for {name}; valid stages: {', '.join(entry.stages)}")
    return stage


def available_weights(name: str) -> list[str]:
    """Names of the torchvision weight sets of ``name`` (e.g. ``["IMAGENET1K_V1", "IMAGENET1K_V2"]``)."""
    from torchvision.models import get_model_weights

    get_entry(name)
    return [w.name for w in get_model_weights(name)]


def resolve_weights(name: str, weights: Any) -> Any:
    """The torchvision weights enum member for ``weights``, or None for random init.

    ``weights`` may be None, ``"default"`` (any case: ``IMAGENET1K_V1``), an enum member
    name (``"IMAGENET1K_V2"``), a qualified name (``"ResNet50_Weights.IMAGENET1K_V2"``)
    or a member of the model's weights enum.
    """
    from torchvision.models import get_model_weights

    if get_entry(name) and weights is None:
        return None
    enum = get_model_weights(name)
    if isinstance(weights, enum):
        return weights
    if isinstance(weights, str):
        key = weights.split(".")[-1]
        if key.lower() == "default":
            key = DEFAULT_WEIGHTS
        if key in enum.__members__ and key != "DEFAULT":
            return enum[key]
    raise ValueError(f"unknown weights {weights!r} for {name}; valid: None, 'default', "
                     + ", ".join(repr(w) for w in available_weights(name)))


def weights_label(name: str, weights: Any, seed: int = 0) -> str:
    """Short label for tables: the enum name, or ``random-init(seed=S)`` for ``weights=None``."""
    member = resolve_weights(name, weights)
    return f"random-init(seed={seed})" if member is None else member.name


def checkpoint_dir() -> Path:
    """Folder where torchvision looks for weight files: ``$TORCH_HOME/hub/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _fetch(url: str, dest: Path, timeout: float) -> None:
    """Download ``url`` to ``dest`` (atomic rename), checking the sha256 prefix in the name.

    Unlike ``torch.hub`` this sets a socket timeout, so a blocked network fails fast.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    tmp = tempfile.NamedTemporaryFile(dir=dest.parent, prefix=dest.name, suffix=".part", delete=False)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, tmp:
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                tmp.write(chunk)
                digest.update(chunk)
        match = torch.hub.HASH_REGEX.search(dest.name)
        if match and not digest.hexdigest().startswith(match.group(1)):
            raise OSError(f"downloaded {url} does not match the hash prefix {match.group(1)!r}")
        shutil.move(tmp.name, dest)
    finally:
        if os.path.exists(tmp.name):
            os.unlink(tmp.name)


def _ensure_cached(name: str, member: Any, *, download: bool, timeout: float) -> Path:
    url = member.url
    path = checkpoint_dir() / url.rsplit("/", 1)[-1]
    if path.is_file():
        return path
    reason = "downloads disabled (download=False)"
    if download:
        try:
            _fetch(url, path, timeout)
            return path
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            reason = f"download failed: {err}"
    raise WeightsUnavailableError(
        f"pretrained weights {name} {member.name} are not cached ({reason}). "
        f"Download {url} on a machine with internet and place the file {path.name} in "
        f"{path.parent} (that is $TORCH_HOME/hub/checkpoints; TORCH_HOME defaults to "
        f"~/.cache/torch), or use weights=None (CLI: --weights-a/-b none) for a random init.")


def load_model(name: str, weights: Any = "default", *, seed: int = 0,
               device: str | torch.device | None = None, download: bool = True,
               timeout: float = 20.0) -> nn.Module:
    """Build a zoo model in eval mode.

    Parameters
    ----------
    name : a key of :data:`MODELS`.
    weights : ``"default"`` (IMAGENET1K_V1), a weights name, or None for random init.
    seed : seeds the random init (``weights=None``); the global RNG is left untouched.
    device : where to put the model (default CPU).
    download : try to download missing weights; False raises at once.
    timeout : seconds before a stalled download gives up.

    Returns
    -------
    The model, ``.eval()``, with ``model.xcorr_weights`` set to :func:`weights_label`.

    Raises
    ------
    ValueError : unknown model or weights name.
    WeightsUnavailableError : weights neither cached nor downloadable.
    """
    from torchvision.models import get_model_builder

    member = resolve_weights(name, weights)
    builder = get_model_builder(name)
    if member is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = builder(weights=None)
    else:
        _ensure_cached(name, member, download=download, timeout=timeout)
        model = builder(weights=member, progress=False)  # reads the cached file
    model.xcorr_weights = weights_label(name, member, seed)
    return model.to(device or "cpu").eval()


@functools.lru_cache(maxsize=None)
def _stage_shape(name: str, stage: str, input_size: int) -> tuple[int, ...]:
    from torchvision.models import get_model_builder

    with torch.device("meta"):
        model = get_model_builder(name)(weights=None).eval()
        with torch.no_grad():
            out = truncate(model, stage)(torch.empty(1, 3, input_size, input_size))
    return tuple(out.shape[1:])


def stage_units(name: str, stage: str, input_size: int = 224) -> tuple[int, int, int]:
    """Shape (C, H, W) of a stage's output for a square ``input_size`` image.

    Computed with a forward pass on the ``meta`` device (no weights, no memory).
    The number of units is C*H*W; the channel-0 ("original") mode keeps H*W of them.
    """
    check_stage(name, stage)
    if input_size < 32:
        raise ValueError(f"input_size must be >= 32 pixels, got {input_size}")
    return _stage_shape(name, stage, int(input_size))  # type: ignore[return-value]


def truncate(model: nn.Module, stage: str) -> nn.Module:
    """The part of a zoo model up to ``stage``: its forward returns the stage output.

    ResNet, DenseNet and EfficientNet run their top-level children (and those of
    ``features``) in order, so the prefix is an ``nn.Sequential`` that shares the
    modules and keeps their names (``layer4``, ``features.transition3``, ...): hooks and
    :func:`xcorr_lib.capture.capture_activations` see the same module names, and the
    layers after the stage are never computed.
    """
    parts = stage.split(".")
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != "features"):
        raise ValueError(f"cannot truncate at {stage!r}: expected a top-level or features.* module")
    container = model.features if len(parts) == 2 else model
    if parts[-1] not in container._modules:
        raise ValueError(f"{stage!r} is not a module of this model")
    kept: dict[str, nn.Module] = {}
    for name, child in container.named_children():
        kept[name] = child
        if name == parts[-1]:
            break
    prefix = nn.Sequential(OrderedDict(kept))
    return nn.Sequential(OrderedDict(features=prefix)) if len(parts) == 2 else prefix


# ----------------------------------------------------------------------------- Tables 5-7
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
    (:func:`xcorr_lib.correlation.select_units`). Only the layers up to the stage run
    (:func:`truncate`).

    Returns
    -------
    acts : float32 tensor (M probes, N units) on CPU; layers : int64 array (N,) of zeros.
    """
    from xcorr_lib.capture import capture_activations
    from xcorr_lib.correlation import select_units

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
    variant, constant : passed to :func:`xcorr_lib.correlation.neuron_correlation`
        (``direction="both"``, as Tables 5-7). One stage per model means every unit has
        depth 0, so the depth penalty is 1 and both variants give the same score.

    Returns
    -------
    DataFrame, one row per pair: family, model_a, model_b, stage_a, stage_b, n_probes,
    units ("N_a/N_b"), units_a, units_b, n_constant_a, n_constant_b, weights, variant,
    constant, units_mode, score, null_independent (the score expected if every unit were
    unrelated to all units of the other model and the units were independent Gaussians:
    the max-of-many baseline, :func:`xcorr_lib.stats.expected_max_abs_corr`).
    """
    from tqdm import tqdm

    from xcorr_lib.correlation import neuron_correlation
    from xcorr_lib.stats import expected_max_abs_corr

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
        for i, na in enumerate(names):
            for nb in names[i + 1:]:
                (a, la, sa, wa), (b, lb, sb, wb) = acts[na], acts[nb]
                res = neuron_correlation(a, la, b, lb, variant=variant, direction="both",
                                         constant=constant, device=device)
                rows.append({"family": family, "model_a": na, "model_b": nb, "stage_a": sa,
                             "stage_b": sb, "n_probes": int(a.shape[0]),
                             "units": f"{a.shape[1]}/{b.shape[1]}", "units_a": int(a.shape[1]),
                             "units_b": int(b.shape[1]), "n_constant_a": res.n_constant_a,
                             "n_constant_b": res.n_constant_b,
                             "weights": wa if wa == wb else f"{wa}/{wb}", "variant": variant,
                             "constant": constant, "units_mode": units_mode, "score": res.score,
                             "null_independent": 0.5 * (expected_max_abs_corr(len(a), b.shape[1])
                                                        + expected_max_abs_corr(len(a), a.shape[1]))})
    return pd.DataFrame(rows)


def pair_matrix(table: pd.DataFrame, family: str) -> pd.DataFrame:
    """Symmetric model x model matrix of ``score`` for one family (NaN diagonal)."""
    sub = table[table["family"] == family]
    names = [n for n in family_models(family) if n in set(sub["model_a"]) | set(sub["model_b"])]
    mat = pd.DataFrame(np.nan, index=names, columns=names)
    for row in sub.itertuples():
        mat.loc[row.model_a, row.model_b] = mat.loc[row.model_b, row.model_a] = row.score
    return mat
