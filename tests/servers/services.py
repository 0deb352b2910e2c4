"""Where the suite finds PostgreSQL, MariaDB and RabbitMQ.

`make services` (and `.ci/run`) start them as `.ci/services/defaults.env` says; a developer
with servers of their own points the suite at them with the same variables, e.g.
``WEIR_TEST_PG_PORT=5432 WEIR_TEST_AMQP_PORT=5672 make test``.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

DEFAULTS = Path(__file__).resolve().parents[2] / ".ci" / "services" / "defaults.env"


def _settings() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in DEFAULTS.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = value.strip()
    return {**values, **{k: v for k, v in os.environ.items() if k.startswith("WEIR_TEST_")}}


@dataclass(frozen=True)
class Server:
    name: str
    prefix: str
    scheme: str
    host: str
    port: int
    user: str
    password: str
    database: str

    @property
    def url(self) -> str:
        return self.url_as(self.user, self.password)

    def url_as(self, user: str, password: str = "", database: str | None = None) -> str:
        auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
        return f"{self.scheme}://{auth}@{self.host}:{self.port}/{self.database if database is None else database}"

    def listening(self) -> bool:
        with socket.socket() as sock:
            sock.settimeout(1)
            return sock.connect_ex((self.host, self.port)) == 0

    def require(self) -> None:
        """Skip (fail under CI=true) unless the server listens, saying how to get one."""
        from tests.conftest import require_service

        require_service(
            self.listening(),
            f"{self.name} on {self.host}:{self.port} (run `make services`, or set "
            f"{self.prefix}HOST/PORT/USER/PASSWORD to a server of your own)",
        )


def _server(key: str, name: str, scheme: str) -> Server:
    settings = _settings()
    prefix = f"WEIR_TEST_{key}_"
    return Server(
        name=name,
        prefix=prefix,
        scheme=scheme,
        host=settings[prefix + "HOST"],
        port=int(settings[prefix + "PORT"]),
        user=settings[prefix + "USER"],
        password=settings.get(prefix + "PASSWORD", ""),
        database=settings.get(prefix + "DATABASE", ""),
    )


POSTGRES = _server("PG", "PostgreSQL", "postgresql")
MARIADB = _server("MARIADB", "MariaDB", "mysql")
RABBITMQ = _server("AMQP", "RabbitMQ", "amqp")
