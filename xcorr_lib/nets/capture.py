"""Activation capture with forward hooks: "every hidden unit" of the paper's score (its section 3.2).

:func:`capture_activations` runs a probe set through a model in eval mode without
gradients, records the outputs of named modules and returns them as one (M, N)
matrix with a depth id per unit, ready for
:func:`xcorr_lib.score.correlation.neuron_correlation`. :func:`capture` does the same and
also says which module, channel and spatial position every unit came from.

Unit order: modules in the order given, and inside a module output of shape
``(B, C, *spatial)`` the C-order flattening (channel, row, col). ``channels`` keeps a
subset of channels (the original ImageNet scripts kept channel 0 only) and
``spatial="mean"`` averages over the spatial positions; both only act on outputs
with spatial dimensions (ndim >= 3), (B, F) outputs are always kept whole.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from xcorr_lib.common import devices, numerics

Spatial = Literal["flatten", "mean"]
__all__ = ["Capture", "capture", "capture_activations", "capture_all"]


@dataclass(frozen=True, eq=False)
class Capture:
    """Activations and where every unit came from.

    Attributes
    ----------
    acts : torch.Tensor, float32, CPU, shape (M, N)
    layer_ids : numpy.ndarray, int64, shape (N,)
    units : pandas.DataFrame, N rows
        module (name), layer (depth id), channel (index along dim 1 of the module
        output), position (flat spatial index of the kept output; -1 when the output
        has no spatial dims or ``spatial="mean"``).
    """

    acts: torch.Tensor
    layer_ids: np.ndarray
    units: pd.DataFrame


def capture_activations(
    model: nn.Module,
    probe: Any,
    modules: Mapping[str, int] | Sequence[str],
    *,
    batch_size: int = 256,
    channels: int | Sequence[int] | None = None,
    spatial: Spatial = "flatten",
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> tuple[torch.Tensor, np.ndarray]:
    """Hidden-unit activations of ``model`` on ``probe``.

    Parameters
    ----------
    model : torch.nn.Module
        Put in eval mode for the capture; every submodule's training flag is restored.
    probe : torch.Tensor or numpy.ndarray of shape (M, ...), or an iterable of batches
        Inputs in the model's input shape. An iterable (e.g. a DataLoader) yields
        tensors or (x, y, ...) tuples whose first element is the input.
    modules : dict {module name: depth id} or list of module names
        Modules whose outputs are the units (names as in ``model.named_modules()``).
        With a list, the depth id is the position in the list. Several modules may
        share a depth id (e.g. the blocks of a ResNet stage).
    batch_size : int
        Probes per forward pass (array probes only).
    channels : int or sequence of int, optional
        Keep only these channels of outputs with spatial dims (an int k: the first k).
    spatial : {"flatten", "mean"}
        One unit per (channel, position), or per channel averaged over positions.
    device : str or torch.device, optional
        Where to run the forward passes (default: where the model's parameters are).
        The model is moved there for the capture and moved back afterwards.
    progress : bool, optional
        tqdm bar over batches; None: shown when there are more than 10 batches.

    Returns
    -------
    acts : torch.Tensor, float32, CPU, shape (M, N)
    layer_ids : numpy.ndarray, int64, shape (N,)
    """
    out = capture(model, probe, modules, batch_size=batch_size, channels=channels,
                  spatial=spatial, device=device, progress=progress)  # fmt: skip
    return out.acts, out.layer_ids


def capture(
    model: nn.Module,
    probe: Any,
    modules: Mapping[str, int] | Sequence[str],
    *,
    batch_size: int = 256,
    channels: int | Sequence[int] | None = None,
    spatial: Spatial = "flatten",
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> Capture:
    """:func:`capture_activations` that also returns the unit table (see :class:`Capture`)."""
    depth = _module_depths(model, modules)
    if spatial not in ("flatten", "mean"):
        raise ValueError(f"unknown spatial {spatial!r}; valid: 'flatten', 'mean'")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    keep = _channel_index(channels)
    dev = _device(model, device)
    batches, n_batches, n_probes = _batches(probe, batch_size)
    show = progress if progress is not None else (n_batches is not None and n_batches > 10)

    named = dict(model.named_modules())
    seen: dict[str, list[torch.Tensor]] = {name: [] for name in depth}
    shapes: dict[str, tuple[int, ...]] = {}  # output shape without the batch dim

    def make_hook(name: str):
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"module {name!r} returned {type(output).__name__}, not a tensor; hook a module that returns one")
            seen[name].append(_units(output.detach(), keep, spatial, name))
            shapes.setdefault(name, tuple(output.shape[1:]))

        return hook

    modes = {m: m.training for m in model.modules()}
    home = _device(model, None)
    move = dev != home
    handles = [named[name].register_forward_hook(make_hook(name)) for name in depth]
    chunks: list[torch.Tensor] = []
    acts = None
    done = 0
    try:
        if move:
            model.to(dev)
        model.eval()
        with torch.no_grad(), numerics.portable_torch():
            for x in tqdm(batches, total=n_batches, desc="capture", disable=not show):
                for name in depth:
                    seen[name].clear()
                model(_to_model(x, model, dev))
                chunk = _collect(seen, int(x.shape[0]))
                if n_probes is None:
                    chunks.append(chunk)
                    continue
                if acts is None:  # known probe count: fill one preallocated matrix
                    acts = torch.empty((n_probes, chunk.shape[1]), dtype=torch.float32)
                acts[done : done + chunk.shape[0]] = chunk
                done += chunk.shape[0]
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.train(mode)
        if move:
            model.to(home)
    if acts is None:
        if not chunks:
            raise ValueError("the probe set is empty: no batch was run")
        acts = torch.cat(chunks)
    units = _unit_table(depth, shapes, keep, spatial)
    if len(units) != acts.shape[1]:
        raise RuntimeError(f"internal error: {len(units)} unit labels for {acts.shape[1]} columns")
    return Capture(acts=acts, layer_ids=units["layer"].to_numpy(np.int64), units=units)


# ----------------------------------------------------------------------------- helpers
def _module_depths(model: nn.Module, modules: Mapping[str, int] | Sequence[str]) -> dict[str, int]:
    if isinstance(modules, str):
        raise ValueError(f"modules must be a list of names or a dict {{name: depth}}, got the string {modules!r}")
    if isinstance(modules, Mapping):
        depth = dict(modules)
    else:
        names = list(modules)
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate module names in {names}")
        depth = {name: i for i, name in enumerate(names)}
    if not depth:
        raise ValueError("modules is empty; name at least one module to capture")
    valid = [n for n, _ in model.named_modules() if n]
    for name, d in depth.items():
        if name not in valid:
            close = difflib.get_close_matches(str(name), valid, n=3)
            hint = f" Did you mean {close}?" if close else ""
            shown = ", ".join(valid[:40]) + (f", ... ({len(valid)} in all)" if len(valid) > 40 else "")
            raise ValueError(f"unknown module {name!r}.{hint} Valid names: {shown}")
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise ValueError(f"depth id of module {name!r} must be an integer, got {d!r}")
    return {name: int(d) for name, d in depth.items()}


def _channel_index(channels: int | Sequence[int] | None) -> torch.Tensor | None:
    if channels is None:
        return None
    if isinstance(channels, (int, np.integer)) and not isinstance(channels, bool):
        if channels < 1:
            raise ValueError(f"channels as an int is a count (the first k), must be >= 1, got {channels}")
        return torch.arange(int(channels))
    idx = np.asarray(list(channels))
    if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu" or (idx < 0).any() or len(set(idx.tolist())) != idx.size:
        raise ValueError(f"channels must be an int or a non-empty list of distinct channel indices >= 0, got {channels!r}")
    return torch.as_tensor(idx, dtype=torch.int64)


def _device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    if device is None:
        first = next(iter(model.parameters()), None)
        first = first if first is not None else next(iter(model.buffers()), None)
        return first.device if first is not None else torch.device("cpu")
    return devices.torch_device(device)


def _batches(probe: Any, batch_size: int) -> tuple[Iterable[torch.Tensor], int | None, int | None]:
    """(iterable of input batches, number of batches or None, number of probes or None)."""
    if isinstance(probe, np.ndarray):
        probe = torch.from_numpy(probe)
    if isinstance(probe, torch.Tensor):
        if probe.ndim < 1 or probe.shape[0] == 0:
            raise ValueError(f"probe must have at least one row (M, ...), got shape {tuple(probe.shape)}")
        m = probe.shape[0]
        return (probe[i : i + batch_size] for i in range(0, m, batch_size)), -(-m // batch_size), m
    if not isinstance(probe, Iterable):
        raise ValueError(f"probe must be a tensor, an array or an iterable of batches, got {type(probe).__name__}")

    def first(batch: Any) -> torch.Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        x = torch.from_numpy(x) if isinstance(x, np.ndarray) else x
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"each probe batch must be a tensor or an (x, y) tuple, got {type(batch).__name__}")
        return x

    n = len(probe) if hasattr(probe, "__len__") else None
    return (first(b) for b in probe), n, None


def _to_model(x: torch.Tensor, model: nn.Module, dev: torch.device) -> torch.Tensor:
    param = next(iter(model.parameters()), None)
    if param is not None and x.is_floating_point() and param.is_floating_point():
        return x.to(device=dev, dtype=param.dtype)
    return x.to(dev)


def _units(out: torch.Tensor, keep: torch.Tensor | None, spatial: str, name: str) -> torch.Tensor:
    """Module output (B, C, *spatial) -> (B, units) float32 on CPU."""
    if out.ndim < 2:
        raise ValueError(f"module {name!r} output has shape {tuple(out.shape)}; need (batch, features, ...)")
    if out.ndim >= 3:
        if keep is not None:
            if int(keep.max()) >= out.shape[1]:
                raise ValueError(f"channels {keep.tolist()} out of range for module {name!r} with {out.shape[1]} channels")
            out = out.index_select(1, keep.to(out.device))
        if spatial == "mean":
            out = out.flatten(2).mean(dim=2)
    flat = out.reshape(out.shape[0], -1)
    if flat.shape[1] == 0:
        raise ValueError(f"module {name!r} produced an empty output (shape {tuple(out.shape)})")
    return flat.to(device="cpu", dtype=torch.float32)


def _collect(seen: dict[str, list[torch.Tensor]], batch: int) -> torch.Tensor:
    parts = []
    for name, outs in seen.items():
        if len(outs) != 1:
            what = "never ran" if not outs else f"ran {len(outs)} times"
            raise ValueError(f"module {name!r} {what} in one forward pass; hook modules that run exactly once")
        if outs[0].shape[0] != batch:
            raise ValueError(f"module {name!r} output has {outs[0].shape[0]} rows for a batch of {batch}; it must be batch-first")
        parts.append(outs[0])
    return torch.cat(parts, dim=1)


def _unit_table(depth: dict[str, int], shapes: dict[str, tuple[int, ...]], keep: torch.Tensor | None, spatial: str) -> pd.DataFrame:
    frames = []
    for name, d in depth.items():
        shape = shapes[name]  # output shape without the batch dim
        if len(shape) >= 2:
            chans = keep.numpy() if keep is not None else np.arange(shape[0])
            n_pos = 1 if spatial == "mean" else int(np.prod(shape[1:]))
            channel = np.repeat(chans, n_pos)
            position = np.full(len(channel), -1) if spatial == "mean" else np.tile(np.arange(n_pos), len(chans))
        else:
            channel, position = np.arange(shape[0]), np.full(shape[0], -1)
        frames.append(pd.DataFrame({"module": name, "layer": d, "channel": channel, "position": position}))
    return pd.concat(frames, ignore_index=True)


def capture_all(models: Mapping[str, nn.Module], probe: Any, *, modules: Mapping[str, Mapping[str, int]] | None = None,
                batch_size: int = 500, device: str | torch.device | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every model's hidden units on one probe set: ``{name: (acts (M, N) float32 numpy, layers (N,))}``.

    ``modules[name]`` picks the modules of a model (default: its ``unit_modules()``, the
    paper's hidden units); ``device``: where the forward passes run (``"auto"``, ``"cpu"``,
    ``"cuda"``; default where each model is). The one "capture every model on x" helper.
    """
    x = torch.as_tensor(np.asarray(probe.cpu() if isinstance(probe, torch.Tensor) else probe, dtype=np.float32))
    out = {}
    for name, model in models.items():
        mods = (modules or {}).get(name) or model.unit_modules()
        acts, layers = capture_activations(model, x, mods, batch_size=batch_size, device=device,
                                            progress=False)
        out[name] = (acts.numpy(), layers)
    return out
