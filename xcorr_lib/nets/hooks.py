"""Forward hooks on named modules: read one module's output, replace it, freeze models.

The building blocks of the interventions (MAS, stitching) and of every "read layer X"
helper. A module name is as in ``model.named_modules()``; an unknown name raises a
ValueError listing the valid ones.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from xcorr_lib.common import devices

__all__ = ["get_module", "model_device", "on_device", "as_inputs", "as_labels", "replace_output", "layer_output",
           "layer_outputs", "frozen"]


class _StopForward(Exception):
    """Raised inside a capture hook to skip the rest of a forward pass."""


def get_module(model: nn.Module, layer: str) -> nn.Module:
    """The submodule of ``model`` called ``layer``; ValueError listing valid names if absent."""
    modules = dict(model.named_modules())
    if layer not in modules or layer == "":
        valid = [name for name in modules if name]
        raise ValueError(f"unknown module name {layer!r} in {type(model).__name__}; "
                         f"valid names: {valid}")
    return modules[layer]


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter (CPU for parameter-free models)."""
    for param in model.parameters():
        return param.device
    return torch.device("cpu")


def on_device(models: Mapping[str, nn.Module], device: Any = "auto") -> dict[str, nn.Module]:
    """``{name: model}`` with every model moved (in place) to ``device`` (``"auto"``: a GPU when
    torch sees one, else the CPU): the interventions (MAS, stitching) run where their models are."""
    dev = devices.torch_device(device)
    return {name: model.to(dev) for name, model in models.items()}


def as_inputs(X: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """Inputs as a float32 tensor on ``device``."""
    return torch.as_tensor(np.asarray(X) if not torch.is_tensor(X) else X,
                           dtype=torch.float32).to(device)


def as_labels(y: np.ndarray | torch.Tensor, n: int) -> torch.Tensor:
    """Integer labels (n,) as int64 CPU tensor; ValueError on a length mismatch."""
    labels = torch.as_tensor(np.asarray(y.cpu() if torch.is_tensor(y) else y))
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"X and y do not match: X has {n} inputs, y has shape "
                         f"{tuple(labels.shape)} (expected ({n},))")
    if labels.is_floating_point() or (labels < 0).any():
        raise ValueError("y must hold non-negative integer class labels")
    return labels.long()


def _flat(output: object, layer: str) -> torch.Tensor:
    if not torch.is_tensor(output):
        raise TypeError(f"module {layer!r} returns {type(output).__name__}, not a tensor")
    return output.reshape(output.shape[0], -1)


@contextmanager
def replace_output(model: nn.Module, layer: str,
                   fn: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[nn.Module]:
    """Within the block, ``model.layer``'s output ``h`` is replaced by ``fn(h)``.

    ``fn`` gets the output flattened to (batch, units) and returns (rows, units), reshaped
    to (rows, *unit shape); rows may exceed batch (copies that the rest of the forward
    pass processes too). The hook is removed on exit, also when the block raises. A module
    called several times per forward pass is replaced every time.
    """
    module = get_module(model, layer)
    handle = module.register_forward_hook(
        lambda _m, _i, out: (lambda new: new.reshape(new.shape[0], *out.shape[1:]))(
            fn(_flat(out, layer))))
    try:
        yield module
    finally:
        handle.remove()


def layer_output(model: nn.Module, layer: str, X: torch.Tensor) -> torch.Tensor:
    """Flattened output (batch, units) of ``model.layer`` on ``X`` (rest of the forward skipped)."""
    store: list[torch.Tensor] = []

    def hook(_mod: nn.Module, _inp: tuple, output: torch.Tensor) -> None:
        store.append(_flat(output, layer))
        raise _StopForward

    handle = get_module(model, layer).register_forward_hook(hook)
    try:
        model(X)
    except _StopForward:
        pass
    finally:
        handle.remove()
    if not store:
        raise ValueError(f"module {layer!r} was not called in the forward pass")
    return store[0]


@contextmanager
def frozen(models: Sequence[nn.Module]) -> Iterator[None]:
    """Eval mode and ``requires_grad=False`` inside the block; previous state restored after."""
    saved = [(m, m.training, [(p, p.requires_grad) for p in m.parameters()]) for m in models]
    try:
        for model in models:
            model.eval()
            model.requires_grad_(False)
        yield
    finally:
        for model, training, flags in saved:
            model.train(training)
            for param, flag in flags:
                param.requires_grad_(flag)


def layer_outputs(model: nn.Module, layer: str, X: np.ndarray | torch.Tensor, *,
                  batch_size: int = 500) -> np.ndarray:
    """:func:`layer_output` over ``X`` in batches, without gradients: (N, units) float32 numpy."""
    x = as_inputs(X, model_device(model))
    with torch.no_grad():
        return np.concatenate([layer_output(model, layer, x[i:i + batch_size]).cpu().numpy()
                               for i in range(0, len(x), batch_size)])
