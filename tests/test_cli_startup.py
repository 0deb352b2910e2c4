"""`weir` starts fast because each command imports only what it uses: `weir --help` loads the
command-line modules and the standard library, nothing else; `weir validate` loads no connector,
no database, no HTTP client or server, not CEL's own command line, for a flow without a
schedule no cron parser, and of the node kinds only those the flow uses; `weir executions list`
loads its database driver, no connector and not pydantic. Timings are measured by bench/cli.py,
not here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
HELLO = ROOT / "examples" / "hello" / "flow.yaml"

CONNECTORS = (
    "paramiko",
    "boto3",
    "botocore",
    "smbprotocol",
    "aio_pika",
    "aiormq",
    "psycopg",
    "aiomysql",
    "aiosmtplib",
    "pymongo",
    "redis",
    "bson",
    "py_mini_racer",
    "kopf",
    "kubernetes_asyncio",
)
NOT_FOR_VALIDATE = (
    *CONNECTORS,
    "prompt_toolkit",  # CEL's command line
    "cel.cli",
    "aiohttp",
    "httpx",
    "sqlalchemy",
    "alembic",
    "jsonschema",
    "croniter",  # hello has no schedule
)
NOT_FOR_HELP = (*NOT_FOR_VALIDATE, "cel", "pydantic", "yaml", "asyncio")


def imported_by(*argv: str) -> set[str]:
    """The modules loaded by ``weir ARGV`` run in a fresh interpreter."""
    code = (
        "import json, sys\n"
        "import weir.cli\n"
        "try:\n"
        f"    weir.cli.main({list(argv)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stdout.flush()\n"
        "sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    marker = done.stderr.rfind("MODULES ")
    assert marker >= 0, done.stderr
    return set(json.loads(done.stderr[marker + len("MODULES ") :]))


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


def test_help_loads_only_the_command_line_and_the_standard_library() -> None:
    modules = imported_by("--help")
    assert "weir.cli" in modules  # the probe ran
    assert loaded(modules, NOT_FOR_HELP) == []
    beyond_cli = sorted(
        m for m in modules if m.startswith("weir.") and not m.startswith("weir.cli")
    )
    assert beyond_cli == []


def test_validate_loads_no_connector_database_or_http_library() -> None:
    modules = imported_by("validate", str(HELLO))
    assert "weir.flow.load" in modules  # the flow was validated
    assert loaded(modules, NOT_FOR_VALIDATE) == []


def test_validate_loads_the_node_kinds_the_flow_uses_and_no_other() -> None:
    from weir.nodes import KIND_NAMES

    modules = imported_by("validate", str(HELLO))  # a log node and a transform node
    kinds = sorted(name for name in KIND_NAMES if f"weir.nodes.{name}" in modules)
    assert kinds == ["log", "transform"]
    assert "weir.flow.poll_triggers" not in modules  # hello is not a polling flow


def test_executions_list_loads_its_database_and_no_connector(tmp_path: Path) -> None:
    modules = imported_by("executions", "list", "--store", f"sqlite:///{tmp_path}/s.db")
    assert "aiosqlite" in modules
    assert loaded(modules, (*CONNECTORS, "prompt_toolkit", "cel", "aiohttp", "httpx")) == []
    # Records are read and printed without the flow model's validation or CEL's wrapper.
    assert loaded(modules, ("pydantic", "weir.lang.types", "weir.lang.expressions.cel_expr")) == []


def test_the_expressions_package_names_where_each_of_its_names_lives() -> None:
    import weir.lang.expressions as expressions

    assert sorted(expressions._HOMES) == sorted(expressions.__all__)
    for name in expressions.__all__:
        assert getattr(expressions, name) is not None, name
    assert not hasattr(expressions, "no_such_name")
