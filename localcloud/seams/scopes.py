"""Which accounts and regions hold resources: no AWS API lists the accounts a local cloud
has seen (on AWS they exist before anything is created in them), so the console asks
ministack's stores which (account, region) pairs they hold. Only the pairs are read;
everything about the resources themselves goes through the AWS APIs."""

from __future__ import annotations

from localcloud.seams.core import PROBE_ACCOUNT_A, PROBE_ACCOUNT_B

# (ministack service module, store): stores whose entries mean "something was created
# here". Event buses are left out: ministack creates a default bus on any EventBridge call.
_STORES = (
    ("sqs", "_queues"),
    ("eventbridge", "_rules"),
    ("eventbridge", "_archives"),
    ("stepfunctions", "_state_machines"),
    ("lambda_svc", "_functions"),
    ("pipes", "_pipes"),
    ("apigateway", "_apis"),
    ("cloudwatch_logs", "_log_groups"),
)
_PROBE_ACCOUNTS = {PROBE_ACCOUNT_A, PROBE_ACCOUNT_B}


def in_use() -> list[tuple[str, str]]:
    """Sorted (account, region) pairs where at least one resource of the console's kinds exists."""
    import importlib

    found: set[tuple[str, str]] = set()
    for module_name, store_name in _STORES:
        store = getattr(importlib.import_module(f"ministack.services.{module_name}"), store_name, None)
        if store is None:
            continue
        for key in list(store.to_dict()):
            if isinstance(key, tuple) and len(key) == 3 and key[0] not in _PROBE_ACCOUNTS:
                found.add((key[0], key[1]))
    return sorted(found)
