"""EventBridge archives with their events on disk: what DescribeArchive and ListArchives
report (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_DescribeArchive.html:
EventCount, "SizeBytes: The size of the archive in bytes"), replays that read them back
stamped with the replay's name, and an archive deleted and created again starting empty."""

from __future__ import annotations

import datetime as dt
import json
import time

from .conftest import allow_rule_to_send, drain, queue_arn, wait_for


def _bus_with_observer(aws, unique):
    events, sqs = aws("events"), aws("sqs")
    bus = unique("archived")
    bus_arn = events.create_event_bus(Name=bus)["EventBusArn"]
    url = sqs.create_queue(QueueName=unique("archive-obs"))["QueueUrl"]
    rule_arn = events.put_rule(Name=unique("all"), EventBusName=bus,
                               EventPattern=json.dumps({"source": ["archive.test"]}))["RuleArn"]
    allow_rule_to_send(sqs, url, rule_arn)
    events.put_targets(Rule=unique("all"), EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn(sqs, url)}])
    return bus, bus_arn, url


def test_archive_counts_and_sizes_what_it_holds_and_replays_it(aws, unique):
    events, sqs = aws("events"), aws("sqs")
    bus, bus_arn, url = _bus_with_observer(aws, unique)
    archive = unique("archive")
    archive_arn = events.create_archive(ArchiveName=archive, EventSourceArn=bus_arn,
                                        EventPattern=json.dumps({"detail-type": ["kept"]}))["ArchiveArn"]
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=2)
    for index in range(5):
        events.put_events(Entries=[{"EventBusName": bus, "Source": "archive.test",
                                    "DetailType": "kept" if index < 3 else "not kept", "Detail": json.dumps({"n": index})}])
    described = events.describe_archive(ArchiveName=archive)
    assert described["EventCount"] == 3  # the archive's pattern holds back the other two
    assert described["SizeBytes"] > 3 * len('{"n": 0}')
    (listed,) = [a for a in events.list_archives(EventSourceArn=bus_arn)["Archives"] if a["ArchiveName"] == archive]
    assert (listed["EventCount"], listed["SizeBytes"]) == (3, described["SizeBytes"])
    assert len(drain(sqs, url, expected=5)) == 5

    time.sleep(1.1)  # event times are whole seconds
    replay = unique("replay")
    events.start_replay(ReplayName=replay, EventSourceArn=archive_arn, EventStartTime=start,
                        EventEndTime=dt.datetime.now(dt.timezone.utc), Destination={"Arn": bus_arn})
    assert wait_for(lambda: events.describe_replay(ReplayName=replay)["State"] == "COMPLETED", timeout=20)
    replayed = [json.loads(m["Body"]) for m in drain(sqs, url, expected=3)]
    assert sorted(e["detail"]["n"] for e in replayed) == [0, 1, 2]
    assert {e["replay-name"] for e in replayed} == {replay}


def test_an_archive_deleted_and_created_again_starts_empty(aws, unique):
    events = aws("events")
    bus, bus_arn, _url = _bus_with_observer(aws, unique)
    archive = unique("again")
    events.create_archive(ArchiveName=archive, EventSourceArn=bus_arn)
    events.put_events(Entries=[{"EventBusName": bus, "Source": "archive.test", "DetailType": "x", "Detail": "{}"}])
    assert events.describe_archive(ArchiveName=archive)["EventCount"] == 1
    events.delete_archive(ArchiveName=archive)
    events.create_archive(ArchiveName=archive, EventSourceArn=bus_arn)
    described = events.describe_archive(ArchiveName=archive)
    assert (described["EventCount"], described["SizeBytes"]) == (0, 0)
