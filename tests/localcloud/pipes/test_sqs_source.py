"""EventBridge Pipes with an SQS source (localcloud/services/pipes/)."""

from __future__ import annotations

import io
import json
import statistics
import time
import zipfile

import pytest

from ..conftest import ACCOUNT_A, REGION, allow, create_role, drain, queue_arn, queue_depth, wait_for
from ..test_cfn_events import failure_reasons, wait_stack

ROLE = f"arn:aws:iam::{ACCOUNT_A}:role/pipe-role"
SOURCE = "com.example.pipe"
DETAIL_TYPE = "TransactionQueued"


@pytest.fixture(scope="module", autouse=True)
def pipe_role(aws):
    """The role the pipes of this module act as (and their functions and state machines)."""
    create_role(aws("iam"), ROLE.rsplit("/", 1)[-1], ["pipes.amazonaws.com", "lambda.amazonaws.com",
                                                       "states.amazonaws.com"], [
        allow(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:SendMessage"],
              f"arn:aws:sqs:*:{ACCOUNT_A}:*"),
        allow("events:PutEvents", f"arn:aws:events:*:{ACCOUNT_A}:event-bus/*"),
        allow("lambda:InvokeFunction", f"arn:aws:lambda:*:{ACCOUNT_A}:function:*"),
        allow(["states:StartExecution", "states:StartSyncExecution"], f"arn:aws:states:*:{ACCOUNT_A}:stateMachine:*"),
        allow(["logs:CreateLogStream", "logs:PutLogEvents"], f"arn:aws:logs:*:{ACCOUNT_A}:log-group:*")])


@pytest.fixture
def source_queue(aws, unique):
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=unique("pipe-src"))["QueueUrl"]
    return url, queue_arn(sqs, url)


@pytest.fixture
def target_queue(aws, unique):
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=unique("pipe-dst"))["QueueUrl"]
    return url, queue_arn(sqs, url)


def bus_arn(name: str, account: str = ACCOUNT_A, region: str = REGION) -> str:
    return f"arn:aws:events:{region}:{account}:event-bus/{name}"


def bus_target_parameters() -> dict:
    return {"EventBridgeEventBusParameters": {"Source": SOURCE, "DetailType": DETAIL_TYPE}}


def create_pipe(aws, name: str, source: str, target: str, **parameters) -> str:
    pipes = aws("pipes")
    pipes.create_pipe(Name=name, RoleArn=ROLE, Source=source, Target=target, **parameters)
    return name


def test_sqs_to_bus_delivers_each_record_as_an_event(aws, unique, source_queue, observer):
    sqs, events, pipes = aws("sqs"), aws("events"), aws("pipes")
    bus = unique("pipe-bus")
    events.create_event_bus(Name=bus)
    seen = observer(bus, pattern={"source": [SOURCE]})
    source_parameters = {"SqsQueueParameters": {"BatchSize": 5, "MaximumBatchingWindowInSeconds": 1}}
    name = create_pipe(aws, unique("pipe-bus"), source_queue[1], bus_arn(bus),
                       SourceParameters=source_parameters, TargetParameters=bus_target_parameters())

    described = pipes.describe_pipe(Name=name)
    assert described["SourceParameters"] == source_parameters
    assert described["TargetParameters"] == bus_target_parameters()
    assert (described["Source"], described["Target"]) == (source_queue[1], bus_arn(bus))

    bodies = ['{"amount": 42.50,  "currency":"EUR", "note": "é€😀"}', "not json at all  ", '{"amount":1}']
    sent = {sqs.send_message(QueueUrl=source_queue[0], MessageBody=b)["MessageId"]: b for b in bodies}
    messages = drain(sqs, seen, expected=3, timeout=10)
    assert len(messages) == 3
    for message in messages:
        event = json.loads(message["Body"])
        assert (event["source"], event["detail-type"], event["account"]) == (SOURCE, DETAIL_TYPE, ACCOUNT_A)
        record = event["detail"]
        assert record["body"] == sent[record["messageId"]]  # byte-identical body
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"] == source_queue[1]
        assert record["awsRegion"] == REGION
        assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert sorted(json.loads(m["Body"])["detail"]["messageId"] for m in messages) == sorted(sent)
    assert wait_for(lambda: queue_depth(sqs, source_queue[0]) == 0, timeout=5)


