"""Where the stacks run: the local cloud (AWS_ENDPOINT_URL or 127.0.0.1:4566) or AWS."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

import boto3
from botocore.config import Config

from infra.config import DeploymentConfig, load_config

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ENDPOINT = "http://127.0.0.1:4566"


class NotDeployed(RuntimeError):
    pass


def endpoint_url() -> str:
    return os.environ.get("AWS_ENDPOINT_URL", DEFAULT_ENDPOINT)


def endpoint_port() -> int:
    return urlparse(endpoint_url()).port or 4566


def local_state_dir() -> Path:
    """Per local cloud (the default one on 4566, others by port), like localcloud.settings."""
    port = endpoint_port()
    return PROJECT_ROOT / ".localcloud" if port == 4566 else PROJECT_ROOT / ".localcloud" / f"port-{port}"


def outputs_file() -> Path:
    """Stack outputs of the last deploy to this endpoint (PIPELINE_OUTPUTS_FILE overrides)."""
    return Path(os.environ.get("PIPELINE_OUTPUTS_FILE", local_state_dir() / "outputs.json"))


def config() -> DeploymentConfig:
    return load_config(os.environ.get("PIPELINE_CONFIG"))


def client(service: str, account: str, region: str):
    """A boto3 client acting as ``account`` on the local cloud (its access key id is the
    account id, which is how the local cloud maps keys to accounts)."""
    return _client(service, account, region, endpoint_url())


@lru_cache(maxsize=64)
def _client(service: str, account: str, region: str, endpoint: str):
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=account,
        aws_secret_access_key="test",
        # Step Functions' sync endpoint prefixes the host ("sync-states"); the local cloud has one host.
        config=Config(inject_host_prefix=False, retries={"max_attempts": 2, "mode": "standard"},
                      connect_timeout=5, read_timeout=60),
    )


def stack_outputs() -> dict[str, dict[str, str]]:
    """{stack name: {output: value}} as the last `make deploy` wrote them."""
    path = outputs_file()
    if not path.exists():
        raise NotDeployed(f"{path} not found: run `make deploy` first")
    return json.loads(path.read_text())


def output(stack: str, key: str) -> str:
    outputs = stack_outputs()
    try:
        return outputs[stack][key]
    except KeyError:
        raise NotDeployed(f"output {key} of stack {stack} not found in {outputs_file()}: run `make deploy`") from None
