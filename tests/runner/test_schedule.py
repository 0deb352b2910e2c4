"""Cron slots for one-shot runs: the latest slot at or before now, time zones, explicit
scheduled times, and `weir run --trigger cron` exposing them as $.trigger."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from weir.flow.schedule import next_fire
from weir.flow.triggers import CronTrigger
from weir.triggers.cron import cron_event

UTC = dt.UTC


def test_a_late_start_belongs_to_the_latest_slot() -> None:
    trigger = CronTrigger(schedule="*/15 * * * *")
    event = cron_event(trigger, now=dt.datetime(2026, 11, 25, 10, 16, 30, tzinfo=UTC))
    assert event.kind == "cron"
    assert event.meta["scheduledTime"] == "2026-11-25T10:15:00+00:00"
    assert event.meta["previousTime"] == "2026-11-25T10:00:00+00:00"


def test_a_start_exactly_on_a_slot_is_that_slot() -> None:
    trigger = CronTrigger(schedule="0 * * * *")
    event = cron_event(trigger, now=dt.datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC))
    assert event.meta["scheduledTime"] == "2026-11-25T10:00:00+00:00"


def test_time_zones_are_honoured() -> None:
    trigger = CronTrigger(schedule="0 2 * * *", timeZone="Europe/Madrid")
    event = cron_event(trigger, now=dt.datetime(2026, 7, 1, 3, 0, tzinfo=UTC))
    assert event.meta["scheduledTime"] == "2026-07-01T02:00:00+02:00"
    assert (
        next_fire(trigger, dt.datetime(2026, 7, 1, 3, 0, tzinfo=UTC)).isoformat()
        == "2026-07-02T02:00:00+02:00"
    )


def test_an_explicit_scheduled_time_wins() -> None:
    trigger = CronTrigger(schedule="0 0 * * *")
    event = cron_event(trigger, scheduled=dt.datetime(2026, 1, 1, tzinfo=UTC))
    assert event.meta["scheduledTime"] == "2026-01-01T00:00:00+00:00"
    assert event.meta["previousTime"] == "2025-12-31T00:00:00+00:00"


def test_weir_run_with_a_cron_trigger_passes_the_slot_to_the_flow(tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "apiVersion: weir.dev/v1alpha1\nkind: Flow\nmetadata: {name: nightly}\nspec:\n"
        "  trigger: {cron: {schedule: '0 3 * * *'}}\n"
        "  nodes:\n    - name: report\n      log: {message: 'run ${trigger.scheduledTime}'}\n"
        "  result: {slot: $.trigger.scheduledTime, since: $.trigger.previousTime}\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "weir.cli",
            "run",
            str(flow),
            "--trigger",
            "cron",
            "--scheduled-time",
            "2026-11-25T03:00:00Z",
            "--no-store",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "slot": "2026-11-25T03:00:00+00:00",
        "since": "2026-11-24T03:00:00+00:00",
    }


def test_cron_mode_on_a_manual_flow_is_a_usage_error() -> None:
    hello = Path(__file__).parents[2] / "examples" / "hello" / "flow.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "weir.cli", "run", str(hello), "--trigger", "cron", "--no-store"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "needs a flow with a cron trigger, not manual" in done.stderr
