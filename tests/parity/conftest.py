"""Parity tests: a local cloud of their own (free port), clients per account.

One file per AWS service, each asserting what AWS documents or recorded (each test names
the page or the AWS-recorded LocalStack snapshot it pins). The fixtures are the local-cloud
suite's (``aws(service, account, region)`` clients whose access key is the account id, an
account root with secret ``test``; ``unique`` names; ``observer`` queues), around a server
of this suite's own; ``helpers`` has least-privilege wiring.
Its home is under the project's ``.localcloud/`` rather than the system's /tmp, so a
function's private /tmp can be mounted over the machine's.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.localcloud.conftest import (  # noqa: F401  (aws, observer, unique: fixtures, re-registered here)
    PROJECT_ROOT, PYTHON, LocalCloud, aws, free_port, observer, server_env, stop_process, unique, wait_healthy)


def start_local_cloud(home) -> LocalCloud:
    """A local cloud on a free port with ``home`` as its home; stop it with ``stop_process``."""
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    log = home / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([PYTHON, "-m", "localcloud", "serve"], cwd=PROJECT_ROOT,
                                   env=server_env(port, home), stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        found = wait_healthy(endpoint, process, log)
    except Exception:
        stop_process(process)
        raise
    return LocalCloud(endpoint=endpoint, port=port, home=home, log=log, process=process, health=found)


@pytest.fixture(scope="session")
def localcloud() -> LocalCloud:
    home = PROJECT_ROOT / ".localcloud" / f"parity-{free_port()}"
    cloud = start_local_cloud(home)
    try:
        yield cloud
    finally:
        stop_process(cloud.process)
        shutil.rmtree(home, ignore_errors=True)
