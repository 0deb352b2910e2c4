"""Record times read as ``datetime.fromtimestamp(epoch, UTC).isoformat()`` writes them."""

from __future__ import annotations

import datetime as dt
import math
import random

from weir.store.records import iso_time


def _expected(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()


def test_iso_time_writes_what_datetime_writes() -> None:
    rng = random.Random(13)
    epochs = [rng.uniform(0, 4e9) for _ in range(20_000)]
    epochs += [rng.randrange(2**32) + k / 1e6 for k in range(0, 1_000_000, 97)]
    # Halves of a microsecond round to even; the last one before a second carries over.
    epochs += [s + f for s in range(0, 3000, 7) for f in (0.9999995, 0.0000005, 0.0000015, 0.5)]
    epochs += [math.nextafter(e, 0) for e in epochs[:5000]] + [0.0, 1.0, 1_700_000_000.0]
    epochs += [-1.25, -0.0000005]
    for epoch in epochs + sorted(epochs):  # sorted: the kept second is reused
        assert iso_time(epoch) == _expected(epoch), epoch
