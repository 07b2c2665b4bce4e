"""Step Functions tasks act as the state machine's role, as on AWS.

Step Functions assumes the state machine's role (its trust policy must let
``states.amazonaws.com`` do so, for this state machine) and calls each task's service
with it: a Lambda invoke needs lambda:InvokeFunction on the function, an SQS send
sqs:SendMessage on the queue (and the queue's KMS key), and so on. A refused call fails
the task with the service's error (``Lambda.AWSLambdaException``,
``SQS.AmazonSQSException``, …; the cause in the service's words), which the state's Retry
and Catch see, as on AWS. The execution a task belongs to is ``running``'s.

The generic ``arn:aws:states:::aws-sdk:*`` integrations are not checked (their resource
depends on each API's parameters).

An execution that ends is counted as Step Functions counts it, in the AWS/States metrics
ExecutionsSucceeded / ExecutionsFailed (dimension StateMachineArn): with EXPRESS
workflows, which no API lists, that is where a refusal that failed one shows up.
"""

from __future__ import annotations

import logging

from localcloud import auth, seams
from localcloud.extension import Extension
from localcloud.services.states import running

logger = logging.getLogger("localcloud.states")

_ERROR_NAMES = {"lambda": ("Lambda.AWSLambdaException", "AWSLambda"),
                "sqs": ("SQS.AmazonSQSException", "AmazonSQS"),
                "sns": ("SNS.AmazonSNSException", "AmazonSNS"),
                "events": ("EventBridge.AmazonEventBridgeException", "AmazonEventBridge"),
                "dynamodb": ("DynamoDB.AmazonDynamoDBException", "AmazonDynamoDBv2"),
                "states": ("StepFunctions.AWSStepFunctionsException", "AWSStepFunctions")}


def _function_arn(reference: str, machine_arn: str) -> str:
    if reference.startswith("arn:"):
        return reference
    region, account = machine_arn.split(":")[3:5]
    return f"arn:aws:lambda:{region}:{account}:function:{reference}"


def _calls(resource: str, task_input, machine_arn: str) -> list[tuple[str, str, str]]:
    """(service, action, resource ARN) a task performs."""
    data = task_input if isinstance(task_input, dict) else {}
    if resource.startswith("arn:aws:lambda:"):
        return [("lambda", "lambda:InvokeFunction", resource)]
    clean = resource.replace(".sync", "").replace(".waitForTaskToken", "")
    if clean == "arn:aws:states:::lambda:invoke":
        return [("lambda", "lambda:InvokeFunction", _function_arn(str(data.get("FunctionName", "")), machine_arn))]
    if clean == "arn:aws:states:::sqs:sendMessage":
        queue = seams.sqs.queue_arn_for_url(str(data.get("QueueUrl", "")))
        return [("sqs", "sqs:SendMessage", queue)] if queue else []
    if clean == "arn:aws:states:::sns:publish":
        return [("sns", "sns:Publish", str(data.get("TopicArn", "")))]
    if clean == "arn:aws:states:::states:startExecution":
        return [("states", "states:StartExecution", str(data.get("StateMachineArn", "")))]
    if clean == "arn:aws:states:::events:putEvents":
        region, account = machine_arn.split(":")[3:5]
        buses = {str(e.get("EventBusName") or "default") for e in data.get("Entries") or [] if isinstance(e, dict)}
        return [("events", "events:PutEvents", b if b.startswith("arn:") else
                 f"arn:aws:events:{region}:{account}:event-bus/{b}") for b in sorted(buses)]
    if clean.startswith("arn:aws:states:::dynamodb:"):
        region, account = machine_arn.split(":")[3:5]
        operation = clean.rsplit(":", 1)[-1]
        table = f"arn:aws:dynamodb:{region}:{account}:table/{data.get('TableName', '')}"
        return [("dynamodb", f"dynamodb:{operation[:1].upper()}{operation[1:]}", table)]
    return []


def _execution_role() -> tuple[str, str]:
    """(state machine ARN, role ARN) of the execution this task belongs to."""
    record = running.current_execution()
    machine = seams.states.execution_machine(record) if record else None
    return (seams.states.machine_arn(machine), seams.states.machine_role(machine)) if machine else ("", "")


def _authorize(resource: str, task_input) -> None:
    machine_arn, role_arn = _execution_role()
    if not role_arn:
        return
    account = machine_arn.split(":")[4]
    for service, action, target in _calls(resource, task_input, machine_arn):
        try:
            principal = auth.acting_role("states.amazonaws.com", role_arn,
                                         **{"aws:SourceArn": machine_arn, "aws:SourceAccount": account})
            auth.require(principal, action, target)
        except auth.AccessDenied as denied:
            error, service_name = _ERROR_NAMES.get(service, ("States.TaskFailed", service))
            logger.info("state machine %s: %s", machine_arn, denied.message)
            status = 403 if denied.code == "AccessDeniedException" else denied.status
            raise seams.states.execution_error(error, f"{denied.message} (Service: {service_name}; Status Code: "
                                                      f"{status}; Error Code: {denied.code}; Request ID: "
                                                      f"{seams.new_id()}; Proxy: null)") from None


def _wrap_invoke_resource(original):
    def invoke_resource(resource, input_data, *args):
        _authorize(resource, input_data)
        return original(resource, input_data, *args)

    return invoke_resource


def _count(record: dict) -> None:
    name = {"SUCCEEDED": "ExecutionsSucceeded", "FAILED": "ExecutionsFailed", "TIMED_OUT": "ExecutionsTimedOut",
            "ABORTED": "ExecutionsAborted"}.get(record.get("status", ""))
    if name:
        seams.cloudwatch.record_metric("AWS/States", name, 1, "Count",
                                       {"StateMachineArn": record.get("stateMachineArn", "")})


def install() -> None:
    running.when_finished(_count)
    seams.states.wrap_function("_invoke_resource", _wrap_invoke_resource)


EXTENSION = Extension(name="state_machine_roles", needed=auth.enabled, install=install)
