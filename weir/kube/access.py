"""Kubernetes authentication and authorization for a service of Weir's: TokenReview answers who
holds a bearer token, SubjectAccessReview whether that user may do something, exactly as the API
server itself would decide (RBAC, webhooks, whatever the cluster runs).

Answers are cached for a few seconds (a user per token hash, a decision per user and request),
so a page of the console costs one review, not one per call, and a revoked binding still takes
effect within the TTL. When the API server cannot answer, `ReviewUnavailable` says so: the caller
answers 503, never allows.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from weir.kube.client import ApiError, Kube

TTL = 10.0
MAX_ENTRIES = 10_000
"""Per cache: bounded, so a stream of random tokens cannot grow memory."""
CONCURRENT_REVIEWS = 16
"""SubjectAccessReviews in flight at once when checking many namespaces."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ReviewUnavailable(Exception):
    """The API server could not answer a review: nothing may be allowed on a guess."""


@dataclass(frozen=True)
class User:
    """What TokenReview says about a token's holder; SubjectAccessReview takes it all back."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def from_review(cls, user: dict[str, Any]) -> User:
        extra = user.get("extra") or {}
        return cls(
            username=str(user.get("username") or ""),
            uid=str(user.get("uid") or ""),
            groups=tuple(str(group) for group in user.get("groups") or ()),
            extra=tuple(sorted((key, tuple(values or ())) for key, values in extra.items())),
        )

    def review_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"user": self.username, "groups": list(self.groups)}
        if self.uid:
            fields["uid"] = self.uid
        if self.extra:
            fields["extra"] = {key: list(values) for key, values in self.extra}
        return fields


@dataclass(frozen=True)
class Authentication:
    """A token's review: the user when authenticated, else the API server's reason."""

    user: User | None
    error: str = ""


class TtlCache(Generic[K, V]):
    """Values kept for `ttl` seconds (0: not at all), at most MAX_ENTRIES of them."""

    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        now = self._clock()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = await load()  # an exception is not cached: the next call asks again
        if self.ttl > 0:
            self._make_room(now)
            self._entries[key] = (now + self.ttl, value)
        return value

    def _make_room(self, now: float) -> None:
        if len(self._entries) < self._max:
            return
        for key in [key for key, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[key]
        while len(self._entries) >= self._max:  # all still fresh: drop the oldest
            del self._entries[next(iter(self._entries))]


class Reviews:
    """TokenReview and SubjectAccessReview through `kube` (the service's own identity, which
    needs the `system:auth-delegator` ClusterRole), with their answers cached for `ttl`."""

    def __init__(
        self,
        kube: Kube,
        *,
        ttl: float = TTL,
        audiences: Sequence[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kube = kube
        self._audiences = list(audiences)
        self._users: TtlCache[str, Authentication] = TtlCache(ttl, clock=clock)
        self._decisions: TtlCache[tuple[Any, ...], bool] = TtlCache(ttl, clock=clock)
        self._namespaces: TtlCache[str, tuple[str, ...]] = TtlCache(ttl, clock=clock)
        self._limit = asyncio.Semaphore(CONCURRENT_REVIEWS)

    async def authenticate(self, token: str) -> Authentication:
        digest = hashlib.sha256(token.encode()).hexdigest()
        return await self._users.get(digest, lambda: self._token_review(token))

    async def allowed(
        self,
        user: User,
        *,
        verb: str,
        group: str,
        resource: str,
        namespace: str,
        name: str | None = None,
    ) -> bool:
        """Whether `user` may `verb` `resource` ("flows" or "flows/status") of `group` in
        `namespace` ("" for every namespace), the object `name` when given."""
        key = (user, verb, group, resource, namespace, name)
        attributes = _resource_attributes(verb, group, resource, namespace, name)
        return await self._decisions.get(key, lambda: self._access_review(user, attributes))

    async def allowed_namespaces(
        self,
        user: User,
        namespaces: Sequence[str],
        *,
        verb: str,
        group: str,
        resource: str,
    ) -> frozenset[str]:
        async def check(namespace: str) -> str | None:
            async with self._limit:
                allowed = await self.allowed(
                    user, verb=verb, group=group, resource=resource, namespace=namespace
                )
            return namespace if allowed else None

        found = await asyncio.gather(*(check(namespace) for namespace in namespaces))
        return frozenset(namespace for namespace in found if namespace is not None)

    async def namespaces(self) -> tuple[str, ...]:
        """Every namespace of the cluster, as the service's own identity lists them."""
        return await self._namespaces.get("", self._list_namespaces)

    async def _token_review(self, token: str) -> Authentication:
        spec: dict[str, Any] = {"token": token}
        if self._audiences:
            spec["audiences"] = self._audiences
        review = await self._create("tokenreviews", "authentication.k8s.io/v1", "TokenReview", spec)
        status = review.get("status") or {}
        if not status.get("authenticated"):
            return Authentication(None, str(status.get("error") or "the token is not valid"))
        return Authentication(User.from_review(status.get("user") or {}))

    async def _access_review(self, user: User, attributes: dict[str, str]) -> bool:
        spec = {**user.review_fields(), "resourceAttributes": attributes}
        review = await self._create(
            "subjectaccessreviews", "authorization.k8s.io/v1", "SubjectAccessReview", spec
        )
        status = review.get("status") or {}
        return bool(status.get("allowed")) and not status.get("denied")

    async def _create(
        self, plural: str, api_version: str, kind: str, spec: dict[str, Any]
    ) -> dict[str, Any]:
        body = {"apiVersion": api_version, "kind": kind, "spec": spec}
        try:
            review = await self._kube.request("POST", f"/apis/{api_version}/{plural}", json=body)
        except ApiError as exc:
            raise ReviewUnavailable(_unavailable(kind, exc)) from None
        if not isinstance(review, dict):
            raise ReviewUnavailable(f"the API server answered a {kind} with {review!r}")
        return review

    async def _list_namespaces(self) -> tuple[str, ...]:
        try:
            listed = await self._kube.get("/api/v1/namespaces")
        except ApiError as exc:
            raise ReviewUnavailable(_unavailable("namespace list", exc)) from None
        items = (listed.get("items") or []) if isinstance(listed, dict) else []
        return tuple(sorted(str(item["metadata"]["name"]) for item in items))


def _resource_attributes(
    verb: str, group: str, resource: str, namespace: str, name: str | None
) -> dict[str, str]:
    plural, _, subresource = resource.partition("/")
    attributes = {"verb": verb, "group": group, "resource": plural, "namespace": namespace}
    if subresource:
        attributes["subresource"] = subresource
    if name:
        attributes["name"] = name
    return attributes


def _unavailable(what: str, exc: ApiError) -> str:
    if exc.status == 403:
        return (
            f"the service's own identity may not make a {what} ({exc.message}): bind its "
            "ServiceAccount to the system:auth-delegator ClusterRole and let it list namespaces"
        )
    if exc.status == 0:
        return f"the Kubernetes API server is unreachable for a {what}: {exc.message}"
    return f"the Kubernetes API server could not answer a {what}: {exc.status} {exc.message}"
