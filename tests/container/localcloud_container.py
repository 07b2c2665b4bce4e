"""The local cloud's image under testcontainers: build it from the working tree, start it
published on the host's loopback, stop it the way ``docker stop`` does.

Used by the image's own tests (tests/container) and, with ``LOCALCLOUD_CONTAINER=1``, by
the integration suite, which then runs against the container instead of a host process.
The fixtures skip, saying why, when no Docker engine answers.

Environment:

* ``DOCKER_HOST``: the engine (Docker's default socket otherwise);
* ``LOCALCLOUD_IMAGE``: the tag built and run (default ``immutable-transaction-pipeline/localcloud:dev``,
  the one docker-compose.yml builds);
* ``LOCALCLOUD_BASE_IMAGE``: the Dockerfile's ``BASE_IMAGE`` (default the Dockerfile's,
  ``python:3.11-slim``; our machines have no registry and build one, see .ci/base-image);
* ``LOCALCLOUD_IMAGE_BUILD=0``: run the tag as it is instead of building it first (a build
  whose layers are all cached takes a few seconds, so by default the image is always the
  working tree's);
* ``LOCALCLOUD_TEST_PORTS=4761-4769``: the host ports the container tests may publish on
  (default: any free port);
* ``LOCALCLOUD_REQUIRE_ENGINE=1``: fail instead of skipping when no engine answers (CI);
* ``TESTCONTAINERS_RYUK_DISABLED=true`` where testcontainers' Ryuk image cannot be pulled:
  these fixtures remove their containers themselves.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("LOCALCLOUD_IMAGE", "immutable-transaction-pipeline/localcloud:dev")
HEALTHY_WITHIN_S = 60
# As docker-compose.yml's stop_grace_period: the drain (LOCALCLOUD_DRAIN_SECONDS, 30 s) and the save.
STOP_GRACE_S = 45
RESERVED_PORTS = {4566, 4567, 4568, 4599}


def engine_unavailable() -> str | None:
    """None when a Docker engine answers, else why not (said in the skip message)."""
    where = os.environ.get("DOCKER_HOST", "Docker's default socket")
    try:
        import docker

        client = docker.from_env(timeout=10)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as error:  # noqa: BLE001 - any failure means "no engine"
        return f"no Docker engine answers at {where} ({type(error).__name__}: {str(error)[:200]})"
    return None


def skip_without_engine() -> None:
    reason = engine_unavailable()
    if reason and os.environ.get("LOCALCLOUD_REQUIRE_ENGINE") == "1":
        pytest.fail(f"LOCALCLOUD_REQUIRE_ENGINE=1 (CI started an engine), but {reason}")
    if reason:
        pytest.skip(f"{reason}. The container tests need one: start an engine and point DOCKER_HOST at it "
                    "(`.ci/run` starts a private one), or leave LOCALCLOUD_CONTAINER unset to run the "
                    "integration suite against a host process.")


def build_image(tag: str = IMAGE) -> float:
    """Build ``tag`` from the working tree; returns the seconds it took."""
    import docker

    started = time.monotonic()
    base = os.environ.get("LOCALCLOUD_BASE_IMAGE")
    client = docker.from_env(timeout=600)
    try:
        client.images.build(path=str(PROJECT_ROOT), tag=tag, rm=True, buildargs={"BASE_IMAGE": base} if base else {})
    finally:
        client.close()
    return time.monotonic() - started


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(taken: set[int] = frozenset()) -> int:
    """A free loopback port, within LOCALCLOUD_TEST_PORTS when it is set."""
    wanted = os.environ.get("LOCALCLOUD_TEST_PORTS")
    if wanted:
        low, _, high = wanted.partition("-")
        for port in range(int(low), int(high or low) + 1):
            if port not in taken and port not in RESERVED_PORTS and port_is_free(port):
                return port
        raise RuntimeError(f"no free port in LOCALCLOUD_TEST_PORTS={wanted}")
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in taken and port not in RESERVED_PORTS:
            return port


def _docker_container_class():
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import HealthcheckWaitStrategy

    class LocalCloudContainer(DockerContainer):
        """The image, listening on ``port`` inside and published on 127.0.0.1:``port``: the
        same number on both sides, so the queue URLs and API endpoints it hands out work from
        the host. Ready when the image's own HEALTHCHECK passes."""

        def __init__(self, image: str, port: int, *, persist: bool = False, volume: str | None = None,
                     **env: str) -> None:
            super().__init__(image)
            self.port = port
            self.endpoint = f"http://127.0.0.1:{port}"
            # with_bind_ports() cannot name the host address; docker-py takes (address, port).
            self.ports[f"{port}/tcp"] = ("127.0.0.1", port)
            self.with_envs(LOCALCLOUD_PORT=str(port), LOCALCLOUD_PERSIST="1" if persist else "0", **env)
            if volume:
                self.with_volume_mapping(volume, "/var/lib/localcloud", mode="rw")
            self.with_kwargs(init=True, labels={"org.immutable-transaction-pipeline.test": "localcloud"})
            self.waiting_for(HealthcheckWaitStrategy().with_startup_timeout(HEALTHY_WITHIN_S).with_poll_interval(0.05))
            self.started_in_s: float | None = None

        def start(self):
            started = time.monotonic()
            super().start()
            self.started_in_s = time.monotonic() - started
            return self

        def console_token(self) -> str:
            """This start's console token, from the container's state folder."""
            from localcloud.console.access import TOKEN_FILE

            result = self.exec(["cat", f"/var/lib/localcloud/{TOKEN_FILE}"])
            assert result.exit_code == 0, result.output
            return result.output.decode().strip()

        def logs_text(self) -> str:
            stdout, stderr = self.get_logs()
            return (stdout + stderr).decode("utf-8", "replace")

        def stop_gracefully(self, grace_s: float = STOP_GRACE_S) -> int:
            """SIGTERM, then up to ``grace_s`` for the drain and the save, as ``docker stop``
            and compose do (testcontainers' own stop() kills). Returns the exit code and removes
            the container; a named volume stays."""
            wrapped = self.get_wrapped_container()
            wrapped.stop(timeout=int(grace_s))
            code = wrapped.wait(timeout=grace_s + 30)["StatusCode"]
            self.logs_at_stop = self.logs_text()
            wrapped.remove(v=True)
            return code

    return LocalCloudContainer


