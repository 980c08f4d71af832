"""Models from files, made capturable: safe loading and TorchScript module taps.

- :func:`load_model_file`: a TorchScript file or a ``torch.save``-d model, pickles only
  when trusted (``trust_pickle``); :class:`ModelFileError` (one line) otherwise;
- :func:`tap_script_modules` / :class:`ScriptTaps`: forward hooks do not run on
  ScriptModules, so chosen submodules' outputs are routed through ``nn.Identity``
  modules of the same dotted names, which :func:`xcorr_lib.nets.capture.capture` hooks;
- :func:`valid_names`, :func:`input_hint`, :func:`first_line`: the words of error messages.
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["ModelFileError", "ScriptTaps", "first_line", "input_hint", "load_model_file",
           "tap_script_modules", "valid_names"]


class ModelFileError(ValueError):
    """A model file that cannot be used (missing, corrupt, weights only, untrusted pickle)."""


def load_model_file(path: str | Path, *, trust_pickle: bool = False) -> tuple[nn.Module, str]:
    """Load a model file -> ``(model in eval mode, "torchscript" | "pickle")``; ModelFileError for
    missing/unreadable files, state dicts and pickled models without ``trust_pickle``."""
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"cannot read model file {str(path)!r}: no such file")
    try:
        if zipfile.is_zipfile(p) and any(n.endswith("constants.pkl") or "/code/" in n
                                         for n in zipfile.ZipFile(p).namelist()):
            with warnings.catch_warnings():  # torch.jit.load's deprecation notice
                warnings.simplefilter("ignore", FutureWarning)
                return torch.jit.load(str(p), map_location="cpu").eval(), "torchscript"
        try:
            obj, kind = torch.load(p, map_location="cpu", weights_only=True), "pickle"
        except pickle.UnpicklingError as err:
            if "Unsupported global" not in str(err):
                raise
            if not trust_pickle:
                raise ModelFileError(f"{p} holds a pickled Python model; loading it can run arbitrary code "
                               "from the file. Re-run with --trust-pickle if you trust its source, "
                               "or save the model with torch.jit.script(model).save(path)") from None
            obj, kind = torch.load(p, map_location="cpu", weights_only=False), "pickle"
    except ModelFileError:
        raise
    except Exception as err:  # corrupt file, missing class for a pickle, ...
        raise ModelFileError(f"cannot read model file {p}: {first_line(err)}") from err
    if not isinstance(obj, nn.Module):
        what = "a state_dict (weights only, no architecture)" if isinstance(obj, dict) else type(obj).__name__
        raise ModelFileError(f"{p} holds {what}, not a model; save the model itself, e.g. "
                       "torch.jit.script(model).save(path)")
    return obj.eval(), kind


# ----------------------------------------------------------------------------- TorchScript
_TAP_ATTR = "_xcorr_tap_out"


class ScriptTaps(nn.Module):
    """Eager wrapper of a TorchScript model (``register_forward_hook`` does not work on
    ScriptModules): after the model runs, the output each chosen submodule stored (see
    :func:`tap_script_modules`) goes through an ``nn.Identity`` registered under the same
    dotted name, so ``capture_activations(wrapper, probes, {"block.1": 0})`` works."""

    def __init__(self, script: torch.jit.ScriptModule, names: list[str]) -> None:
        super().__init__()
        self.xcorr_script = script
        self._names = list(names)
        script_modules = dict(script.named_modules())  # ScriptModules lack get_submodule
        self._sources = [script_modules[n] for n in self._names]
        for name in self._names:
            parent: nn.Module = self
            for part in name.split("."):
                if part not in parent._modules:
                    parent.add_module(part, nn.Identity())  # hooks on it see that output
                parent = parent._modules[part]  # type: ignore[assignment]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        for source in self._sources:
            source._c.setattr(_TAP_ATTR, torch.empty(0))
        out = self.xcorr_script(*args, **kwargs)
        for name, source in zip(self._names, self._sources):
            value = source._c.getattr(_TAP_ATTR)
            if value.ndim == 1 and value.numel() == 0:
                raise RuntimeError(f"module {name!r} was not called by the model's forward")
            self.get_submodule(name)(value)  # a module called twice shows its last output
        return out


def tap_script_modules(script: torch.jit.ScriptModule, names: list[str]) -> ScriptTaps:
    """Make the outputs of the named submodules of a TorchScript model capturable.

    Modifies ``script`` in place (its compiled methods), so load a fresh copy
    (``torch.jit.load``) for this. Each named module must return a single tensor.
    Works for scripted and traced models; relies on TorchScript internals (``_c``).

    Raises ValueError for unknown names or modules that do not return a tensor.
    """
    modules = dict(script.named_modules())
    for name in names:
        if not name or name not in modules:
            raise ValueError(f"unknown module {name!r}; valid modules: {', '.join(n for n in modules if n)}")
        sub = modules[name]
        graph = sub._c._get_method("forward").graph
        ret = graph.return_node()
        out = ret.inputsAt(0)
        if not isinstance(out.type(), torch._C.TensorType):
            raise ValueError(f"module {name!r} returns {out.type()}, not a tensor; choose a module "
                             "that returns one tensor")
        for other in modules.values():  # every instance of the same compiled class gets the slot
            if other._c._type() == sub._c._type() and not other._c.hasattr(_TAP_ATTR):
                other._c._register_attribute(_TAP_ATTR, torch._C.TensorType.get(), torch.empty(0))
        if not any(n.kind() == "prim::SetAttr" and n.s("name") == _TAP_ATTR for n in graph.nodes()):
            node = graph.create("prim::SetAttr", [next(iter(graph.inputs())), out], 0)
            node.s_("name", _TAP_ATTR)
            node.insertBefore(ret)
    return ScriptTaps(script, list(names))


def first_line(err: BaseException) -> str:
    """One line of an exception; for TorchScript errors the last line (the real cause)."""
    text = str(err).strip().splitlines()
    line = (text[-1] if "TorchScript" in text[0] else text[0]) if text else ""
    return line if line.startswith(type(err).__name__) else f"{type(err).__name__}: {line}".rstrip(": ")


def valid_names(model: nn.Module, limit: int = 40) -> str:
    names = [n for n, _ in model.named_modules() if n]
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def input_hint(model: nn.Module) -> str:
    """What the first weight tensor says about the expected input (best effort)."""
    for name, param in model.named_parameters():
        if name.endswith("weight") and param.ndim in (2, 4):
            kind, what, tail = ("conv", "input channels", ", H, W") if param.ndim == 4 else ("linear layer", "input features", "")
            return f"its first {kind} ({name}) expects {param.shape[1]} {what}, i.e. (N, {param.shape[1]}{tail})"
    return "the expected input shape is unknown"
