"""EventBridge Pipes: ministack's pipe store, and a probe of what it keeps."""

from __future__ import annotations

import json

from localcloud.seams.core import request_scope


def module():
    from ministack.services import pipes

    return pipes


def probe_keeps_source_parameters() -> bool:
    """Probe: does ministack keep a pipe's SourceParameters (and so run such pipes)?"""
    pipes = module()
    with request_scope("000000000000", "us-east-1"):
        name = "localcloud-probe"
        pipes._create_pipe(name, {
            "Source": "arn:aws:sqs:us-east-1:000000000000:localcloud-probe",
            "Target": "arn:aws:sqs:us-east-1:000000000000:localcloud-probe-target",
            "RoleArn": "arn:aws:iam::000000000000:role/probe",
            "DesiredState": "STOPPED",
            "SourceParameters": {"SqsQueueParameters": {"BatchSize": 1}},
        })
        try:
            described = json.loads(pipes._describe_pipe(name)[2])
            return bool(described.get("SourceParameters"))
        finally:
            pipes.delete_pipe(name)
