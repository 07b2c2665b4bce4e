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

import pytest

from tests.localcloud.conftest import (  # noqa: F401  (aws, observer, unique: fixtures, re-registered here)
    PROJECT_ROOT, LocalCloud, aws, free_port, observer, own_local_cloud, unique)


@pytest.fixture(scope="session")
def localcloud() -> LocalCloud:
    home = PROJECT_ROOT / ".localcloud" / f"parity-{free_port()}"
    home.mkdir(parents=True, exist_ok=True)
    try:
        with own_local_cloud(home) as cloud:
            yield cloud
    finally:
        shutil.rmtree(home, ignore_errors=True)
