"""Execution ids that sort by time (ULID layout: 48 bits of milliseconds, 80 random bits)."""

from __future__ import annotations

import os
import random
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
"""Two characters for each 10-bit value: half as many steps as one character at a time."""
_TIME_SHIFTS = (40, 30, 20, 10, 0)  # 10 characters: 50 bits, the top 2 always 0
_RANDOM_SHIFTS = (70, 60, 50, 40, 30, 20, 10, 0)  # 16 characters: 80 bits

# Not a secret, only unique: a PRNG seeded from the OS (and reseeded in forked children) is
# enough and much cheaper than a system call per id.
_random = random.Random()
if hasattr(os, "register_at_fork"):  # only the module's own generator is reseeded for us
    os.register_at_fork(after_in_child=_random.seed)

_last: tuple[int, str] = (-1, "")
"""The last millisecond and its characters, as one tuple: threads read and replace it whole."""


def new_execution_id() -> str:
    """26 characters, 5 bits each, most significant first: the time, then the random bits,
    so that ids sort by time as text."""
    global _last
    ms = int(time.time() * 1000)
    last_ms, prefix = _last
    if ms != last_ms:  # under load, several ids a millisecond share the time part
        prefix = _encode(ms, _TIME_SHIFTS)
        _last = (ms, prefix)
    return prefix + _encode(_random.getrandbits(80), _RANDOM_SHIFTS)


def _encode(value: int, shifts: tuple[int, ...]) -> str:
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in shifts])
