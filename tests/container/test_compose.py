"""docker-compose.yml and `make up` / `make down` on the container path (ops/container.py),
with Compose v2 (`docker compose`) and v1 (`docker-compose`): each flavour that is
installed is tested, one that is not is skipped, saying so."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import uuid

import docker
import pytest

from .localcloud_container import PROJECT_ROOT, free_port

FLAVOURS = {"v2": ["docker", "compose"], "v1": ["docker-compose"]}
COMPOSE_FILE = str(PROJECT_ROOT / "docker-compose.yml")


def installed(command: list[str]) -> bool:
    return shutil.which(command[0]) is not None and \
        subprocess.run([*command, "version"], capture_output=True).returncode == 0


@pytest.fixture(params=sorted(FLAVOURS))
def compose(request, docker_engine):
    command = FLAVOURS[request.param]
    if not installed(command):
        pytest.skip(f"Compose {request.param} (`{' '.join(command)}`) is not installed here")
    return command


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LOCALSTACK_", "LOCALCLOUD_PORT", "LOCALCLOUD_HOME", "AWS_"))}
    env.update(extra)
    return env


def config(compose: list[str], env: dict[str, str], *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([*compose, "--file", COMPOSE_FILE, *options, "config"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True)


def test_the_file_reads_without_a_localstack_token_whichever_profile_is_active(compose):
    """`:?` interpolation in the localstack service failed every `docker compose` command
    for users without a token, even with its profile inactive."""
    env = environment()
    for options in ((), ("--profile", "localstack")):
        result = config(compose, env, *options)
        assert result.returncode == 0, f"{' '.join(options) or 'no profile'}: {result.stderr}"
        assert "127.0.0.1:4566" in result.stdout or "host_ip: 127.0.0.1" in result.stdout, result.stdout


def test_a_licence_holders_token_reaches_the_localstack_service(compose):
    result = config(compose, environment(LOCALSTACK_AUTH_TOKEN="ls-token-for-the-test"), "--profile", "localstack")
    assert result.returncode == 0, result.stderr
    assert "ls-token-for-the-test" in result.stdout


@pytest.fixture
def default_compose(docker_engine):
    """The Compose `make up` picks (v2 when both are installed)."""
    from ops.container import find_compose

    found = find_compose()
    if found is None:
        pytest.skip("neither Compose v2 nor v1 is installed here")
    return list(found.command)


@contextlib.contextmanager
def compose_project(compose: list[str]):
    """(name, port, env) of a compose project of the caller's own; its containers, network
    and volume are removed afterwards."""
    name = f"itptest{uuid.uuid4().hex[:10]}"
    port = free_port()
    home = tempfile.mkdtemp(prefix=f"{name}-")  # where `make up` leaves the console token for the host
    env = environment(COMPOSE_PROJECT_NAME=name, LOCALCLOUD_PORT=str(port), LOCALCLOUD_COMPOSE=" ".join(compose),
                      LOCALCLOUD_HOME=home)
    try:
        yield name, port, env
    finally:
        subprocess.run([*compose, "--file", COMPOSE_FILE, "down", "--volumes", "--timeout", "5"], cwd=PROJECT_ROOT,
                       env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def project(compose):
    with compose_project(compose) as found:
        yield found


def ops_container(command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ops.container", command], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def project_containers(name: str) -> list:
    client = docker.from_env()
    try:
        return client.containers.list(all=True, filters={"label": f"com.docker.compose.project={name}"})
    finally:
        client.close()


def test_make_up_returns_once_healthy_on_the_loopback_port_and_make_down_stops_it(project, compose):
    """`make up`'s container branch: with v1 (no `up --wait`) ops.container waits for the
    healthcheck itself; with v2 Compose waits."""
    name, port, env = project
    started = ops_container("up", env)
    assert started.returncode == 0, started.stdout + started.stderr
    assert f"healthy on http://127.0.0.1:{port}" in started.stdout

    [container] = project_containers(name)
    assert container.attrs["State"]["Health"]["Status"] == "healthy"
    published = {inside: bound for inside, bound in container.attrs["NetworkSettings"]["Ports"].items() if bound}
    assert published == {f"{port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    assert container.attrs["HostConfig"]["Init"] is True
    assert container.attrs["Config"].get("StopTimeout") == 45  # stop_grace_period covers the 30 s drain

    from localcloud.__main__ import health
    assert health(f"http://127.0.0.1:{port}")["status"] == "running"

    # `make console` on the host: `up` copied the container's token where the host's tools look.
    console = subprocess.run([sys.executable, "-m", "localcloud", "console"], cwd=PROJECT_ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    assert console.returncode == 0, console.stdout + console.stderr
    assert console.stdout.strip() in started.stdout.splitlines()
    url = console.stdout.strip().removeprefix("console: ")
    assert url.startswith(f"http://127.0.0.1:{port}/") and "token=" in url, console.stdout
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())  # the token becomes a cookie
    with browser.open(url, timeout=10) as page:
        assert page.status == 200

    again = ops_container("up", env)  # a second `make up` finds it running
    assert again.returncode == 0 and "already running" in again.stdout, again.stdout + again.stderr

    stopped = ops_container("down", env)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert project_containers(name) == []
    assert health(f"http://127.0.0.1:{port}") is None


def test_with_persistence_make_down_and_up_keep_the_state_on_the_services_volume(default_compose, aws):
    """LOCALCLOUD_PERSIST=1: `make down` stops the container gracefully (SIGTERM, then the
    stop_grace_period), the state lands on the named volume, `make up` reads it back."""
    with compose_project(default_compose) as (name, port, env):
        env["LOCALCLOUD_PERSIST"] = "1"
        endpoint = f"http://127.0.0.1:{port}"
        assert ops_container("up", env).returncode == 0
        queue_url = aws("sqs", endpoint).create_queue(QueueName="kept-by-compose")["QueueUrl"]
        assert ops_container("down", env).returncode == 0
        assert project_containers(name) == []  # `down` removes the container; the volume stays

        restarted = ops_container("up", env)
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
        assert aws("sqs", endpoint).get_queue_url(QueueName="kept-by-compose")["QueueUrl"] == queue_url
