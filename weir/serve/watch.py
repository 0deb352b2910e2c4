"""Watching the flow file for changes, including a Kubernetes ConfigMap volume's update.

A ConfigMap volume updates by writing a new timestamped directory and swapping the ``..data``
symlink in one rename; the mounted file is a symlink through it. Polling the resolved path and
the file's identity catches that as well as an editor's in-place write or rename, with no
platform-specific notification API.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

log = logging.getLogger("weir.serve")

Identity = tuple[str, int, int, int, int] | None


def identity(path: Path) -> Identity:
    try:
        real = os.path.realpath(path)
        stat = os.stat(real)
    except OSError:
        return None  # mid-swap or removed: wait for it to come back
    return real, stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


async def watch(
    path: Path, changed: Callable[[], Awaitable[object]], interval: float = 1.0
) -> None:
    """Call ``changed`` whenever the file's identity differs from the last one seen; runs until
    cancelled."""
    seen = identity(path)
    while True:
        await asyncio.sleep(interval)
        now = identity(path)
        if now is None or now == seen:
            continue
        seen = now
        try:
            await changed()
        except Exception:  # a failing callback must not stop the watch
            log.exception("handling a change of %s failed", path)
