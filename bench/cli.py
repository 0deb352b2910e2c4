"""Start-up time of the `weir` command: `weir --help`, `weir validate` on one small flow and
`weir executions list` on a SQLite store (already at the newest schema, holding one execution),
each against `python -c pass` in the same interpreter. Wall-clock, median of ``--runs`` runs,
the commands taking turns so that the machine's other load falls on all of them alike. One JSON
line: seconds, and ratios to `python -c pass`.

    python bench/cli.py [--runs 15]

Targets (issue 13): `weir --help` at most 0.15 s, `weir validate` at most 0.35 s. To see what a
command imports and what each import costs: ``python -X importtime -m weir.cli --help``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELLO = ROOT / "examples" / "hello" / "flow.yaml"
TARGETS = {"help": 0.15, "validate": 0.35}


def weir_command() -> list[str]:
    """The `weir` script installed beside this interpreter, as a user runs it."""
    script = Path(sys.executable).with_name("weir")
    found = str(script) if script.exists() else shutil.which("weir")
    return [found] if found else [sys.executable, "-m", "weir.cli"]


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr!r}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    weir = weir_command()
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:///{tmp}/executions.db"
        # A store at the newest schema with one execution: what a user lists.
        subprocess.run(
            [*weir, "run", str(HELLO), "--input", '{"name": "Ada"}', "--quiet", "--store", store],
            check=True,
            capture_output=True,
        )
        commands = {
            "python_pass": [sys.executable, "-c", "pass"],
            "help": [*weir, "--help"],
            "validate": [*weir, "validate", str(HELLO)],
            "executions_list": [*weir, "executions", "list", "--store", store],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for command in commands.values():  # warm the file cache and the bytecode
            wall(command)
        for _ in range(args.runs):
            for name, command in commands.items():
                times[name].append(wall(command))
    median = {name: statistics.median(values) for name, values in times.items()}
    base = median["python_pass"]
    result: dict[str, object] = {"bench": "cli", "runs": args.runs, "command": " ".join(weir)}
    for name, seconds in median.items():
        result[f"{name}_s"] = round(seconds, 3)
        if name != "python_pass":
            result[f"{name}_ratio"] = round(seconds / base, 1)
    result["targets_s"] = TARGETS
    result["within_targets"] = all(median[name] <= limit for name, limit in TARGETS.items())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
