"""Circuit breakers on a fake clock: when a circuit opens, how it probes, what counts as a
failure; their settings (node field, WEIR_CIRCUIT_BREAKER); the retry policy facing
``circuitOpen``; connection keys."""

from __future__ import annotations

import textwrap

import pytest

from weir.engine.retry import RetryDecider
from weir.flow.issues import FlowInvalid
from weir.flow.load import load_flows_text
from weir.flow.model import RetryPolicy
from weir.lang.errors import AuthFailed, ConnectionFailed, NodeError, NodeTimeout
from weir.lang.settings import SettingError
from weir.nodes.breaker import CIRCUIT_OPEN, Circuit, CircuitOpen, Circuits, counts_against
from weir.nodes.breaker_policy import (
    BreakerSettings,
    CircuitBreakerPolicy,
    defaults_from_environment,
)
from weir.nodes.connections import origin, service_url

REFUSED = ConnectionFailed("GET http://db: refused")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def circuit(clock: Clock, **settings: float) -> Circuit:
    values = {"failures": 3, "minCalls": 3, "window": 60.0, "openFor": 30.0, **settings}
    return Circuit("http://db:80", BreakerSettings(**values), clock)  # type: ignore[arg-type]


def fail(c: Circuit, error: BaseException = REFUSED) -> None:
    c.record(c.admit(), error)


def succeed(c: Circuit) -> None:
    c.record(c.admit(), None)


def test_it_opens_after_the_failures_within_the_window_and_refuses_at_once() -> None:
    clock = Clock()
    c = circuit(clock)
    fail(c)
    clock.now += 1
    fail(c)
    assert c.state == 0
    clock.now += 1
    fail(c)
    assert c.state == 2
    clock.now += 10
    with pytest.raises(CircuitOpen) as refused:
        c.admit()
    error = refused.value
    assert error.type == CIRCUIT_OPEN and not error.retryable
    assert "circuit open for http://db:80" in error.message
    assert "3 of 3 calls failed within 60s (last: connection)" in error.message
    assert "in 20.0s" in error.message and error.retry_after == 20.0
    assert error.details["connection"] == "http://db:80" and error.details["probeAt"].endswith("Z")
    assert c.rejected == 1


def test_failures_spread_beyond_the_window_never_open_it() -> None:
    clock = Clock()
    c = circuit(clock)
    for _ in range(6):
        fail(c)
        clock.now += 35  # at most two failures within any 60 s
    assert c.state == 0


def test_it_waits_for_min_calls_and_the_failure_rate() -> None:
    clock = Clock()
    c = circuit(clock, failures=2, minCalls=4)
    fail(c)
    fail(c)
    assert c.state == 0  # two failures, but two calls only
    succeed(c)
    succeed(c)
    assert c.state == 0  # only a failure opens it
    fail(c)
    assert c.state == 2  # 3 of 5 failed, 60% >= 50%

    busy = circuit(clock)
    for _ in range(10):
        succeed(busy)
    for _ in range(3):
        fail(busy)
    assert busy.state == 0  # 3 of 13 failed: under 50%
    rate = circuit(clock, failureRate=20.0)
    for _ in range(10):
        succeed(rate)
    for _ in range(3):
        fail(rate)
    assert rate.state == 2  # 3 of 13 is 23%


def opened(clock: Clock) -> Circuit:
    c = circuit(clock)
    for _ in range(3):
        fail(c)
    assert c.state == 2
    return c


def test_after_open_for_one_probe_goes_through_and_its_success_closes_it() -> None:
    clock = Clock()
    c = opened(clock)
    clock.now += 29.9
    with pytest.raises(CircuitOpen):
        c.admit()
    clock.now += 0.1
    probe = c.admit()
    assert c.state == 1
    with pytest.raises(CircuitOpen, match="a probe is in flight"):
        c.admit()
    c.record(probe, None)
    assert c.state == 0
    succeed(c)
    fail(c)
    fail(c)
    assert c.state == 0  # counting started afresh at closing


