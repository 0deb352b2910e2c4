"""The s3 node against moto's S3 server on loopback: put (text, bytes, file references, single
and multipart, content type and metadata), get spooled to a file reference, list with prefix,
regex and limit, delete, copy within and across buckets, move, presigned GET and PUT URLs used
over plain HTTP; credentials checked by the server (right, wrong secret, unknown key);
missing keys and buckets, an unreachable endpoint, retryable throttling and 5xx; a get -> put
flow through the engine."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from tests.conftest import spool_path
from tests.servers.ports import free_port
from tests.servers.s3 import S3Server
from weir.lang.errors import AuthFailed, ConfigError, ConnectionFailed, NotFound
from weir.nodes.context import NodeContext
from weir.nodes.fs.s3_client import translate
from weir.nodes.s3 import S3Config, run
from weir.nodes.spool import is_file_ref

MIB = 1024 * 1024


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    name = f"weir-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_ctx(s3_server: S3Server, make_ctx: Callable[..., NodeContext]) -> Callable[..., NodeContext]:
    def build(scope: dict[str, Any] | None = None, **secrets: str) -> NodeContext:
        values = {
            ("s3", "id"): s3_server.access_key_id,
            ("s3", "secret"): s3_server.secret_access_key,
        }
        values.update({("s3", name): value for name, value in secrets.items()})
        return make_ctx(scope=scope, secrets=values)

    return build


def config(server: S3Server, bucket: str, **fields: Any) -> S3Config:
    base: dict[str, Any] = {
        "bucket": bucket,
        "endpointUrl": server.endpoint,
        "region": server.region,
        "accessKeyId": {"secret": "s3", "key": "id"},
        "secretAccessKey": {"secret": "s3", "key": "secret"},
        "forcePathStyle": True,
    }
    return S3Config.model_validate({**base, **fields})


async def test_text_put_then_get_round_trips_through_a_spooled_file_reference(
    s3_server: S3Server, bucket: str, s3_ctx: Callable[..., NodeContext]
) -> None:
    out = await run(
        config(s3_server, bucket, put={"key": "in/report.csv", "content": "id\n1\n"}), s3_ctx()
    )
    assert out == {"bucket": bucket, "key": "in/report.csv", "size": 5}
    ref = await run(config(s3_server, bucket, get={"key": "in/report.csv"}), s3_ctx())
    assert is_file_ref(ref)
    assert ref["name"] == "report.csv" and ref["size"] == 5
    assert ref["contentType"] == "text/csv"
    assert ref["source"] == f"s3://{bucket}/in/report.csv"
    assert Path(ref["$file"]).read_bytes() == b"id\n1\n"


async def test_a_file_reference_above_the_threshold_is_uploaded_in_parts(
    s3_server: S3Server, bucket: str, tmp_path: Path, s3_ctx: Callable[..., NodeContext]
) -> None:
    data = os.urandom(11 * MIB)
    local = spool_path("big.bin")
    local.write_bytes(data)
    ref = {"$file": str(local), "name": "big.bin", "size": len(data)}
    ctx = s3_ctx(scope={"input": {"file": ref}})
    put = {"content": "$.input.file", "multipartThreshold": "5Mi", "partSize": "5Mi"}
    await run(config(s3_server, bucket, put={"key": "parts.bin", **put}), ctx)
    single = {**put, "multipartThreshold": "20Mi"}
    await run(config(s3_server, bucket, put={"key": "whole.bin", **single}), ctx)
    client = s3_server.client()
    assert client.head_object(Bucket=bucket, Key="parts.bin")["ETag"].endswith('-3"')
    assert "-" not in client.head_object(Bucket=bucket, Key="whole.bin")["ETag"]
    for key in ("parts.bin", "whole.bin"):
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    fetched = await run(config(s3_server, bucket, get={"key": "parts.bin"}), ctx)
    assert Path(fetched["$file"]).read_bytes() == data


async def test_put_sends_bytes_with_metadata_and_an_explicit_content_type(
    s3_server: S3Server, bucket: str, s3_ctx: Callable[..., NodeContext]
) -> None:
    ctx = s3_ctx(scope={"input": {"body": b"\x00\xff", "id": 7}})
    await run(
        config(
            s3_server,
            bucket,
            put={
                "key": "blob-${input.id}",
                "content": "$.input.body",
                "contentType": "application/x-weir",
                "metadata": {"order": "${input.id}"},
            },
        ),
        ctx,
    )
    head = s3_server.client().head_object(Bucket=bucket, Key="blob-7")
    assert head["ContentType"] == "application/x-weir"
    assert head["Metadata"] == {"order": "7"}
    body = s3_server.client().get_object(Bucket=bucket, Key="blob-7")["Body"].read()
    assert body == b"\x00\xff"


async def test_list_filters_by_prefix_regex_and_limit(
    s3_server: S3Server, bucket: str, s3_ctx: Callable[..., NodeContext]
) -> None:
    client = s3_server.client()
    for key in ("in/a.csv", "in/b.json", "in/c.csv", "out/d.csv"):
        client.put_object(Bucket=bucket, Key=key, Body=b"12345")
    listed = await run(config(s3_server, bucket, list={"prefix": "in/"}), s3_ctx())
    assert [o["key"] for o in listed] == ["in/a.csv", "in/b.json", "in/c.csv"]
    first = listed[0]
    assert first["size"] == 5 and first["etag"] == "827ccb0eea8a706c4c34a16891f84e7b"
    assert first["modified"].endswith("+00:00")
    csv = await run(config(s3_server, bucket, list={"regex": r"\.csv$"}), s3_ctx())
    assert [o["key"] for o in csv] == ["in/a.csv", "in/c.csv", "out/d.csv"]
    one = await run(config(s3_server, bucket, list={"prefix": "in/", "limit": 1}), s3_ctx())
    assert [o["key"] for o in one] == ["in/a.csv"]


async def test_delete_removes_an_object_and_tolerates_a_missing_key(
    s3_server: S3Server, bucket: str, s3_ctx: Callable[..., NodeContext]
) -> None:
    s3_server.client().put_object(Bucket=bucket, Key="x", Body=b"1")
    out = await run(config(s3_server, bucket, delete={"key": "x"}), s3_ctx())
    assert out == {"bucket": bucket, "key": "x"}
    assert s3_server.client().list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    await run(config(s3_server, bucket, delete={"key": "x"}), s3_ctx())  # S3 semantics


async def test_copy_works_within_and_across_buckets(
    s3_server: S3Server, bucket: str, s3_ctx: Callable[..., NodeContext]
) -> None:
    other = f"weir-{uuid.uuid4().hex[:12]}"
    client = s3_server.client()
    client.create_bucket(Bucket=other)
    client.put_object(Bucket=bucket, Key="src", Body=b"payload")
    await run(config(s3_server, bucket, copy={"key": "src", "toKey": "dup"}), s3_ctx())
    out = await run(
        config(s3_server, bucket, copy={"key": "src", "toKey": "far", "toBucket": other}),
        s3_ctx(),
    )
    assert out == {"bucket": bucket, "key": "src", "toBucket": other, "toKey": "far"}
    assert client.get_object(Bucket=bucket, Key="dup")["Body"].read() == b"payload"
    assert client.get_object(Bucket=other, Key="far")["Body"].read() == b"payload"
    assert client.get_object(Bucket=bucket, Key="src")["Body"].read() == b"payload"


async def test_move_copies_then_deletes_the_source_and_never_onto_itself(
    s3_server: S3Server, bucket: str, s3_ctx: Callable[..., NodeContext]
) -> None:
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="inbox/a", Body=b"a")
    await run(config(s3_server, bucket, move={"key": "inbox/a", "toKey": "done/a"}), s3_ctx())
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["done/a"]
    with pytest.raises(ConfigError, match="onto itself"):
        await run(config(s3_server, bucket, move={"key": "done/a", "toKey": "done/a"}), s3_ctx())
    assert client.get_object(Bucket=bucket, Key="done/a")["Body"].read() == b"a"


async def test_presigned_urls_download_and_upload_over_plain_http(
    s3_server: S3Server, bucket: str, s3_ctx: Callable[..., NodeContext]
) -> None:
    s3_server.client().put_object(Bucket=bucket, Key="share.txt", Body=b"shared")
    get = await run(config(s3_server, bucket, presign={"key": "share.txt"}), s3_ctx())
    assert get["method"] == "GET" and "X-Amz-Signature=" in get["url"]
    async with httpx.AsyncClient() as http:
        assert (await http.get(get["url"])).content == b"shared"
        put = await run(
            config(
                s3_server,
                bucket,
                presign={"key": "upload.txt", "method": "PUT", "expires": "10m"},
            ),
            s3_ctx(),
        )
        assert "X-Amz-Expires=600" in put["url"]
        response = await http.put(put["url"], content=b"uploaded")
        assert response.status_code == 200
    body = s3_server.client().get_object(Bucket=bucket, Key="upload.txt")["Body"].read()
    assert body == b"uploaded"


async def test_a_missing_key_or_bucket_is_not_found_and_not_retryable(
    s3_server: S3Server, bucket: str, s3_ctx: Callable[..., NodeContext]
) -> None:
    with pytest.raises(NotFound) as caught:
        await run(config(s3_server, bucket, get={"key": "nope.csv"}), s3_ctx())
    assert caught.value.retryable is False
    assert f"s3://{bucket}/nope.csv" in caught.value.message
    assert "NoSuchKey" in caught.value.message
    with pytest.raises(NotFound, match="NoSuchBucket"):
        await run(config(s3_server, "weir-no-such-bucket", list={}), s3_ctx())
    with pytest.raises(NotFound):
        await run(config(s3_server, bucket, copy={"key": "nope", "toKey": "x"}), s3_ctx())


async def test_the_server_checks_the_credentials_the_node_sends(
    s3_server: S3Server, bucket: str, s3_ctx: Callable[..., NodeContext]
) -> None:
    wrong_secret = s3_ctx(secret="Wr0ng-s3cret-value")
    unknown_key = s3_ctx(id="AKIAWEIRUNKNOWNKEY00")
    with s3_server.authenticated():
        listed = await run(config(s3_server, bucket, list={}), s3_ctx())
        assert listed == []
        with pytest.raises(AuthFailed) as bad_secret:
            await run(config(s3_server, bucket, list={}), wrong_secret)
        with pytest.raises(AuthFailed) as bad_key:
            await run(config(s3_server, bucket, get={"key": "x"}), unknown_key)
    assert bad_secret.value.type == "auth" and bad_secret.value.retryable is False
    assert "SignatureDoesNotMatch" in bad_secret.value.message
    assert "Wr0ng-s3cret-value" not in str(bad_secret.value.to_dict())
    assert "InvalidAccessKeyId" in bad_key.value.message


async def test_an_unreachable_endpoint_is_a_retryable_connection_failure(
    bucket: str, s3_server: S3Server, s3_ctx: Callable[..., NodeContext]
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConnectionFailed) as caught:
        await run(config(s3_server, bucket, endpointUrl=endpoint, list={}), s3_ctx())
    assert caught.value.type == "connection" and caught.value.retryable is True
    assert endpoint in caught.value.message


def test_throttling_and_server_errors_are_retryable_and_client_errors_are_not() -> None:
    from botocore.exceptions import ClientError

    def error(code: str, status: int) -> ClientError:
        response: Any = {
            "Error": {"Code": code, "Message": "m"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return ClientError(response, "PutObject")

    cases = {
        ("SlowDown", 503): ("s3", True),
        ("InternalError", 500): ("s3", True),
        ("BadGateway", 502): ("s3", True),
        ("AccessDenied", 403): ("auth", False),
        ("NoSuchBucket", 404): ("not_found", False),
        ("InvalidObjectState", 403): ("s3", False),
        ("EntityTooLarge", 400): ("s3", False),
    }
    for (code, status), (kind, retryable) in cases.items():
        translated = translate(error(code, status), "s3://b/k", None)
        assert (translated.type, translated.retryable) == (kind, retryable), code
        assert translated.message.startswith("s3://b/k")


def test_a_node_takes_exactly_one_operation_and_sane_sizes() -> None:
    base = {"bucket": "b"}
    cases: dict[str, dict[str, Any]] = {
        "exactly one operation (list, get, put, delete, copy, move, presign), found none": {},
        "found get, copy": {"get": {"key": "a"}, "copy": {"key": "a", "toKey": "b"}},
        "accessKeyId and secretAccessKey go together": {
            "accessKeyId": {"secret": "s", "key": "k"},
            "get": {"key": "a"},
        },
        "partSize must be at least 5Mi": {"put": {"key": "a", "content": "x", "partSize": "1Mi"}},
        "between 1s and 7 days": {"presign": {"key": "a", "expires": "8d"}},
        "invalid regular expression": {"list": {"regex": "("}},
    }
    for message, fields in cases.items():
        escaped = message.replace("(", r"\(").replace(")", r"\)")
        with pytest.raises(ValidationError, match=escaped):
            S3Config.model_validate({**base, **fields})


async def test_a_flow_copies_an_object_through_get_and_put_in_the_engine(
    s3_server: S3Server, bucket: str
) -> None:
    from weir.engine.executor import Engine, TriggerEvent
    from weir.flow.load import load_flows_text
    from weir.secrets.resolve import LocalSecretResolver

    s3_server.client().put_object(Bucket=bucket, Key="in/data.json", Body=b'{"a": 1}')
    connection = (
        f"bucket: {bucket}\n      endpointUrl: {s3_server.endpoint}\n"
        f"      region: {s3_server.region}\n      forcePathStyle: true\n"
        "      accessKeyId: {secret: s3, key: id}\n"
        "      secretAccessKey: {secret: s3, key: secret}"
    )
    flow = load_flows_text(
        f"""
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {{name: s3-copy}}
spec:
  trigger: {{manual: {{}}}}
  secrets: [{{name: s3}}]
  nodes:
  - name: fetch
    s3:
      {connection}
      get: {{key: "${{input.key}}"}}
    next: store
  - name: store
    s3:
      {connection}
      put: {{key: "out/${{nodes.fetch.name}}", content: $.nodes.fetch}}
"""
    )[0]
    environ = {
        "WEIR_SECRET_S3_ID": s3_server.access_key_id,
        "WEIR_SECRET_S3_SECRET": s3_server.secret_access_key,
    }
    engine = Engine(secrets=LocalSecretResolver(environ=environ))
    try:
        with s3_server.authenticated():
            result = await engine.execute(flow, TriggerEvent(payload={"key": "in/data.json"}))
            missing = await engine.execute(flow, TriggerEvent(payload={"key": "in/none"}))
    finally:
        await engine.aclose()
    assert result.status == "succeeded", result.error
    stored = s3_server.client().get_object(Bucket=bucket, Key="out/data.json")
    assert stored["Body"].read() == b'{"a": 1}'
    assert stored["ContentType"] == "application/json"
    assert missing.status == "failed" and missing.error is not None
    assert missing.error["type"] == "not_found" and missing.error["retryable"] is False
