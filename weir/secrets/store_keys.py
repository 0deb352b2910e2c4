"""The secret store's AES-256 key: where it comes from (``$WEIR_SECRETS_KEY`` or a key file of
mode 0600), how it is written, and its id (a hash that reveals nothing of the key)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
KEY_ENV = "WEIR_SECRETS_KEY"
KEY_FILE_ENV = "WEIR_SECRETS_KEY_FILE"


class SecretStoreError(Exception):
    """The store or its key cannot be used; the message says why and what to do."""


def default_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The user data directory: where the key file and the store file live by default."""
    environ = os.environ if environ is None else environ
    data_home = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "weir"


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"weir-secrets-key-id\0" + key).hexdigest()[:16]


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def decode_key(text: str, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SecretStoreError(f"{source} is not base64 (expected 32 random bytes)") from None
    if len(key) != KEY_BYTES:
        raise SecretStoreError(
            f"{source} holds {len(key)} bytes: an AES-256 key is {KEY_BYTES} bytes, base64"
        )
    return key


@dataclass
class KeySource:
    """Where the key comes from: ``$WEIR_SECRETS_KEY``, or a key file."""

    file: Path | None
    value: str | None = None

    @property
    def describe(self) -> str:
        return KEY_ENV if self.value is not None else f"the key file {self.file}"

    @classmethod
    def choose(
        cls, key_file: str | Path | None = None, environ: Mapping[str, str] | None = None
    ) -> KeySource:
        """``--key-file``, then ``$WEIR_SECRETS_KEY``, then ``$WEIR_SECRETS_KEY_FILE``, then
        ``secrets.key`` in the user data directory."""
        environ = os.environ if environ is None else environ
        if key_file:
            return cls(Path(key_file).expanduser())
        if environ.get(KEY_ENV):
            return cls(None, environ[KEY_ENV])
        if environ.get(KEY_FILE_ENV):
            return cls(Path(environ[KEY_FILE_ENV]).expanduser())
        return cls(default_dir(environ) / "secrets.key")

    def exists(self) -> bool:
        return self.value is not None or (self.file is not None and self.file.exists())

    def load(self) -> bytes:
        if self.value is not None:
            return decode_key(self.value, KEY_ENV)
        assert self.file is not None
        return read_key_file(self.file)


def read_key_file(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise SecretStoreError(
            f"no key: the key file {path} does not exist (`weir secrets init` creates it; "
            f"or set {KEY_ENV})"
        ) from None
    except OSError as exc:
        raise SecretStoreError(f"cannot read the key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SecretStoreError(
                f"the key file {path} is accessible to group or others (mode "
                f"{stat.S_IMODE(mode):04o}): refused; `chmod 600 {path}`"
            )
        raw = handle.read(4096)
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        text = "!"
    return decode_key(text, f"the key file {path}")


def write_key_file(path: Path, key: bytes) -> None:
    """Create ``path`` with mode 0600; an existing file is never overwritten."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SecretStoreError(f"the key file {path} already exists: not overwritten") from None
    except OSError as exc:
        raise SecretStoreError(f"cannot create the key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(encode_key(key) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
