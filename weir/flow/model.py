"""The Flow resource: one file serves `weir run` and `kubectl apply`.

Each node has a ``name`` and exactly one kind key (``http:``, ``sql:`` ...) whose value is that
kind's typed config. The Node model is assembled from the node registry, so adding a node kind
is adding one module and one registry line.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    create_model,
    model_validator,
)

from weir.flow.triggers import Trigger
from weir.lang.deferred import Deferred
from weir.lang.durations import Duration
from weir.lang.expressions import Condition, Items, Value
from weir.lang.types import IDENTIFIER, KUBE_NAME, JsonObject, Strict
from weir.nodes import NODE_KINDS
from weir.nodes.breaker_policy import CircuitBreaker, check_guardable

API_VERSION = "weir.dev/v1alpha1"


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


Targets = Annotated[
    list[str],
    BeforeValidator(_as_list),
    WithJsonSchema(
        {
            "description": "A node name, or a list of names that then run concurrently.",
            "x-kubernetes-preserve-unknown-fields": True,
        }
    ),
]


class RetryPolicy(Strict):
    """How a failing node is retried before its error transition is taken."""

    maxAttempts: int = Field(3, ge=1, le=100, description="Attempts in all, the first included.")
    backoff: Literal["fixed", "exponential"] = "exponential"
    initialDelay: Duration = Field(1.0, description="Delay before the second attempt.")
    maxDelay: Duration = Field(60.0, description="Upper bound of any delay.")
    multiplier: float = Field(2.0, ge=1.0, description="Growth factor of exponential backoff.")
    jitter: bool = Field(True, description="Randomise each delay by up to ±20%.")
    retryOn: list[str] = Field(
        default_factory=lambda: ["retryable"],
        description='"retryable" (errors marked retryable), "any", or error types such as "timeout".',
    )


class ForEach(Strict):
    """Run the node per item (or per batch); its output is the list of run outputs, in order."""

    items: Items = Field(description="A list, usually a reference like $.nodes.query.rows.")
    concurrency: int = Field(1, ge=1, le=1000, description="Items (or batches) processed at once.")
    batchSize: int | None = Field(
        None,
        ge=1,
        le=10_000,
        description="Run once per batch of this many items: `item` is the batch (a list), "
        "`index` its number.",
    )


class Branch(Strict):
    """A conditional transition: taken when ``condition`` (CEL) is true after a success."""

    condition: Condition = Field(description='CEL, e.g. output.status == "active".')
    next: Targets


class NodeBase(Strict):
    name: str = Field(pattern=IDENTIFIER, max_length=63, description="Unique within the flow.")
    description: str | None = None
    next: Targets = Field(default_factory=list, description="Taken on success.")
    when: list[Branch] = Field(
        default_factory=list, description="Checked in order on success; the first match is taken."
    )
    otherwise: Targets = Field(default_factory=list, description="Taken when no `when` matched.")
    onError: Targets = Field(
        default_factory=list, description="Taken when the node fails after its retries."
    )
    retry: RetryPolicy | None = None
    timeout: Duration | None = Field(None, description="Limit of each attempt.")
    forEach: ForEach | None = None
    circuitBreaker: CircuitBreaker | None = Field(
        None,
        description="The circuit breaker of the service the node calls: settings, or false to "
        "go without; the runner's defaults if unset (docs/circuit-breakers.md).",
    )

    @model_validator(mode="after")
    def _breaker_guards_a_service(self) -> NodeBase:
        check_guardable(self.circuitBreaker, NODE_KINDS[self.kind], NODE_KINDS)
        return self

    @model_validator(mode="before")
    @classmethod
    def _exactly_one_kind(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kinds = [key for key in data if key in NODE_KINDS]
        if len(kinds) == 1:
            if data[kinds[0]] is None:  # `log:` alone means "all defaults"
                data = {**data, kinds[0]: {}}
            return data
        known = ", ".join(NODE_KINDS)
        if not kinds:
            unknown = [k for k in data if k not in cls.model_fields]
            hint = f"; unknown key {unknown[0]!r}" if unknown else ""
            raise ValueError(f"a node needs exactly one kind key ({known}), found none{hint}")
        raise ValueError(
            f"a node takes exactly one kind key, found {len(kinds)}: {', '.join(kinds)}"
        )

    @cached_property
    def kind(self) -> str:
        return next(k for k in NODE_KINDS if getattr(self, k, None) is not None)

    @cached_property
    def config(self) -> BaseModel:
        config: BaseModel = getattr(self, self.kind)
        return config

    def transitions(self) -> list[tuple[str, str]]:
        """Every (field, target) pair this node names, the field as written in the file."""
        pairs = [("next", t) for t in self.next]
        for i, branch in enumerate(self.when):
            pairs += [(f"when.{i}.next", t) for t in branch.next]
        pairs += [("otherwise", t) for t in self.otherwise]
        pairs += [("onError", t) for t in self.onError]
        return pairs


def _deferred_config(name: str) -> Deferred:
    """The kind's config model, imported when a flow first uses the kind."""
    return Deferred(lambda: NODE_KINDS[name].config, lambda: NODE_KINDS[name].summary)


