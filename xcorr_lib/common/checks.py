"""Argument checks shared by every layer: one message format, the argument named.

Every function raises ``ValueError`` that names the argument, what was expected and what
was given, and returns the (normalised) value so it can be used inline::

    variant = check_option("variant", variant, ("paper", "original"))
    steps = check_positive_int("steps", steps)
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

__all__ = ["check_option", "check_positive_int", "check_positive_ints", "check_fraction"]


def check_option(name: str, value: Any, valid: Sequence[Any]) -> Any:
    """``value`` if it is one of ``valid``, else ``ValueError("unknown <name> <value>; valid: ...")``."""
    if value not in tuple(valid):
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(map(repr, valid))}")
    return value


def check_positive_int(name: str, value: Any, *, allow_none: bool = False) -> Any:
    """``int(value)`` for an integer >= 1 (bools refused); None passes when ``allow_none``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        extra = " or None" if allow_none else ""
        raise ValueError(f"{name} must be a positive integer{extra}, got {value!r}")
    return int(value)


def check_positive_ints(**values: Any) -> None:
    """:func:`check_positive_int` of every keyword (``check_positive_ints(steps=s, batch_size=b)``)."""
    for name, value in values.items():
        check_positive_int(name, value)


def check_fraction(name: str, value: Any, *, low: float = 0.0, high: float = 1.0,
                   closed_high: bool = False) -> float:
    """``float(value)`` for a finite number in ``[low, high)`` (``[low, high]`` when ``closed_high``)."""
    v = float(value)
    ok = math.isfinite(v) and low <= v and (v <= high if closed_high else v < high)
    if not ok:
        raise ValueError(f"{name} must be in [{low}, {high}{']' if closed_high else ')'}, got {value!r}")
    return v