def test_filter_criteria_drop_and_delete_non_matching_records(aws, unique, source_queue, target_queue):
    sqs = aws("sqs")
    filters = {"Filters": [{"Pattern": json.dumps({"body": {"kind": ["keep"]}})}]}
    create_pipe(aws, unique("pipe-filter"), source_queue[1], target_queue[1],
                SourceParameters={"FilterCriteria": filters, "SqsQueueParameters": {"BatchSize": 10}})
    assert aws("pipes").describe_pipe(Name=unique("pipe-filter"))["SourceParameters"]["FilterCriteria"] == filters
    bodies = ['{"kind": "keep", "n": 1}', '{"kind": "drop", "n": 2}', "plain text", '{"kind": "keep", "n": 3}']
    for body in bodies:
        sqs.send_message(QueueUrl=source_queue[0], MessageBody=body)
    delivered = drain(sqs, target_queue[0], expected=2, timeout=10, quiet=1.0)
    assert sorted(json.loads(m["Body"])["body"] for m in delivered) == [bodies[0], bodies[3]]
    # the records that matched no filter are gone from the source too
    assert wait_for(lambda: queue_depth(sqs, source_queue[0]) == 0, timeout=5)


def test_input_template_renders_json_paths(aws, unique, source_queue, target_queue):
    sqs = aws("sqs")
    name = unique("pipe-tpl")
    template = '{"amount": <$.body.amount>, "who": "<$.body.customer.name>", "id": "<$.messageId>", ' \
               '"pipe": "<aws.pipes.pipe-name>"}'
    create_pipe(aws, name, source_queue[1], target_queue[1], TargetParameters={"InputTemplate": template})
    message_id = sqs.send_message(QueueUrl=source_queue[0],
                                  MessageBody='{"amount": 42.5, "customer": {"name": "Ada"}}')["MessageId"]
    delivered = drain(sqs, target_queue[0], expected=1, timeout=10)
    assert len(delivered) == 1
    assert json.loads(delivered[0]["Body"]) == {"amount": 42.5, "who": "Ada", "id": message_id, "pipe": name}


def test_sqs_target_receives_the_record(aws, unique, source_queue, target_queue):
    sqs = aws("sqs")
    create_pipe(aws, unique("pipe-sqs"), source_queue[1], target_queue[1])
    message_id = sqs.send_message(QueueUrl=source_queue[0], MessageBody="hello pipe")["MessageId"]
    delivered = drain(sqs, target_queue[0], expected=1, timeout=10)
    assert len(delivered) == 1
    record = json.loads(delivered[0]["Body"])
    assert (record["messageId"], record["body"], record["eventSourceARN"]) == (
        message_id, "hello pipe", source_queue[1])
    assert wait_for(lambda: queue_depth(sqs, source_queue[0]) == 0, timeout=5)


LAMBDA_CODE = """
import json

def handler(event, context):
    print(json.dumps({"pipe_batch": event}))
    return {"records": len(event)}
"""


def lambda_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", LAMBDA_CODE)
    return buffer.getvalue()


