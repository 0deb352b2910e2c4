"""A local secret store encrypted at rest, for `weir run` and `weir serve` outside a cluster.

One JSON file holds every entry as AES-256-GCM ciphertext (store_file.py). The key id (a hash of
the key, which reveals nothing of it) tells a wrong key apart from a tampered entry.

The 32-byte key comes from ``$WEIR_SECRETS_KEY`` (base64) or a key file (base64, mode 0600;
a file that group or others may read is refused; store_keys.py). Names and keys are not secret:
`weir secrets list` shows them without the key.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from weir.lang.errors import ConfigError
from weir.secrets.resolve import LocalSecretResolver, env_var_name
from weir.secrets.store_file import (
    FORMAT,
    empty_store,
    read_store_file,
    seal,
    unseal,
    write_store_file,
)
from weir.secrets.store_keys import (
    KEY_ENV,
    KeySource,
    SecretStoreError,
    default_dir,
    key_id,
    new_key,
    read_key_file,
    write_key_file,
)

FILE_ENV = "WEIR_SECRETS_FILE"


def store_path(
    explicit: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    environ = os.environ if environ is None else environ
    chosen = explicit or environ.get(FILE_ENV)
    return Path(chosen).expanduser() if chosen else default_dir(environ) / "secrets.json"


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
            return empty_store()
        except OSError as exc:
            raise SecretStoreError(
                f"cannot read the secrets file {self.path}: {exc.strerror}"
            ) from None
        version = (stat_result.st_mtime_ns, stat_result.st_size)
        if self._cache is not None and self._cache[0] == version:
            return self._cache[1]
        data = read_store_file(self.path)
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
        return unseal(aead, entry, secret, key, f"entry {secret}/{key} in {self.path}")

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
        write_store_file(self.path, data)
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
            entry = seal(AESGCM(aes_key), secret, key, value)
            data["secrets"].setdefault(secret, {})[key] = entry
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
            target, pending = self._new_key_places(new_key_file)
            fresh = new_key()
            write_key_file(pending, fresh)
            aead = AESGCM(fresh)
            secrets_: dict[str, dict[str, Any]] = {}
            for (name, key), value in plain.items():
                secrets_.setdefault(name, {})[key] = seal(aead, name, key, value)
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

    def _new_key_places(self, new_key_file: Path | None) -> tuple[Path, Path]:
        """Where a rotated key ends up, and where it waits until the new store is written."""
        if self.keys.value is not None:
            if new_key_file is None:
                raise SecretStoreError(
                    f"the key comes from {KEY_ENV}, which rotate-key cannot change: "
                    "give --new-key-file PATH for the new key"
                )
            return new_key_file, new_key_file
        assert self.keys.file is not None
        target = new_key_file or self.keys.file
        pending = target.with_name(target.name + ".new")
        if target != self.keys.file and target.exists():
            raise SecretStoreError(f"the key file {target} already exists: not overwritten")
        with contextlib.suppress(FileNotFoundError):
            pending.unlink()  # left by an interrupted rotation that never used it
        return target, pending


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
