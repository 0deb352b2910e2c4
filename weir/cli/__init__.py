"""The `weir` command: validate and run flows locally, inspect executions.

Exit codes: 0 success, 1 a failed execution or an invalid flow in `validate`, 2 bad usage or a
flow that cannot be loaded by `run`, 3 an execution that ran but could not be recorded, 4 an
execution store that cannot be opened or has a schema this Weir cannot upgrade, 141 a closed
standard output (as a Unix tool killed by SIGPIPE). A user never sees a traceback unless
WEIR_DEBUG=1.

Each command lives in a module of its group (run_commands, execution_commands, serve_command,
cluster_commands, secret_commands, store_commands, test_command); those modules import the
engine, the store, the server, the operator, the test harness, pydantic and asyncio only inside
the command that needs them, so that `weir --help` starts fast (tests/test_cli_startup.py holds
it to that).
"""

from __future__ import annotations

import argparse
import os
import sys

from weir import __version__
from weir.cli import (
    cluster_commands,
    execution_commands,
    flowrun_command,
    run_commands,
    secret_commands,
    store_commands,
)
from weir.cli.common import CommandError, store_problem
from weir.cli.console_command import add_console
from weir.cli.resume_command import add_resume
from weir.cli.serve_command import add_serve
from weir.cli.test_command import add_test

CLOSED_STDOUT = 128 + 13
"""Exit code when the reader of stdout went away: what a shell reports for ``yes | head -1``."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = args.handler(args)
        sys.stdout.flush()  # here, where a closed pipe can be handled, not at exit
        return code
    except BrokenPipeError:
        return _stdout_closed()
    except CommandError as exc:
        print(f"weir: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # last resort: say what happened, not where in our code
        if os.environ.get("WEIR_DEBUG"):
            raise
        from weir.lang.settings import SettingError  # here: `weir --help` stays light

        if isinstance(exc, SettingError):  # wherever a command read its environment
            print(f"weir: {exc}", file=sys.stderr)
            return 2
        problem = store_problem(exc)  # e.g. `weir serve` on a store a newer Weir upgraded
        if problem is not None:
            print(f"weir: {problem}", file=sys.stderr)
            return problem.code
        print(
            f"weir: internal error: {type(exc).__name__}: {exc} (WEIR_DEBUG=1 shows details)",
            file=sys.stderr,
        )
        return 70


def _stdout_closed() -> int:
    """The reader of stdout is gone (``| head -1``): stop quietly, as Unix tools do.

    Whatever is still buffered cannot be written; stdout is pointed at /dev/null so that the
    interpreter's final flush does not complain about it either.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return CLOSED_STDOUT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="weir", description="Declarative integration flows.")
    parser.add_argument("--version", action="version", version=f"weir {__version__}")
    commands = parser.add_subparsers(metavar="COMMAND")
    # In this order in `weir --help`.
    run_commands.add_validate(commands)
    run_commands.add_run(commands)
    add_test(commands)
    add_serve(commands)
    add_console(commands)
    execution_commands.add_replay(commands)
    execution_commands.add_cancel(commands)
    add_resume(commands)
    execution_commands.add_runs(commands)
    cluster_commands.add_crds(commands)
    cluster_commands.add_render(commands)
    cluster_commands.add_operator(commands)
    flowrun_command.add_flowrun(commands)
    execution_commands.add_executions(commands)
    store_commands.add_store(commands)
    secret_commands.register(commands)
    return parser
