"""EventBridge rule targets that are CloudWatch Logs log groups
(localcloud/services/events/log_targets.py)."""

from __future__ import annotations

import json

from .conftest import ACCOUNT_A, ACCOUNT_B, REGION, allow, allow_events_to_log_group, allow_rule_to_send, drain, wait_for

SOURCE = "com.example.logs"


def log_group_arn(name: str, account: str = ACCOUNT_A, region: str = REGION) -> str:
    return f"arn:aws:logs:{region}:{account}:log-group:{name}"


def streams_with_events(logs, group: str) -> dict[str, list[str]]:
    found = {}
    for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]:
        name = stream["logStreamName"]
        found[name] = [e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName=name,
                                                                 startFromHead=True)["events"]]
    return found


def test_rule_with_a_log_group_target_writes_the_event(aws, unique):
    events, logs = aws("events"), aws("logs")
    bus, rule, group = unique("log-bus"), unique("log-rule"), f"/aws/events/{unique('audit')}"
    events.create_event_bus(Name=bus)
    logs.create_log_group(logGroupName=group)
    allow_events_to_log_group(logs, log_group_arn(group))
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps({"source": [SOURCE]}))
    # the ARN form CDK's LogGroup.logGroupArn produces ends in ":*"
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "log", "Arn": log_group_arn(group) + ":*"}])

    detail = {"amount": 42.5, "note": "é€"}
    result = events.put_events(Entries=[
        {"EventBusName": bus, "Source": SOURCE, "DetailType": "Audited", "Detail": json.dumps(detail)},
        {"EventBusName": bus, "Source": "com.example.other", "DetailType": "Ignored", "Detail": "{}"},
    ])
    assert result["FailedEntryCount"] == 0
    event_id = result["Entries"][0]["EventId"]

    streams = wait_for(lambda: streams_with_events(logs, group), timeout=5)
    assert list(streams) == [event_id]  # one stream, named by the event id; the other event did not match
    assert len(streams[event_id]) == 1
    event = json.loads(streams[event_id][0])
    assert event["id"] == event_id
    assert (event["source"], event["detail-type"], event["detail"]) == (SOURCE, "Audited", detail)
    assert (event["account"], event["region"]) == (ACCOUNT_A, REGION)
    assert set(event) >= {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}


def test_log_target_next_to_another_target(aws, unique):
    """The wrapper leaves every other target type to ministack."""
    events, logs, sqs = aws("events"), aws("logs"), aws("sqs")
    bus, rule, group = unique("log-bus2"), unique("log-rule2"), f"/aws/events/{unique('both')}"
    events.create_event_bus(Name=bus)
    logs.create_log_group(logGroupName=group)
    allow_events_to_log_group(logs, log_group_arn(group))
    queue_url = sqs.create_queue(QueueName=unique("log-q"))["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule_arn = events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps({"source": [SOURCE]}))["RuleArn"]
    allow_rule_to_send(sqs, queue_url, rule_arn)
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "log", "Arn": log_group_arn(group)},
                                                              {"Id": "q", "Arn": queue}])
    event_id = events.put_events(Entries=[{"EventBusName": bus, "Source": SOURCE, "DetailType": "Both",
                                           "Detail": "{}"}])["Entries"][0]["EventId"]
    assert [json.loads(m["Body"])["id"] for m in drain(sqs, queue_url, expected=1, timeout=5)] == [event_id]
    assert list(wait_for(lambda: streams_with_events(logs, group), timeout=5)) == [event_id]


def test_log_target_of_an_event_forwarded_from_another_account(aws, unique, role):
    """A rule on a bus in account B, fed by account A, logs into B's log group."""
    from .test_cross_account_events import policy_via_stack

    events_a, events_b, logs_b = aws("events"), aws("events", ACCOUNT_B), aws("logs", ACCOUNT_B)
    bus_a, bus_b = unique("log-a"), unique("log-b")
    events_a.create_event_bus(Name=bus_a)
    arn_b = events_b.create_event_bus(Name=bus_b)["EventBusArn"]
    policy_via_stack(aws, unique, ACCOUNT_B, REGION, bus_b, arn_b, (ACCOUNT_A,))
    group = f"/aws/events/{unique('from-a')}"
    logs_b.create_log_group(logGroupName=group)
    allow_events_to_log_group(logs_b, log_group_arn(group, ACCOUNT_B))
    events_b.put_rule(Name="to-log", EventBusName=bus_b, EventPattern=json.dumps({"source": [SOURCE]}))
    events_b.put_targets(Rule="to-log", EventBusName=bus_b,
                         Targets=[{"Id": "log", "Arn": log_group_arn(group, ACCOUNT_B)}])
    events_a.put_rule(Name="to-b", EventBusName=bus_a, EventPattern=json.dumps({"source": [SOURCE]}))
    events_a.put_targets(Rule="to-b", EventBusName=bus_a, Targets=[
        {"Id": "b", "Arn": arn_b, "RoleArn": role("events.amazonaws.com", [allow("events:PutEvents", arn_b)])}])
    event_id = events_a.put_events(Entries=[{"EventBusName": bus_a, "Source": SOURCE, "DetailType": "X",
                                             "Detail": "{}"}])["Entries"][0]["EventId"]
    streams = wait_for(lambda: streams_with_events(logs_b, group), timeout=5)
    assert list(streams) == [event_id]
    assert json.loads(streams[event_id][0])["account"] == ACCOUNT_A