if TYPE_CHECKING:
    Node = NodeBase
else:
    Node = create_model(
        "Node",
        __base__=NodeBase,
        **{name: (Annotated[Any, _deferred_config(name)], None) for name in NODE_KINDS},
    )


class Scaling(Strict):
    """How many runner replicas serve a long-lived trigger (rest, rabbitmq, mcp)."""

    minReplicas: int = Field(1, ge=0, le=100)
    maxReplicas: int = Field(1, ge=1, le=100)
    queueLength: int | None = Field(
        None,
        ge=1,
        description="rabbitmq trigger: scale with KEDA on messages per replica (a ScaledObject).",
    )
    cpuUtilization: int | None = Field(
        None, ge=1, le=100, description="Scale with a HorizontalPodAutoscaler on CPU (percent)."
    )

    @model_validator(mode="after")
    def _bounds(self) -> Scaling:
        if self.maxReplicas < self.minReplicas:
            raise ValueError("maxReplicas must be at least minReplicas")
        if self.queueLength is not None and self.cpuUtilization is not None:
            raise ValueError("choose queueLength (KEDA) or cpuUtilization (HPA), not both")
        return self


class RunnerSettings(Strict):
    """Per-flow overrides of the runner workload the operator renders."""

    image: str | None = Field(None, description="Runner image; the operator's default if unset.")
    resources: JsonObject | None = Field(
        None, description="Container resources (requests/limits); the operator's default if unset."
    )
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables.")


class SecretBinding(Strict):
    """A logical secret name used by nodes, bound to a FlowSecretRef in a cluster."""

    name: str = Field(pattern=IDENTIFIER)
    flowSecretRef: str | None = Field(
        None,
        pattern=KUBE_NAME,
        max_length=253,
        description="The FlowSecretRef in the Flow's namespace; the same name if unset.",
    )


MAX_NODES = 500
"""A bound the apiserver needs to estimate the cost of the CRD's per-node CEL rule."""

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
MAX_NAME = 47
"""So that derived names (weir-<name>, a CronJob's Jobs, manual-run Jobs) stay within 63."""


class FlowSpec(Strict):
    """What runs the flow and what it does."""

    trigger: Trigger = Field(description="What starts an execution: exactly one trigger kind.")
    secrets: list[SecretBinding] = Field(
        default_factory=list, description="Logical secret names the nodes may use."
    )
    start: str | None = Field(None, description="The first node; the first in the list if unset.")
    nodes: list[Node] = Field(
        min_length=1,
        max_length=MAX_NODES,
        description="The graph: each node has a name and exactly one kind key.",
    )
    result: Value | None = Field(
        None, description="What an execution returns; the last finished node's output if unset."
    )
    timeout: Duration | None = Field(None, description="Limit of a whole execution.")
    recording: Literal["sync", "async"] = Field(
        "sync",
        description="sync: the trigger answers (or acks) only once the execution's record is "
        "committed; async: it answers at once, and a crash loses the records of the last "
        "moments (docs/recording.md).",
    )
    suspend: bool = Field(False, description="Stop triggering (in a cluster: scale to zero).")
    scaling: Scaling | None = Field(None, description="Replicas of a long-lived runner.")
    runner: RunnerSettings | None = Field(None, description="Overrides of the runner workload.")


class Metadata(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(
        pattern=NAME_PATTERN,
        max_length=MAX_NAME,
        description="DNS label of at most 47 characters, so that derived names "
        "(weir-<name>, a CronJob's jobs) stay within Kubernetes limits.",
    )
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class Flow(Strict):
    apiVersion: Literal["weir.dev/v1alpha1"]
    kind: Literal["Flow"]
    metadata: Metadata
    spec: FlowSpec
    status: JsonObject | None = None

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def start(self) -> str:
        return self.spec.start or self.spec.nodes[0].name
