"""Fixtures for the integration suite: it runs against whatever AWS_ENDPOINT_URL points at
(default http://127.0.0.1:4566, the embedded local cloud's port).

Once per session:

* if nothing answers at the endpoint, the embedded local cloud is started on that port
  (``python -m localcloud up``) and stopped again at the end of the session; a local cloud
  (or LocalStack) that was already running is used as it is and left running;
* if the stack outputs file is missing, stale (its values differ from what CloudFormation
  reports) or a stack is not deployed, ``python -m ops.deploy_local`` deploys everything.

For an endpoint on a port other than 4566 the local cloud's home and the outputs file
default to a folder of their own (``.localcloud/port-<port>/``), so a second local cloud
never touches the pid file or outputs of the one on 4566. Explicit LOCALCLOUD_HOME and
PIPELINE_OUTPUTS_FILE always win.

With ``LOCALCLOUD_CONTAINER=1`` the local cloud is the project's image instead, started
under testcontainers on the endpoint's port (tests/container/localcloud_container.py) and
stopped at the end; the suite is skipped, saying why, when no Docker engine answers.

Progress goes straight to the terminal (pytest's capture is suspended for it), so a
session that has to deploy does not look hung even without ``-s``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .helpers import ENDPOINT, HOST, PORT, PROJECT_ROOT, SCHEME, environment  # first: sets the endpoint env
from .fault_fixtures import restartable_cloud  # noqa: E402,F401 - one persistent cloud for the restart and crash tests
from localcloud.__main__ import health  # noqa: E402
from ops import transactions  # noqa: E402
from ops.container import save_console_token  # noqa: E402
from tests.container import localcloud_container as container  # noqa: E402
from tests.container.localcloud_container import docker_engine, localcloud_image  # noqa: E402,F401 - fixtures

LOOPBACK = ("127.0.0.1", "localhost", "::1")
DEPLOY_TIMEOUT_S = 600


# --------------------------------------------------------------------------- progress


def _say(config: pytest.Config, message: str) -> None:
    line = f"[integration] {message}"
    capture = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")
    if capture is None or reporter is None:
        print(line, flush=True)
        return
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        reporter.write_line(line)


@pytest.fixture(scope="session")
def say(pytestconfig) -> Callable[[str], None]:
    """Print a line to the terminal, past pytest's output capture."""
    return lambda message: _say(pytestconfig, message)


# --------------------------------------------------------------------------- local cloud and deployment


def _localcloud_env() -> dict[str, str]:
    env = dict(os.environ, LOCALCLOUD_PORT=str(PORT))
    env["LOCALCLOUD_HOST"] = "127.0.0.1" if HOST == "localhost" else HOST
    return env


def _localcloud(command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "localcloud", command], cwd=PROJECT_ROOT, env=_localcloud_env(),
                          capture_output=True, text=True, timeout=90)


@pytest.fixture(scope="session")
def local_cloud_container(say, localcloud_image) -> str:
    """LOCALCLOUD_CONTAINER=1: the image, published on the endpoint's port, for this session."""
    if SCHEME != "http" or HOST not in LOOPBACK:
        pytest.fail(f"LOCALCLOUD_CONTAINER=1 publishes on a loopback http endpoint, not {ENDPOINT}")
    if health(ENDPOINT) is not None:
        pytest.fail(f"LOCALCLOUD_CONTAINER=1, but something already answers on {ENDPOINT}: "
                    "stop it, or give AWS_ENDPOINT_URL a free port")
    with container.running(PORT, image=localcloud_image) as cloud:
        say(f"local cloud container {cloud.get_wrapped_container().short_id} ({localcloud_image}) "
            f"healthy on {ENDPOINT} in {cloud.started_in_s:.1f} s")
        # The console's token where ops.send looks for it, as `make up` leaves it.
        token_copy = save_console_token(Path(os.environ.get("LOCALCLOUD_HOME", environment.local_state_dir())),
                                        cloud.console_token())
        try:
            yield ENDPOINT
        finally:
            token_copy.unlink(missing_ok=True)
    say("local cloud container stopped and removed")


