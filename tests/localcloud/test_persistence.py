"""Crash-safe persistence (LOCALCLOUD_PERSIST=1), on local clouds of these tests' own that
are killed with SIGKILL: what was acknowledged more than a checkpoint ago survives, logs
and DynamoDB items survive at once (they are committed as written), state that the last
snapshot does not cover does not linger half-there, and unusable saved state stops the
start with what to do.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time

import pytest

from .conftest import ACCOUNT_A, free_port, wait_for
from .test_launcher import alive, cli, client, pid_of, stop_if_running


@pytest.fixture
def persistent(tmp_path_factory):
    """(port, home, start) for a persistent local cloud; stopped afterwards."""
    home, port = tmp_path_factory.mktemp("persist"), free_port()
    started = []

    def start(**settings: str):
        result = cli("up", port, home, LOCALCLOUD_PERSIST="1", **settings)
        started.append(result)
        return result

    yield port, home, start
    stop_if_running(port, home)


def kill(home) -> None:
    pid = pid_of(home)
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not alive(pid), timeout=10)


def test_acknowledged_work_survives_a_sigkill(persistent):
    port, home, start = persistent
    assert start().returncode == 0
    sqs, logs, dynamodb = client("sqs", port), client("logs", port), client("dynamodb", port)
    url = sqs.create_queue(QueueName="kept")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="acknowledged")
    dynamodb.create_table(TableName="kept-items", BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    logs.create_log_group(logGroupName="kept")
    logs.create_log_stream(logGroupName="kept", logStreamName="s")
    time.sleep(1.5)  # past a checkpoint: the queue, the table and the group are in the snapshot
    dynamodb.put_item(TableName="kept-items", Item={"id": {"S": "a"}, "v": {"S": "written just now"}})
    logs.put_log_events(logGroupName="kept", logStreamName="s",
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": "written just now"}])
    kill(home)  # no checkpoint since: items and log lines are on disk as soon as written

    assert start().returncode == 0
    sqs, logs, dynamodb = client("sqs", port), client("logs", port), client("dynamodb", port)
    got = sqs.receive_message(QueueUrl=sqs.get_queue_url(QueueName="kept")["QueueUrl"], WaitTimeSeconds=1)
    assert [m["Body"] for m in got.get("Messages", [])] == ["acknowledged"]
    assert dynamodb.get_item(TableName="kept-items", Key={"id": {"S": "a"}})["Item"]["v"] == {"S": "written just now"}
    assert [e["message"] for e in logs.filter_log_events(logGroupName="kept")["events"]] == ["written just now"]


def test_items_are_rows_not_part_of_the_snapshot(persistent):
    port, home, start = persistent
    assert start().returncode == 0
    dynamodb = client("dynamodb", port)
    dynamodb.create_table(TableName="rows", BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    dynamodb.put_item(TableName="rows", Item={"id": {"S": "k"}, "v": {"S": "needle-in-a-row"}})
    assert cli("down", port, home, LOCALCLOUD_PERSIST="1").returncode == 0
    with sqlite3.connect(f"file:{home / 'state' / 'localcloud.sqlite3'}?mode=ro", uri=True) as saved:
        snapshot = saved.execute("SELECT payload FROM snapshot_parts WHERE name = 'dynamodb'").fetchone()[0]
        rows = saved.execute("SELECT item FROM dynamodb_items").fetchall()
    assert b"needle-in-a-row" not in snapshot and b"rows" in snapshot
    assert [r[0] for r in rows if "needle-in-a-row" in r[0]]


def test_a_bucket_made_after_the_last_snapshot_does_not_survive_half_there(persistent):
    # S3 writes objects to disk as they come, the snapshot holds the bucket records: a bucket
    # the snapshot does not hold is removed at start (CDK bootstrap then creates it again;
    # left on disk, bootstrap's CreateBucket failed and the toolkit stack rolled back).
    port, home, start = persistent
    assert start(LOCALCLOUD_CHECKPOINT_SECONDS="60").returncode == 0  # no periodic checkpoint in this test
    s3 = client("s3", port)
    s3.create_bucket(Bucket="after-the-snapshot")
    s3.put_object(Bucket="after-the-snapshot", Key="asset.zip", Body=b"zip")
    kill(home)
    on_disk = home / "state" / "s3" / ACCOUNT_A / "after-the-snapshot"
    assert (on_disk / "asset.zip").exists()

    assert start().returncode == 0
    s3 = client("s3", port)
    assert "after-the-snapshot" not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    assert not on_disk.exists()  # else the next start would find it again
    s3.create_bucket(Bucket="after-the-snapshot")  # as bootstrap would, again
    assert s3.list_objects_v2(Bucket="after-the-snapshot").get("KeyCount") == 0


def test_a_damaged_state_file_stops_the_start_and_says_what_to_do(persistent):
    port, home, start = persistent
    assert start().returncode == 0
    assert cli("down", port, home, LOCALCLOUD_PERSIST="1").returncode == 0
    database = home / "state" / "localcloud.sqlite3"
    database.write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (home / "state" / f"localcloud.sqlite3{suffix}").unlink(missing_ok=True)
    result = start()
    assert result.returncode != 0
    said = result.stdout + result.stderr
    assert "cannot be used" in said and f"rm -rf {home / 'state'}" in said and "LOCALCLOUD_PERSIST=0" in said
    assert database.read_bytes().startswith(b"this is not a database")  # nothing was changed


def test_state_of_an_earlier_version_is_not_silently_dropped(persistent):
    port, home, start = persistent
    (home / "state").mkdir(parents=True)
    (home / "state" / "sqs.json").write_text('{"__ministack_format__": 2, "payload": {}}')
    result = start()
    assert result.returncode != 0
    assert "earlier version" in result.stdout + result.stderr
    assert (home / "state" / "sqs.json").exists()
