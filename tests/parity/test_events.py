"""EventBridge answers as AWS gives them, for what our stacks and typical changes to them use.

Sources: the EventBridge API reference and user guide (cited per test) and LocalStack's
tests recorded against AWS, tests/aws/services/events/*.snapshot.json ("LS:" below).
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from tests.localcloud.conftest import ACCOUNT_A, OTHER_REGION, REGION

from .helpers import bodies, role, rule_to_queue

SOURCE = "parity.events"
DETAIL = {"command": "update-account", "payload": {"acc_id": "0a787ecb-4015", "sf_id": "baz"}}


def entry(bus: str = "default", **fields) -> dict:
    return {"EventBusName": bus, "Source": SOURCE, "DetailType": "parity", "Detail": json.dumps(DETAIL), **fields}


@pytest.fixture
def bus(aws, unique) -> str:
    name = unique("parity-bus")
    aws("events").create_event_bus(Name=name)
    return name


def test_the_default_bus_exists_in_a_fresh_account_and_region(aws):
    # Every account has a default event bus ("Each account has a default event bus",
    # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-bus.html): the first call
    # in a new account/region may be a PutEvents.
    fresh = str(random.randint(10**11, 10**12 - 1))
    events = aws("events", fresh, OTHER_REGION)
    result = events.put_events(Entries=[entry()])
    assert result["FailedEntryCount"] == 0
    assert "EventId" in result["Entries"][0]
    assert [b["Name"] for b in events.list_event_buses()["EventBuses"]] == ["default"]


def test_an_entry_for_a_bus_that_does_not_exist_is_accepted_and_goes_nowhere(aws, unique):
    # LS: test_put_events_nonexistent_event_bus: both entries get an EventId, FailedEntryCount 0;
    # the bus still does not exist afterwards.
    events = aws("events")
    missing = unique("no-such-bus")
    result = events.put_events(Entries=[entry(), entry(missing)])
    assert result["FailedEntryCount"] == 0
    assert all("EventId" in e for e in result["Entries"])
    with pytest.raises(ClientError) as raised:
        events.describe_event_bus(Name=missing)
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_the_supplied_time_is_the_events_time(aws, unique, bus):
    # LS: test_put_events_time ("2022-01-01" etc. all deliver "time": "2022-01-01T00:00:00Z")
    url = rule_to_queue(aws, unique, bus, {"source": [SOURCE]})
    when = datetime(2022, 1, 1, tzinfo=timezone.utc)
    aws("events").put_events(Entries=[entry(bus, Time=when)])
    [delivered] = bodies(aws, url, expected=1)
    assert json.loads(delivered)["time"] == "2022-01-01T00:00:00Z"


@pytest.mark.parametrize("field, value, code, message", [
    ("Source", None, "InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument."),
    ("DetailType", "", "InvalidArgument",
     "Parameter DetailType is not valid. Reason: DetailType is a required argument."),
    ("Detail", None, "InvalidArgument", "Parameter Detail is not valid. Reason: Detail is a required argument."),
    ("Detail", '["an array"]', "MalformedDetail", "Detail is malformed."),
    ("Detail", "{not json", "MalformedDetail", "Detail is malformed."),
])
def test_an_invalid_entry_fails_alone(aws, field, value, code, message):
    # LS: test_put_events_without_source, test_put_event_without_detail_type, test_put_event_without_detail,
    # test_put_event_malformed_detail
    bad = entry()
    if value is None:
        del bad[field]
    else:
        bad[field] = value
    result = aws("events").put_events(Entries=[bad, entry()])
    assert result["FailedEntryCount"] == 1
    assert result["Entries"][0] == {"ErrorCode": code, "ErrorMessage": message}
    assert "EventId" in result["Entries"][1]


def test_entries_up_to_one_megabyte_are_accepted_and_more_is_refused(aws):
    # "the total entry size must be less than 1MB" (API_PutEvents.html, 2026; 256 KB before 2026-01-29),
    # counted as eb-putevent-size.html describes; over the limit: LS test_put_event_with_too_big_detail.
    events = aws("events")
    big = entry(Detail=json.dumps({"payload": "p" * 1_000_000}))
    assert events.put_events(Entries=[big])["FailedEntryCount"] == 0
    overhead = len(SOURCE) + len("parity") + len('{"payload": ""}')
    too_big = entry(Detail=json.dumps({"payload": "p" * (1_048_576 - overhead + 1)}))
    with pytest.raises(ClientError) as raised:
        events.put_events(Entries=[too_big])
    error = raised.value.response["Error"]
    assert (error["Code"], error["Message"]) == (
        "ValidationException", "Total size of the entries in the request is over the limit.")


def test_a_forward_to_another_region_gets_a_new_id_and_keeps_the_source_region(aws, unique):
    # LS: test_event_bus_to_event_bus_cross_account_region[custom-region]: the event on the secondary
    # region's bus has a different "id" and "region" is still the primary region's.
    east, west = unique("east"), unique("west")
    aws("events", ACCOUNT_A, REGION).create_event_bus(Name=east)
    west_arn = aws("events", ACCOUNT_A, OTHER_REGION).create_event_bus(Name=west)["EventBusArn"]
    url = rule_to_queue(aws, unique, west, {"source": [SOURCE]}, region=OTHER_REGION)
    forwarder = role(aws, unique, "events.amazonaws.com",
                     [{"Effect": "Allow", "Action": "events:PutEvents", "Resource": west_arn}])
    events = aws("events", ACCOUNT_A, REGION)
    events.put_rule(Name=unique("fwd"), EventBusName=east, EventPattern=json.dumps({"source": [SOURCE]}))
    events.put_targets(Rule=unique("fwd"), EventBusName=east,
                       Targets=[{"Id": "west", "Arn": west_arn, "RoleArn": forwarder}])
    put = events.put_events(Entries=[entry(east)])
    [delivered] = bodies(aws, url, expected=1, region=OTHER_REGION)
    event = json.loads(delivered)
    assert event["id"] != put["Entries"][0]["EventId"]
    assert (event["region"], event["account"]) == (REGION, ACCOUNT_A)


def test_rule_and_target_actions_take_the_bus_arn(aws, unique, bus):
    # EventBusName is EventBusNameOrArn for PutTargets, ListTargetsByRule, DescribeRule, ...
    # (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutTargets.html)
    events = aws("events")
    arn = events.describe_event_bus(Name=bus)["Arn"]
    rule = unique("by-arn")
    events.put_rule(Name=rule, EventBusName=arn, EventPattern=json.dumps({"source": [SOURCE]}))
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT_A}:{unique('q')}"
    assert events.put_targets(Rule=rule, EventBusName=arn, Targets=[{"Id": "q", "Arn": queue}])["FailedEntryCount"] == 0
    assert [t["Id"] for t in events.list_targets_by_rule(Rule=rule, EventBusName=arn)["Targets"]] == ["q"]
    assert events.describe_rule(Name=rule, EventBusName=arn)["EventBusName"] == bus


def test_list_event_buses_pages_with_a_next_token(aws, unique):
    # LS: test_list_event_buses_with_limit: Limit 3 of 6 -> 3 buses and a NextToken; the next page
    # has the rest and no token. Buses without a description have no Description key.
    events = aws("events")
    prefix = unique("page")
    for n in range(6):
        events.create_event_bus(Name=f"{prefix}-{n}")
    first = events.list_event_buses(NamePrefix=prefix, Limit=3)
    assert [b["Name"] for b in first["EventBuses"]] == [f"{prefix}-{n}" for n in range(3)]
    assert set(first["EventBuses"][0]) == {"Name", "Arn", "CreationTime", "LastModifiedTime"}
    second = events.list_event_buses(NamePrefix=prefix, Limit=3, NextToken=first["NextToken"])
    assert [b["Name"] for b in second["EventBuses"]] == [f"{prefix}-{n}" for n in range(3, 6)]
    assert "NextToken" not in second


def test_list_targets_by_rule_pages_with_a_next_token(aws, unique, bus):
    # LS: test_list_target_by_rule_limit: 5 targets, Limit 3 -> 3 and a token, then 2 and none.
    events = aws("events")
    rule = unique("targets")
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps({"source": [SOURCE]}))
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT_A}:{unique('q')}"
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": f"t{n}", "Arn": queue} for n in range(5)])
    first = events.list_targets_by_rule(Rule=rule, EventBusName=bus, Limit=3)
    assert [t["Id"] for t in first["Targets"]] == ["t0", "t1", "t2"]
    second = events.list_targets_by_rule(Rule=rule, EventBusName=bus, Limit=3, NextToken=first["NextToken"])
    assert [t["Id"] for t in second["Targets"]] == ["t3", "t4"]
    assert "NextToken" not in second


def test_list_replays_pages_with_a_next_token(aws, unique, bus):
    # ListReplays: "Limit ... NextToken" (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_ListReplays.html)
    events = aws("events")
    bus_arn = events.describe_event_bus(Name=bus)["Arn"]
    archive = events.create_archive(ArchiveName=unique("arch"), EventSourceArn=bus_arn)["ArchiveArn"]
    prefix = unique("rp")
    now = datetime.now(timezone.utc)
    for n in range(3):
        events.start_replay(ReplayName=f"{prefix}-{n}", EventSourceArn=archive, EventStartTime=now - timedelta(minutes=1),
                            EventEndTime=now, Destination={"Arn": bus_arn})  # the start strictly before the end
    first = events.list_replays(NamePrefix=prefix, Limit=2)
    assert len(first["Replays"]) == 2 and first.get("NextToken")
    second = events.list_replays(NamePrefix=prefix, Limit=2, NextToken=first["NextToken"])
    assert len(second["Replays"]) == 1 and "NextToken" not in second
    assert {r["ReplayName"] for r in first["Replays"] + second["Replays"]} == {f"{prefix}-{n}" for n in range(3)}


def test_an_input_transformer_splices_objects_compactly(aws, unique, bus):
    # LS: test_input_transformer_nested_keys_replacement["Payload of <payload> with path ..."]: body
    # "\"Payload of {acc_id:0a787ecb-4015,sf_id:baz} with path users-service/users/0a787ecb-4015 and 0a787ecb-4015\""
    template = '"Payload of <payload> with path users-service/users/<userId> and <userId>"'
    url = rule_to_queue(aws, unique, bus, {"source": [SOURCE]}, InputTransformer={
        "InputPathsMap": {"payload": "$.detail.payload", "userId": "$.detail.payload.acc_id"},
        "InputTemplate": template})
    aws("events").put_events(Entries=[entry(bus)])
    assert bodies(aws, url, expected=1) == [
        '"Payload of {acc_id:0a787ecb-4015,sf_id:baz} with path users-service/users/0a787ecb-4015 and 0a787ecb-4015"']


def test_a_target_receives_the_event_as_compact_json(aws, unique, bus):
    # The same serialiser as above (no space after ':' or ','), and text as UTF-8, not \u escapes.
    url = rule_to_queue(aws, unique, bus, {"source": [SOURCE]})
    aws("events").put_events(Entries=[entry(bus, Detail=json.dumps({"note": "Zahlung über 100 €", "n": [1, 2]}))])
    [delivered] = bodies(aws, url, expected=1)
    event = json.loads(delivered)
    assert delivered == json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    assert list(event) == ["version", "id", "detail-type", "source", "account", "time", "region", "resources",
                           "detail"]

