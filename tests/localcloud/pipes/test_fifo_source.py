"""An SQS FIFO queue as a pipe's source: message-group order.

https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-sqs.html ("Scaling and
processing"): "For FIFO queues, EventBridge sends messages to your pipe in the order that it
receives them ... EventBridge sorts the received messages into groups and sends only one
batch at a time for a group. If your pipe returns an error, the pipe attempts all retries on
the affected messages before EventBridge receives additional messages from the same group."
Partial failures ("Reporting batch item failures", same page, and
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-batching-concurrency.html):
only the records a Lambda target names in ``batchItemFailures`` are retried.
"""

from __future__ import annotations

import json

from ..conftest import queue_depth, wait_for
from .conftest import sqs_source_grants, wait_state

# Fails A2 the first time it sees it; logs every batch as [group, body] pairs.
FAIL_A2_ONCE = """
import json

def handler(event, context):
    print(json.dumps({"fifo_batch": [[r["attributes"]["MessageGroupId"], r["body"]] for r in event],
                      "attributes": sorted(event[0]["attributes"])}))
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event
                                  if r["body"] == "A2" and r["attributes"]["ApproximateReceiveCount"] == "1"]}
"""


def _logged(logs, function_arn: str) -> list[dict]:
    try:
        found = logs.filter_log_events(logGroupName=f"/aws/lambda/{function_arn.split(':')[-1]}")["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [json.loads(e["message"]) for e in found if e["message"].startswith('{"fifo_batch"')]


def _batches(logs, function_arn: str) -> list[list[list[str]]]:
    return [line["fifo_batch"] for line in _logged(logs, function_arn)]


def test_a_failed_record_holds_back_its_group_while_other_groups_proceed(aws, unique, queue, function,
                                                                         pipe_role):
    sqs, pipes, logs = aws("sqs"), aws("pipes"), aws("logs")
    source_url, source_arn = queue("fifo-src", FifoQueue="true", ContentBasedDeduplication="true",
                                   VisibilityTimeout="1")
    target = function(FAIL_A2_ONCE)
    name = unique("fifo-pipe")
    # Created stopped, so that the first batch holds every message sent below.
    pipes.create_pipe(Name=name, RoleArn=pipe_role({**sqs_source_grants(source_arn),
                                                     "lambda:InvokeFunction": target}),
                      Source=source_arn, Target=target, DesiredState="STOPPED",
                      SourceParameters={"SqsQueueParameters": {"BatchSize": 10}})
    assert wait_state(pipes, name, "STOPPED")["CurrentState"] == "STOPPED"
    sent = [("A", "A1"), ("A", "A2"), ("B", "B1"), ("A", "A3"), ("B", "B2")]
    for group, body in sent:
        sqs.send_message(QueueUrl=source_url, MessageBody=body, MessageGroupId=group)
    pipes.start_pipe(Name=name)

    batches = wait_for(lambda: (found := _batches(logs, target)) and len(found) >= 2 and found, timeout=20,
                       interval=0.2)
    assert batches, f"expected two batches, the function logged {_batches(logs, target)}"
    # every message in one batch, each group in the order it was sent (SQS returns a group's
    # messages together, so the order across groups is SQS's)
    assert sorted(map(tuple, batches[0])) == sorted(sent)
    for group in ("A", "B"):
        assert [body for g, body in batches[0] if g == group] == [body for g, body in sent if g == group]
    # A2 failed: A3 came back with it, in order; A1 (before it) and group B were done with
    assert batches[1] == [["A", "A2"], ["A", "A3"]]
    assert wait_for(lambda: queue_depth(sqs, source_url) == 0, timeout=10)
    assert len(_batches(logs, target)) == 2  # nothing delivered twice besides the retried group
    # a FIFO record carries its group, deduplication id and sequence number (the page's sample event)
    assert {"MessageGroupId", "MessageDeduplicationId", "SequenceNumber"} <= set(_logged(logs, target)[0]["attributes"])
