"""The launcher: ``python -m localcloud up|down|status`` (localcloud/__main__.py,
settings.py, server.py). Each test here uses its own port and home, never the
session's local cloud (which it only checks is left alone)."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import psutil
import pytest
from botocore.config import Config

from .conftest import (ACCOUNT_A, PROJECT_ROOT, PYTHON, REGION, allow, create_role, free_port, health, queue_arn, server_env,
                       wait_for)

EXTENSIONS = {"cfn_events", "cross_account_events", "event_log_targets", "http_api_integrations", "pipes"}
MINISTACK_DEFAULT_STATE_DIR = Path("/tmp/ministack-state")


def cli(command: str, port: int, home: Path, timeout: float = 90, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", "localcloud", command], cwd=PROJECT_ROOT, env=server_env(port, home, **extra),
                          capture_output=True, text=True, timeout=timeout)


def pid_of(home: Path) -> int:
    return int((home / "localcloud.pid").read_text().strip())


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stop_if_running(port: int, home: Path) -> None:
    """Safety net: ``down`` for an instance a test started (by its own PID file)."""
    if (home / "localcloud.pid").exists():
        cli("down", port, home)


def client(service: str, port: int, account: str = ACCOUNT_A):
    return boto3.client(service, endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION,
                        aws_access_key_id=account, aws_secret_access_key="test",
                        config=Config(inject_host_prefix=False, retries={"max_attempts": 1}))


class Launched:
    def __init__(self, port: int, home: Path, up: subprocess.CompletedProcess):
        self.port, self.home, self.up = port, home, up
        self.endpoint = f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    """One `up` for this module, on its own port and home."""
    home, port = tmp_path_factory.mktemp("launcher-home"), free_port()
    result = cli("up", port, home)
    try:
        yield Launched(port, home, result)
    finally:
        stop_if_running(port, home)


def test_up_returns_once_healthy_and_prints_the_time(launched):
    assert launched.up.returncode == 0, launched.up.stderr
    match = re.search(r"local cloud healthy on (\S+) in (\d+\.\d+) s \(pid (\d+)", launched.up.stdout)
    assert match, launched.up.stdout
    assert match.group(1) == launched.endpoint
    assert float(match.group(2)) > 0
    assert int(match.group(3)) == pid_of(launched.home)
    print(f"\n[launcher] up took {match.group(2)} s")
    # healthy the moment `up` returned, without waiting
    assert health(launched.endpoint, timeout=2)["status"] == "running"


def test_up_again_is_a_no_op(launched):
    before = pid_of(launched.home)
    result = cli("up", launched.port, launched.home)
    assert result.returncode == 0, result.stderr
    assert "already running" in result.stdout
    assert pid_of(launched.home) == before


def test_binds_loopback_only(launched):
    process = psutil.Process(pid_of(launched.home))
    listening = [c for c in process.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert listening, "the local cloud has no listening socket"
    assert launched.port in {c.laddr.port for c in listening}
    assert {c.laddr.ip for c in listening} == {"127.0.0.1"}, listening
    others = [a.address for addrs in psutil.net_if_addrs().values() for a in addrs
              if a.family == socket.AF_INET and not a.address.startswith("127.")]
    for address in others:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(2)
            assert probe.connect_ex((address, launched.port)) != 0, f"reachable on {address}"


def test_status_shows_the_extensions_installed(launched):
    result = cli("status", launched.port, launched.home)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["status"] == "running"
    assert document["ministack"] == "1.5.33"
    # the five this suite covers; later extensions may join them, all installed on ministack 1.5.33
    assert {name: document["extensions"].get(name) for name in EXTENSIONS} == {name: "installed" for name in EXTENSIONS}
    assert set(document["extensions"].values()) == {"installed"}


def test_status_when_nothing_answers(tmp_path):
    result = cli("status", free_port(), tmp_path)
    assert result.returncode == 1
    assert "nothing answers" in result.stderr


def test_up_does_not_start_over_another_service(tmp_path):
    """Something else (LocalStack, say) answers on the port: up says so and starts nothing."""
    import http.server
    import threading

    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)  # answers 501
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = cli("up", server.server_address[1], tmp_path, timeout=30)
        assert result.returncode == 1
        assert "not this project's local cloud" in result.stderr
        assert not (tmp_path / "localcloud.pid").exists()
    finally:
        server.shutdown()
        server.server_close()


def test_remote_bind_is_refused_with_a_clear_message(tmp_path):
    port = free_port()
    try:
        for command in ("up", "serve"):
            result = cli(command, port, tmp_path, timeout=30, LOCALCLOUD_HOST="0.0.0.0")
            assert result.returncode != 0
            assert "refusing to bind 0.0.0.0" in result.stderr
            assert "loopback" in result.stderr
        assert health(f"http://127.0.0.1:{port}", timeout=0.5) is None
        assert not (tmp_path / "localcloud.pid").exists()
    finally:
        stop_if_running(port, tmp_path)  # only if the refusal failed and something started


def test_down_leaves_a_process_that_is_not_ours_alone(tmp_path):
    """A stale PID file whose PID now belongs to another program: down must not kill it."""
    decoy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "localcloud.pid").write_text(str(decoy.pid))
        result = cli("down", free_port(), tmp_path)
        assert result.returncode == 0, result.stderr
        assert "not running" in result.stdout
        time.sleep(0.2)
        assert decoy.poll() is None, "down killed a process that is not the local cloud"
        assert not (tmp_path / "localcloud.pid").exists()
    finally:
        decoy.terminate()
        decoy.wait(timeout=5)


def test_down_stops_only_its_own_process(launched, localcloud):
    """Runs last of the `launched` tests: stops the module's instance, and nothing else."""
    pid = pid_of(launched.home)
    assert alive(pid)
    result = cli("down", launched.port, launched.home)
    assert result.returncode == 0, result.stderr
    assert f"stopped (pid {pid})" in result.stdout
    assert not alive(pid)
    assert not (launched.home / "localcloud.pid").exists()
    assert health(launched.endpoint, timeout=0.5) is None
    # the session's local cloud (another PID, another home) is untouched
    assert localcloud.process.poll() is None
    assert health(localcloud.endpoint)["status"] == "running"


