"""Times as Kubernetes writes them in resources' status: RFC 3339 in UTC, to the second
(``2026-12-01T21:48:38Z``)."""

from __future__ import annotations

import datetime as dt

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime(FORMAT)


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime(FORMAT)


def iso_exact(epoch: float | None) -> str | None:
    """A moment as UTC ISO 8601 ending in Z, to the microsecond (a due time, an expiry: what
    a person or a later comparison reads exactly); None stays None."""
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat().replace("+00:00", "Z")


def epoch(text: str | None) -> float | None:
    """Epoch seconds of such a time (any ISO 8601 text); None for none or bad text."""
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
