"""Which device a run uses (``"auto"`` is a GPU when torch sees one, else the CPU), and waiting for it."""

from __future__ import annotations

from typing import Any

__all__ = ["resolve_device", "synchronize"]


def resolve_device(device: Any = "auto") -> str:
    """``"auto"`` (or None) -> ``"cuda"`` when ``torch.cuda.is_available()``, else ``"cpu"``; any other
    value (``"cpu"``, ``"cuda"``, ``"cuda:1"``, a ``torch.device``) as a string, unchanged."""
    if device is None or str(device) == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def synchronize(device: Any) -> None:
    """Wait for a GPU's queued work (so a timer around it measures it); nothing on the CPU."""
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize()
