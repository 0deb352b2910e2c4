"""forEach ``batchSize``: the items cut into chunks, each chunk one run with the chunk as
``item`` and its number as ``index``; concurrency counts chunks; outputs in chunk order; a
failing chunk names itself; the size is bounded when the flow is loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.flow.test_validation import flow_with, issues_of
from tests.runner import kinds
from tests.runner.test_engine import execute, ext, flow

ROOT = Path(__file__).resolve().parents[2]
WEIR_RUN = [
    sys.executable,
    "-m",
    "weir.cli",
    "run",
    "examples/batches/flow.yaml",
    "--no-store",
    "-q",
]


@pytest.fixture(autouse=True)
def fresh_calls() -> None:
    kinds.CALLS.clear()
    kinds.BARRIERS.clear()


async def test_each_batch_is_one_run_and_the_output_keeps_batch_order() -> None:
    compiled = flow(f"""\
    - name: each
      forEach: {{items: $.input, batchSize: 3, concurrency: 2}}
      extension: {ext("sleep", seconds=0.01, value={"index": "$.index", "batch": "$.item"})}
    """)
    result = await execute(compiled, list(range(8)))
    assert result.status == "succeeded"
    assert result.result == [
        {"index": 0, "batch": [0, 1, 2]},
        {"index": 1, "batch": [3, 4, 5]},
        {"index": 2, "batch": [6, 7]},
    ]
    (record,) = result.nodes
    assert len(record.attempts) == 3
    assert [given["value"]["batch"] for given in record.input] == [[0, 1, 2], [3, 4, 5], [6, 7]]


async def test_concurrency_counts_batches() -> None:
    # Two batches meet at a barrier of two: both run at once under concurrency 2.
    compiled = flow(f"""\
    - name: each
      forEach: {{items: $.input, batchSize: 2, concurrency: 2}}
      extension: {ext("barrier", key="batches", parties=2)}
    """)
    result = await execute(compiled, [1, 2, 3, 4])
    assert result.status == "succeeded" and result.result == ["each", "each"]


async def test_a_batch_size_above_the_item_count_makes_one_batch_and_no_items_none() -> None:
    node = f"""\
    - name: each
      forEach: {{items: $.input, batchSize: 100}}
      extension: {ext("echo", value="${size(item)}")}
    """
    assert (await execute(flow(node), [1, 2, 3])).result == [3]
    assert (await execute(flow(node), [])).result == []


async def test_a_failing_batch_names_itself_in_the_nodes_error() -> None:
    compiled = flow(f"""\
    - name: each
      forEach: {{items: $.input, batchSize: 2}}
      extension: {ext("flaky", key="batches", failures=2, retryable=False)}
    """)
    result = await execute(compiled, ["a", "b", "c"])
    assert result.error is not None
    assert result.error["message"] == "batch 0: failure 1"
    assert result.error["index"] == 0


@pytest.mark.parametrize(
    ("size", "message"),
    [
        (0, "forEach.batchSize: Input should be greater than or equal to 1"),
        (10_001, "forEach.batchSize: Input should be less than or equal to 10000"),
        ("'ten'", "forEach.batchSize: Input should be a valid integer"),
    ],
)
def test_a_batch_size_out_of_bounds_is_refused_by_name(size: object, message: str) -> None:
    found = issues_of(
        flow_with(f"""\
        - name: a
          log: {{message: hi}}
          forEach: {{items: $.input, batchSize: {size}}}
        """)
    )
    assert any(message in issue for issue in found), found


def test_the_example_sums_its_numbers_three_at_a_time() -> None:
    done = subprocess.run(
        [*WEIR_RUN, "--input", json.dumps({"numbers": [1, 2, 3, 4, 5, 6, 7]})],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [6, 15, 7]
