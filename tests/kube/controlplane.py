"""A real Kubernetes control plane for the tests: etcd, kube-apiserver and
kube-controller-manager, all run from the multi-call binary that
tools/controlplane/build.sh builds (`make controlplane`).

There is no kubelet: objects are stored, validated, admitted and garbage-collected
for real, but Pods stay Pending.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.servers.ports import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(
    os.environ.get("WEIR_CONTROLPLANE_BIN", ROOT / "build/controlplane/bin/weir-controlplane")
)
ADMIN_USER = "weir-admin"
STARTUP_TIMEOUT = 90.0
STOP_TIMEOUT = 10.0
PR_SET_PDEATHSIG = 1
LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def binary_version() -> str | None:
    """``Kubernetes v1.x.y`` from the built binary, or None when it is not built."""
    if not BINARY.is_file():
        return None
    done = subprocess.run(
        [BINARY, "kube-apiserver", "--version"], capture_output=True, text=True, timeout=30
    )
    return done.stdout.strip() or None


@dataclass
class Component:
    """One control-plane process, its output kept in a log file for post-mortems."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        if not self.alive():
            return
        self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def die_with_parent() -> None:
    """Run in the child: a pytest killed outright leaves no apiserver or etcd behind."""
    if LIBC is not None:
        LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def start(name: str, args: list[str], workdir: Path) -> Component:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [BINARY, name, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            # Fires when the starting *thread* ends: start from pytest's main thread.
            preexec_fn=die_with_parent,
        )
    return Component(name, process, log)


@dataclass
class ControlPlane:
    """A running control plane and what a client needs to talk to it."""

    server: str
    token: str
    ca_file: Path
    kubeconfig: Path
    workdir: Path
    version: str = ""
    components: list[Component] = field(default_factory=list)

    @property
    def audit_log(self) -> Path:
        """JSON lines: one audit event per request a ServiceAccount made (AUDIT_POLICY)."""
        return self.workdir / "audit.log"

    def client(self, token: str | None = None) -> httpx.Client:
        """An httpx client for the apiserver, as the admin unless given another token."""
        headers = {"Authorization": f"Bearer {token or self.token}"}
        verify = ssl.create_default_context(cafile=self.ca_file)
        return httpx.Client(base_url=self.server, headers=headers, verify=verify)

    def kubectl(
        self, *args: str, kubeconfig: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the binary's own kubectl, the server's minor (kubectl supports only +-1)."""
        config = kubeconfig or self.kubeconfig
        command = [str(BINARY), "kubectl", f"--kubeconfig={config}", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    def write_kubeconfig(self, path: Path, token: str, user: str = "weir") -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "weir",
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": "weir", "context": {"cluster": "weir", "user": user}}],
            "current-context": "weir",
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def request_token(self, namespace: str, service_account: str, seconds: int = 3600) -> str:
        """A real ServiceAccount token from the TokenRequest API (``kubectl create token``)."""
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": seconds},
        }
        url = f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token"
        with self.client() as client:
            response = client.post(url, json=body)
        response.raise_for_status()
        token: str = response.json()["status"]["token"]
        return token

    def service_account_kubeconfig(self, namespace: str, service_account: str, path: Path) -> Path:
        """A kubeconfig acting as the ServiceAccount, e.g. to run the operator under its RBAC."""
        token = self.request_token(namespace, service_account)
        return self.write_kubeconfig(path, token, user=f"{namespace}:{service_account}")


def write_service_account_keys(workdir: Path) -> tuple[Path, Path]:
    """The RSA pair the apiserver signs and verifies ServiceAccount tokens with."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = workdir / "sa.key"
    public = workdir / "sa.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def start_etcd(workdir: Path) -> tuple[Component, str]:
    client_url = f"http://127.0.0.1:{free_port()}"
    args = [
        f"--data-dir={workdir / 'etcd'}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls=http://127.0.0.1:{free_port()}",
        "--unsafe-no-fsync",  # throwaway data: durability only costs time
        "--log-level=warn",
    ]
    etcd = start("etcd", args, workdir)
    wait_for_port(int(client_url.rsplit(":", 1)[1]), STARTUP_TIMEOUT, etcd.alive)
    return etcd, client_url


def start_apiserver(workdir: Path, etcd_url: str, token: str, port: int) -> Component:
    tokens = workdir / "tokens.csv"
    tokens.write_text(f'{token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
    sa_key, sa_pub = write_service_account_keys(workdir)
    args = [
        f"--etcd-servers={etcd_url}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={workdir / 'certs'}",  # it writes a self-signed certificate there
        f"--token-auth-file={tokens}",
        "--authorization-mode=RBAC",
        "--service-account-issuer=https://kubernetes.default.svc",
        f"--service-account-key-file={sa_pub}",
        f"--service-account-signing-key-file={sa_key}",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--endpoint-reconciler-type=none",  # no kubelet or real network to point at
        # As OpenShift and hardened clusters run it: setting blockOwnerDeletion on an owner
        # reference needs `update` on the owner's finalizers subresource.
        "--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
        *audit_args(workdir),
    ]
    return start("kube-apiserver", args, workdir)


AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    # What ServiceAccounts (an operator under test) do, not the admin's or the controllers'.
    "rules": [{"level": "Metadata", "userGroups": ["system:serviceaccounts"]}, {"level": "None"}],
}


def audit_args(workdir: Path) -> list[str]:
    policy = workdir / "audit-policy.yaml"
    policy.write_text(yaml.safe_dump(AUDIT_POLICY))
    return [f"--audit-policy-file={policy}", f"--audit-log-path={workdir / 'audit.log'}"]


def start_controller_manager(plane: ControlPlane) -> Component:
    workdir = plane.workdir
    port = free_port()
    args = [
        f"--kubeconfig={plane.kubeconfig}",
        f"--service-account-private-key-file={workdir / 'sa.key'}",
        f"--root-ca-file={plane.ca_file}",
        "--controllers=*",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={workdir / 'kcm-certs'}",
    ]
    manager = start("kube-controller-manager", args, workdir)
    wait_healthy(f"https://127.0.0.1:{port}/healthz", manager)
    return manager


def wait_healthy(url: str, component: Component, client: httpx.Client | None = None) -> None:
    """Poll a health endpoint: ports open long before e.g. the RBAC bootstrap finishes."""
    client = client or httpx.Client(verify=False)  # its own throwaway self-signed certificate
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last = "no answer"
    with client:
        while time.monotonic() < deadline:
            if not component.alive():
                raise RuntimeError(f"{component.name} exited:\n{component.tail()}")
            with contextlib.suppress(httpx.TransportError):
                response = client.get(url, timeout=2)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[-500:]}"
            time.sleep(0.2)
    raise TimeoutError(f"{component.name} not healthy after {STARTUP_TIMEOUT}s: {last}")


