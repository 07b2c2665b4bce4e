"""Fixtures of the fault tests that the session fixtures in conftest.py do not cover.

``restartable_cloud``: a local cloud of the tests' own (its own port, its own home in a
temporary folder, persistence on), with every stack deployed to it, that tests may stop
and start again with ``python -m localcloud down`` / ``up``, or kill (SIGKILL, by its PID
file). Deployed once per session (the restart and crash tests share it). The session's
local cloud (the one AWS_ENDPOINT_URL points at) is never touched; this one is stopped by
its PID file (``localcloud down`` with its own LOCALCLOUD_HOME) at the end.

conftest.py imports the fixture, so every module shares the one instance.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from .helpers import PIPELINE, PORT, PROJECT_ROOT
from localcloud.__main__ import health  # noqa: E402
from ops.crash import process_gone  # noqa: E402
from ops.transactions import RECORDED, is_recorded_line, log_records  # noqa: E402

PREFERRED_PORT = 4611
RESERVED_PORTS = {4566, 4567, 4599, PORT}
DEPLOY_TIMEOUT_S = 600
# Settings a local cloud of our own must not inherit (they describe the session's one).
INHERITED_PREFIXES = ("LOCALCLOUD_", "AWS_", "GATEWAY_", "MINISTACK_", "PERSIST_", "STATE_DIR", "S3_",
                      "PIPELINE_OUTPUTS")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    if PREFERRED_PORT not in RESERVED_PORTS and _port_free(PREFERRED_PORT):
        return PREFERRED_PORT
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


@dataclass
class RestartableCloud:
    port: int
    home: Path
    env: dict[str, str]
    outputs: dict = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def outputs_file(self) -> Path:
        return Path(self.env["PIPELINE_OUTPUTS_FILE"])

    def cli(self, command: str, timeout: float = 90) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "localcloud", command], cwd=PROJECT_ROOT, env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def up(self) -> str:
        result = self.cli("up")
        if result.returncode != 0 or not health(self.endpoint):
            raise AssertionError(f"localcloud up on {self.port} failed (exit {result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result.stdout.strip()

    def down(self) -> str:
        result = self.cli("down")
        if result.returncode != 0:
            raise AssertionError(f"localcloud down on {self.port} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout.strip()

    def pid(self) -> int:
        return int((self.home / "localcloud.pid").read_text().strip())

    def kill(self, sig: int = signal.SIGKILL, pid: int | None = None) -> float:
        """Send ``sig`` to this cloud's server (its PID file names it, unless ``pid`` is
        given); returns when it was sent (or found the process already gone)."""
        try:
            os.kill(pid or self.pid(), sig)
        except ProcessLookupError:
            pass
        return time.time()

    def wait_gone(self, pid: int, timeout: float = 60) -> None:
        if not process_gone(pid, timeout):
            raise AssertionError(f"local cloud process {pid} still alive after {timeout} s")

    def deploy(self) -> float:
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "ops.deploy_local"], cwd=PROJECT_ROOT, env=self.env,
                                capture_output=True, text=True, timeout=DEPLOY_TIMEOUT_S)
        if result.returncode != 0:
            raise AssertionError(f"deploy to {self.endpoint} failed (exit {result.returncode}):\n"
                                 f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        self.outputs = json.loads(self.outputs_file.read_text())
        return time.monotonic() - started

    def client(self, service: str, account: str, region: str):
        """A boto3 client for this cloud (ops.environment.client talks to the session's endpoint)."""
        return boto3.client(service, region_name=region, endpoint_url=self.endpoint, aws_access_key_id=account,
                            aws_secret_access_key="test",
                            config=Config(inject_host_prefix=False, retries={"max_attempts": 2, "mode": "standard"},
                                          connect_timeout=2, read_timeout=30))

    def post(self, body: bytes, timeout: float = 5) -> tuple[int | None, bytes | str]:
        """(status, response body) of a POST to the pipeline's HTTP API; (None, error) when no answer."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("POST", f"/_aws/execute-api/{self.outputs[PIPELINE]['ApiId']}/", body,
                               {"content-type": "application/json"})
            response = connection.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as error:
            return None, f"{type(error).__name__}: {error}"
        finally:
            connection.close()

    def recorded_since(self, account: str, region: str, since_ms: int) -> list[tuple[int, dict]]:
        """(timestamp, record) of every "transaction recorded" line in this cloud's recorder log."""
        return list(log_records(self.outputs[PIPELINE]["RecorderLogGroupName"], account, region, since_ms,
                                is_recorded_line, filter_pattern=RECORDED, logs=self.client("logs", account, region)))


def _environment(port: int, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_PREFIXES)}
    env.update({
        "LOCALCLOUD_PORT": str(port),
        "LOCALCLOUD_HOST": "127.0.0.1",
        "LOCALCLOUD_HOME": str(home),
        "LOCALCLOUD_PERSIST": "1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "PIPELINE_OUTPUTS_FILE": str(home / "outputs.json"),
        "PYTHONUNBUFFERED": "1",
    })
    return env


@pytest.fixture(scope="session")
def restartable_cloud(tmp_path_factory, say):
    """A persistent local cloud of the tests' own, deployed; stopped (by its PID file) afterwards."""
    port = _free_port()
    home = tmp_path_factory.mktemp(f"localcloud-{port}")
    # ops.deploy_local keeps its CDK home and cloud assembly per port in the project folder:
    # removed afterwards unless they were there before.
    leftovers = [p for p in (PROJECT_ROOT / f"cdk.out.{port}", PROJECT_ROOT / ".localcloud" / f"port-{port}")
                 if not p.exists()]
    cloud = RestartableCloud(port=port, home=home, env=_environment(port, home))
    if health(cloud.endpoint) is not None:
        pytest.fail(f"something already answers on {cloud.endpoint}")
    try:
        say(f"restartable local cloud: {cloud.up()}")
        say(f"deployed to {cloud.endpoint} in {cloud.deploy():.1f} s")
        yield cloud
    finally:
        result = cloud.cli("down")
        say(f"restartable local cloud: {result.stdout.strip() or result.stderr.strip()}")
        for path in leftovers:
            shutil.rmtree(path, ignore_errors=True)
