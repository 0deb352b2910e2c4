"""moto's S3 server on loopback, in a child process, with an IAM user and its access key.

A child process keeps moto's global state (its auth switch, its in-memory objects) out of the
test process, so other suites that use moto are unaffected and the memory benchmark measures
only the client side. ``with server.authenticated():`` makes moto check every request's
signature against the IAM user's key, so wrong credentials fail the way they fail on AWS
(moto cannot check presigned URLs, hence the switch instead of checking always).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.servers.ports import free_port, wait_for_port

REGION = "us-east-1"

_LAUNCH = """
import logging
import sys
from moto.server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
sys.stdin.read()  # runs until the parent closes our stdin (or dies)
server.stop()
"""

_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}


def moto_available() -> bool:
    return (
        importlib.util.find_spec("moto") is not None
        and importlib.util.find_spec("boto3") is not None
    )


@dataclass
class S3Server:
    endpoint: str
    access_key_id: str
    secret_access_key: str
    process: subprocess.Popen[bytes]
    region: str = REGION

    def client(self, **overrides: Any) -> Any:
        import boto3

        options = {
            "endpoint_url": self.endpoint,
            "region_name": self.region,
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            **overrides,
        }
        return boto3.session.Session().client("s3", **options)

    @contextmanager
    def authenticated(self) -> Iterator[None]:
        _set_auth_after(self.endpoint, "0")
        try:
            yield
        finally:
            _set_auth_after(self.endpoint, "inf")

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _create_key(endpoint: str) -> tuple[str, str]:
    import boto3

    iam = boto3.session.Session().client(
        "iam",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
    )
    iam.create_user(UserName="weir")
    iam.put_user_policy(UserName="weir", PolicyName="s3", PolicyDocument=json.dumps(_POLICY))
    key = iam.create_access_key(UserName="weir")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def _set_auth_after(endpoint: str, requests: str) -> None:
    """moto checks signatures once it has served ``requests`` requests ("inf": never)."""
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=requests.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        json.load(response)


def start_moto() -> S3Server:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", _LAUNCH, str(port)],
        stdin=subprocess.PIPE,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, timeout=60, alive=lambda: process.poll() is None)
        key_id, secret = _create_key(endpoint)
    except Exception:
        process.kill()
        process.wait()
        raise
    return S3Server(endpoint, key_id, secret, process)
