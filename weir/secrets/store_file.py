"""The secret store's file: one JSON document with every value sealed by AES-256-GCM::

    {"format": "weir-secrets/1", "key_id": "3f2a...",
     "secrets": {"crm": {"token": {"nonce": "<base64>", "ciphertext": "<base64>"}}}}

Each value has its own random 96-bit nonce, and the entry's secret name and key are the
associated data, so a ciphertext moved to another entry fails authentication.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import secrets as random
import tempfile
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from weir.secrets.store_keys import SecretStoreError

FORMAT = "weir-secrets/1"
NONCE_BYTES = 12


def empty_store() -> dict[str, Any]:
    """What a store file that does not exist yet holds."""
    return {"format": FORMAT, "key_id": None, "secrets": {}}


def read_store_file(path: Path) -> dict[str, Any]:
    """The parsed file, checked for shape."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SecretStoreError(f"cannot read the secrets file {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SecretStoreError(
            f"the secrets file {path} is not valid JSON: damaged or not a Weir secrets file"
        ) from None
    if (
        not isinstance(data, dict)
        or data.get("format") != FORMAT
        or not isinstance(data.get("secrets"), dict)
        or not all(isinstance(v, dict) for v in data["secrets"].values())
    ):
        raise SecretStoreError(f"{path} is not a Weir secrets file ({FORMAT})")
    return data


def write_store_file(path: Path, data: dict[str, Any]) -> None:
    """Write a new file (mode 0600) and rename it over the old one: a reader never sees half a
    file."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _aad(secret: str, key: str) -> bytes:
    return json.dumps([FORMAT, secret, key]).encode("utf-8")


def seal(aead: AESGCM, secret: str, key: str, value: str) -> dict[str, str]:
    """The entry for ``secret``/``key``: a fresh nonce and the ciphertext, in base64."""
    nonce = random.token_bytes(NONCE_BYTES)
    ciphertext = aead.encrypt(nonce, value.encode("utf-8"), _aad(secret, key))
    return {
        "nonce": base64.b64encode(nonce).decode("ascii"),
        "ciphertext": base64.b64encode(ciphertext).decode("ascii"),
    }


def unseal(aead: AESGCM, entry: Any, secret: str, key: str, where: str) -> str:
    """The value of an entry; ``where`` names the entry in errors."""
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
