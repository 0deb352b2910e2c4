"""``--state URL``: keep the state node's keys in Redis instead of the execution store."""

from __future__ import annotations

import argparse

from weir.cli.common import UsageError


def state_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state",
        default=None,
        metavar="URL",
        help="keep the state node's keys in Redis (redis://[:password@]host:port/db, rediss://); "
        "default $WEIR_STATE_URL or the file named by $WEIR_STATE_URL_FILE, else the execution "
        "store",
    )


def state_url_of(args: argparse.Namespace) -> str | None:
    """The URL of ``--state`` or ``$WEIR_STATE_URL``, checked; a bad one is a UsageError."""
    from weir.engine.state_choice import state_url

    try:
        return state_url(getattr(args, "state", None))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
