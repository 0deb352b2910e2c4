"""What the RabbitMQ trigger reads from a delivery: the body, the attempts made so far, the
queues it moves messages between, and the event an execution sees."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from weir.engine.events import TriggerEvent
from weir.flow.triggers import RabbitmqTrigger
from weir.triggers.rejection import PayloadError, TooDeep, loads_json

ATTEMPTS_HEADER = "x-weir-attempts"
ERROR_HEADER = "x-weir-error"


@dataclass(frozen=True)
class Queues:
    main: str
    retry: str
    dead: str

    @classmethod
    def of(cls, trigger: RabbitmqTrigger) -> Queues:
        return cls(
            trigger.queue,
            f"{trigger.queue}.retry",
            trigger.deadLetterQueue or f"{trigger.queue}.dead",
        )


def decode_body(body: bytes, content_type: str | None) -> Any:
    """JSON bodies become data, text stays text (XML included), other bytes stay bytes.

    Raises PayloadError for a JSON body that is malformed, nests too deep or holds NaN; an
    untyped body that looks like JSON but is malformed stays text, one that nests too deep
    is refused.
    """
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        return loads_json(body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body
    if not kind:
        try:
            return loads_json(text)
        except TooDeep:
            raise
        except PayloadError:
            return text
    return text


def attempts_of(headers: dict[str, Any]) -> int:
    """Attempts made so far, from ``x-weir-attempts``; PayloadError unless a count."""
    value = headers.get(ATTEMPTS_HEADER, 0)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PayloadError(
            f"the {ATTEMPTS_HEADER} header is not a count of attempts: {str(value)[:40]!r}"
        )
    return value


def trigger_event(message: Any, queue: str, attempts: int) -> TriggerEvent:
    """The event of a delivery; PayloadError for a body that cannot be decoded."""
    headers = message.headers or {}
    try:
        payload = decode_body(message.body, message.content_type)
    except PayloadError as exc:
        raise PayloadError(f"invalid JSON body: {exc}") from None
    return TriggerEvent(
        kind="rabbitmq",
        payload=payload,
        meta={
            "queue": queue,
            "messageId": message.message_id,
            "routingKey": message.routing_key,
            "headers": {k: v for k, v in headers.items() if not k.startswith("x-weir-")},
            "redelivered": bool(message.redelivered),
            "attempt": attempts + 1,
        },
    )
