"""A local cloud of its own for the strict-IAM tests, with every stack deployed
(``ops.deploy_local``: cdklocal bootstrap of each account/region, then deploy as the CI/CD
account through the bootstrap roles), admin endpoints enabled for the session.

Each test talks to it through ``ops`` (AWS_ENDPOINT_URL and the outputs file point at it
for the duration of the test only, so the other suites keep their own endpoint).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from ..conftest import PROJECT_ROOT, PYTHON, own_local_cloud

DEPLOY_TIMEOUT_S = 900


@dataclass
class Pipeline:
    endpoint: str
    port: int
    outputs_file: Path
    log: Path

    def client(self, service: str, account: str, region: str = "us-east-1", secret: str = "test",
               token: str | None = None):
        return boto3.session.Session().client(
            service, endpoint_url=self.endpoint, region_name=region, aws_access_key_id=account,
            aws_secret_access_key=secret, aws_session_token=token,
            config=Config(inject_host_prefix=False, retries={"max_attempts": 1, "mode": "standard"},
                          connect_timeout=5, read_timeout=60))


def _deploy(endpoint: str, outputs: Path, log: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCALCLOUD_"))}
    env.update(AWS_ENDPOINT_URL=endpoint, PIPELINE_OUTPUTS_FILE=str(outputs))
    with open(log, "w") as out:
        result = subprocess.run([PYTHON, "-m", "ops.deploy_local"], cwd=PROJECT_ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, timeout=DEPLOY_TIMEOUT_S)
    if result.returncode != 0:
        raise RuntimeError(f"deploy failed (exit {result.returncode}):\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory) -> Pipeline:
    with own_local_cloud(tmp_path_factory.mktemp("iam-cloud"), LOCALCLOUD_ADMIN="1") as cloud:
        try:
            outputs = cloud.home / "outputs.json"
            _deploy(cloud.endpoint, outputs, cloud.home / "deploy.log")
            yield Pipeline(cloud.endpoint, cloud.port, outputs, cloud.log)
        finally:
            # what ops.deploy_local keeps per port (cloud assembly, CDK home), not ours to leave behind
            shutil.rmtree(PROJECT_ROOT / f"cdk.out.{cloud.port}", ignore_errors=True)
            shutil.rmtree(PROJECT_ROOT / ".localcloud" / f"port-{cloud.port}", ignore_errors=True)


@pytest.fixture(autouse=True)
def _ops_point_at_the_pipeline(pipeline, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", pipeline.endpoint)
    monkeypatch.setenv("PIPELINE_OUTPUTS_FILE", str(pipeline.outputs_file))


@pytest.fixture
def aws(pipeline) -> Callable:
    """aws(service, account, region="us-east-1", secret="test", token=None): a boto3 client."""
    return pipeline.client
