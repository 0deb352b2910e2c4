"""The RabbitMQ trigger: at-least-once, nothing dropped silently.

* A message is acked only after its execution succeeded and, with recording on, after the
  execution's records are committed. Executions that finish together (one group commit) are
  acked together, with one ``multiple`` ack where their delivery tags run on (``acks``).
* An execution whose records the store did not commit in time (RecordingUnavailable) is not
  acked: the message goes back to the queue and runs again.
* A failed execution is retried after ``retryDelay`` through ``<queue>.retry`` (a queue whose
  messages expire back into the main queue), up to ``maxRetries`` times; then the message goes
  to the dead-letter queue with the error attached in the ``x-weir-error`` header. The copy is
  published (and confirmed by the broker) before the original is acked.
* A message that cannot be decoded (a body that is not JSON, nests deeper than the payload
  bound or holds NaN; an ``x-weir-attempts`` header that is not a count) is a poison message:
  it goes straight to the dead-letter queue with the reason in ``x-weir-error``, never back
  to the queue, so it cannot block the messages behind it.
* Stopping cancels the consumer first (no new deliveries), lets in-flight executions finish,
  and closes the channel: anything still unacked goes back to the queue.
* A lost broker connection is re-established by aio-pika's robust connection with backoff.

Under ``weir serve`` the consumer first connects in the background, retrying with backoff until
the broker answers (not live meanwhile), and a reload that changes the trigger restarts it.

Modules: ``messages`` (decoding a delivery into an event), ``acks`` (coalesced acks),
``consumer`` (one queue's consumer), ``runtime`` (the consumer as `weir serve` runs it).
"""

from weir.flow.triggers import RabbitmqTrigger
from weir.triggers.kind import TriggerKind
from weir.triggers.rabbitmq.consumer import RabbitmqConsumer
from weir.triggers.rabbitmq.messages import (
    ATTEMPTS_HEADER,
    ERROR_HEADER,
    Queues,
    attempts_of,
    decode_body,
)
from weir.triggers.rabbitmq.runtime import RabbitmqRuntime

__all__ = [
    "ATTEMPTS_HEADER",
    "ERROR_HEADER",
    "KIND",
    "Queues",
    "RabbitmqConsumer",
    "RabbitmqRuntime",
    "attempts_of",
    "decode_body",
]

KIND = TriggerKind(
    name="rabbitmq",
    spec=RabbitmqTrigger,
    runtime=RabbitmqRuntime,
    summary="consumes a queue; a message is acked only after its execution succeeded",
)
