"""How the console reads and acts: the AWS APIs of the local cloud it runs in, signed as
the root user of the account that owns each resource (access key = account id, the
local cloud's secret ``test``), so strict IAM judges the console as it judges anyone."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TypeVar

from botocore.config import Config

Clients = Callable[[str, str, str], object]  # (service, account, region) -> boto3 client
T = TypeVar("T")
R = TypeVar("R")

_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="console")


def clients_for(endpoint: str) -> Clients:
    """A client factory for the local cloud at ``endpoint``."""
    return lambda service, account, region: _client(service, account, region, endpoint)


_SESSION_LOCK = threading.Lock()  # creating clients from one session is not thread-safe


@lru_cache(maxsize=1)
def _session():
    """One session for every client: service models load once, not once per client."""
    import boto3

    return boto3.session.Session()


@lru_cache(maxsize=256)
def _client(service: str, account: str, region: str, endpoint: str):
    with _SESSION_LOCK:
        return _session().client(
            service, region_name=region, endpoint_url=endpoint,
            aws_access_key_id=account, aws_secret_access_key="test",
            # One host serves every service (Step Functions' sync host prefix included).
            config=Config(inject_host_prefix=False, retries={"max_attempts": 1, "mode": "standard"},
                          connect_timeout=5, read_timeout=30),
        )


def parallel(work: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``work`` over ``items`` on the console's threads, results in order."""
    return list(_POOL.map(work, list(items)))


def error_text(error: Exception) -> str:
    """An AWS error as one line: its code and message (what the page shows)."""
    response = getattr(error, "response", None) or {}
    details = response.get("Error") or {}
    if details:
        return f"{details.get('Code', type(error).__name__)}: {details.get('Message', '')}"
    return f"{type(error).__name__}: {error}"
