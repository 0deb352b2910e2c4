"""What the container images will contain, proven without a Docker engine: hadolint passes on both
Dockerfiles, and the packages each Dockerfile installs — read from the Dockerfile itself — go
into a fresh virtualenv whose `weir` runs as the image's non-root user, with a read-only working
directory and no writable home, exactly as a pod with readOnlyRootFilesystem runs it."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
IMAGES = {
    "runner": {
        "imports": [
            "aio_pika",
            "aiohttp",
            "psycopg",
            "aiomysql",
            "py_mini_racer",
            "paramiko",
            "boto3",
            "smbclient",
            "aiosmtplib",
            "oracledb",
            "mcp",
            "prometheus_client",
        ],
        "absent": ["kopf"],
        "help": ["serve", "run"],
    },
    "console": {
        "imports": ["aiohttp", "psycopg", "prometheus_client", "kubernetes_asyncio"],
        "absent": ["kopf"],
        "help": ["console"],
    },
    "operator": {
        "imports": ["kopf", "aiohttp", "prometheus_client"],
        "absent": ["paramiko", "boto3", "py_mini_racer", "psycopg"],
        "help": ["operator"],
    },
}


def dockerfile(image: str) -> str:
    return (ROOT / f"Dockerfile.{image}").read_text()


def test_hadolint_passes_on_every_dockerfile() -> None:
    done = subprocess.run(
        [str(BIN / "hadolint"), *(f"Dockerfile.{image}" for image in IMAGES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("image", list(IMAGES))
def test_the_dockerfile_runs_as_a_fixed_non_root_user_and_writes_nothing(image: str) -> None:
    text = dockerfile(image)
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert "PYTHONDONTWRITEBYTECODE=1" in text and "HOME=/tmp" in text
    assert re.search(r"^FROM python:3\.11-slim-bookworm AS build$", text, re.M)  # multi-stage
    assert "COPY --from=build /opt/weir /opt/weir" in text
    for label in ("title", "description", "version", "licenses", "source"):
        assert f"org.opencontainers.image.{label}=" in text


def test_only_the_console_image_builds_the_web_console_and_node_stays_in_its_build_stage() -> None:
    text = dockerfile("console")
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?$", text, re.M)
    assert stages[0] == ("node:20-bookworm-slim", "ui")
    assert all(not image.startswith("node") for image, _ in stages[1:])
    assert "RUN npm ci " in text  # from the committed lock, never npm install
    assert "COPY --from=ui /ui/dist /opt/weir/console-ui" in text
    assert "WEIR_CONSOLE_UI=/opt/weir/console-ui" in text
    for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for source in sources.split():
            assert (ROOT / source).exists(), f"Dockerfile.console copies {source}, not in the repo"
    for image in ("runner", "operator"):
        assert "node" not in dockerfile(image).lower(), f"the {image} image stays free of Node.js"


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    # Outside pytest's private tmp tree, which another user cannot traverse.
    path = Path(tempfile.mkdtemp(prefix="weir-image-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def install(image: str, scratch: Path) -> Path:
    """Install what the Dockerfile installs: its lock file with hashes, then the project."""
    (lock,) = re.findall(r"^COPY (requirements/\S+\.lock) ", dockerfile(image), re.M)
    venv = scratch / image
    uv = BIN / "uv"
    # The image's interpreter is the system's, reachable by any user; so is Debian's here.
    python = shutil.which("python3.11", path="/usr/local/bin:/usr/bin")
    assert python, "a system python3.11 (Debian package python3.11) is needed"
    source = scratch / f"{image}-src"  # what the Dockerfile COPYs, built outside the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "weir", source / "weir", ignore=shutil.ignore_patterns("__pycache__"))
    run = {"capture_output": True, "text": True, "timeout": 600}
    for command in (
        [str(uv), "venv", "--quiet", "--python", python, str(venv)],
        [
            str(uv),
            "pip",
            "sync",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            "--require-hashes",
            str(ROOT / lock),
        ],
        [
            str(uv),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            "--no-deps",
            str(ROOT),
        ],
    ):
        done = subprocess.run(command, **run)  # type: ignore[call-overload]
        assert done.returncode == 0, done.stderr
    for path in [venv, *venv.rglob("*")]:  # what COPY --from=build gives: readable by all
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode):
            path.chmod(mode | stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0))
    return venv


def as_image_user(venv: Path, workdir: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["setpriv", "--reuid=10001", "--regid=10001", "--clear-groups", *command],
        cwd=workdir,
        env={
            "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
            "HOME": "/nonexistent",  # nothing may need a writable home
            "PYTHONDONTWRITEBYTECODE": "1",
            "WEIR_STORE": "sqlite:////nonexistent/executions.db",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to the image's user needs root")
@pytest.mark.parametrize("image", list(IMAGES))
def test_the_image_contents_run_as_the_non_root_user_from_a_read_only_directory(
    image: str, scratch: Path
) -> None:
    venv = install(image, scratch)
    workdir = scratch / f"{image}-work"
    workdir.mkdir()
    shutil.copy(ROOT / "examples" / "hello" / "flow.yaml", workdir / "flow.yaml")
    workdir.chmod(0o555)  # read-only, like the image's root filesystem

    expected = IMAGES[image]
    for command in expected["help"]:
        done = as_image_user(venv, workdir, "weir", command, "--help")
        assert done.returncode == 0, done.stderr
        assert "usage: weir " + command in done.stdout
    probe = "; ".join(f"import {module}" for module in expected["imports"])
    done = as_image_user(venv, workdir, "python", "-c", probe)
    assert done.returncode == 0, done.stderr
    for module in expected["absent"]:
        missing = as_image_user(venv, workdir, "python", "-c", f"import {module}")
        assert missing.returncode != 0, f"{module} should not be in the {image} image"
    if image == "runner":
        done = as_image_user(
            venv, workdir, "weir", "run", "flow.yaml", "--input", '{"name": "Ada"}', "--no-store"
        )
        assert done.returncode == 0, done.stderr
        assert '"greeting": "Hello, Ada!"' in done.stdout
