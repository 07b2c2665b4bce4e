"""CloudFormation log groups without a LogGroupName, named as AWS names them.

AWS's ``AWS::Logs::LogGroup`` provider names such a group ``<stack name>-<logical id>-<random>``
(aws-cloudformation-resource-providers-logs, aws-logs-loggroup CreateHandler.generateName);
ministack 1.5.33 names it ``/aws/cloudformation/<stack>/<logical id>``. Every CDK ``LogGroup``
without a name is such a group (a state machine's or an API's access logs), so a policy that
names its log groups by the stack's prefix (``log-group:MyStack-*``) matched locally what it
does not match on AWS, and the other way round. The generated name keeps ministack's
stable suffix (the same on every update of the stack), as CloudFormation keeps a name
until the resource is replaced.
"""

from __future__ import annotations

from localcloud import seams
from localcloud.extension import Extension

LOG_GROUP = "AWS::Logs::LogGroup"
_MAX_NAME = 512  # CreateLogGroup's limit, the provider's MAX_LENGTH_LOG_GROUP_NAME


def generated_name(stack_name: str, logical_id: str) -> str:
    return seams.cloudformation.physical_name(stack_name, logical_id, _MAX_NAME)


def _named(props: dict, name: str) -> dict:
    return props if props.get("LogGroupName") else {**props, "LogGroupName": name}


def _wrap(handlers: dict) -> dict:
    create, update = handlers["create"], handlers["update"]

    def on_create(logical_id, props, stack_name, *rest):
        return create(logical_id, _named(props or {}, generated_name(stack_name, logical_id)), stack_name, *rest)

    def on_update(physical_id, old_props, new_props, stack_name, logical_id=None):
        old_props, new_props = old_props or {}, new_props or {}
        if old_props.get("LogGroupName") or new_props.get("LogGroupName"):
            # A name set or removed replaces the group; removed, the new one is generated.
            new_props = _named(new_props, generated_name(stack_name, logical_id or physical_id))
        else:  # never named: the group keeps the name it was given
            old_props, new_props = _named(old_props, physical_id), _named(new_props, physical_id)
        return update(physical_id, old_props, new_props, stack_name, logical_id)

    return dict(handlers, create=on_create, update=on_update)


def needed() -> bool:
    name = seams.cloudformation.probe_resource(LOG_GROUP, {}, lambda physical_id: physical_id)
    return name != generated_name("localcloud-probe", "Probe")


def install() -> None:
    table = seams.cloudformation.resource_handlers()
    table[LOG_GROUP] = _wrap(table[LOG_GROUP])


EXTENSION = Extension(name="cfn_log_group_names", needed=needed, install=install)
