"""A pipe's source: can the pipe read it, and the poll loop that feeds executions."""

from __future__ import annotations

import threading
from collections.abc import Callable

from localcloud import seams
from localcloud.services.pipes import permissions, store
from localcloud.services.pipes.validation import kind_of


def check_source(definition: dict) -> str:
    """Why the pipe cannot read its source ("" when it can): missing, or its role lacks
    the read permissions (StateReason samples in the Pipes error-handling guide)."""
    from localcloud.services.pipes.sources import sqs, streams

    kind = kind_of(definition["Source"])
    exists = sqs.source_exists(definition) if kind == "sqs" else streams.source_exists(definition)
    if not exists:
        return {"sqs": "Queue does not exist.", "dynamodb": "Stream not found. To resume processing please "
                "delete the pipe and create a new one.", "kinesis": "Stream not found."}[kind]
    try:
        permissions.require(definition, permissions.SOURCE_READ[kind] + permissions.SOURCE_DELETE.get(kind, ()),
                            definition["Source"])
    except permissions.AccessDenied:
        if kind == "sqs":
            return ("Pipes does not have required permissions to perform Queue operations "
                    "(sqs:ReceiveMessage, sqs:DeleteMessage and sqs:GetQueueAttributes)")
        return (f"Pipes does not have required permissions to read the stream "
                f"({', '.join(permissions.SOURCE_READ[kind])})")
    return ""


def standard_workflow_reason(definition: dict) -> str:
    """Pipes runs only EXPRESS workflows as enrichments, and as synchronous targets."""
    enrichment, target = definition.get("Enrichment", ""), definition.get("Target", "")
    invocation = ((definition.get("TargetParameters") or {}).get("StepFunctionStateMachineParameters") or {}).get(
        "InvocationType", "FIRE_AND_FORGET")
    for arn, role in ((enrichment, "enrichment"), (target if invocation == "REQUEST_RESPONSE" else "", "target")):
        if kind_of(arn) == "states":
            account, region = arn.split(":")[4], arn.split(":")[3]
            status, described = seams.call_json_api_sync("states", "DescribeStateMachine", account, region,
                                                         {"stateMachineArn": arn},
                                                         principal=f"arn:aws:iam::{account}:root")  # Pipes' own check
            if status < 400 and described.get("type") == "STANDARD":
                return (f"A Step Functions standard workflow cannot be used as the pipe's {role} when invoked "
                        "synchronously; only EXPRESS workflows are supported.")
    return ""


def poll_source(key: store.Key, stop: threading.Event, ready: Callable[[], None]) -> None:
    """Poll until ``stop``; ``ready()`` once the pipe reads its source (a LATEST stream
    position is taken by then)."""
    from localcloud.services.pipes.sources import sqs, streams

    record = store.get(key)
    if record is None:
        return
    if kind_of(record["Source"]) == "sqs":
        ready()
        sqs.poll(key, stop)
    else:
        streams.poll(key, stop, ready)
