"""AWS::Pipes::Pipe, every property, through the same operations as the Pipes API.

Attributes: Arn, CreationTime, CurrentState, LastModifiedTime, StateReason. A change of
Source or of a create-only source parameter (a stream's starting position) replaces the
pipe; every other property updates it in place.
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-pipes-pipe.html
"""

from __future__ import annotations

from localcloud import seams
from localcloud.services.pipes import api, store
from localcloud.services.pipes.validation import PipeError

_CREATE_ONLY_SOURCE = {"DynamoDBStreamParameters": ("StartingPosition",),
                       "KinesisStreamParameters": ("StartingPosition", "StartingPositionTimestamp")}
_CLEARED_WHEN_ABSENT = {"Description": "", "Enrichment": "", "EnrichmentParameters": {}, "TargetParameters": {},
                        "LogConfiguration": {}}


def _request(props: dict) -> dict:
    request = {field: props[field] for field in store.DEFINITION_FIELDS + ("DesiredState", "Tags") if field in props}
    return request


def _attributes(record: dict) -> dict:
    return {k: record.get(k, "") for k in ("Arn", "Name", "CreationTime", "CurrentState", "LastModifiedTime",
                                           "StateReason")}


def _scope() -> tuple[str, str]:
    return seams.current_account(), seams.current_region()


def create(logical_id: str, props: dict, stack_name: str) -> tuple[str, dict]:
    name = props.get("Name") or seams.cloudformation.physical_name(stack_name, logical_id, 64)
    try:
        record = api.create_pipe(*_scope(), name, _request(props))
    except PipeError as error:
        raise ValueError(f"{error.code}: {error.message}") from None
    return name, _attributes(record)


def _replaces(old: dict, new: dict) -> bool:
    if old.get("Source") != new.get("Source"):
        return True
    old_parameters, new_parameters = old.get("SourceParameters") or {}, new.get("SourceParameters") or {}
    return any((old_parameters.get(group) or {}).get(member) != (new_parameters.get(group) or {}).get(member)
               for group, members in _CREATE_ONLY_SOURCE.items() for member in members)


def update(physical_id: str, old_props: dict, new_props: dict, stack_name: str, *logical_id) -> tuple[str, dict]:
    if _replaces(old_props, new_props):
        if new_props.get("Name") and new_props.get("Name") == old_props.get("Name"):
            raise ValueError("CloudFormation cannot update a stack when a custom-named resource requires replacing. "
                             f"Rename {physical_id} and update the stack again.")
        created = create(logical_id[0] if logical_id else physical_id, new_props, stack_name)
        delete(physical_id, old_props)
        return created
    request = {**_CLEARED_WHEN_ABSENT, **_request(new_props)}
    request.pop("Source", None)
    request.pop("Tags", None)
    try:
        record = api.update_pipe(*_scope(), physical_id, request)
    except PipeError as error:
        raise ValueError(f"{error.code}: {error.message}") from None
    store.change((*_scope(), physical_id), Tags=dict(new_props.get("Tags") or {}))
    return physical_id, _attributes(record)


def delete(physical_id: str, props: dict, *logical_id) -> None:
    try:
        api.delete_pipe(*_scope(), physical_id)
    except PipeError as error:
        if error.code != "NotFoundException":
            raise ValueError(f"{error.code}: {error.message}") from None


def install() -> None:
    table = seams.cloudformation.resource_handlers()
    table["AWS::Pipes::Pipe"] = {**table.get("AWS::Pipes::Pipe", {}), "create": create, "update": update,
                                 "update_with_logical_id": True, "delete": delete}
