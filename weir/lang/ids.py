"""Execution ids that sort by time (ULID layout: 48 bits of milliseconds, 80 random bits)."""

from __future__ import annotations

import random
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


# Not a secret, only unique: a PRNG seeded from the OS (and reseeded in forked children) is
# enough and much cheaper than a system call per id.
_random = random.Random()


def new_execution_id() -> str:
    value = (int(time.time() * 1000) << 80) | _random.getrandbits(80)
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))
