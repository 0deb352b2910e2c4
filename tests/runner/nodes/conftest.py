"""Servers for the node tests, started once per test session on loopback (see tests/servers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_service
from tests.servers.ferretdb import BINARY, FerretServer, ferretdb_available, start_ferretdb
from tests.servers.s3 import S3Server, moto_available, start_moto
from tests.servers.smbd import SmbServer, smbd_available, start_smbd
from tests.servers.sshd import SshServer, sshd_available, start_sshd


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    require_service(sshd_available(), "OpenSSH sshd (Debian package openssh-server)")
    server = start_sshd(Path(tmp_path_factory.mktemp("sshd")))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    require_service(moto_available(), "moto's S3 server (the moto[server] package)")
    server = start_moto()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def smbd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmbServer]:
    require_service(smbd_available(), "Samba's smbd (Debian package samba)")
    server = start_smbd(Path(tmp_path_factory.mktemp("smbd")))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ferretdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FerretServer]:
    require_service(ferretdb_available(), f"FerretDB at {BINARY} (run `make ferretdb`)")
    server = start_ferretdb(Path(tmp_path_factory.mktemp("ferretdb")))
    yield server
    server.stop()
