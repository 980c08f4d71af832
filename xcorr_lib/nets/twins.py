"""Untrained twins: a model's architecture, re-initialized. The first control a reviewer asks for.

Two networks of the same architecture can look alike before any training: the input's
statistics and the architecture's pooling and nonlinearities shape their units. The score of
A against B's untrained twin says how much of Corr(A, B) training explains
(``null="untrained"`` of :func:`~xcorr_lib.score.correlation.neuron_correlation`).

A twin is built the way the architecture is built, never by perturbing trained weights:

- a :class:`~xcorr_lib.nets.sources.Source` that knows how to rebuild itself (zoo names,
  ``timm:NAME``, ``.safetensors`` with ``--arch``, ``hf:``) calls its constructor with
  ``torch.manual_seed(seed)`` (:func:`twin_source`), so its initialization is the library's own;
- the paper's FCNs and CNN (:mod:`xcorr_lib.nets.models`) are constructed again from their spec;
- any other eager ``nn.Module`` (a pickled model) is deep-copied and every submodule's
  ``reset_parameters()`` is called; if some parameter belongs to no module that can reset it,
  :class:`TwinUnavailableError` names it (a half-trained "twin" would be no null at all);
- a TorchScript or ``torch.export`` (``.pt2``) program holds a compiled graph, not the Python
  code that initializes it: :class:`TwinUnavailableError`.

The caller's global RNG is never touched (``torch.random.fork_rng``); same seed, same twin.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any, Callable

import torch
from torch import nn

from xcorr_lib.nets.models import CNN, FCN
from xcorr_lib.nets.sources import Source
from xcorr_lib.nets.training import derive_seed

__all__ = ["TwinUnavailableError", "untrained_twin", "twin_source", "twin_seeds"]


class TwinUnavailableError(ValueError):
    """The model's architecture cannot be rebuilt here; the message says why, in one line."""


_COMPILED = ("a compiled program (TorchScript or torch.export) keeps the graph but not the code that "
             "initializes its weights, so it cannot be re-initialized faithfully; save the weights as "
             ".safetensors and pass the architecture (--arch), or use a zoo/timm: name")


def twin_seeds(seed: int, n_twins: int) -> list[int]:
    """The seeds of ``n_twins`` twins drawn from ``seed`` (hashed with a label, so a twin never
    shares its seed with a random-init model made from ``seed`` itself)."""
    return [derive_seed(seed, "untrained-twin", i) for i in range(int(n_twins))]


def _seeded(build: Callable[[], nn.Module], seed: int, cuda: list[int] | None = None) -> nn.Module:
    with torch.random.fork_rng(devices=cuda or []):  # restores the CPU (and the model's CUDA) RNGs
        torch.manual_seed(int(seed))
        return build()


def _paper_model(model: nn.Module) -> Callable[[], nn.Module] | None:
    if type(model) is FCN:
        return lambda: FCN(model.hidden, model.in_features, model.n_classes, model.dropout_p)
    if type(model) is CNN:
        return lambda: CNN(model.n_classes, model.dropout_p, channels=model.channels, fc_units=model.fc_units)
    return None


def _reset_copy(model: nn.Module) -> nn.Module:
    twin = copy.deepcopy(model)
    covered: set[int] = set()
    resettable = [m for m in twin.modules() if callable(getattr(m, "reset_parameters", None))]
    if not resettable:
        raise TwinUnavailableError(f"{type(model).__name__} has no module with reset_parameters(): "
                                   "nothing to re-initialize, so no untrained twin")
    for module in resettable:
        module.reset_parameters()
        covered.update(id(p) for p in module.parameters(recurse=False))
    left = [name for name, p in twin.named_parameters() if id(p) not in covered]
    if left:
        shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
        raise TwinUnavailableError(
            f"{type(model).__name__}: parameter(s) {shown} belong to no module with reset_parameters(), so "
            "re-initializing would keep trained weights; give the architecture instead (a zoo name, timm:NAME, "
            "or .safetensors with --arch)")
    return twin


def untrained_twin(model: nn.Module, *, seed: int = 0) -> nn.Module:
    """``model``'s architecture with fresh initial weights drawn from ``torch.manual_seed(seed)``.

    Parameters
    ----------
    model : an eager ``nn.Module`` (the paper's FCN / CNN are rebuilt from their spec, any
        other module by ``reset_parameters()`` on a deep copy). For zoo, timm, hf and
        ``.safetensors`` models use :func:`twin_source`, which calls their own constructor.
    seed : int, seeds the initialization; same seed, same twin.

    Returns
    -------
    nn.Module in eval mode, on the device of ``model``'s first parameter.

    Raises
    ------
    TwinUnavailableError : a TorchScript / ``torch.export`` module, or a parameter no
        submodule can reset.
    """
    if isinstance(model, (torch.jit.ScriptModule, torch.export.UnflattenedModule)):
        raise TwinUnavailableError(f"no untrained twin of {type(model).__name__}: {_COMPILED}")
    build = _paper_model(model)
    cuda = sorted({p.get_device() for p in model.parameters() if p.is_cuda})
    twin = _seeded(build, seed) if build else _seeded(lambda: _reset_copy(model), seed, cuda)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    return twin.to(device).eval()


def twin_source(src: Source, *, seed: int = 0, device: Any = None) -> Source:
    """The untrained twin of a loaded model (:func:`xcorr_lib.nets.sources.load_source`), as a Source
    with the same modules, inputs and preprocessing; ``weights`` says ``untrained twin (seed s)``.

    Raises TwinUnavailableError for TorchScript and ``.pt2`` programs (one line, why and what to do).
    """
    if src.kind in ("torchscript", "export"):
        raise TwinUnavailableError(f"no untrained twin of {src.spec}: {_COMPILED}")
    model = src.rebuild(seed) if src.rebuild is not None else untrained_twin(src.model, seed=seed)
    if device is not None:
        model = model.to(device)
    return replace(src, model=model.eval(), weights=f"untrained twin (seed {seed})", notes=[])
