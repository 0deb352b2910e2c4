"""What several commands share: UsageError (exit code 2), the --store and --secrets-dir options,
opening the execution store and loading a flow file."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from weir.flow.issues import FlowInvalid


class UsageError(Exception):
    """Bad command-line input; exit code 2."""


def store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=None,
        help="execution store URL (sqlite:///file.db, postgresql://...); "
        "default $WEIR_STORE or the user data directory",
    )


def secrets_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--secrets-dir",
        default=os.environ.get("WEIR_SECRETS_DIR"),
        help="directory laid out as DIR/<secret>/<key> (default $WEIR_SECRETS_DIR); "
        "WEIR_SECRET_<SECRET>_<KEY> variables take precedence",
    )


async def open_store(url: str | None) -> Any:
    """The execution store named by --store, started; a bad URL is a UsageError."""
    from weir.store import open_store as open_url

    try:
        store = open_url(url)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    await store.start()
    return store


def load_or_report(file: str) -> Any:
    """The flow in ``file``, or None once the reasons it cannot be loaded are on stderr."""
    from weir.flow.load import load_flow_file

    try:
        return load_flow_file(file)
    except FlowInvalid as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return None