# --- persistence ----------------------------------------------------------------------------

def snapshot(directory: Path) -> dict[str, float]:
    if not directory.exists():
        return {}
    return {p.name: p.stat().st_mtime for p in directory.iterdir()}


def test_state_survives_down_and_up_with_persistence(tmp_path_factory):
    home, port = tmp_path_factory.mktemp("persist-home"), free_port()
    default_dir_before = snapshot(MINISTACK_DEFAULT_STATE_DIR)
    try:
        result = cli("up", port, home, LOCALCLOUD_PERSIST="1")
        assert result.returncode == 0, result.stderr
        assert "persistence on" in result.stdout
        sqs, gw, pipes = client("sqs", port), client("apigatewayv2", port), client("pipes", port)
        # the roles the integration and the pipe act as (kept too)
        create_role(client("iam", port), "api", ["apigateway.amazonaws.com"],
                    [allow("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT_A}:persisted-q")])
        create_role(client("iam", port), "pipe", ["pipes.amazonaws.com"], [
            allow(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                  f"arn:aws:sqs:{REGION}:{ACCOUNT_A}:persisted-src"),
            allow("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT_A}:persisted-dst")])

        queue_url = sqs.create_queue(QueueName="persisted-q")["QueueUrl"]
        api_id = gw.create_api(Name="persisted-api", ProtocolType="HTTP")["ApiId"]
        integration_id = gw.create_integration(
            ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationSubtype="SQS-SendMessage",
            CredentialsArn=f"arn:aws:iam::{ACCOUNT_A}:role/api", PayloadFormatVersion="1.0",
            RequestParameters={"QueueUrl": queue_url, "MessageBody": "$request.body"})["IntegrationId"]
        gw.create_route(ApiId=api_id, RouteKey="POST /", Target=f"integrations/{integration_id}")
        gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)

        source_url = sqs.create_queue(QueueName="persisted-src")["QueueUrl"]
        target_url = sqs.create_queue(QueueName="persisted-dst")["QueueUrl"]
        source_parameters = {"SqsQueueParameters": {"BatchSize": 2, "MaximumBatchingWindowInSeconds": 0}}
        target_parameters = {"InputTemplate": '{"persisted": <$.body>}'}
        pipes.create_pipe(Name="persisted-pipe", RoleArn=f"arn:aws:iam::{ACCOUNT_A}:role/pipe",
                          Source=queue_arn(sqs, source_url), Target=queue_arn(sqs, target_url),
                          SourceParameters=source_parameters, TargetParameters=target_parameters)

        result = cli("down", port, home, LOCALCLOUD_PERSIST="1")
        assert result.returncode == 0, result.stderr
        assert health(f"http://127.0.0.1:{port}", timeout=0.5) is None
        with sqlite3.connect(f"file:{home / 'state' / 'localcloud.sqlite3'}?mode=ro", uri=True) as saved:
            parts = {name for (name,) in saved.execute("SELECT name FROM snapshot_parts")}
        assert {"localcloud_http_api_integrations", "localcloud_pipes", "sqs", "apigateway"} <= parts, parts
        assert snapshot(MINISTACK_DEFAULT_STATE_DIR) == default_dir_before, "state written outside LOCALCLOUD_HOME"

        result = cli("up", port, home, LOCALCLOUD_PERSIST="1")
        assert result.returncode == 0, result.stderr
        sqs, gw, pipes = client("sqs", port), client("apigatewayv2", port), client("pipes", port)

        assert sqs.get_queue_url(QueueName="persisted-q")["QueueUrl"] == queue_url
        integration = gw.get_integration(ApiId=api_id, IntegrationId=integration_id)
        assert (integration["IntegrationSubtype"], integration["CredentialsArn"]) == (
            "SQS-SendMessage", f"arn:aws:iam::{ACCOUNT_A}:role/api")
        request = urllib.request.Request(f"http://127.0.0.1:{port}/_aws/execute-api/{api_id}/", data=b"after restart",
                                         method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        got = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2).get("Messages", [])
        assert [m["Body"] for m in got] == ["after restart"]

        described = pipes.describe_pipe(Name="persisted-pipe")
        assert described["SourceParameters"] == source_parameters
        assert described["TargetParameters"] == target_parameters
        sqs.send_message(QueueUrl=source_url, MessageBody='{"n": 1}')
        arrived = wait_for(lambda: sqs.receive_message(QueueUrl=target_url, WaitTimeSeconds=1).get("Messages"),
                           timeout=10)
        assert arrived and json.loads(arrived[0]["Body"]) == {"persisted": {"n": 1}}
    finally:
        stop_if_running(port, home)
    assert not (home / "localcloud.pid").exists()


def test_without_persistence_nothing_survives(tmp_path_factory):
    home, port = tmp_path_factory.mktemp("ephemeral-home"), free_port()
    try:
        assert cli("up", port, home).returncode == 0
        client("sqs", port).create_queue(QueueName="ephemeral-q")
        assert cli("down", port, home).returncode == 0
        assert cli("up", port, home).returncode == 0
        assert "ephemeral-q" not in str(client("sqs", port).list_queues().get("QueueUrls", []))
    finally:
        stop_if_running(port, home)
