"""Flows loaded on several threads at once check their scripts' syntax at once: the checks
queue, since V8 isolates started together on plain threads crashed the process (SIGTRAP in
libmini_racer) now and then. Run in a child process, so that a crash is a failure here and not
the end of the test session."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("py_mini_racer")

CHECKS_ON_THREADS = """
import threading
from weir.nodes.code import syntax_error

def check():
    for _ in range(8):
        assert syntax_error("await new Promise(r => setTimeout(r, 1)); return 1;") is None
        assert syntax_error("return (;") is not None

threads = [threading.Thread(target=check) for _ in range(6)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("checked")
"""


def test_syntax_checks_from_several_threads_at_once_never_crash_the_process() -> None:
    # Before the checks queued, about two runs in five of this crashed.
    for _ in range(5):
        done = subprocess.run(
            [sys.executable, "-c", CHECKS_ON_THREADS], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
        assert done.stdout.strip() == "checked"
