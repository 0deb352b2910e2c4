"""Numbers Weir reads from its environment, refused with the variable's name when they are
not what it takes."""

from __future__ import annotations

import math
import os
from collections.abc import Callable


class SettingError(ValueError):
    """An environment variable holds what Weir cannot use; the message names it. The command
    line reports it as bad usage (exit 2)."""


def seconds_from_environment(name: str, default: float) -> float:
    """A number of seconds above 0 from ``$name``; ``default`` when unset or empty."""
    return _positive(name, default, float, "a number of seconds above 0")


def count_from_environment(name: str, default: int) -> int:
    """A whole number above 0 from ``$name``; ``default`` when unset or empty."""
    return int(_positive(name, default, int, "a whole number above 0"))


def port_from_environment(name: str, default: int) -> int:
    """A TCP port from ``$name`` (0: any free one); ``default`` when unset or empty."""
    text = os.environ.get(name, "")
    if not text:
        return default
    if not text.isdigit() or int(text) > 65535:
        raise SettingError(f"{name}={text!r}: give a port from 0 to 65535")
    return int(text)


def _positive(name: str, default: float, parse: Callable[[str], float], expected: str) -> float:
    text = os.environ.get(name, "")
    if not text:
        return default
    try:
        value = parse(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise SettingError(f"{name}={text!r}: give {expected}")
    return value
