"""Numbers a runner reads from its environment, refused with the variable's name when they are
not what it takes."""

from __future__ import annotations

import math
import os


def seconds_from_environment(name: str, default: float) -> float:
    """A number of seconds above 0 from ``$name``; ``default`` when unset or empty."""
    text = os.environ.get(name, "")
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise ValueError(f"{name}={text!r}: give a number of seconds above 0")
    return seconds


def count_from_environment(name: str, default: int) -> int:
    """A whole number above 0 from ``$name``; ``default`` when unset or empty."""
    text = os.environ.get(name, "")
    if not text:
        return default
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"{name}={text!r}: give a whole number above 0")
    return count
