"""Pipe state, pipe logs and AWS::Pipes::Pipe.

States: https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_CreatePipe.html (CurrentState
CREATING ... RUNNING/STOPPED/CREATE_FAILED; StopPipe STOPPING, UpdatePipe UPDATING, DeletePipe DELETING) and
the StateReason samples in https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-error-troubleshooting.html
Logs: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-logs.html and
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-logs-schema.html
CloudFormation: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-pipes-pipe.html
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from ..conftest import ACCOUNT_A, REGION, drain, wait_for
from ..test_cfn_events import failure_reasons, wait_stack
from .conftest import log_records, sqs_source_grants, wait_state


def test_states_through_create_stop_start_update_delete(aws, unique, queue, pipe_role):
    pipes = aws("pipes")
    (_u, source_arn), (_t, target_arn), (_o, other_arn) = queue("st-src"), queue("st-dst"), queue("st-other")
    role = pipe_role({**sqs_source_grants(source_arn), "sqs:SendMessage": f"{target_arn[:-len(target_arn.split(':')[-1])]}*"})
    name = unique("st")
    created = pipes.create_pipe(Name=name, RoleArn=role, Source=source_arn, Target=target_arn)
    assert (created["CurrentState"], created["DesiredState"]) == ("CREATING", "RUNNING")
    assert wait_state(pipes, name, "RUNNING")["CurrentState"] == "RUNNING"
    assert pipes.stop_pipe(Name=name)["CurrentState"] == "STOPPING"
    assert wait_state(pipes, name, "STOPPED")["CurrentState"] == "STOPPED"
    assert pipes.start_pipe(Name=name)["CurrentState"] == "STARTING"
    assert wait_state(pipes, name, "RUNNING")["CurrentState"] == "RUNNING"
    updated = pipes.update_pipe(Name=name, RoleArn=role, Target=other_arn)
    assert updated["CurrentState"] == "UPDATING"
    described = wait_state(pipes, name, "RUNNING")
    assert (described["CurrentState"], described["Target"]) == ("RUNNING", other_arn)
    assert [p["Name"] for p in pipes.list_pipes(NamePrefix=name)["Pipes"]] == [name]
    deleted = pipes.delete_pipe(Name=name)
    assert (deleted["CurrentState"], deleted["DesiredState"]) == ("DELETING", "DELETED")
    assert wait_for(lambda: not pipes.list_pipes(NamePrefix=name)["Pipes"], timeout=10)
    with pytest.raises(ClientError) as missing:
        pipes.describe_pipe(Name=name)
    assert missing.value.response["Error"]["Code"] == "NotFoundException"


def test_a_missing_source_fails_the_creation_with_a_reason(aws, unique, queue, pipe_role):
    pipes = aws("pipes")
    _t, target_arn = queue("st-missing-dst")
    missing = f"arn:aws:sqs:{REGION}:{ACCOUNT_A}:{unique('no-such-queue')}"
    name = unique("st-missing")
    pipes.create_pipe(Name=name, RoleArn=pipe_role(sqs_source_grants(missing)), Source=missing, Target=target_arn)
    described = wait_state(pipes, name, "CREATE_FAILED")
    assert described["CurrentState"] == "CREATE_FAILED" and described["StateReason"]


def test_validation_errors(aws, unique, queue, pipe_role):
    pipes = aws("pipes")
    (_u, source_arn), (_t, target_arn) = queue("val-src"), queue("val-dst")
    role = pipe_role(sqs_source_grants(source_arn))
    with pytest.raises(ClientError) as too_big:  # SQS targets take batches of 10 at most
        pipes.create_pipe(Name=unique("val"), RoleArn=role, Source=source_arn, Target=target_arn,
                          SourceParameters={"SqsQueueParameters": {"BatchSize": 11}})
    assert too_big.value.response["Error"]["Code"] == "ValidationException"
    other_region = target_arn.replace(REGION, "eu-west-1")
    with pytest.raises(ClientError) as cross:
        pipes.create_pipe(Name=unique("val"), RoleArn=role, Source=source_arn, Target=other_region)
    assert cross.value.response["Error"]["Message"] == "Creating cross-region pipe is not permitted."
    # "EventBridge Pipes does not support first-in first-out (FIFO) DLQs for stream sources"
    # (eb-pipes-error-troubleshooting.html, "Pipe DLQ behavior"; the message is ours)
    stream = f"arn:aws:kinesis:{REGION}:{ACCOUNT_A}:stream/{unique('val-stream')}"
    with pytest.raises(ClientError) as fifo_dlq:
        pipes.create_pipe(Name=unique("val"), RoleArn=role, Source=stream, Target=target_arn, SourceParameters={
            "KinesisStreamParameters": {"StartingPosition": "LATEST",
                                        "DeadLetterConfig": {"Arn": f"{target_arn}-dlq.fifo"}}})
    assert fifo_dlq.value.response["Error"]["Code"] == "ValidationException"
    name = unique("val-dup")
    pipes.create_pipe(Name=name, RoleArn=role, Source=source_arn, Target=target_arn, DesiredState="STOPPED")
    with pytest.raises(ClientError) as duplicate:
        pipes.create_pipe(Name=name, RoleArn=role, Source=source_arn, Target=target_arn)
    assert duplicate.value.response["Error"]["Code"] == "ConflictException"


def test_logs_at_trace_with_execution_data_and_at_error(aws, unique, queue, function, pipe_role):
    sqs, pipes, logs = aws("sqs"), aws("pipes"), aws("logs")
    group = f"/aws/vendedlogs/pipes/{unique('logs')}"
    logs.create_log_group(logGroupName=group)
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT_A}:log-group:{group}"
    source_url, source_arn = queue("logs-src")
    enricher = function("def handler(event, context):\n    return [{'enriched': True}]\n")
    _t, target_arn = queue("logs-dst")
    role = pipe_role({**sqs_source_grants(source_arn), "lambda:InvokeFunction": enricher,
                      "sqs:SendMessage": target_arn, "logs:CreateLogStream,logs:PutLogEvents": group_arn + ":*"})
    name = unique("logs-trace")
    arn = pipes.create_pipe(Name=name, RoleArn=role, Source=source_arn, Target=target_arn, Enrichment=enricher,
                            LogConfiguration={"Level": "TRACE", "IncludeExecutionData": ["ALL"],
                                              "CloudwatchLogsLogDestination": {"LogGroupArn": group_arn}})["Arn"]
    sqs.send_message(QueueUrl=source_url, MessageBody="logged")
    records = wait_for(lambda: (r := log_records(logs, group, arn)) and r[-1]["messageType"] == "ExecutionSucceeded"
                       and r, timeout=15)
    assert [r["messageType"] for r in records] == [
        "ExecutionStarted", "EnrichmentStageEntered", "EnrichmentInvocationStarted", "EnrichmentInvocationSucceeded",
        "EnrichmentStageSucceeded", "TargetStageEntered", "TargetInvocationStarted", "TargetInvocationSucceeded",
        "TargetStageSucceeded", "ExecutionSucceeded"]
    assert len({r["executionId"] for r in records}) == 1
    assert {r["resourceArn"] for r in records} == {arn}
    assert json.loads(records[0]["payload"])[0]["body"] == "logged"
    # execution data only where eb-pipes-logs.html puts it: payload at the steps where the
    # batch may have changed, awsRequest/awsResponse once an invocation is done
    invocations = ["EnrichmentInvocationSucceeded", "TargetInvocationSucceeded"]
    assert {name: [r["messageType"] for r in records if name in r] for name in ("payload", "awsRequest",
                                                                             "awsResponse")} == {
        "payload": ["ExecutionStarted", "EnrichmentStageSucceeded", "TargetStageSucceeded"],
        "awsRequest": invocations, "awsResponse": invocations}
    assert json.loads(records[-2]["payload"]) == [{"enriched": True}]  # the batch the target got
    assert set(records[0]) >= {"executionId", "timestamp", "messageType", "resourceArn", "logLevel", "payload"}

    # ERROR: only the failure steps, and no execution data unless asked for
    failing = unique("logs-error")
    error_group = f"{group}-error"
    logs.create_log_group(logGroupName=error_group)
    error_arn = f"arn:aws:logs:{REGION}:{ACCOUNT_A}:log-group:{error_group}"
    broken = function("def handler(event, context):\n    raise ValueError('no')\n", "pipe-fn-broken")
    source2_url, source2_arn = queue("logs-src2")
    role2 = pipe_role({**sqs_source_grants(source2_arn), "lambda:InvokeFunction": broken,
                       "logs:CreateLogStream,logs:PutLogEvents": error_arn + ":*"})
    arn2 = pipes.create_pipe(Name=failing, RoleArn=role2, Source=source2_arn, Target=broken,
                             LogConfiguration={"Level": "ERROR",
                                               "CloudwatchLogsLogDestination": {"LogGroupArn": error_arn}})["Arn"]
    sqs.send_message(QueueUrl=source2_url, MessageBody="fails")
    errors = wait_for(lambda: log_records(logs, error_group, arn2), timeout=15)
    assert [r["messageType"] for r in errors[:3]] == ["TargetInvocationFailed", "TargetStageFailed", "ExecutionFailed"]
    assert {r["logLevel"] for r in errors} == {"ERROR"}
    assert errors[0]["error"]["message"] == "no" and "payload" not in errors[0]
    pipes.stop_pipe(Name=failing)


def test_cloudformation_creates_updates_and_deletes_every_parameter(aws, unique, queue, function, pipe_role):
    sqs, cfn, pipes = aws("sqs"), aws("cloudformation"), aws("pipes")
    source_url, source_arn = queue("cfn-src")
    (first_url, first_arn), (second_url, second_arn) = queue("cfn-dst1"), queue("cfn-dst2")
    enricher = function("def handler(event, context):\n    return [dict(r, via='cfn-enrichment') for r in event]\n")
    role = pipe_role({**sqs_source_grants(source_arn), "lambda:InvokeFunction": enricher,
                      "sqs:SendMessage": f"arn:aws:sqs:{REGION}:{ACCOUNT_A}:*"})
    stack, name = unique("cfn-pipe"), unique("cfn-pipe")

    def template(target: str, enrichment: bool) -> str:
        properties = {"Name": name, "RoleArn": role, "Source": source_arn, "Target": target,
                      "SourceParameters": {"SqsQueueParameters": {"BatchSize": 1}},
                      "TargetParameters": {"SqsQueueParameters": {}}, "Tags": {"team": "payments"}}
        if enrichment:
            properties.update(Enrichment=enricher, EnrichmentParameters={"InputTemplate": '{"body": <$.body>}'})
        return json.dumps({"Resources": {"Pipe": {"Type": "AWS::Pipes::Pipe", "Properties": properties}},
                           "Outputs": {"State": {"Value": {"Fn::GetAtt": ["Pipe", "CurrentState"]}},
                                       "Arn": {"Value": {"Fn::GetAtt": ["Pipe", "Arn"]}}}})

    cfn.create_stack(StackName=stack, TemplateBody=template(first_arn, enrichment=True))
    assert wait_stack(cfn, stack)["StackStatus"] == "CREATE_COMPLETE", failure_reasons(cfn, stack)
    described = pipes.describe_pipe(Name=name)
    assert (described["Enrichment"], described["Tags"]) == (enricher, {"team": "payments"})
    sqs.send_message(QueueUrl=source_url, MessageBody='{"n": 1}')
    assert [json.loads(m["Body"]) for m in drain(sqs, first_url, expected=1, timeout=15)] == [
        {"body": {"n": 1}, "via": "cfn-enrichment"}]

    cfn.update_stack(StackName=stack, TemplateBody=template(second_arn, enrichment=False))
    assert wait_stack(cfn, stack)["StackStatus"] == "UPDATE_COMPLETE", failure_reasons(cfn, stack)
    described = wait_state(pipes, name, "RUNNING")
    assert (described["Target"], described.get("Enrichment")) == (second_arn, None)
    sqs.send_message(QueueUrl=source_url, MessageBody='{"n": 2}')
    assert [json.loads(m["Body"])["body"] for m in drain(sqs, second_url, expected=1, timeout=15)] == ['{"n": 2}']

    cfn.delete_stack(StackName=stack)
    assert wait_stack(cfn, stack)["StackStatus"] == "DELETE_COMPLETE"
    assert wait_for(lambda: not pipes.list_pipes(NamePrefix=name)["Pipes"], timeout=10)
