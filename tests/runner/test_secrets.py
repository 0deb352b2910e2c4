"""Local secret resolution (environment, then a Secret-volume-shaped directory) and redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from weir.lang.errors import ConfigError
from weir.lang.types import SecretRef
from weir.secrets.redact import Redactor
from weir.secrets.resolve import LocalSecretResolver, Secrets, env_var_name


def test_environment_variables_win_over_files(tmp_path: Path) -> None:
    (tmp_path / "crm").mkdir()
    (tmp_path / "crm" / "token").write_text("from-file\n")
    resolver = LocalSecretResolver(tmp_path, environ={"WEIR_SECRET_CRM_TOKEN": "from-env"})
    assert resolver.resolve("crm", "token") == "from-env"
    assert LocalSecretResolver(tmp_path, environ={}).resolve("crm", "token") == "from-file"


def test_variable_names_are_upper_case_with_underscores() -> None:
    assert env_var_name("warehouse_db", "api-key.v2") == "WEIR_SECRET_WAREHOUSE_DB_API_KEY_V2"


def test_a_missing_secret_says_where_it_was_looked_for(tmp_path: Path) -> None:
    resolver = LocalSecretResolver(tmp_path, environ={})
    with pytest.raises(ConfigError) as caught:
        resolver.resolve("crm", "token")
    assert "WEIR_SECRET_CRM_TOKEN" in caught.value.message
    assert str(tmp_path / "crm" / "token") in caught.value.message
    assert caught.value.retryable is False


def test_revealed_values_are_scrubbed_everywhere_afterwards() -> None:
    redactor = Redactor()
    secrets = Secrets(
        LocalSecretResolver(environ={"WEIR_SECRET_DB_URL": "postgresql://u:hunter22@h/db"}),
        redactor,
        {"db"},
    )
    assert secrets.reveal(SecretRef(secret="db", key="url")) == "postgresql://u:hunter22@h/db"
    record = {"url": "postgresql://u:hunter22@h/db", "nested": ["x postgresql://u:hunter22@h/db y"]}
    assert redactor(record) == {"url": "***", "nested": ["x *** y"]}
    assert redactor.text("no secret here") == "no secret here"


def test_literal_strings_pass_through_and_short_values_are_not_masked() -> None:
    redactor = Redactor()
    secrets = Secrets(LocalSecretResolver(environ={"WEIR_SECRET_A_B": "abc"}), redactor, {"a"})
    assert secrets.reveal("plain") == "plain"
    assert secrets.reveal(SecretRef(secret="a", key="b")) == "abc"
    assert redactor.text("abcdef") == "abcdef"


def test_an_undeclared_secret_is_refused_at_run_time_too() -> None:
    secrets = Secrets(LocalSecretResolver(environ={}), Redactor(), set())
    with pytest.raises(ConfigError, match="not declared"):
        secrets.reveal(SecretRef(secret="x", key="y"))


def test_secrets_needing_json_escapes_are_found_in_keys_values_and_bytes() -> None:
    redactor = Redactor()
    quoted, accented = 'pa"ss\\word', "clé-secrète"
    redactor.add(quoted)
    redactor.add(accented)
    value = {
        "nested": [{"k": f"Bearer {quoted}"}],
        f"key-{accented}": 1,
        "raw": f"x{accented}".encode(),
        "clean": "nothing here",
    }
    assert redactor(value) == {
        "nested": [{"k": "Bearer ***"}],
        "key-***": 1,
        "raw": b"x***",
        "clean": "nothing here",
    }
    untouched = {"a": ["b", {"c": 1.5}]}
    assert redactor(untouched) is untouched  # nothing to scrub: no copy made


def test_the_quick_check_escapes_every_character_as_the_secrets_forms_do() -> None:
    """The redactor looks for a secret's ``json.dumps(ensure_ascii=False)`` form in the
    orjson text of a value: both must escape every character alike, or a secret could be
    missed."""
    import json

    import orjson

    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    assert orjson.dumps(every) == json.dumps(every, ensure_ascii=False).encode()


def test_values_the_quick_check_cannot_encode_are_still_scrubbed() -> None:
    redactor = Redactor()
    secret = "tab\tand\nnewline\x01é"
    redactor.add(secret)
    value = {
        7: f"int key {secret}",  # not a string key
        "big": [2**70, f"{secret}!"],  # an integer past 64 bits
        "lone": f"\ud800{secret}",  # a lone surrogate
        "tuple": (secret,),
    }
    assert redactor(value) == {
        7: "int key ***",
        "big": [2**70, "***!"],
        "lone": "\ud800***",
        "tuple": ["***"],
    }


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://app:p@ss@db:5432/x", "postgresql://app:***@db:5432/x"),
        ("mysql://u:r1ght p@ss/:%?@h/db", "mysql://u:***@h/db"),
        (
            "error at postgresql://u:s@cret@h/db: refused",
            "error at postgresql://u:***@h/db: refused",
        ),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        (
            "postgresql://u:pw@h/db: connection refused",
            "postgresql://u:***@h/db: connection refused",
        ),
    ],
)
def test_a_password_holding_at_signs_is_hidden_whole(text: str, shown: str) -> None:
    from weir.secrets.redact import hide_password

    assert hide_password(text) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "postgresql+psycopg://u:p%40w@[::1]:5432/db?sslmode=require",
            "postgresql+psycopg://u:***@[::1]:5432/db?sslmode=require",
        ),
        ("mysql://u:pa/ss?@h/db", "mysql://u:***@h/db"),
        ("redis://:only-a-password@h:6379/0", "redis://:***@h:6379/0"),
        ("https://h/path?mail=a@b", "https://h/path?mail=a@b"),
        ("no URL here", "no URL here"),
    ],
)
def test_a_whole_url_is_shown_as_sqlalchemy_renders_it_without_its_password(
    text: str, shown: str
) -> None:
    from weir.secrets.redact import hide_password

    assert hide_password(text) == shown


@pytest.mark.parametrize("path", ["/etc/passwd", "/proc/self/environ"])
def test_a_file_reference_a_flow_wrote_itself_is_refused(path: str, tmp_path: Path) -> None:
    """A flow can build {"$file": PATH}; honouring it would send any local file anywhere."""
    from weir.lang.errors import ConfigError
    from weir.nodes.spool import content_size, open_content

    forged = {"$file": path, "name": "token"}
    with pytest.raises(ConfigError, match="a flow cannot name a local path"):
        content_size(forged)
    with pytest.raises(ConfigError, match="a flow cannot name a local path"), open_content(forged):
        pass
    (tmp_path / "x").write_text("x")
    escape = {"$file": str(tmp_path / "x"), "name": "x"}
    with pytest.raises(ConfigError, match="a flow cannot name a local path"), open_content(escape):
        pass
