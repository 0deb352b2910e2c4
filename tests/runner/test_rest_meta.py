"""``$.trigger`` of a REST execution: what ``meta`` keeps of a request."""

from __future__ import annotations

import datetime as dt

from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from weir.triggers.rest.payload import meta


def test_meta_keeps_the_headers_but_credentials_and_cookies() -> None:
    headers = CIMultiDict(
        [
            ("Content-Type", "application/json"),
            ("AUTHORIZATION", "Bearer secret-1"),
            ("Cookie", "session=secret-2"),
            ("Proxy-Authorization", "Basic secret-3"),
            ("X-Trace", "t-1"),
        ]
    )
    request = make_mocked_request("POST", "/orders?a=1&b=2", headers=headers)
    shown = meta(request)
    assert shown["headers"] == {"Content-Type": "application/json", "X-Trace": "t-1"}
    assert shown["method"] == "POST" and shown["path"] == "/orders"
    assert shown["query"] == {"a": "1", "b": "2"}


def test_meta_without_hidden_headers_keeps_every_one_and_the_last_of_a_repeated_one() -> None:
    headers = CIMultiDict([("X-Trace", "t-1"), ("Accept", "*/*"), ("X-Trace", "t-2")])
    shown = meta(make_mocked_request("GET", "/orders", headers=headers))
    assert shown["headers"] == {"X-Trace": "t-2", "Accept": "*/*"}


def test_meta_received_at_is_utc_iso_text_of_now() -> None:
    before = dt.datetime.now(dt.UTC)
    received = dt.datetime.fromisoformat(meta(make_mocked_request("GET", "/"))["receivedAt"])
    after = dt.datetime.now(dt.UTC)
    assert received.utcoffset() == dt.timedelta(0)
    assert before - dt.timedelta(microseconds=1) <= received <= after + dt.timedelta(microseconds=1)