def localcloud_container(port: int, *, image: str = IMAGE, persist: bool = False, volume: str | None = None,
                         **env: str):
    """An unstarted container of the image (call ``.start()``)."""
    return _docker_container_class()(image, port, persist=persist, volume=volume, **env)


@contextlib.contextmanager
def running(port: int, **options) -> Iterator:
    """A started, healthy container; stopped gracefully (and removed) on the way out."""
    container = localcloud_container(port, **options)
    try:
        container.start()
    except Exception:
        with contextlib.suppress(Exception):
            print(container.logs_text()[-4000:])
        with contextlib.suppress(Exception):
            container.get_wrapped_container().remove(force=True, v=True)
        raise
    try:
        yield container
    finally:
        with contextlib.suppress(Exception):
            container.stop_gracefully()
        with contextlib.suppress(Exception):  # still there only when the graceful stop failed
            container.get_wrapped_container().remove(force=True, v=True)


def new_volume() -> str:
    """A named volume of this test's own (remove it with remove_volume)."""
    import docker

    client = docker.from_env()
    try:
        return client.volumes.create(name=f"localcloud-test-{uuid.uuid4().hex[:12]}").name
    finally:
        client.close()


def remove_volume(name: str) -> None:
    import docker

    client = docker.from_env()
    try:
        client.volumes.get(name).remove(force=True)
    finally:
        client.close()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """A Docker engine answers (else every test using it is skipped, saying why)."""
    skip_without_engine()


@pytest.fixture(scope="session")
def localcloud_image(docker_engine) -> str:
    """The image tag, built from the working tree once per session (LOCALCLOUD_IMAGE_BUILD=0: as it is)."""
    if os.environ.get("LOCALCLOUD_IMAGE_BUILD", "1") != "0":
        seconds = build_image(IMAGE)
        print(f"[container] built {IMAGE} in {seconds:.1f} s")
    return IMAGE
