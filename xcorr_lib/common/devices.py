"""Which device a run uses (``"auto"`` is a GPU when torch sees one, else the CPU), and waiting for it."""

from __future__ import annotations

from typing import Any

__all__ = ["describe_device", "resolve_device", "synchronize", "torch_device"]


def resolve_device(device: Any = "auto") -> str:
    """``"auto"`` (or None) -> ``"cuda"`` when ``torch.cuda.is_available()``, else ``"cpu"``; any other
    value (``"cpu"``, ``"cuda"``, ``"cuda:1"``, a ``torch.device``) as a string, unchanged.

    In portable mode (:func:`xcorr_lib.common.numerics.is_portable`) ``"auto"`` is the CPU: that
    mode promises the same numbers on any x86-64 machine, which a GPU's kernels would not keep."""
    if device is None or str(device) == "auto":
        import torch

        from xcorr_lib.common import numerics

        return "cuda" if torch.cuda.is_available() and not numerics.is_portable() else "cpu"
    return str(device)


def torch_device(device: Any = "auto") -> Any:
    """:func:`resolve_device` as a ``torch.device`` this machine can use; ValueError (one line) for
    a GPU that torch cannot see here."""
    import torch

    dev = torch.device(resolve_device(device))
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(dev)!r} requested but CUDA is not available here "
                         "(torch.cuda.is_available() is False); use 'auto' or 'cpu'")
    return dev


def describe_device(device: Any = "auto") -> str:
    """What the manifest records: ``"cpu"``, or the GPU with its name (``"cuda:0 (NVIDIA H100 80GB HBM3)"``)."""
    dev = torch_device(device)
    if dev.type != "cuda":
        return dev.type
    import torch

    index = dev.index if dev.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


def synchronize(device: Any) -> None:
    """Wait for a GPU's queued work (so a timer around it measures it); nothing on the CPU."""
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize()
