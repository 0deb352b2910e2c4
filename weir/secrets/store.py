"""A local secret store encrypted at rest, for `weir run` and `weir serve` outside a cluster.

One JSON file holds every entry as AES-256-GCM ciphertext::

    {"format": "weir-secrets/1", "key_id": "3f2a...",
     "secrets": {"crm": {"token": {"nonce": "<base64>", "ciphertext": "<base64>"}}}}

Each value has its own random 96-bit nonce, and the entry's secret name and key are the
associated data, so a ciphertext moved to another entry fails authentication. The key id (a
hash of the key, which reveals nothing of it) tells a wrong key apart from a tampered entry.

The 32-byte key comes from ``$WEIR_SECRETS_KEY`` (base64) or a key file (base64, mode 0600;
a file that group or others may read is refused). Names and keys are not secret: `weir secrets
list` shows them without the key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import secrets as random
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from weir.lang.errors import ConfigError
from weir.secrets.resolve import LocalSecretResolver, env_var_name

FORMAT = "weir-secrets/1"
KEY_BYTES = 32
NONCE_BYTES = 12
FILE_ENV = "WEIR_SECRETS_FILE"
KEY_ENV = "WEIR_SECRETS_KEY"
KEY_FILE_ENV = "WEIR_SECRETS_KEY_FILE"


class SecretStoreError(Exception):
    """The store or its key cannot be used; the message says why and what to do."""


def default_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the execution store's SQLite file lives by default (the user data directory)."""
    environ = os.environ if environ is None else environ
    data_home = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "weir"


def store_path(
    explicit: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    environ = os.environ if environ is None else environ
    chosen = explicit or environ.get(FILE_ENV)
    return Path(chosen).expanduser() if chosen else default_dir(environ) / "secrets.json"


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"weir-secrets-key-id\0" + key).hexdigest()[:16]


def _aad(secret: str, key: str) -> bytes:
    return json.dumps([FORMAT, secret, key]).encode("utf-8")


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


