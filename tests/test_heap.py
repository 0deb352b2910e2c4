"""weir.lang.heap: what a serving process keeps is frozen, what it dropped is freed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from weir.lang import heap
from weir.lang.settings import SettingError


class Cycle:
    """Freed only by a collection: it refers to itself."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settle_freezes_what_is_kept_and_frees_it_once_dropped_and_settled_again() -> None:
    kept = Cycle()
    heap.settle()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == heap.YOUNG_DEFAULT
    gone = weakref.ref(kept)
    del kept
    gc.collect()
    assert gone() is not None, "frozen: no collection walks it"
    heap.settle()  # as after a reload
    assert gone() is None


def test_what_comes_after_settling_is_collected_as_ever() -> None:
    heap.settle()
    later = Cycle()
    gone = weakref.ref(later)
    del later
    gc.collect()
    assert gone() is None


def test_the_young_threshold_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEIR_GC_YOUNG", "2500")
    heap.settle(heap.young_from_environment())
    assert gc.get_threshold()[0] == 2500
    monkeypatch.setenv("WEIR_GC_YOUNG", "lots")
    with pytest.raises(SettingError, match="WEIR_GC_YOUNG='lots'"):
        heap.young_from_environment()