@pytest.fixture(scope="session")
def local_cloud(say, request) -> str:
    """The endpoint, answering: started here (and stopped at the end) only if nothing answered."""
    if os.environ.get("LOCALCLOUD_CONTAINER") == "1":
        yield request.getfixturevalue("local_cloud_container")
        return
    found = health(ENDPOINT)
    started = False
    if found is None:
        if SCHEME != "http" or HOST not in LOOPBACK:
            pytest.fail(f"nothing answers on {ENDPOINT}, and the embedded local cloud only runs on a loopback http endpoint")
        say(f"nothing answers on {ENDPOINT}: starting the embedded local cloud "
            f"(port {PORT}, home {os.environ.get('LOCALCLOUD_HOME', PROJECT_ROOT / '.localcloud')})")
        result = _localcloud("up")
        if result.returncode != 0 or health(ENDPOINT) is None:
            pytest.fail(f"python -m localcloud up failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
        say(result.stdout.strip())
        started = True
    elif found == {}:
        say(f"{ENDPOINT} answers but is not this project's local cloud (LocalStack?): using it as it is")
    else:
        say(f"using the local cloud already running on {ENDPOINT} (ministack {found.get('ministack')})")
    yield ENDPOINT
    if started:
        result = _localcloud("down")
        say(f"stopping the local cloud this session started: {result.stdout.strip() or result.stderr.strip()}")


def _expected_stacks(cfg) -> list[tuple[str, str, str]]:
    """(stack name, account, region) of every stack `make deploy` creates."""
    stacks = [("Backbone", cfg.backbone.account, cfg.backbone.region),
              ("BackboneSecondRegion", cfg.backbone.account, cfg.second_region)]
    for app in cfg.applications:
        stacks.append((f"{app.name.title()}Bus", app.account, app.region))
        if app.runs_transaction_pipeline:
            stacks.append((f"{app.name.title()}TransactionPipeline", app.account, app.region))
    return stacks


def _why_not_deployed(cfg) -> str | None:
    """None when every stack is deployed and the outputs file says what CloudFormation says."""
    try:
        recorded_outputs = environment.stack_outputs()
    except environment.NotDeployed as error:
        return str(error)
    except ValueError as error:
        return f"{environment.outputs_file()} is not valid JSON ({error})"
    for name, account, region in _expected_stacks(cfg):
        try:
            stack = environment.client("cloudformation", account, region).describe_stacks(StackName=name)["Stacks"][0]
        except Exception as error:  # noqa: BLE001 - any failure here means "deploy"
            return f"stack {name} not found in {account}/{region} ({type(error).__name__})"
        status = stack["StackStatus"]
        if not status.endswith("_COMPLETE") or "ROLLBACK" in status or status.startswith("DELETE"):
            return f"stack {name} is {status}"
        deployed = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        if recorded_outputs.get(name) != deployed:
            return f"{environment.outputs_file()} does not match the outputs of the deployed stack {name}"
    return None


@pytest.fixture(scope="session")
def deployed(local_cloud, say, cfg) -> dict[str, dict[str, str]]:
    """All stacks deployed, once per session; returns the stack outputs."""
    reason = _why_not_deployed(cfg)
    if reason:
        say(f"{reason}: deploying with `python -m ops.deploy_local` (takes ~30 s)")
        started = time.monotonic()
        process = subprocess.Popen([sys.executable, "-m", "ops.deploy_local"], cwd=PROJECT_ROOT, env=dict(os.environ),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        try:
            for line in process.stdout:
                lines.append(line.rstrip())
                say(f"  | {line.rstrip()}")
            process.wait(timeout=DEPLOY_TIMEOUT_S)
        finally:
            if process.poll() is None:
                process.kill()
        if process.returncode != 0:
            pytest.fail(f"python -m ops.deploy_local failed (exit {process.returncode}):\n" + "\n".join(lines[-60:]))
        still = _why_not_deployed(cfg)
        if still:
            pytest.fail(f"deployed, but {still}")
        say(f"deployed in {time.monotonic() - started:.1f} s")
    else:
        say(f"stacks already deployed; outputs from {environment.outputs_file()}")
    return environment.stack_outputs()


@pytest.fixture(scope="session", autouse=True)
def _deployed_for_every_test(deployed) -> None:
    """Every integration test runs against deployed stacks."""


# --------------------------------------------------------------------------- configuration and helpers


@pytest.fixture(scope="session")
def cfg():
    """The deployment configuration (config/local.json unless PIPELINE_CONFIG says otherwise)."""
    return environment.config()


@pytest.fixture(scope="session")
def outputs(deployed) -> dict[str, dict[str, str]]:
    """{stack name: {output key: value}}."""
    return deployed


@pytest.fixture(scope="session")
def payments(cfg):
    return cfg.transaction_pipeline_app


@pytest.fixture(scope="session")
def ledger(cfg):
    return cfg.application("ledger")


@pytest.fixture(scope="session")
def aws() -> Callable:
    """aws(service, account, region): a boto3 client acting as that account on the endpoint."""
    return environment.client


@pytest.fixture(scope="session")
def tx():
    """ops.transactions: post(), sha256_hex(), recorded(), domain_events(), dead_letters(), log_records()."""
    return transactions
