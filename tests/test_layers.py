"""The package layers (docs/architecture.md) hold: the import contract passes on the tree, a
reverse import breaks it, and the size limits on modules and functions hold."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

MODULE_LINES = 400
FUNCTION_LINES = 60
FUNCTION_LIMITED = ("weir/engine", "weir/triggers", "weir/nodes")
"""Where the function limit applies: the code a user's flow runs through."""

LONG_FUNCTIONS: dict[str, str] = {}
"""Functions kept over the limit, with why: ``path:function`` → reason."""


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
    )


def test_the_tree_keeps_its_layers() -> None:
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_a_reverse_import_breaks_the_contract(tmp_path: Path) -> None:
    """The language layer importing the command line is refused, and the report names both."""
    shutil.copytree(ROOT / "weir", tmp_path / "weir", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    durations = tmp_path / "weir" / "lang" / "durations.py"
    durations.write_text(durations.read_text() + "\nimport weir.cli  # noqa: E402,F401\n")
    done = _lint_imports(tmp_path)
    assert done.returncode != 0
    assert "weir.lang is not allowed to import weir.cli" in done.stdout
    assert "weir.lang.durations -> weir.cli" in done.stdout


def _python_files() -> list[Path]:
    return sorted((ROOT / "weir").rglob("*.py"))


def test_no_module_is_over_the_line_limit() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in _python_files()
        if (n := len(path.read_text().splitlines())) > MODULE_LINES
    }
    assert not long, f"modules over {MODULE_LINES} lines: {long}"


def test_no_function_in_the_engine_triggers_or_nodes_is_over_the_line_limit() -> None:
    long: dict[str, int] = {}
    for path in _python_files():
        relative = str(path.relative_to(ROOT))
        if not relative.startswith(FUNCTION_LIMITED):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                where = f"{relative}:{node.name}"
                if lines > FUNCTION_LINES and where not in LONG_FUNCTIONS:
                    long[where] = lines
    assert not long, f"functions over {FUNCTION_LINES} lines: {long}"
