"""`weir secrets`: the local encrypted secret store (weir/secrets/store.py).

Values are read from stdin or ``--value-file``, never from the command line (where ``ps`` and
shell history would see them), and never printed.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from weir.cli.common import UsageError


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "secrets",
        help="the local encrypted secret store (AES-256-GCM) read by run and serve",
        description="Secrets for `weir run` and `weir serve` outside a cluster, encrypted at "
        "rest with AES-256-GCM. The store is --store-file, $WEIR_SECRETS_FILE or secrets.json "
        "in the user data directory; the key is --key-file, $WEIR_SECRETS_KEY (base64 of 32 "
        "bytes), $WEIR_SECRETS_KEY_FILE or secrets.key beside the default store.",
    )
    sub = parser.add_subparsers(metavar="ACTION")

    def action(name: str, help: str, handler: Any) -> argparse.ArgumentParser:
        one = sub.add_parser(name, help=help)
        one.add_argument("--store-file", default=None, help="the encrypted store file")
        one.add_argument("--key-file", default=None, help="the key file (mode 0600)")
        one.set_defaults(handler=handler)
        return one

    action("init", "create the key file (mode 0600) and an empty store", cmd_init)
    setter = action("set", "store a value read from stdin or --value-file", cmd_set)
    setter.add_argument("name", metavar="NAME", help="the secret's name, as flows refer to it")
    setter.add_argument("key", metavar="KEY")
    setter.add_argument(
        "--value-file", default=None, help="read the value from this file (default stdin)"
    )
    action("list", "names and keys, never values", cmd_list)
    remover = action("rm", "remove one key of a secret, or the whole secret", cmd_rm)
    remover.add_argument("name", metavar="NAME")
    remover.add_argument("key", metavar="KEY", nargs="?")
    rotate = action("rotate-key", "re-encrypt every secret under a new key", cmd_rotate)
    rotate.add_argument(
        "--new-key-file",
        default=None,
        help="where the new key goes (required when the key is in $WEIR_SECRETS_KEY; "
        "default: replaces the key file)",
    )
    parser.set_defaults(handler=lambda _args: _help(parser))


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _store(args: argparse.Namespace) -> Any:
    from weir.secrets.store import SecretStore, store_path
    from weir.secrets.store_keys import KeySource

    return SecretStore(store_path(args.store_file), KeySource.choose(args.key_file))


def _guarded(run: Any) -> Any:
    """The store's errors as one line on stderr and exit code 1 (bad input is a UsageError)."""

    def handler(args: argparse.Namespace) -> int:
        from weir.secrets.store_keys import SecretStoreError

        try:
            code: int = run(args)
            return code
        except SecretStoreError as exc:
            print(f"weir: {exc}", file=sys.stderr)
            return 1

    return handler


@_guarded
def cmd_init(args: argparse.Namespace) -> int:
    store = _store(args)
    kid, created = store.init()
    if created:
        print(f"created the key file {store.keys.file} (key {kid}, mode 0600)", file=sys.stderr)
    print(f"secrets store {store.path} uses key {kid}", file=sys.stderr)
    return 0


@_guarded
def cmd_set(args: argparse.Namespace) -> int:
    for label, text in (("NAME", args.name), ("KEY", args.key)):
        if not text or any(ord(c) < 32 or c == "/" for c in text):
            raise UsageError(
                f"{label} {text!r} must be non-empty, without '/' or control characters"
            )
    value = _read_value(args)
    store = _store(args)
    store.set(args.name, args.key, value)
    print(f"stored {args.name}/{args.key} in {store.path}", file=sys.stderr)
    return 0


def _read_value(args: argparse.Namespace) -> str:
    if args.value_file is not None:
        try:
            raw = Path(args.value_file).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {args.value_file}: {exc.strerror}") from None
        source = args.value_file
    elif sys.stdin is not None and sys.stdin.isatty():
        raw = getpass.getpass(f"value of {args.name}/{args.key} (not echoed): ").encode("utf-8")
        source = "the terminal"
    else:
        raw = sys.stdin.buffer.read() if sys.stdin is not None else b""
        source = "stdin"
    try:
        value = raw.decode("utf-8").rstrip("\n")  # as files in a secrets directory
    except UnicodeDecodeError:
        raise UsageError(f"the value from {source} is not UTF-8 text") from None
    if not value:
        raise UsageError(f"the value from {source} is empty: nothing stored")
    return value


@_guarded
def cmd_list(args: argparse.Namespace) -> int:
    store = _store(args)
    for name, key in store.entries():
        print(f"{name}/{key}")
    return 0


@_guarded
def cmd_rm(args: argparse.Namespace) -> int:
    store = _store(args)
    removed = store.remove(args.name, args.key)
    print(f"removed {', '.join(f'{args.name}/{k}' for k in removed)}", file=sys.stderr)
    return 0


@_guarded
def cmd_rotate(args: argparse.Namespace) -> int:
    store = _store(args)
    new_file = Path(args.new_key_file).expanduser() if args.new_key_file else None
    old, new, count = store.rotate(new_file)
    print(
        f"re-encrypted {count} secret values: key {old} -> {new}; the new key is in "
        f"{store.keys.file if store.keys.value is None else new_file}",
        file=sys.stderr,
    )
    return 0