def test_a_failed_probe_opens_it_again_for_open_for() -> None:
    clock = Clock()
    c = opened(clock)
    clock.now += 30
    c.record(c.admit(), NodeError("answered 503", type="http", details={"status": 503}))
    assert c.state == 2 and "the probe failed (last: http 503)" in c.reason
    clock.now += 29
    with pytest.raises(CircuitOpen):
        c.admit()
    clock.now += 1
    succeed(c)
    assert c.state == 0


def test_a_probe_that_never_answers_is_given_up_after_open_for() -> None:
    clock = Clock()
    c = opened(clock)
    clock.now += 30
    lost = c.admit()  # its execution was cancelled: no outcome is ever reported
    clock.now += 30
    probe = c.admit()
    c.record(lost, REFUSED)  # a late answer of the given-up probe changes nothing
    assert c.state == 1
    c.record(probe, None)
    assert c.state == 0


def test_outcomes_of_calls_admitted_before_the_circuit_opened_are_ignored() -> None:
    clock = Clock()
    c = circuit(clock)
    slow = c.admit()
    for _ in range(3):
        fail(c)
    clock.now += 30
    probe = c.admit()
    c.record(slow, None)  # admitted while closed, answered after opening: not the probe
    assert c.state == 1
    c.record(probe, REFUSED)
    assert c.state == 2


def test_only_failures_of_the_other_side_count() -> None:
    assert counts_against(REFUSED)
    assert counts_against(NodeTimeout("timed out"))
    assert counts_against(TimeoutError())
    assert counts_against(NodeError("503", type="http", details={"status": 503}))
    assert not counts_against(NodeError("404", type="http", details={"status": 404}))
    assert not counts_against(
        NodeError("429", type="http", retryable=True, details={"status": 429})
    )
    assert not counts_against(NodeError("duplicate key", type="sql"))
    assert not counts_against(NodeError("deadlock", type="sql", retryable=True))
    assert not counts_against(AuthFailed("refused the credentials"))

    clock = Clock()
    c = circuit(clock)
    for _ in range(5):
        fail(c, NodeError("404", type="http", details={"status": 404}))
    assert c.state == 0
    c = opened(clock)
    clock.now += 30
    c.record(c.admit(), NodeError("404", type="http", details={"status": 404}))
    assert c.state == 0  # the service answered: it is up


def test_settings_come_from_the_node_then_the_environment_then_the_built_in_defaults() -> None:
    assert defaults_from_environment({}) == BreakerSettings()
    assert defaults_from_environment({"WEIR_CIRCUIT_BREAKER": "off"}) is None
    assert defaults_from_environment(
        {"WEIR_CIRCUIT_BREAKER": "failures=2, openFor=1m, failureRate=25"}
    ) == BreakerSettings(failures=2, openFor=60.0, failureRate=25.0)
    with pytest.raises(SettingError, match="WEIR_CIRCUIT_BREAKER='failures'"):
        defaults_from_environment({"WEIR_CIRCUIT_BREAKER": "failures"})
    with pytest.raises(SettingError, match=r"window: .*invalid duration"):
        defaults_from_environment({"WEIR_CIRCUIT_BREAKER": "window=soon"})

    circuits = Circuits(BreakerSettings(failures=7))
    assert circuits.settings_for(None) == BreakerSettings(failures=7)
    assert circuits.settings_for(False) is None
    assert circuits.settings_for(True) == BreakerSettings(failures=7)
    policy = CircuitBreakerPolicy.model_validate({"openFor": "5s"})
    assert circuits.settings_for(policy) == BreakerSettings(failures=7, openFor=5.0)
    off = Circuits(None)
    assert off.settings_for(None) is None
    assert off.settings_for(policy) == BreakerSettings(openFor=5.0)


