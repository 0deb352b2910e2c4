"""The trigger kinds a flow can name; exactly one per flow. The polling kinds (files, mail)
are in ``poll_triggers``."""

from __future__ import annotations

import re
import zoneinfo
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

from pydantic import Field, field_validator, model_validator

from weir.lang.deferred import Deferred
from weir.lang.durations import Duration
from weir.lang.expressions import Value
from weir.lang.types import ByteSize, JsonObject, SecretOrText, SecretRef, Strict

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
DEFAULT_MAX_BODY = 1024 * 1024
"""The body limit of the HTTP triggers (REST, MCP) unless ``maxBodySize`` says otherwise."""


CRON_FIELDS = r"^\s*(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|\S+(\s+\S+){4})\s*$"
"""What a Kubernetes CronJob takes: five fields or a macro (no seconds, no TZ= prefix)."""


class CronTrigger(Strict):
    """Runs the flow on a schedule (a Kubernetes CronJob in a cluster)."""

    schedule: str = Field(
        max_length=256,
        json_schema_extra={"pattern": CRON_FIELDS},  # the apiserver's check; ours says more
        description='Cron expression of five fields (minute hour day month weekday), e.g. "*/15 * * * *", or @hourly, @daily, @weekly, @monthly, @yearly.',
    )
    timeZone: str | None = Field(
        None, description='IANA time zone, e.g. "Europe/Madrid"; UTC if unset.'
    )
    concurrencyPolicy: Literal["Allow", "Forbid", "Replace"] = Field(
        "Forbid", description="What to do when a run is due while the previous one still runs."
    )
    startingDeadline: Duration | None = Field(
        None, description="A missed run older than this is skipped."
    )
    successfulRunsHistoryLimit: int = Field(3, ge=0, description="Finished Jobs kept in a cluster.")
    failedRunsHistoryLimit: int = Field(1, ge=0, description="Failed Jobs kept in a cluster.")

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str) -> str:
        if not re.match(CRON_FIELDS, value):
            fields = len(value.split())
            raise ValueError(
                f"cron schedule {value!r} has {fields} field{'s' if fields != 1 else ''}: a "
                "schedule has five (minute hour day-of-month month day-of-week) or is one of "
                "@hourly, @daily, @weekly, @monthly, @yearly; seconds are not supported"
            )
        from croniter import croniter  # here: 15 ms that flows without a schedule never need

        if not croniter.is_valid(value):
            raise ValueError(f"invalid cron schedule {value!r}")
        return value

    @field_validator("timeZone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value


class BasicAuth(Strict):
    username: SecretOrText
    password: SecretRef


class HmacAuth(Strict):
    """A signature of the raw body, e.g. GitHub's ``X-Hub-Signature-256: sha256=<hex>``."""

    secret: SecretRef
    header: str = "X-Signature"
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    prefix: str = Field("", description='Text before the hex digest, e.g. "sha256=".')


class HttpAuth(Strict):
    """Exactly one way to authenticate callers of an HTTP trigger (REST or MCP)."""

    bearer: SecretRef | None = None
    basic: BasicAuth | None = None
    hmac: HmacAuth | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> HttpAuth:
        chosen = [k for k in ("bearer", "basic", "hmac") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError("auth takes exactly one of bearer, basic, hmac")
        return self


class RestResponse(Strict):
    """How a synchronous call answers; ``$.result`` is the flow's result."""

    status: Value | None = Field(None, description="Status code; 200 if unset.")
    headers: Value | None = None
    body: Value | None = Field(None, description="Body; the flow's result if unset.")


class RestTrigger(Strict):
    """An HTTP endpoint (webhook, REST or SOAP) that runs the flow per request."""

    path: str = Field(pattern=r"^/", description="Request path, e.g. /orders.")
    methods: list[HttpMethod] = Field(default_factory=lambda: [cast(HttpMethod, "POST")])
    mode: Literal["sync", "async"] = Field(
        "sync", description="sync answers with the result; async answers 202 with the execution id."
    )
    soap: bool = Field(False, description="Unwrap a SOAP envelope and answer faults as SOAP.")
    auth: HttpAuth | None = None
    maxBodySize: ByteSize = Field(DEFAULT_MAX_BODY, description="Larger bodies get 413.")
    schema_: JsonObject | None = Field(
        None, alias="schema", description="JSON Schema the payload must satisfy (400 otherwise)."
    )
    concurrency: int | None = Field(None, ge=1, description="Executions at once; more get 429.")
    response: RestResponse | None = None


class RabbitmqTrigger(Strict):
    """Consumes a queue; a message is acked only after its execution succeeded."""

    url: SecretOrText = Field(description="AMQP URL, usually from a secret.")
    queue: str = Field(min_length=1)
    declare: bool = Field(True, description="Declare the queue (durable) if it does not exist.")
    prefetch: int = Field(10, ge=1)
    concurrency: int | None = Field(
        None, ge=1, description="Executions at once; prefetch if unset."
    )
    maxRetries: int = Field(3, ge=0, description="Redeliveries before a message is dead-lettered.")
    retryDelay: Duration = 5.0
    deadLetterQueue: str | None = Field(
        None, description='Where failed messages go; "<queue>.dead" if unset.'
    )


class McpTrigger(Strict):
    """Offers the flow as a tool over MCP's streamable HTTP transport."""

    tool: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = ""
    inputSchema: JsonObject = Field(default_factory=lambda: {"type": "object"})
    path: str = Field("/mcp", pattern=r"^/")
    auth: HttpAuth | None = None
    maxBodySize: ByteSize = Field(DEFAULT_MAX_BODY, description="Larger bodies get 413.")


class ManualTrigger(Strict):
    """Runs only when asked: ``weir run``, or a ``weir.dev/run`` annotation in a cluster."""

    inputSchema: JsonObject | None = None


TRIGGER_KINDS = ("cron", "files", "mail", "manual", "mcp", "rabbitmq", "rest")


def _poll_trigger(name: str) -> Deferred:
    """A polling trigger's model: it embeds node configs (file, sftp, smb, s3, mail), imported
    only by a flow that polls."""

    def load() -> Any:
        from weir.flow import poll_triggers

        return getattr(poll_triggers, name)

    return Deferred(load)


if TYPE_CHECKING:
    from weir.flow.poll_triggers import FilesTrigger, MailTrigger

    FilesField = FilesTrigger | None
    MailField = MailTrigger | None
else:
    FilesField = Annotated[Any, _poll_trigger("FilesTrigger")]
    MailField = Annotated[Any, _poll_trigger("MailTrigger")]


class Trigger(Strict):
    """Exactly one trigger kind."""

    cron: CronTrigger | None = None
    files: FilesField = None
    mail: MailField = None
    manual: ManualTrigger | None = None
    mcp: McpTrigger | None = None
    rabbitmq: RabbitmqTrigger | None = None
    rest: RestTrigger | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_key_means_defaults(cls, data: Any) -> Any:
        # `manual:` with nothing after it reads as null; it means "manual, all defaults".
        if isinstance(data, dict):
            return {k: ({} if v is None and k in TRIGGER_KINDS else v) for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> Trigger:
        chosen = [k for k in TRIGGER_KINDS if getattr(self, k) is not None]
        if len(chosen) != 1:
            found = ", ".join(chosen) if chosen else "none"
            raise ValueError(
                f"a trigger takes exactly one of {', '.join(TRIGGER_KINDS)}; found {found}"
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in TRIGGER_KINDS if getattr(self, k) is not None)
