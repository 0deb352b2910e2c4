"""Execution ids: the ULID layout, read back digit by digit, and their order by time."""

from __future__ import annotations

import os
from collections.abc import Iterable
from types import SimpleNamespace

import pytest

from weir.lang import ids

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _value(execution_id: str) -> int:
    value = 0
    for char in execution_id:
        value = value * 32 + ALPHABET.index(char)
    return value


def _clock(monkeypatch: pytest.MonkeyPatch, milliseconds: Iterable[int]) -> None:
    """``time.time()`` as ids see it: each call the next millisecond given (mid-way into it,
    clear of rounding)."""
    moments = iter(milliseconds)
    monkeypatch.setattr(ids, "time", SimpleNamespace(time=lambda: (next(moments) + 0.5) / 1000))


def test_an_id_holds_the_milliseconds_then_80_random_bits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    milliseconds = [1_700_000_000_123, 1_700_000_000_123, 1_700_000_000_124, 2**48 - 1, 0]
    _clock(monkeypatch, milliseconds)
    state = ids._random.getstate()
    made = [ids.new_execution_id() for _ in milliseconds]
    ids._random.setstate(state)
    for execution_id, ms in zip(made, milliseconds, strict=True):
        assert len(execution_id) == 26 and set(execution_id) <= set(ALPHABET)
        assert _value(execution_id) == (ms << 80) | ids._random.getrandbits(80)
    assert made[0] != made[1]  # the same millisecond, other random bits


def test_ids_sort_by_the_time_they_were_made(monkeypatch: pytest.MonkeyPatch) -> None:
    _clock(monkeypatch, range(1_700_000_000_000, 1_700_000_005_000, 7))
    made = [ids.new_execution_id() for _ in range(700)]
    assert sorted(made) == made


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_makes_other_ids_than_its_parent() -> None:
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, ids._random.getrandbits(80).to_bytes(10, "big"))
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    theirs = int.from_bytes(os.read(read, 10), "big")
    os.close(read)
    assert theirs != ids._random.getrandbits(80)