def flow_with(node: str) -> None:
    load_flows_text(
        "apiVersion: weir.dev/v1alpha1\nkind: Flow\nmetadata: {name: t}\nspec:\n"
        "  trigger: {manual: {}}\n  nodes:\n" + textwrap.indent(textwrap.dedent(node), "    ")
    )


def test_flows_validate_the_node_field_with_clear_errors() -> None:
    flow_with("- {name: a, http: {url: 'http://x'}, circuitBreaker: {failures: 2, openFor: 5s}}")
    flow_with("- {name: a, http: {url: 'http://x'}, circuitBreaker: false}")
    flow_with("- {name: a, log: {message: hi}, circuitBreaker: false}")
    cases = {
        "{name: a, log: {message: hi}, circuitBreaker: true}": "a log node calls no service",
        "{name: a, http: {url: 'http://x'}, circuitBreaker: {failure: 2}}": (
            "field circuitBreaker.failure: unknown field"
        ),
        "{name: a, http: {url: 'http://x'}, circuitBreaker: {openFor: 0s}}": (
            "openFor must be longer than 0s"
        ),
        "{name: a, http: {url: 'http://x'}, circuitBreaker: sometimes}": (
            "circuitBreaker is false (none), true (the runner's defaults) or settings"
        ),
    }
    for node, message in cases.items():
        with pytest.raises(FlowInvalid) as invalid:
            flow_with(f"- {node}")
        assert len(invalid.value.issues) == 1 and message in str(invalid.value), node


def policy(**fields: object) -> RetryDecider:
    base: dict[str, object] = {"initialDelay": 0.01, "jitter": False}
    return RetryDecider(RetryPolicy.model_validate({**base, **fields}))


def refusal(wait: float) -> CircuitOpen:
    return CircuitOpen("circuit open for http://db:80", retry_after=wait)


def test_retries_never_hammer_an_open_circuit() -> None:
    assert policy().delay_before_next(1, refusal(5)) is None
    assert policy(retryOn=["any"]).delay_before_next(1, refusal(5)) is None
    assert policy(retryOn=["retryable"]).delay_before_next(1, REFUSED) == 0.01
    # Named, it is retried when the circuit lets a probe through ...
    assert policy(retryOn=["circuitOpen"]).delay_before_next(1, refusal(5)) == 5
    # ... unless that is beyond maxDelay: then it fails now, saying so.
    late = refusal(120)
    assert policy(retryOn=["circuitOpen"], maxDelay="1m").delay_before_next(1, late) is None
    assert "the circuit breaker asked to wait 120s" in late.message


def test_connection_keys_name_the_service_without_secrets() -> None:
    assert origin("https://user:pw@API.example.com/v1/x?token=t") == "https://api.example.com:443"
    assert origin("http://[::1]:8080/x") == "http://[::1]:8080"
    assert origin("not a url") is None
    assert (
        service_url("postgresql+psycopg://app:s3cret@db:5432/orders?password=x")
        == "postgresql+psycopg://app@db:5432/orders"
    )
    assert service_url("amqp://guest:guest@rabbit/") == "amqp://guest@rabbit/"
    assert service_url("sqlite:///var/lib/app.db") is None


def test_idle_closed_circuits_are_forgotten_beyond_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from weir.nodes import breaker

    monkeypatch.setattr(breaker, "MAX_CIRCUITS", 2)
    clock = Clock()
    circuits = Circuits(BreakerSettings(), clock)
    settings = BreakerSettings()
    busy = circuits._new("http://busy:80", settings)
    busy.record(busy.admit(), None)
    quiet = circuits._new("http://quiet:80", settings)
    quiet.record(quiet.admit(), None)
    clock.now += 61  # both calls are out of the window now
    busy.record(busy.admit(), None)
    circuits._new("http://new:80", settings)
    assert sorted(c.connection for c in circuits) == ["http://busy:80", "http://new:80"]
