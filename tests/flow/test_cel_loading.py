"""The CEL runtime is loaded once per process, also when threads need it at the same moment
(the operator validates flows in handler threads): a second initialisation of the extension
fails, and a half-initialised one has no ``compile``."""

from __future__ import annotations

import subprocess
import sys
import textwrap

RACE = textwrap.dedent(
    """
    import threading
    from weir.lang.expressions import CelExpr

    start = threading.Barrier(8)
    errors = []

    def compile_one():
        start.wait()
        try:
            CelExpr("1 + 2")
        except BaseException as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=compile_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(errors)
    """
)


def test_threads_compiling_the_first_cel_expressions_at_once_all_succeed() -> None:
    for _ in range(3):  # a fresh process each time: the race is in the first load
        done = subprocess.run(
            [sys.executable, "-c", RACE], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == "[]", done.stdout + done.stderr[-2000:]
        assert "SetLoggerError" not in done.stderr
