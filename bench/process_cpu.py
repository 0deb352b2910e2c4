"""CPU time of a server under test, with the processes it started: `weir serve` writes a
SQLite store through a child process (weir.store.sqlite_writer), whose work counts as Weir's."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system, every thread) that ``pid`` and its live descendants used so
    far; Linux. A descendant that exited (and was reaped) is counted by its parent's
    ``cutime``/``cstime``."""
    return sum(_own_cpu(each) for each in _family(pid))


def _own_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # it just exited
        return 0.0
    # utime, stime, cutime, cstime
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _family(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found.extend(_family(int(child)))
    return found
