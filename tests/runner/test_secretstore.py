"""The local encrypted secret store: AES-256-GCM with a nonce per value and the entry's name
and key as associated data, key ids, rotation, key-file permissions, the `weir secrets`
commands, and `weir run` reading a stored secret without ever recording it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from weir.lang.errors import ConfigError
from weir.secrets.store import SecretStore, local_resolver
from weir.secrets.store_keys import (
    KeySource,
    SecretStoreError,
    encode_key,
    key_id,
    new_key,
    read_key_file,
)

ROOT = Path(__file__).parents[2]
BOOT = "import sys, tests.runner.kinds; from weir.cli import main; sys.exit(main())"
VALUE = "s3cret-value-4c1d9e"


def make_store(tmp_path: Path) -> SecretStore:
    return SecretStore(tmp_path / "secrets.json", KeySource(tmp_path / "secrets.key"))


def entries(store: SecretStore) -> dict[str, dict[str, dict[str, str]]]:
    data: dict[str, dict[str, dict[str, str]]] = json.loads(store.path.read_text())["secrets"]
    return data


def rewrite(store: SecretStore, change: object) -> None:
    data = json.loads(store.path.read_text())
    change(data["secrets"])  # type: ignore[operator]
    store.path.write_text(json.dumps(data))


def weir(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BOOT, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("WEIR_")}, **env},
    )


def test_values_round_trip_and_are_not_in_the_file(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.set("crm", "token", VALUE)
    store.set("crm", "user", "ådä 🙂 user")
    store.set("db", "url", "postgresql://u:p@h/db")
    assert store.get("crm", "token") == VALUE
    assert store.get("crm", "user") == "ådä 🙂 user"
    assert store.get("crm", "missing") is None and store.get("nope", "x") is None
    assert store.entries() == [("crm", "token"), ("crm", "user"), ("db", "url")]
    assert VALUE.encode() not in store.path.read_bytes()
    # A new store object (another process) reads the same file with the same key.
    assert make_store(tmp_path).get("db", "url") == "postgresql://u:p@h/db"


def test_the_first_set_creates_a_key_file_readable_by_its_owner_only(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.set("crm", "token", VALUE)
    key_file = tmp_path / "secrets.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert json.loads(store.path.read_text())["key_id"] == key_id(read_key_file(key_file))


def test_every_value_gets_a_fresh_96_bit_nonce(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    nonces = []
    for _ in range(20):
        store.set("crm", "token", VALUE)  # the same value, again and again
        nonces.append(entries(store)["crm"]["token"]["nonce"])
    store.set("crm", "other", VALUE)
    nonces.append(entries(store)["crm"]["other"]["nonce"])
    assert len(set(nonces)) == len(nonces)
    assert all(len(base64.b64decode(n)) == 12 for n in nonces)
    assert (
        entries(store)["crm"]["token"]["ciphertext"] != entries(store)["crm"]["other"]["ciphertext"]
    )


def test_swapping_ciphertexts_between_entries_fails_authentication(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.set("crm", "token", "token-value-1")
    store.set("erp", "token", "token-value-2")

    def swap(secrets: dict[str, dict[str, object]]) -> None:
        secrets["crm"]["token"], secrets["erp"]["token"] = (
            secrets["erp"]["token"],
            secrets["crm"]["token"],
        )

    rewrite(store, swap)
    for name in ("crm", "erp"):
        with pytest.raises(
            SecretStoreError, match=f"entry {name}/token in .* fails authentication"
        ):
            store.get(name, "token")


def test_a_tampered_entry_is_named_and_the_others_still_open(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.set("crm", "token", VALUE)
    store.set("crm", "user", "someone")

    def flip(secrets: dict[str, dict[str, dict[str, str]]]) -> None:
        raw = bytearray(base64.b64decode(secrets["crm"]["token"]["ciphertext"]))
        raw[0] ^= 1
        secrets["crm"]["token"]["ciphertext"] = base64.b64encode(bytes(raw)).decode()

    rewrite(store, flip)
    with pytest.raises(SecretStoreError, match=r"entry crm/token in .* fails authentication"):
        store.get("crm", "token")
    assert store.get("crm", "user") == "someone"

    rewrite(store, lambda s: s["crm"]["user"].update(nonce="not base64!"))
    with pytest.raises(SecretStoreError, match=r"entry crm/user in .* is damaged"):
        store.get("crm", "user")


def test_a_wrong_key_names_both_key_ids(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.set("crm", "token", VALUE)
    right = key_id(read_key_file(tmp_path / "secrets.key"))
    other = new_key()
    wrong = SecretStore(store.path, KeySource(None, encode_key(other)))
    with pytest.raises(SecretStoreError) as caught:
        wrong.get("crm", "token")
    assert str(caught.value) == (
        f"the secrets file {store.path} was encrypted with key {right}; "
        f"WEIR_SECRETS_KEY is key {key_id(other)}"
    )
    with pytest.raises(SecretStoreError, match="not base64"):
        SecretStore(store.path, KeySource(None, "???")).get("crm", "token")
    with pytest.raises(SecretStoreError, match="holds 16 bytes"):
        SecretStore(store.path, KeySource(None, base64.b64encode(b"x" * 16).decode())).get(
            "crm", "token"
        )


def test_rotate_key_re_encrypts_everything_and_the_old_key_no_longer_opens_it(
    tmp_path: Path,
) -> None:
    store = make_store(tmp_path)
    store.set("crm", "token", VALUE)
    store.set("db", "url", "postgresql://u:p@h/db")
    old_key = read_key_file(tmp_path / "secrets.key")
    before = entries(store)

    old_id, new_id, count = store.rotate()
    assert (old_id, count) == (key_id(old_key), 2) and new_id != old_id
    after = entries(store)
    for name, key in store.entries():
        assert after[name][key]["nonce"] != before[name][key]["nonce"]
        assert after[name][key]["ciphertext"] != before[name][key]["ciphertext"]
    assert make_store(tmp_path).get("crm", "token") == VALUE  # the key file was replaced
    assert (tmp_path / "secrets.key").stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "secrets.key.new").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

    with_old = SecretStore(store.path, KeySource(None, encode_key(old_key)))
    with pytest.raises(SecretStoreError, match=f"encrypted with key {new_id}"):
        with_old.get("crm", "token")


def test_rotating_a_key_from_the_environment_writes_the_new_one_to_a_file(tmp_path: Path) -> None:
    env_key = encode_key(new_key())
    store = SecretStore(tmp_path / "s.json", KeySource(None, env_key))
    store.set("crm", "token", VALUE)
    with pytest.raises(SecretStoreError, match="--new-key-file"):
        store.rotate()
    store.rotate(tmp_path / "new.key")
    assert SecretStore(store.path, KeySource(tmp_path / "new.key")).get("crm", "token") == VALUE


def test_a_key_file_open_to_group_or_others_is_refused(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.set("crm", "token", VALUE)
    key_file = tmp_path / "secrets.key"
    for mode in (0o640, 0o604, 0o660):
        key_file.chmod(mode)
        with pytest.raises(SecretStoreError, match=f"mode {mode:04o}.*chmod 600"):
            make_store(tmp_path).get("crm", "token")
    key_file.chmod(0o400)
    assert make_store(tmp_path).get("crm", "token") == VALUE


def test_a_store_with_secrets_never_gets_a_new_key_silently(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.set("crm", "token", VALUE)
    (tmp_path / "secrets.key").unlink()
    with pytest.raises(SecretStoreError, match=r"does not exist and .* already holds secrets"):
        store.set("crm", "other", "value-2")
    with pytest.raises(SecretStoreError, match="already holds secrets"):
        store.init()
    assert not (tmp_path / "secrets.key").exists()


def test_the_resolver_reads_environment_then_directory_then_store(tmp_path: Path) -> None:
    store_file = tmp_path / "secrets.json"
    environ = {"WEIR_SECRETS_FILE": str(store_file), "XDG_DATA_HOME": str(tmp_path / "data")}
    SecretStore(store_file, KeySource.choose(None, environ)).set("crm", "token", "from-store")
    directory = tmp_path / "dir"
    resolver = local_resolver(directory, environ)
    assert resolver.resolve("crm", "token") == "from-store"
    (directory / "crm").mkdir(parents=True)
    (directory / "crm" / "token").write_text("from-dir\n")
    assert resolver.resolve("crm", "token") == "from-dir"
    env_first = local_resolver(directory, {**environ, "WEIR_SECRET_CRM_TOKEN": "from-env"})
    assert env_first.resolve("crm", "token") == "from-env"
    with pytest.raises(ConfigError) as caught:
        resolver.resolve("crm", "nope")
    assert "WEIR_SECRET_CRM_NOPE" in caught.value.message
    assert str(store_file) in caught.value.message

    wrong = local_resolver(None, {**environ, "WEIR_SECRETS_KEY": encode_key(new_key())})
    with pytest.raises(
        ConfigError, match=r"secret crm/token: the secrets file .* encrypted with key"
    ):
        wrong.resolve("crm", "token")


def test_without_a_store_file_the_resolver_is_the_plain_one(tmp_path: Path) -> None:
    resolver = local_resolver(None, {"XDG_DATA_HOME": str(tmp_path)})
    with pytest.raises(ConfigError) as caught:
        resolver.resolve("crm", "token")
    assert "secrets.json" not in caught.value.message


def test_the_secrets_commands(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "HOME": str(tmp_path)}
    init = weir("secrets", "init", env=env)
    assert init.returncode == 0, init.stderr
    key_file = tmp_path / "data" / "weir" / "secrets.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert weir("secrets", "init", env=env).returncode == 1  # never overwrites a key

    done = weir("secrets", "set", "crm", "token", env=env, stdin=VALUE + "\n")
    assert done.returncode == 0, done.stderr
    (tmp_path / "v").write_text("user-value-77\n")
    done = weir("secrets", "set", "crm", "user", "--value-file", str(tmp_path / "v"), env=env)
    assert done.returncode == 0, done.stderr
    empty = weir("secrets", "set", "crm", "empty", env=env, stdin="")
    assert empty.returncode == 2 and "empty" in empty.stderr

    listed = weir("secrets", "list", env=env)
    assert listed.returncode == 0 and listed.stdout.splitlines() == ["crm/token", "crm/user"]
    assert VALUE not in listed.stdout + listed.stderr
    assert "user-value-77" not in listed.stdout + listed.stderr

    rotated = weir("secrets", "rotate-key", env=env)
    assert rotated.returncode == 0, rotated.stderr
    assert VALUE not in rotated.stdout + rotated.stderr

    key_file.chmod(0o644)
    refused = weir("secrets", "rotate-key", env=env)
    assert refused.returncode == 1 and "chmod 600" in refused.stderr
    assert "Traceback" not in refused.stderr
    key_file.chmod(0o600)

    wrong = weir("secrets", "rotate-key", env={**env, "WEIR_SECRETS_KEY": encode_key(new_key())})
    assert wrong.returncode == 1 and "was encrypted with key" in wrong.stderr
    assert "Traceback" not in wrong.stderr

    assert weir("secrets", "rm", "crm", "user", env=env).returncode == 0
    missing = weir("secrets", "rm", "crm", "user", env=env)
    assert missing.returncode == 1 and "no secret crm/user" in missing.stderr
    assert weir("secrets", "list", env=env).stdout.splitlines() == ["crm/token"]
    assert weir("secrets", env=env).returncode == 2  # no action: the help


FLOW = """\
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {name: stored}
spec:
  secrets: [{name: crm}]
  trigger: {manual: {}}
  nodes:
    - name: read
      extension: {kind: test.echo, config: {value: $.input, secret: {secret: crm, key: token}}}
      next: say
    - name: say
      log: {message: "token is ${nodes.read.secret}"}
  result: {echo: $.nodes.read.secret, length: "${size(nodes.read.secret)}"}
