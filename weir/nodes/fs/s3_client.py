"""S3 clients for the `s3` file system and the mapping of botocore's errors to node errors.

A boto3 client is thread-safe and keeps a connection pool, so one client serves every execution
that uses the same endpoint, region and credentials. It is created on first use, in a worker
thread, because loading botocore's service model takes a noticeable moment.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from weir.lang.errors import AuthFailed, ConfigError, ConnectionFailed, NodeError, NotFound
from weir.nodes.fs.base import common_error, digest

NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "NoSuchUpload", "NotFound", "404"}
AUTH = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "AllAccessDisabled",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "403",
}
TRANSIENT = {
    "SlowDown",
    "Throttling",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
    "OperationAborted",
}


@dataclass(frozen=True)
class S3Settings:
    region: str | None
    endpoint_url: str | None
    access_key_id: str | None
    secret_access_key: str | None
    session_token: str | None
    path_style: bool
    timeout: float

    def pool_key(self) -> tuple[str, str | None, str | None, bool, str]:
        secrets = digest(
            self.access_key_id, self.secret_access_key, self.session_token, self.timeout
        )
        return ("s3", self.endpoint_url, self.region, self.path_style, secrets)


class S3Handle:
    """Creates the boto3 client once, from whichever worker thread needs it first."""

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._client: Any = None

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = _new_client(self.settings)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _new_client(settings: S3Settings) -> Any:
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {}
    if settings.endpoint_url:
        # S3-compatible stores (MinIO, Ceph...) often reject the newer default checksums.
        options["request_checksum_calculation"] = "when_required"
        options["response_checksum_validation"] = "when_required"
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if settings.path_style else "auto"},
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=settings.timeout,
        read_timeout=settings.timeout,
        max_pool_connections=16,
        **options,
    )
    session = boto3.session.Session()
    return session.client(
        "s3",
        region_name=settings.region,
        endpoint_url=settings.endpoint_url,
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
        aws_session_token=settings.session_token,
        config=config,
    )


def _client_error(exc: BaseException) -> Any:
    """The botocore ClientError behind ``exc`` (boto3's upload wraps it without a cause)."""
    from botocore.exceptions import ClientError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ClientError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def translate(exc: BaseException, where: str, endpoint: str | None) -> NodeError:
    """The node error for whatever boto3, botocore or the S3 service raised."""
    from botocore import exceptions as bx

    common = common_error(exc, where, "s3")
    if common is not None:
        return common
    service = endpoint or "S3"
    client_error = _client_error(exc)
    if client_error is not None:
        error = client_error.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        status = client_error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        detail = f"{code}: {error['Message']}" if error.get("Message") else code
        if code in NOT_FOUND:
            return NotFound(f"{where}: {detail}", details={"code": code})
        if code in AUTH:
            return AuthFailed(f"{where}: {service} refused the credentials ({detail})")
        retryable = code in TRANSIENT or status >= 500
        return NodeError(f"{where}: {detail}", type="s3", retryable=retryable)
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return AuthFailed(
            f"{where}: no credentials: set accessKeyId and secretAccessKey, or give the runner "
            "credentials through its environment (e.g. IAM roles for service accounts)"
        )
    if isinstance(exc, bx.ParamValidationError):
        return ConfigError(f"{where}: {exc}")
    if isinstance(
        exc,
        bx.EndpointConnectionError
        | bx.ConnectionError
        | bx.HTTPClientError
        | bx.ResponseStreamingError
        | bx.IncompleteReadError
        | ConnectionError
        | TimeoutError,
    ):
        return ConnectionFailed(f"{where}: cannot reach {service}: {exc}")
    from boto3.exceptions import S3TransferFailedError, S3UploadFailedError

    if isinstance(exc, S3UploadFailedError | S3TransferFailedError):
        return NodeError(f"{where}: {exc}", type="s3", retryable=True)
    return NodeError(f"{where}: {type(exc).__name__}: {exc}", type="s3")
