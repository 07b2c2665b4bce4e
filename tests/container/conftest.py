"""The container tests: the image and docker-compose.yml, on whatever engine DOCKER_HOST
names. Without an engine every test here is skipped, saying why. `make test-container` runs
them, then the integration suite against the image (LOCALCLOUD_CONTAINER=1)."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config

from .localcloud_container import docker_engine, localcloud_image  # noqa: F401 - fixtures

ACCOUNT = "222222222222"
REGION = "us-east-1"


@pytest.fixture(scope="session")
def aws():
    """aws(service, endpoint): a boto3 client acting as the payments account on ``endpoint``."""
    def client(service: str, endpoint: str):
        return boto3.client(service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id=ACCOUNT,
                            aws_secret_access_key="test",
                            config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5,
                                          read_timeout=30))
    return client