"""


def test_weir_run_reads_a_stored_secret_and_never_records_it(tmp_path: Path) -> None:
    store_file = tmp_path / "vault" / "secrets.json"
    env = {
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "HOME": str(tmp_path),
        "WEIR_SECRETS_FILE": str(store_file),
        "WEIR_SECRETS_KEY_FILE": str(tmp_path / "vault" / "key"),
    }
    done = weir("secrets", "set", "crm", "token", env=env, stdin=VALUE)
    assert done.returncode == 0, done.stderr
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW)
    db = f"sqlite:///{tmp_path}/store.db"
    ran = weir("run", str(flow), "--input", "{}", "--store", db, env=env)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["echo"] == "***" and "token is ***" in ran.stderr
    assert str(result["length"]) == str(len(VALUE))  # the real value went through the flow
    assert VALUE not in ran.stdout + ran.stderr
    files = list(tmp_path.glob("store.db*"))
    assert files
    for file in files:
        assert VALUE.encode() not in file.read_bytes(), file.name
    shown = weir("executions", "show", "--store", db, "--json", result_id(db, env), env=env)
    assert shown.returncode == 0 and VALUE not in shown.stdout

    # Without the key the node fails with the reason, and no traceback.
    no_key = {**env, "WEIR_SECRETS_KEY_FILE": str(tmp_path / "absent")}
    failed = weir("run", str(flow), "--no-store", env=no_key)
    assert failed.returncode == 1 and "does not exist" in failed.stderr
    assert "Traceback" not in failed.stderr


def result_id(db: str, env: dict[str, str]) -> str:
    listed = weir("executions", "list", "--store", db, "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    return str(rows[0]["id"])


def test_an_emptied_store_takes_a_new_key(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.set("crm", "token", VALUE)
    store.remove("crm")
    (tmp_path / "secrets.key").unlink()
    store.set("crm", "token", "value-2")  # nothing left that the old key would have to open
    assert make_store(tmp_path).get("crm", "token") == "value-2"