class SecretStore:
    """The encrypted file. Reads need no key for names; values need the key."""

    def __init__(self, path: Path, keys: KeySource) -> None:
        self.path = path
        self.keys = keys
        self._cache: tuple[tuple[int, int], dict[str, Any]] | None = None

    # -- reading -------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> dict[str, Any]:
        """The parsed file (empty when it does not exist), checked for shape."""
        try:
            stat_result = self.path.stat()
        except FileNotFoundError:
            return {"format": FORMAT, "key_id": None, "secrets": {}}
        except OSError as exc:
            raise SecretStoreError(
                f"cannot read the secrets file {self.path}: {exc.strerror}"
            ) from None
        version = (stat_result.st_mtime_ns, stat_result.st_size)
        if self._cache is not None and self._cache[0] == version:
            return self._cache[1]
        try:
            text = self.path.read_text(encoding="utf-8")
            data = json.loads(text)
        except OSError as exc:
            raise SecretStoreError(
                f"cannot read the secrets file {self.path}: {exc.strerror}"
            ) from None
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise SecretStoreError(
                f"the secrets file {self.path} is not valid JSON: damaged or not a Weir secrets file"
            ) from None
        if (
            not isinstance(data, dict)
            or data.get("format") != FORMAT
            or not isinstance(data.get("secrets"), dict)
            or not all(isinstance(v, dict) for v in data["secrets"].values())
        ):
            raise SecretStoreError(f"{self.path} is not a Weir secrets file ({FORMAT})")
        self._cache = (version, data)
        return data

    def entries(self) -> list[tuple[str, str]]:
        data = self.read()
        return sorted((name, key) for name, keys in data["secrets"].items() for key in keys)

    def _key_for(self, data: dict[str, Any]) -> bytes:
        key = self.keys.load()
        recorded = data.get("key_id")
        if recorded and data["secrets"] and recorded != key_id(key):  # empty: any key
            hint = ""
            if self.keys.file is not None:
                pending = self.keys.file.with_name(self.keys.file.name + ".new")
                with contextlib.suppress(SecretStoreError):
                    if pending.exists() and key_id(read_key_file(pending)) == recorded:
                        hint = f" (an interrupted rotate-key left that key in {pending}: move it to {self.keys.file})"
            source = "WEIR_SECRETS_KEY" if self.keys.value is not None else str(self.keys.file)
            raise SecretStoreError(
                f"the secrets file {self.path} was encrypted with key {recorded}; "
                f"{source} is key {key_id(key)}{hint}"
            )
        return key

    def _decrypt(self, aead: AESGCM, data: dict[str, Any], secret: str, key: str) -> str:
        entry = data["secrets"][secret][key]
        where = f"entry {secret}/{key} in {self.path}"
        try:
            nonce = base64.b64decode(entry["nonce"], validate=True)
            ciphertext = base64.b64decode(entry["ciphertext"], validate=True)
        except (TypeError, KeyError, binascii.Error, ValueError):
            raise SecretStoreError(f"{where} is damaged (nonce or ciphertext missing)") from None
        if len(nonce) != NONCE_BYTES:
            raise SecretStoreError(f"{where} is damaged (its nonce is not 96 bits)")
        try:
            plain = aead.decrypt(nonce, ciphertext, _aad(secret, key))
        except InvalidTag:
            raise SecretStoreError(
                f"{where} fails authentication: it was modified or copied from another entry "
                "(set it again)"
            ) from None
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError:
            raise SecretStoreError(f"{where} is not UTF-8 text") from None

    def get(self, secret: str, key: str) -> str | None:
        """The value, or None when the store has no such entry."""
        data = self.read()
        if key not in data["secrets"].get(secret, {}):
            return None
        return self._decrypt(AESGCM(self._key_for(data)), data, secret, key)

    # -- writing -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time (read, change, replace), through a lock file beside the store."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            try:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX)
            except ImportError:  # not POSIX: no concurrent writers are guarded against
                pass
            self._cache = None
            yield
        finally:
            os.close(fd)

    def _write(self, data: dict[str, Any]) -> None:
        """Write a new file and rename it over the old one: a reader never sees half a file."""
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, 0o600)
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        self._cache = None

    def _writable_key(self, data: dict[str, Any], create: bool) -> bytes:
        """The key to encrypt with; on a first write to an empty store, a new key file."""
        if not self.keys.exists():
            if not create or data["secrets"]:
                raise SecretStoreError(
                    f"no key: {self.keys.describe} does not exist"
                    + (f" and {self.path} already holds secrets" if data["secrets"] else "")
                )
            assert self.keys.file is not None
            write_key_file(self.keys.file, new_key())
        return self._key_for(data)

    def init(self) -> tuple[str, bool]:
        """Create the key file (if the key is not in the environment) and an empty store.
        Returns the key id and whether a key file was created."""
        with self._locked():
            data = self.read()
            created = False
            if self.keys.file is not None and self.keys.value is None:
                if self.keys.file.exists():
                    raise SecretStoreError(
                        f"the key file {self.keys.file} already exists: not overwritten"
                    )
                if data["secrets"]:
                    raise SecretStoreError(
                        f"{self.path} already holds secrets encrypted with key {data['key_id']}: "
                        "a new key could not open them (point --key-file at their key)"
                    )
                write_key_file(self.keys.file, new_key())
                created = True
            key = self._key_for(data)
            if not self.path.exists():
                self._write({"format": FORMAT, "key_id": key_id(key), "secrets": {}})
            return key_id(key), created

    def set(self, secret: str, key: str, value: str) -> None:
        with self._locked():
            data = self.read()
            data = {**data, "secrets": {n: dict(k) for n, k in data["secrets"].items()}}
            aes_key = self._writable_key(data, create=True)
            nonce = random.token_bytes(NONCE_BYTES)
            ciphertext = AESGCM(aes_key).encrypt(nonce, value.encode("utf-8"), _aad(secret, key))
            data["secrets"].setdefault(secret, {})[key] = {
                "nonce": base64.b64encode(nonce).decode("ascii"),
                "ciphertext": base64.b64encode(ciphertext).decode("ascii"),
            }
            data["key_id"] = key_id(aes_key)
            self._write(data)

    def remove(self, secret: str, key: str | None = None) -> list[str]:
        """Remove one key of a secret, or the whole secret; returns the keys removed."""
        with self._locked():
            data = self.read()
            keys = data["secrets"].get(secret)
            if keys is None or (key is not None and key not in keys):
                what = f"{secret}/{key}" if key is not None else secret
                raise SecretStoreError(f"no secret {what} in {self.path}")
            secrets_ = {n: dict(k) for n, k in data["secrets"].items()}
            if key is None:
                removed = sorted(secrets_.pop(secret))
            else:
                del secrets_[secret][key]
                removed = [key]
                if not secrets_[secret]:
                    del secrets_[secret]
            self._write({**data, "secrets": secrets_})
            return removed

    def rotate(self, new_key_file: Path | None = None) -> tuple[str, str, int]:
        """Re-encrypt every entry under a new key. The new store is written to a temporary
        file and renamed over the old one; a key file is replaced the same way, right after
        (its successor waits as ``<key file>.new`` in between). A key from the environment
        cannot be replaced: the new one goes to ``new_key_file``. Returns the old and new key
        ids and the number of entries."""
        with self._locked():
            data = self.read()
            old_key = self._key_for(data)
            old = AESGCM(old_key)
            plain = {
                (name, key): self._decrypt(old, data, name, key)
                for name, keys in data["secrets"].items()
                for key in keys
            }
            fresh = new_key()
            if self.keys.value is not None:
                if new_key_file is None:
                    raise SecretStoreError(
                        f"the key comes from {KEY_ENV}, which rotate-key cannot change: "
                        "give --new-key-file PATH for the new key"
                    )
                target, pending = new_key_file, new_key_file
            else:
                assert self.keys.file is not None
                target = new_key_file or self.keys.file
                pending = target.with_name(target.name + ".new")
                if target != self.keys.file and target.exists():
                    raise SecretStoreError(f"the key file {target} already exists: not overwritten")
                with contextlib.suppress(FileNotFoundError):
                    pending.unlink()  # left by an interrupted rotation that never used it
            write_key_file(pending, fresh)
            aead = AESGCM(fresh)
            secrets_: dict[str, dict[str, Any]] = {}
            for (name, key), value in plain.items():
                nonce = random.token_bytes(NONCE_BYTES)
                secrets_.setdefault(name, {})[key] = {
                    "nonce": base64.b64encode(nonce).decode("ascii"),
                    "ciphertext": base64.b64encode(
                        aead.encrypt(nonce, value.encode("utf-8"), _aad(name, key))
                    ).decode("ascii"),
                }
            try:
                self._write({"format": FORMAT, "key_id": key_id(fresh), "secrets": secrets_})
            except BaseException:
                with contextlib.suppress(OSError):
                    pending.unlink()  # the old key still opens the old file
                raise
            if pending != target:
                os.replace(pending, target)
            if self.keys.value is None:
                self.keys = KeySource(target)
            return key_id(old_key), key_id(fresh), len(plain)


