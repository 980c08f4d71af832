"""torchvision ImageNet models with named stages: the networks of Tables 5-7.

The registry lists the 14 models the paper compares, each with its family, the names of
its stages (module names inside the torchvision model, ready for
:func:`xcorr_lib.nets.capture.capture_activations`) and the stage the paper used:

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

Weights. ``weights="default"`` means torchvision's ``Weights.DEFAULT`` (:func:`default_weights`),
what the original scripts loaded: ``IMAGENET1K_V2`` for ResNet-50/101/152 and EfficientNet-B1
(torchvision's newer recipe), ``IMAGENET1K_V1`` for the others; V1 stays available by name. Files
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
from typing import Any

import torch
from torch import nn

from xcorr_lib.common import devices

__all__ = [
    "default_weights", "EFFICIENTNET_THIRD_STAGE_READINGS", "FAMILIES", "MODELS", "WeightsUnavailableError",
    "ZooModel", "available_weights", "checkpoint_dir", "family_models", "get_entry",
    "load_model", "weights_file",
    "resolve_weights", "stage_units", "truncate", "weights_label",
]

FAMILIES = ("resnet", "densenet", "efficientnet")

EFFICIENTNET_THIRD_STAGE_READINGS: dict[str, str] = {
    "features.3": "third MBConv stage = model.features[3] (our choice)",
    "features.2": "'Stage 3' of the EfficientNet paper's Table 1 (stem conv = stage 1)",
}


def default_weights(name: str) -> str:
    """The weights ``"default"`` means for ``name``: torchvision's ``Weights.DEFAULT``, which the
    authors' scripts loaded (IMAGENET1K_V2 for ResNet-50/101/152 and EfficientNet-B1, V1 else)."""
    from torchvision.models import get_model_weights

    get_entry(name)
    return get_model_weights(name).DEFAULT.name


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

    ``weights`` may be None, ``"default"`` (any case: :func:`default_weights`), an enum member
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
            key = default_weights(name)
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


def weights_file(name: str, weights: Any) -> tuple[Path, str] | None:
    """(the file torchvision reads the weights from, its URL), or None for random init.
    Nothing is downloaded; ``path.is_file()`` says whether the weights are here."""
    member = resolve_weights(name, weights)
    if member is None:
        return None
    return checkpoint_dir() / member.url.rsplit("/", 1)[-1], member.url


def _ensure_cached(name: str, member: Any, *, download: bool, timeout: float) -> Path:
    path, url = weights_file(name, member)  # type: ignore[misc]
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
    weights : ``"default"`` (torchvision's DEFAULT, :func:`default_weights`), a weights name, or None.
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
    return model.to(devices.torch_device("cpu" if device is None else device)).eval()


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
    :func:`xcorr_lib.nets.capture.capture_activations` see the same module names, and the
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
