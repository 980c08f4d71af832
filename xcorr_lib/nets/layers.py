"""Which modules of a model can be compared: their output shapes, and pairs chosen by depth.

- :func:`list_layers`: every named module that returns one tensor on a few probes, in the
  order the forward pass calls it, with its output shape and unit count (``xcorr layers``);
- :func:`choose_layers`: the modules ``--layers auto`` chooses from, as the model's library
  names its stages, and where that choice came from: timm's ``feature_info`` (every timm
  model; its stride-2 stem left out when four or more stages follow), the known stages of
  torchvision's families (ResNet ``layer1..4``, DenseNet ``denseblock1..4``, EfficientNet and
  MobileNet ``features.1..n-2``, ConvNeXt and Swin ``features.1,3,5,7``, ViT encoder
  layers), a Hugging Face model's hidden states, and only then :func:`candidate_layers`;
- :func:`candidate_layers`: the fallback: the direct children of the model (descending into a
  single wrapping child), never a pooling, dropout, flatten or identity module, without the
  final classifier;
- :func:`pair_by_depth`: ``k`` layers of each model at the same relative depths, paired.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

__all__ = ["list_layers", "choose_layers", "candidate_layers", "pair_by_depth"]

#: Module types that never hold a representation worth comparing (matched in the type name).
PLUMBING = ("Pool", "Dropout", "Flatten", "Identity")


def list_layers(model: nn.Module, probe: Any, *, n_probes: int = 2) -> pd.DataFrame:
    """One row per named module that outputs a tensor on ``probe[:n_probes]``: ``order``
    (position in the forward pass, first call), ``module``, ``type``, ``shape`` (without the
    batch dimension), ``units`` (elements per probe), ``depth`` (dots in the name)."""
    seen: dict[str, tuple[str, tuple[int, ...]]] = {}
    handles = []

    def hook(name: str):
        def record(module: nn.Module, args: Any, out: Any) -> None:
            if name not in seen and isinstance(out, torch.Tensor) and out.ndim >= 2:
                seen[name] = (type(module).__name__, tuple(out.shape[1:]))
        return record

    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            model.eval()(probe[:n_probes])
    finally:
        for h in handles:
            h.remove()
    rows = [{"order": i, "module": n, "type": t, "shape": "x".join(map(str, s)), "units": int(np.prod(s)),
             "depth": n.count(".")} for i, (n, (t, s)) in enumerate(seen.items())]
    return pd.DataFrame(rows, columns=["order", "module", "type", "shape", "units", "depth"])


def _timm_stages(model: nn.Module) -> list[str]:
    info = getattr(model, "feature_info", None)
    if not isinstance(info, list) or not all(isinstance(f, dict) and "module" in f for f in info):
        return []
    stages = [f for f in info if f.get("module")]
    if len(stages) >= 5 and stages[0].get("reduction", 0) <= 2:  # the stem, before the stages proper
        stages = stages[1:]
    return [f["module"] for f in stages]


def _torchvision_stages(model: nn.Module) -> tuple[list[str], str]:
    kind = type(model).__name__
    names = {n for n, _ in model.named_modules()}
    features = getattr(model, "features", None)
    n_features = len(features) if isinstance(features, nn.Sequential) else 0
    if kind == "ResNet":
        return [f"layer{i}" for i in range(1, 5)], "torchvision ResNet stages"
    if kind == "DenseNet":
        return [f"features.denseblock{i}" for i in range(1, 5)], "torchvision DenseNet dense blocks"
    if kind in ("EfficientNet", "MobileNetV2", "MobileNetV3") and n_features > 3:
        return [f"features.{i}" for i in range(1, n_features - 1)], f"torchvision {kind} blocks (stem and head left out)"
    if kind in ("ConvNeXt", "SwinTransformer") and n_features == 8:
        return [f"features.{i}" for i in (1, 3, 5, 7)], f"torchvision {kind} stages"
    if kind == "VisionTransformer":
        layers = sorted((n for n in names if n.count(".") == 2 and n.startswith("encoder.layers.")),
                        key=lambda n: int(n.rsplit("_", 1)[-1]))
        return layers, "torchvision ViT encoder blocks"
    return [], ""


def choose_layers(model: nn.Module, layers: pd.DataFrame) -> tuple[list[str], str]:
    """The modules ``--layers auto`` chooses among, in forward order, and where that choice came
    from (see the module doc). ``layers``: :func:`list_layers` of the model; a stage that gives
    no tensor output there is left out."""
    known = list(layers["module"])
    hidden = [n for n in known if n.startswith("hidden_states.")]
    for names, source in ((_timm_stages(model), "timm feature_info"), _torchvision_stages(model),
                          (hidden, "Hugging Face hidden states")):
        present = [n for n in known if n in set(names)]
        if len(present) >= 2:
            return present, source
    return candidate_layers(layers), "top-level children (no stages known for this model)"


def candidate_layers(layers: pd.DataFrame) -> list[str]:
    """The fallback of :func:`choose_layers`, in forward order (see the module doc)."""
    names = list(layers["module"])
    hidden = [n for n in names if n.startswith("hidden_states.")]
    if hidden:
        return hidden
    layers = layers[~layers["type"].str.contains("|".join(PLUMBING))]
    top = layers[layers["depth"] == 0]
    while len(top) == 1:  # one wrapping child (e.g. a Sequential inside the model): look inside it
        prefix = top["module"].iloc[0] + "."
        inner = layers[layers["module"].str.startswith(prefix) & (layers["depth"] == top["depth"].iloc[0] + 1)]
        if inner.empty:
            break
        top = inner
    picked = list(top["module"])
    return picked[:-1] if len(picked) > 2 else picked  # the last module is the classifier / output


def pair_by_depth(names_a: list[str], names_b: list[str], k: int | None = None) -> pd.DataFrame:
    """``k`` layers of each model (default: as many as the shorter list has, at most 4) at
    evenly spaced relative depths (first to last candidate), paired in order: columns
    ``depth`` (0..k-1, the depth id given to both), ``module_a``, ``module_b``,
    ``relative_depth_a``, ``relative_depth_b``."""
    if not names_a or not names_b:
        raise ValueError("no candidate layers to pair (list them with `xcorr layers MODEL`)")
    k = min(len(names_a), len(names_b), 4) if k is None else int(k)
    if k < 1 or k > min(len(names_a), len(names_b)):
        raise ValueError(f"cannot choose {k} layers: the models have {len(names_a)} and {len(names_b)} candidates")

    def pick(names: list[str]) -> np.ndarray:
        return np.unique(np.round(np.linspace(0, len(names) - 1, k)).astype(int)) if k > 1 else np.array([len(names) - 1])

    ia, ib = pick(names_a), pick(names_b)
    return pd.DataFrame({"depth": np.arange(k), "module_a": [names_a[i] for i in ia], "module_b": [names_b[i] for i in ib],
                         "relative_depth_a": ia / max(len(names_a) - 1, 1), "relative_depth_b": ib / max(len(names_b) - 1, 1)})