def logged_batches(logs, function_name: str) -> list[list]:
    try:
        found = logs.filter_log_events(logGroupName=f"/aws/lambda/{function_name}")["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [json.loads(e["message"])["pipe_batch"] for e in found if e["message"].startswith('{"pipe_batch"')]


def test_lambda_target_receives_the_batch_as_a_json_array(aws, unique, source_queue):
    sqs, lam, logs = aws("sqs"), aws("lambda"), aws("logs")
    function_name = unique("pipe-fn")
    function_arn = lam.create_function(FunctionName=function_name, Runtime="python3.12", Role=ROLE,
                                       Handler="index.handler", Code={"ZipFile": lambda_zip()})["FunctionArn"]
    create_pipe(aws, unique("pipe-fn"), source_queue[1], function_arn,
                SourceParameters={"SqsQueueParameters": {"BatchSize": 3, "MaximumBatchingWindowInSeconds": 2}})
    bodies = ["one", "two", "three"]
    for body in bodies:  # spread out: only the batching window puts them in one batch
        sqs.send_message(QueueUrl=source_queue[0], MessageBody=body)
        time.sleep(0.3)
    batches = wait_for(lambda: logged_batches(logs, function_name), timeout=15, interval=0.2)
    assert batches, "the function logged no batch"
    assert isinstance(batches[0], list)
    assert [len(b) for b in batches] == [3]
    assert sorted(r["body"] for r in batches[0]) == sorted(bodies)
    assert all(r["eventSourceARN"] == source_queue[1] for r in batches[0])
    assert wait_for(lambda: queue_depth(sqs, source_queue[0]) == 0, timeout=5)


def test_step_functions_target_starts_an_execution_with_the_batch(aws, unique, source_queue):
    sqs, sfn = aws("sqs"), aws("stepfunctions")
    machine = sfn.create_state_machine(
        name=unique("pipe-sm"), roleArn=ROLE,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]
    create_pipe(aws, unique("pipe-sm"), source_queue[1], machine,
                TargetParameters={"StepFunctionStateMachineParameters": {"InvocationType": "FIRE_AND_FORGET"}})
    sqs.send_message(QueueUrl=source_queue[0], MessageBody='{"order": 7}')
    executions = wait_for(lambda: sfn.list_executions(stateMachineArn=machine)["executions"], timeout=10)
    assert len(executions) == 1
    execution_input = json.loads(sfn.describe_execution(executionArn=executions[0]["executionArn"])["input"])
    assert [r["body"] for r in execution_input] == ['{"order": 7}']
    assert wait_for(lambda: queue_depth(sqs, source_queue[0]) == 0, timeout=5)


def test_stop_pipe_stops_delivery_and_start_pipe_resumes(aws, unique, source_queue, target_queue):
    sqs, pipes = aws("sqs"), aws("pipes")
    name = create_pipe(aws, unique("pipe-stop"), source_queue[1], target_queue[1])
    sqs.send_message(QueueUrl=source_queue[0], MessageBody="before stop")
    assert len(drain(sqs, target_queue[0], expected=1, timeout=10)) == 1

    pipes.stop_pipe(Name=name)
    assert pipes.describe_pipe(Name=name)["DesiredState"] == "STOPPED"
    sqs.send_message(QueueUrl=source_queue[0], MessageBody="while stopped")
    assert drain(sqs, target_queue[0], timeout=1.5) == []
    assert queue_depth(sqs, source_queue[0]) == 1
    assert sqs.get_queue_attributes(QueueUrl=source_queue[0], AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "1"  # not even received by a stopped pipe

    pipes.start_pipe(Name=name)
    delivered = drain(sqs, target_queue[0], expected=1, timeout=10)
    assert [json.loads(m["Body"])["body"] for m in delivered] == ["while stopped"]


def test_delete_pipe_stops_delivery(aws, unique, source_queue, target_queue):
    sqs, pipes = aws("sqs"), aws("pipes")
    name = create_pipe(aws, unique("pipe-del"), source_queue[1], target_queue[1])
    pipes.delete_pipe(Name=name)
    sqs.send_message(QueueUrl=source_queue[0], MessageBody="after delete")
    assert drain(sqs, target_queue[0], timeout=1.5) == []
    assert queue_depth(sqs, source_queue[0]) == 1


def flaky_source(sqs, unique) -> tuple[str, str]:
    """A source queue with VisibilityTimeout 1 and a DLQ after 2 receives: (source url, dlq url)."""
    dlq_url = sqs.create_queue(QueueName=unique("pipe-dlq"))["QueueUrl"]
    source_url = sqs.create_queue(QueueName=unique("pipe-flaky"), Attributes={
        "VisibilityTimeout": "1",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": queue_arn(sqs, dlq_url), "maxReceiveCount": 2}),
    })["QueueUrl"]
    return source_url, dlq_url


def assert_kept_then_dead_lettered(sqs, source_url: str, dlq_url: str, body: str) -> None:
    sqs.send_message(QueueUrl=source_url, MessageBody=body)
    time.sleep(0.5)
    assert queue_depth(sqs, source_url) == 1, "the pipe deleted a record its target did not accept"
    assert queue_depth(sqs, dlq_url) == 0
    assert wait_for(lambda: queue_depth(sqs, dlq_url) == 1, timeout=10), "never reached the DLQ"
    dead = drain(sqs, dlq_url, expected=1, timeout=5)
    assert [m["Body"] for m in dead] == [body]
    assert int(dead[0]["Attributes"]["ApproximateReceiveCount"]) >= 2
    assert queue_depth(sqs, source_url) == 0


def test_target_failure_keeps_messages_until_the_dead_letter_queue(aws, unique):
    """Target queue deleted: SendMessage fails, the record stays and is dead-lettered."""
    sqs = aws("sqs")
    source_url, dlq_url = flaky_source(sqs, unique)
    target_url = sqs.create_queue(QueueName=unique("pipe-gone-q"))["QueueUrl"]
    create_pipe(aws, unique("pipe-flaky-q"), queue_arn(sqs, source_url), queue_arn(sqs, target_url))
    sqs.delete_queue(QueueUrl=target_url)
    assert_kept_then_dead_lettered(sqs, source_url, dlq_url, "cannot be delivered to a queue")


def test_deleted_target_bus_takes_the_records_as_aws_does(aws, unique):
    """EventBridge accepts PutEvents for a bus that does not exist (an EventId, no failure:
    LocalStack snapshot test_put_events_nonexistent_event_bus, recorded on AWS), so the pipe's
    target call succeeds and the records leave the source queue, delivered nowhere."""
    sqs, events = aws("sqs"), aws("events")
    source_url, dlq_url = flaky_source(sqs, unique)
    bus = unique("pipe-gone-bus")
    events.create_event_bus(Name=bus)
    create_pipe(aws, unique("pipe-flaky-bus"), queue_arn(sqs, source_url), bus_arn(bus),
                TargetParameters=bus_target_parameters())
    events.delete_event_bus(Name=bus)
    sqs.send_message(QueueUrl=source_url, MessageBody="put on a bus that is gone")
    assert wait_for(lambda: queue_depth(sqs, source_url) == 0, timeout=10)
    assert queue_depth(sqs, dlq_url) == 0


def test_pipe_from_cloudformation_runs(aws, unique, source_queue, target_queue):
    sqs, cfn, pipes = aws("sqs"), aws("cloudformation"), aws("pipes")
    stack_name, pipe_name = unique("pipe-stack"), unique("pipe-cfn")
    template = {"Resources": {"Pipe": {"Type": "AWS::Pipes::Pipe", "Properties": {
        "Name": pipe_name, "RoleArn": ROLE, "Source": source_queue[1], "Target": target_queue[1],
        "SourceParameters": {"SqsQueueParameters": {"BatchSize": 1}},
        "TargetParameters": {"InputTemplate": '{"via": "cfn", "body": <$.body>}'},
    }}}}
    cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(template))
    assert wait_stack(cfn, stack_name)["StackStatus"] == "CREATE_COMPLETE", failure_reasons(cfn, stack_name)
    assert pipes.describe_pipe(Name=pipe_name)["SourceParameters"] == {"SqsQueueParameters": {"BatchSize": 1}}
    sqs.send_message(QueueUrl=source_queue[0], MessageBody='{"n": 1}')
    delivered = drain(sqs, target_queue[0], expected=1, timeout=10)
    assert [json.loads(m["Body"]) for m in delivered] == [{"via": "cfn", "body": {"n": 1}}]

    cfn.delete_stack(StackName=stack_name)
    assert wait_stack(cfn, stack_name)["StackStatus"] == "DELETE_COMPLETE"
    sqs.send_message(QueueUrl=source_queue[0], MessageBody='{"n": 2}')
    assert drain(sqs, target_queue[0], timeout=1.5) == []


def test_single_message_latency(aws, unique, source_queue, observer, capsys):
    """Measured, printed, not asserted: SendMessage -> pipe -> bus -> rule -> SQS."""
    sqs, events = aws("sqs"), aws("events")
    bus = unique("pipe-lat-bus")
    events.create_event_bus(Name=bus)
    seen = observer(bus, pattern={"source": [SOURCE]})
    create_pipe(aws, unique("pipe-lat"), source_queue[1], bus_arn(bus),
                SourceParameters={"SqsQueueParameters": {"BatchSize": 1}}, TargetParameters=bus_target_parameters())
    samples = []
    for index in range(8):
        started = time.perf_counter()
        sqs.send_message(QueueUrl=source_queue[0], MessageBody=f'{{"n": {index}}}')
        got = []
        while not got and time.perf_counter() - started < 10:
            got = sqs.receive_message(QueueUrl=seen, WaitTimeSeconds=1).get("Messages", [])
        elapsed = time.perf_counter() - started
        assert got, "message did not arrive"
        sqs.delete_message(QueueUrl=seen, ReceiptHandle=got[0]["ReceiptHandle"])
        samples.append(elapsed * 1000)
    with capsys.disabled():
        print(f"\n[pipe latency] SQS send -> pipe -> bus -> rule -> SQS: median {statistics.median(samples):.1f} ms, "
              f"min {min(samples):.1f} ms, max {max(samples):.1f} ms over {len(samples)} messages")
