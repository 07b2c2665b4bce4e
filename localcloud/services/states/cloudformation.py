"""CloudFormation: AWS::StepFunctions::StateMachine keeps its logging and tracing settings.

ministack 1.5.33 stores the template's ``LoggingConfiguration`` as written (``Level``,
``Destinations``, …) where DescribeStateMachine and the executions read ``level``,
``destinations``; ``TracingConfiguration`` it drops. DescribeStateMachine then shows
``loggingConfiguration: {}`` and no ``tracingConfiguration``, and nothing reads the log
level the template asked for. Both settings are handed to ministack in the API's casing,
and tracing is recorded as DescribeStateMachine reports it (``{"enabled": false}`` when
the template says nothing), on create and on update.
"""

from __future__ import annotations

from localcloud import seams
from localcloud.extension import Extension
from localcloud.services.cloudformation.properties import boolean, with_api_casing

STATE_MACHINE = "AWS::StepFunctions::StateMachine"


def logging_configuration(props: dict) -> dict:
    """``props`` with its LoggingConfiguration in the casing of the Step Functions API."""
    return with_api_casing(props, "LoggingConfiguration", booleans={"includeExecutionData": False})


def tracing_configuration(props: dict) -> dict:
    tracing = props.get("TracingConfiguration") or {}
    return {"enabled": boolean(tracing.get("Enabled", False))}


def _record_tracing(arn: str, props: dict) -> None:
    record = seams.cloudformation.provisioned_state_machine(arn)
    if record is not None:
        record["tracingConfiguration"] = tracing_configuration(props)


def _wrap(handlers: dict) -> dict:
    create, update = handlers["create"], handlers["update"]

    def on_create(logical_id, props, stack_name, *rest):
        arn, attrs = create(logical_id, logging_configuration(props), stack_name, *rest)
        _record_tracing(arn, props)
        return arn, attrs

    def on_update(physical_id, old_props, new_props, stack_name, *rest):
        arn, attrs = update(physical_id, logging_configuration(old_props), logging_configuration(new_props),
                            stack_name, *rest)
        _record_tracing(arn, new_props)
        return arn, attrs

    return dict(handlers, create=on_create, update=on_update)


def needed() -> bool:
    def stored(arn: str) -> dict:
        return seams.cloudformation.provisioned_state_machine(arn) or {}

    record = seams.cloudformation.probe_resource(STATE_MACHINE, {
        "StateMachineName": "localcloud-probe", "RoleArn": "arn:aws:iam::000000000901:role/probe",
        "DefinitionString": '{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}',
        "LoggingConfiguration": {"Level": "ERROR"}, "TracingConfiguration": {"Enabled": True}}, stored)
    return (record.get("loggingConfiguration") or {}).get("level") != "ERROR" \
        or (record.get("tracingConfiguration") or {}).get("enabled") is not True


def install() -> None:
    table = seams.cloudformation.resource_handlers()
    table[STATE_MACHINE] = _wrap(table[STATE_MACHINE])


EXTENSION = Extension(name="cfn_state_machine_settings", needed=needed, install=install)
