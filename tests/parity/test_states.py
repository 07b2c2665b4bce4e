"""Step Functions (EXPRESS above all) answers as AWS gives them, for what our stacks and
typical changes to them use.

Sources: the Step Functions developer guide and API reference (cited per test) and
LocalStack's tests recorded against AWS, tests/aws/services/stepfunctions/v2/**/*.snapshot.json
("LS:" below).
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
from botocore.exceptions import ClientError

from tests.localcloud.conftest import ACCOUNT_A, REGION, wait_for

from .helpers import role

EXPRESS_ARN = re.compile(rf"^arn:aws:states:{REGION}:{ACCOUNT_A}:express:(?P<machine>[^:]+):(?P<name>[^:]+):"
                         r"[0-9a-f-]{36}$")
PASS = {"StartAt": "State_1", "States": {"State_1": {"Type": "Pass", "Result": {"Arg1": "argument1"}, "End": True}}}
RAISE = {"StartAt": "FailState", "States": {"FailState": {
    "Type": "Fail", "Error": "SomeFailure", "Cause": "This state machines raises a 'SomeFailure' failure."}}}
RAISING_HANDLER = ("class CustomException(Exception):\n    pass\n\n\n"
                   "def handler(event, context):\n    raise CustomException('Some exception was raised.')\n")


def error_of(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response["Error"]


@pytest.fixture
def machines(aws, unique):
    """``make(definition, type, logs=(level, include_data), invoke=[function ARNs])``: a state
    machine whose role may invoke exactly those functions and deliver logs; with ``logs`` it
    logs to a new log group. Returns (machine ARN, log group name or None)."""
    counter = iter(range(100))

    def make(definition: dict, machine_type: str = "EXPRESS", logs: tuple[str, bool] | None = None,
             invoke: tuple[str, ...] = ()) -> tuple[str, str | None]:
        name = unique("sm") + f"-{next(counter)}"
        statements = [{"Effect": "Allow", "Resource": "*", "Action": [
            "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
            "logs:DescribeLogGroups"]}]
        if invoke:
            statements.append({"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": list(invoke)})
        extra, group = {}, None
        if logs:
            group = f"/parity/states/{name}"
            aws("logs").create_log_group(logGroupName=group)
            extra["loggingConfiguration"] = {"level": logs[0], "includeExecutionData": logs[1], "destinations": [
                {"cloudWatchLogsLogGroup": {"logGroupArn": f"arn:aws:logs:{REGION}:{ACCOUNT_A}:log-group:{group}:*"}}]}
        arn = aws("stepfunctions").create_state_machine(
            name=name, type=machine_type, definition=json.dumps(definition),
            roleArn=role(aws, unique, "states.amazonaws.com", statements), **extra)["stateMachineArn"]
        return arn, group

    return make


@pytest.fixture(scope="module")
def raising_function(aws):
    """A Python function raising CustomException: its ARN."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("handler.py", RAISING_HANDLER)
    execution_role = aws("iam").create_role(RoleName="parity-raising-function", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    return aws("lambda").create_function(
        FunctionName="parity-raising-function", Runtime="python3.12", Role=execution_role,
        Handler="handler.handler", Code={"ZipFile": archive.getvalue()}, Timeout=30)["FunctionArn"]


def logged(aws, group: str, until: str = "Execution", timeout: float = 10.0) -> list[dict]:
    """The execution's log records once one whose type starts with ``until`` is there."""
    def read():
        records = [json.loads(e["message"]) for e in aws("logs").filter_log_events(logGroupName=group)["events"]]
        return records if any(r["type"].startswith(until) and r["id"] != "1" for r in records) else []

    return sorted(wait_for(read, timeout) or [], key=lambda r: int(r["id"]))


# --------------------------------------------------------------------------- executions and their ARNs

def test_express_executions_have_express_arns(aws, machines):
    # LS: test_sfn_api_express.snapshot.json / express/test_express_sync.snapshot.json:
    # "arn:<partition>:states:<region>:111111111111:express:<machine>:<name>:<id>"
    machine, _ = machines(PASS)
    sfn = aws("stepfunctions")
    started = sfn.start_execution(stateMachineArn=machine, name="named-run")["executionArn"]
    assert EXPRESS_ARN.match(started).group("name") == "named-run"
    synced = sfn.start_sync_execution(stateMachineArn=machine)
    match = EXPRESS_ARN.match(synced["executionArn"])
    assert match and match.group("name") == synced["name"] and match.group("machine") == machine.rsplit(":", 1)[1]


def test_express_executions_are_neither_listed_nor_described(aws, machines):
    # LS: test_sfn_api_express.py::test_start_async_describe_history_execution (snapshot errors)
    machine, _ = machines(PASS)
    sfn = aws("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    error = error_of(sfn.list_executions, stateMachineArn=machine)
    assert (error["Code"], error["Message"]) == (
        "StateMachineTypeNotSupported", "This operation is not supported by this type of state machine")
    for call in (sfn.describe_execution, sfn.stop_execution, sfn.get_execution_history):
        error = error_of(call, executionArn=arn)
        assert (error["Code"], error["Message"]) == (
            "InvalidArn", "Invalid Arn: 'Resource type not valid in this context: express'")


def test_a_failed_sync_execution_returns_error_and_cause_but_no_output(aws, machines):
    # LS: express/test_express_sync.snapshot.json test_base[BASE_RAISE_FAILURE]
    machine, _ = machines(RAISE)
    answer = aws("stepfunctions").start_sync_execution(stateMachineArn=machine, input="{}")
    assert answer["status"] == "FAILED"
    assert (answer["error"], answer["cause"]) == ("SomeFailure", "This state machines raises a 'SomeFailure' failure.")
    assert "output" not in answer
    assert answer["outputDetails"] == {"included": True}
    assert answer["billingDetails"]["billedMemoryUsedInMB"] == 64
    assert answer["billingDetails"]["billedDurationInMilliseconds"] % 100 == 0


def test_a_succeeded_sync_execution_returns_compact_output(aws, machines):
    # LS: test_base[BASE_PASS_RESULT]: output {"Arg1": "argument1"}; AWS writes JSON without spaces.
    machine, _ = machines(PASS)
    answer = aws("stepfunctions").start_sync_execution(stateMachineArn=machine, input="{}")
    assert (answer["status"], answer["output"]) == ("SUCCEEDED", '{"Arg1":"argument1"}')


@pytest.mark.parametrize("execution_input, code, message", [
    ("{not json", "InvalidExecutionInput", None),
    (json.dumps({"x": "x" * 262_144}), "ValidationException",
     "1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less "
     "than or equal to 262144"),
])
def test_start_refuses_input_that_is_not_json_or_over_256_kib(aws, machines, execution_input, code, message):
    # API_StartExecution.html: input "Length Constraints: Maximum length of 262144", InvalidExecutionInput;
    # https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html (256 KiB)
    for machine_type in ("EXPRESS", "STANDARD"):
        machine, _ = machines(PASS, machine_type)
        error = error_of(aws("stepfunctions").start_execution, stateMachineArn=machine, input=execution_input)
        assert error["Code"] == code
        assert message is None or error["Message"] == message


def test_a_state_output_over_256_kib_fails_the_execution_past_any_catch(aws, machines):
    # "States.DataLimitExceeded ... This is a terminal error that can't be caught by the States.ALL
    # error type" (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html)
    definition = {"StartAt": "Grow", "States": {
        "Grow": {"Type": "Pass", "Parameters": {"a.$": "$.x", "b.$": "$.x"}, "End": True}}}
    machine, _ = machines(definition)
    answer = aws("stepfunctions").start_sync_execution(stateMachineArn=machine,
                                                       input=json.dumps({"x": "x" * 140_000}))
    assert (answer["status"], answer["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert "'Grow'" in answer["cause"]


# --------------------------------------------------------------------------- the context object

def test_the_context_object_is_whole_in_a_sync_execution(aws, machines):
    # LS: express/test_express_sync.snapshot.json test_query_runtime_memory: Execution {Id, Input, Name,
    # RoleArn, StartTime} (no RedriveCount when started sync), StateMachine {Id, Name}, State {Name, EnteredTime}
    definition = {"StartAt": "Look", "States": {"Look": {"Type": "Pass", "Parameters": {"ctx.$": "$$"}, "End": True}}}
    machine, _ = machines(definition)
    sfn = aws("stepfunctions")
    answer = sfn.start_sync_execution(stateMachineArn=machine, input='{"message": "TestMessage"}')
    ctx = json.loads(answer["output"])["ctx"]
    assert set(ctx) == {"Execution", "StateMachine", "State"}
    assert ctx["Execution"] == {
        "Id": answer["executionArn"], "Input": {"message": "TestMessage"}, "Name": answer["name"],
        "RoleArn": sfn.describe_state_machine(stateMachineArn=machine)["roleArn"],
        "StartTime": ctx["Execution"]["StartTime"]}
    assert ctx["StateMachine"] == {"Id": machine, "Name": machine.rsplit(":", 1)[1]}
    assert set(ctx["State"]) == {"Name", "EnteredTime"} and ctx["State"]["Name"] == "Look"


def test_the_context_object_of_a_started_execution_has_its_redrive_count(aws, machines):
    # LS: express/test_express_async.snapshot.json test_query_runtime_memory ("RedriveCount": 0), and
    # context_object/test_context_object.snapshot.json test_input_path[$$] (InputPath "$$")
    definition = {"StartAt": "Look", "States": {"Look": {"Type": "Pass", "InputPath": "$$", "End": True}}}
    machine, group = machines(definition, logs=("ALL", True))
    aws("stepfunctions").start_execution(stateMachineArn=machine, input='{"input-value": 0}')
    [end] = [r for r in logged(aws, group) if r["type"] == "ExecutionSucceeded"]
    ctx = json.loads(end["details"]["output"])
    assert ctx["Execution"]["RedriveCount"] == 0 and ctx["Execution"]["Input"] == {"input-value": 0}


# --------------------------------------------------------------------------- execution logs

def test_level_all_with_data_logs_every_event_in_awss_format(aws, machines):
    # LS: logs/test_logs.snapshot.json test_base[pass_result.json5_ALL_True] (logged_execution_events)
    machine, group = machines(PASS, logs=("ALL", True))
    arn = aws("stepfunctions").start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    records = logged(aws, group)
    assert [(r["id"], r["type"], r["previous_event_id"]) for r in records] == [
        ("1", "ExecutionStarted", "0"), ("2", "PassStateEntered", "0"), ("3", "PassStateExited", "2"),
        ("4", "ExecutionSucceeded", "3")]
    assert all(list(r) == ["id", "type", "details", "previous_event_id", "event_timestamp", "execution_arn",
                           "redrive_count"] for r in records)
    assert {(r["execution_arn"], r["redrive_count"]) for r in records} == {(arn, "0")}
    assert all(r["event_timestamp"].isdigit() and len(r["event_timestamp"]) == 13 for r in records)
    started, entered, exited, succeeded = (r["details"] for r in records)
    assert started == {"input": "{}", "inputDetails": {"truncated": False},
                       "roleArn": aws("stepfunctions").describe_state_machine(stateMachineArn=machine)["roleArn"]}
    assert entered == {"input": "{}", "inputDetails": {"truncated": False}, "name": "State_1"}
    assert exited == {"name": "State_1", "output": '{"Arg1":"argument1"}', "outputDetails": {"truncated": False}}
    assert succeeded == {"output": '{"Arg1":"argument1"}', "outputDetails": {"truncated": False}}


def test_level_all_without_data_leaves_input_and_output_out(aws, machines):
    # LS: test_base[pass_result.json5_ALL_False]
    machine, group = machines(PASS, logs=("ALL", False))
    aws("stepfunctions").start_execution(stateMachineArn=machine, input="{}")
    details = [(r["type"], r["details"]) for r in logged(aws, group)]
    assert [(t, sorted(d)) for t, d in details] == [
        ("ExecutionStarted", ["roleArn"]), ("PassStateEntered", ["name"]), ("PassStateExited", ["name"]),
        ("ExecutionSucceeded", [])]


@pytest.mark.parametrize("level, expected", [
    ("ERROR", [("2", "FailStateEntered", "0"), ("3", "ExecutionFailed", "2")]),
    ("FATAL", [("3", "ExecutionFailed", "2")]),
])
def test_error_and_fatal_levels_log_only_failures(aws, machines, level, expected):
    # LS: test_partial_log_levels[raise_failure.json5_ERROR_False] / [..._FATAL_False]
    machine, group = machines(RAISE, logs=(level, False))
    aws("stepfunctions").start_execution(stateMachineArn=machine, input="{}")
    records = logged(aws, group, until="ExecutionFailed")
    assert [(r["id"], r["type"], r["previous_event_id"]) for r in records] == expected
    assert records[-1]["details"] == {"cause": "This state machines raises a 'SomeFailure' failure.",
                                      "error": "SomeFailure"}


def test_level_off_and_a_passing_execution_at_error_log_nothing(aws, machines):
    # LS: test_partial_log_levels[pass_result.json5_ERROR_True], [raise_failure.json5_OFF_True]: no events
    quiet_pass, pass_group = machines(PASS, logs=("ERROR", True))
    quiet_fail, fail_group = machines(RAISE, logs=("OFF", True))
    loud, loud_group = machines(RAISE, logs=("FATAL", True))
    sfn = aws("stepfunctions")
    for machine in (quiet_pass, quiet_fail, loud):
        sfn.start_sync_execution(stateMachineArn=machine, input="{}")
    assert logged(aws, loud_group, until="ExecutionFailed")  # the follower: logging happened
    for group in (pass_group, fail_group):
        assert aws("logs").filter_log_events(logGroupName=group)["events"] == []


# --------------------------------------------------------------------------- Lambda task errors

def test_a_lambda_error_through_the_function_arn_is_named_after_the_exception(aws, machines, raising_function):
    # LS: error_handling/test_task_lambda.snapshot.json test_raise_custom_exception: LambdaFunctionFailed
    # error "CustomException", Cause the runtime's payload (Python json.dumps spacing), caught by name.
    definition = {"StartAt": "InvokeLambda", "States": {
        "InvokeLambda": {"Type": "Task", "Resource": raising_function,
                         "Catch": [{"ErrorEquals": ["CustomException"], "Next": "ErrorMatched"}], "End": True},
        "ErrorMatched": {"Type": "Pass", "End": True}}}
    machine, group = machines(definition, logs=("ALL", True), invoke=(raising_function,))
    answer = aws("stepfunctions").start_sync_execution(stateMachineArn=machine, input="{}")
    assert answer["status"] == "SUCCEEDED"
    caught = json.loads(answer["output"])
    assert caught["Error"] == "CustomException"
    assert caught["Cause"].startswith('{"errorMessage": "Some exception was raised.", "errorType": "CustomException", '
                                      '"requestId": "')
    cause = json.loads(caught["Cause"])
    assert list(cause) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert cause["stackTrace"][-1].endswith("in handler\n    raise CustomException('Some exception was raised.')\n")
    assert [r["type"] for r in logged(aws, group)] == [
        "ExecutionStarted", "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted",
        "LambdaFunctionFailed", "TaskStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]


def test_a_lambda_error_through_the_optimised_integration_has_a_compact_cause(aws, machines, raising_function):
    # LS: test_task_service_lambda.snapshot.json test_raise_custom_exception: TaskFailed (resourceType
    # "lambda", resource "invoke"), error "CustomException", Cause compact JSON.
    definition = {"StartAt": "InvokeLambda", "States": {"InvokeLambda": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": raising_function, "Payload.$": "$"}, "End": True}}}
    machine, group = machines(definition, logs=("ALL", False), invoke=(raising_function,))
    answer = aws("stepfunctions").start_sync_execution(stateMachineArn=machine, input="{}")
    assert (answer["status"], answer["error"]) == ("FAILED", "CustomException")
    assert answer["cause"].startswith('{"errorMessage":"Some exception was raised.","errorType":"CustomException",'
                                      '"requestId":"')
    failed = next(r for r in logged(aws, group, until="ExecutionFailed") if r["type"] == "TaskFailed")
    assert (failed["details"]["resourceType"], failed["details"]["resource"], failed["details"]["error"]) == (
        "lambda", "invoke", "CustomException")


def test_a_missing_function_is_lambda_resource_not_found(aws, machines):
    # LS: test_task_service_lambda.snapshot.json test_no_such_function
    missing = f"arn:aws:lambda:{REGION}:{ACCOUNT_A}:function:no_such_function"
    definition = {"StartAt": "Start", "States": {"Start": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": missing, "Payload": None}, "End": True}}}
    machine, _ = machines(definition, invoke=(missing,))
    answer = aws("stepfunctions").start_sync_execution(stateMachineArn=machine, input="{}")
    assert answer["error"] == "Lambda.ResourceNotFoundException"
    assert answer["cause"].startswith(f"Function not found: {missing}:$LATEST (Service: AWSLambda; Status Code: 404; "
                                      "Error Code: ResourceNotFoundException; Request ID: ")


def test_a_throttled_invocation_is_lambda_too_many_requests(aws, machines, unique):
    # "Lambda.TooManyRequestsException" is the error AWS documents for a throttled Lambda task
    # (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html); a function
    # with reserved concurrency 0 is always throttled (Lambda's TooManyRequestsException).
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return event\n")
    lam = aws("lambda")
    execution_role = role(aws, unique, "lambda.amazonaws.com", [{"Effect": "Allow", "Action": "logs:PutLogEvents",
                                                                 "Resource": "*"}])
    function = lam.create_function(FunctionName=unique("throttled"), Runtime="python3.12", Role=execution_role,
                                   Handler="handler.handler", Code={"ZipFile": archive.getvalue()})["FunctionArn"]
    lam.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=0)
    machine, _ = machines({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": function, "End": True}}},
                          invoke=(function,))
    answer = aws("stepfunctions").start_sync_execution(stateMachineArn=machine, input="{}")
    assert (answer["status"], answer["error"]) == ("FAILED", "Lambda.TooManyRequestsException")


# --------------------------------------------------------------------------- started by EventBridge

def test_an_execution_a_rule_starts_is_named_after_the_event(aws, unique, machines):
    # LS: test_events_targets.py::test_put_events_with_target_statefunction_machine (AWS-validated):
    # the execution's name starts with the event's id.
    machine, group = machines(PASS, logs=("ALL", False))
    events = aws("events")
    bus = unique("to-sfn")
    events.create_event_bus(Name=bus)
    starter = role(aws, unique, "events.amazonaws.com",
                   [{"Effect": "Allow", "Action": "states:StartExecution", "Resource": machine}])
    events.put_rule(Name=bus, EventBusName=bus, EventPattern=json.dumps({"source": ["parity.states"]}))
    events.put_targets(Rule=bus, EventBusName=bus, Targets=[{"Id": "sm", "Arn": machine, "RoleArn": starter}])
    put = events.put_events(Entries=[{"EventBusName": bus, "Source": "parity.states", "DetailType": "t",
                                      "Detail": "{}"}])
    [started] = [r for r in logged(aws, group) if r["type"] == "ExecutionStarted"]
    assert EXPRESS_ARN.match(started["execution_arn"]).group("name").startswith(put["Entries"][0]["EventId"])


def test_a_start_the_state_machine_refuses_goes_to_the_rules_dead_letter_queue(aws, unique, machines):
    # eb-rule-dlq.html: errors a retry cannot fix go "directly to the target DLQ", with RULE_ARN,
    # TARGET_ARN, ERROR_CODE and ERROR_MESSAGE attributes; an input over 256 KiB is such an error.
    machine, _ = machines(PASS)
    sqs, events = aws("sqs"), aws("events")
    dlq = sqs.create_queue(QueueName=unique("rule-dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = unique("too-big")
    events.create_event_bus(Name=bus)
    starter = role(aws, unique, "events.amazonaws.com",
                   [{"Effect": "Allow", "Action": "states:StartExecution", "Resource": machine}])
    rule_arn = events.put_rule(Name=bus, EventBusName=bus, EventPattern=json.dumps({"source": ["parity.states"]}))[
        "RuleArn"]
    sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"Policy": json.dumps({  # EventBridge may dead-letter here
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
                                                "Action": "sqs:SendMessage", "Resource": dlq_arn,
                                                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}]})})
    events.put_targets(Rule=bus, EventBusName=bus, Targets=[
        {"Id": "sm", "Arn": machine, "RoleArn": starter, "DeadLetterConfig": {"Arn": dlq_arn}}])
    detail = json.dumps({"body": "b" * 262_144})
    assert events.put_events(Entries=[{"EventBusName": bus, "Source": "parity.states", "DetailType": "t",
                                       "Detail": detail}])["FailedEntryCount"] == 0
    dead = wait_for(lambda: sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"]).get("Messages"))
    assert dead, "the refused start was not dead-lettered"
    attributes = {k: v["StringValue"] for k, v in dead[0]["MessageAttributes"].items()}
    assert (attributes["RULE_ARN"], attributes["TARGET_ARN"], attributes["ERROR_CODE"]) == (
        rule_arn, machine, "ValidationException")
    assert json.loads(dead[0]["Body"])["detail"] == json.loads(detail)