def wait_for_file(path: Path, component: Component) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not path.is_file():
        if not component.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{component.name} wrote no {path.name}:\n{component.tail()}")
        time.sleep(0.05)


def server_version(plane: ControlPlane) -> str:
    with plane.client() as client:
        response = client.get("/version")
    response.raise_for_status()
    version: str = response.json()["gitVersion"]
    return version


def stop_all(components: list[Component]) -> None:
    # In reverse: the controller manager and apiserver before the etcd they need.
    for component in reversed(components):
        component.stop()


@contextlib.contextmanager
def running_controlplane(workdir: Path) -> Iterator[ControlPlane]:
    """Start etcd, kube-apiserver and kube-controller-manager; stop them all on exit."""
    with contextlib.ExitStack() as stack:
        components: list[Component] = []
        stack.callback(stop_all, components)
        etcd, etcd_url = start_etcd(workdir)
        components.append(etcd)
        token, port = secrets.token_urlsafe(32), free_port()
        apiserver = start_apiserver(workdir, etcd_url, token, port)
        components.append(apiserver)
        ca_file = workdir / "certs" / "apiserver.crt"
        wait_for_file(ca_file, apiserver)
        plane = ControlPlane(
            server=f"https://127.0.0.1:{port}",
            token=token,
            ca_file=ca_file,
            kubeconfig=workdir / "admin.kubeconfig",
            workdir=workdir,
            components=components,
        )
        plane.write_kubeconfig(plane.kubeconfig, token, user=ADMIN_USER)
        wait_healthy("/readyz", apiserver, plane.client())
        plane.version = server_version(plane)
        components.append(start_controller_manager(plane))
        yield plane
