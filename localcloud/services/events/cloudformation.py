"""CloudFormation: AWS::Events::Archive and AWS::Events::EventBusPolicy.

ministack 1.5.33 rejects any template declaring them ("Unrecognized resource types").
Both are provisioned through the EventBridge API ministack already serves, registered in
its CloudFormation resource-handler table.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re

from localcloud import seams
from localcloud.extension import Extension

logger = logging.getLogger("localcloud.cfn_events")

ARCHIVE = "AWS::Events::Archive"
BUS_POLICY = "AWS::Events::EventBusPolicy"


class ProvisioningError(ValueError):
    """Raised to CloudFormation, which reports it as the resource's failure reason."""


def _call(action: str, payload: dict) -> dict:
    status, body = seams.events.action(action, payload)
    if status >= 400:
        raise ProvisioningError(f"{action}: {body.get('__type', status)}: {body.get('message') or body.get('Message') or body}")
    return body


def generated_name(stack_name: str, logical_id: str, max_len: int) -> str:
    """A CloudFormation-style name, stable for the same stack and logical id."""
    suffix = hashlib.sha256(f"{stack_name}/{logical_id}".encode()).hexdigest()[:12].upper()
    prefix = re.sub(r"[^A-Za-z0-9._-]", "", f"{stack_name}-{logical_id}")[: max_len - len(suffix) - 1]
    return f"{prefix}-{suffix}"


def _bus_name(ref: str) -> str:
    return ref.split("event-bus/", 1)[1] if ref.startswith("arn:") else (ref or "default")


# --- AWS::Events::Archive ----------------------------------------------------------

def _archive_request(name: str, props: dict) -> dict:
    request = {"ArchiveName": name}
    if props.get("Description") is not None:
        request["Description"] = props["Description"]
    pattern = props.get("EventPattern")
    if pattern:
        request["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
    if props.get("RetentionDays") is not None:
        request["RetentionDays"] = int(props["RetentionDays"])
    if props.get("KmsKeyIdentifier"):
        request["KmsKeyIdentifier"] = props["KmsKeyIdentifier"]
    return request


def archive_create(logical_id: str, props: dict, stack_name: str):
    if not props.get("SourceArn"):
        raise ProvisioningError(f"{ARCHIVE} {logical_id}: SourceArn is required")
    name = props.get("ArchiveName") or generated_name(stack_name, logical_id, 48)
    created = _call("CreateArchive", {**_archive_request(name, props), "EventSourceArn": props["SourceArn"]})
    return name, {"Arn": created["ArchiveArn"], "ArchiveName": name}


def archive_update(physical_id: str, old_props: dict, new_props: dict, stack_name: str, logical_id: str | None = None):
    replaced = any(old_props.get(k) != new_props.get(k) for k in ("ArchiveName", "SourceArn"))
    if replaced:
        created = archive_create(logical_id or physical_id, new_props, stack_name)
        if created[0] != physical_id:
            archive_delete(physical_id, old_props)
        return created
    updated = _call("UpdateArchive", _archive_request(physical_id, new_props))
    return physical_id, {"Arn": updated["ArchiveArn"], "ArchiveName": physical_id}


def archive_delete(physical_id: str, props: dict) -> None:
    try:
        _call("DeleteArchive", {"ArchiveName": physical_id})
    except ProvisioningError as error:
        if "ResourceNotFound" not in str(error):
            raise


# --- AWS::Events::EventBusPolicy ---------------------------------------------------

def _policy_statement(props: dict) -> tuple[str, dict]:
    sid = props.get("StatementId")
    if not sid:
        raise ProvisioningError(f"{BUS_POLICY}: StatementId is required")
    statement = props.get("Statement")
    if not statement:
        # The deprecated form: Action/Principal/Condition as top-level properties.
        principal = props.get("Principal", "*")
        statement = {
            "Effect": "Allow",
            "Action": props.get("Action", "events:PutEvents"),
            "Principal": principal if principal == "*" else {"AWS": f"arn:aws:iam::{principal}:root"},
        }
        if props.get("Condition"):
            condition = props["Condition"]
            statement["Condition"] = {"StringEquals": {condition["Key"]: condition["Value"]}}
    statement = {**statement, "Sid": sid}
    return sid, statement


def bus_policy_create(logical_id: str, props: dict, stack_name: str):
    bus = _bus_name(props.get("EventBusName") or "default")
    _call("DescribeEventBus", {"Name": bus})  # fails clearly when the bus is missing
    sid, statement = _policy_statement(props)
    statement.setdefault(
        "Resource", f"arn:aws:events:{seams.current_region()}:{seams.current_account()}:event-bus/{bus}"
    )
    seams.events.set_bus_policy_statement(bus, statement)
    return f"{bus}|{sid}", {}


def bus_policy_update(physical_id: str, old_props: dict, new_props: dict, stack_name: str, logical_id: str | None = None):
    bus_policy_delete(physical_id, old_props)
    return bus_policy_create(logical_id or physical_id, new_props, stack_name)


def bus_policy_delete(physical_id: str, props: dict) -> None:
    bus, _, sid = physical_id.partition("|")
    seams.events.remove_bus_policy_statement(bus, sid)


HANDLERS = {
    ARCHIVE: {"create": archive_create, "update": archive_update, "update_with_logical_id": True, "delete": archive_delete},
    BUS_POLICY: {"create": bus_policy_create, "update": bus_policy_update, "update_with_logical_id": True,
                 "delete": bus_policy_delete},
}


def needed() -> bool:
    return any(resource_type not in seams.cloudformation.resource_handlers() for resource_type in HANDLERS)


def install() -> None:
    table = seams.cloudformation.resource_handlers()
    for resource_type, handlers in HANDLERS.items():
        table.setdefault(resource_type, handlers)


EXTENSION = Extension(name="cfn_events", needed=needed, install=install)