class StoreResolver(LocalSecretResolver):
    """Environment variables, then the secrets directory, then the encrypted store."""

    def __init__(
        self,
        directory: str | Path | None,
        store: SecretStore,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(directory, environ)
        self.store = store

    def resolve(self, secret: str, key: str) -> str:
        try:
            return super().resolve(secret, key)
        except ConfigError as missing:
            if env_var_name(secret, key) in self.environ or (
                self.directory is not None and os.path.lexists(self.directory / secret / key)
            ):
                raise  # found, but unreadable: not a reason to look elsewhere
            try:
                value = self.store.get(secret, key)
            except SecretStoreError as exc:
                raise ConfigError(f"secret {secret}/{key}: {exc}") from None
            if value is None:
                raise ConfigError(f"{missing.message}, or an entry in {self.store.path}") from None
            return value


def local_resolver(
    directory: str | Path | None, environ: Mapping[str, str] | None = None
) -> LocalSecretResolver:
    """What `weir run` and `weir serve` use: the encrypted store joins the chain when
    ``$WEIR_SECRETS_FILE`` is set or the default store file exists."""
    environ = os.environ if environ is None else environ
    path = store_path(None, environ)
    if not environ.get(FILE_ENV) and not path.exists():
        return LocalSecretResolver(directory, environ)
    return StoreResolver(directory, SecretStore(path, KeySource.choose(None, environ)), environ)
