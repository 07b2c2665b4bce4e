"""Retention enforced as AWS documents it, on a local cloud of this module's own whose
retention sweep runs every second (LOCALCLOUD_RETENTION_SWEEP_SECONDS; default 60):

* log groups: "CloudWatch Logs … deletes log events older than the retention setting"
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/Working-with-log-groups-and-streams.html);
* DynamoDB TTL: expired items are deleted "within a few days", items expired more than five
  years ago never (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html);
* EventBridge archives: events older than RetentionDays leave the archive, and its
  EventCount and SizeBytes follow
  (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_CreateArchive.html).
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import time

import boto3
import pytest
from botocore.config import Config

from .conftest import ACCOUNT_A, PROJECT_ROOT, PYTHON, REGION, free_port, server_env, stop_process, wait_for, wait_healthy

DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def sweeping(tmp_path_factory):
    """boto3 client factory for a local cloud that sweeps every second."""
    home, port = tmp_path_factory.mktemp("retention"), free_port()
    log = home / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([PYTHON, "-m", "localcloud", "serve"], cwd=PROJECT_ROOT, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=server_env(port, home, LOCALCLOUD_RETENTION_SWEEP_SECONDS="1"))
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(endpoint, process, log)
        yield lambda service: boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                                           aws_access_key_id=ACCOUNT_A, aws_secret_access_key="test",
                                           config=Config(retries={"max_attempts": 1}))
    finally:
        stop_process(process)


def test_log_events_older_than_the_groups_retention_are_deleted(sweeping):
    logs = sweeping("logs")
    logs.create_log_group(logGroupName="/retention/logs")
    logs.create_log_stream(logGroupName="/retention/logs", logStreamName="s")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName="/retention/logs", logStreamName="s", logEvents=[
        {"timestamp": now - 2 * DAY_MS, "message": "two days old"},
        {"timestamp": now - 2 * DAY_MS + 1000, "message": "two days old, too"}])
    logs.put_log_events(logGroupName="/retention/logs", logStreamName="s",
                        logEvents=[{"timestamp": now, "message": "fresh"}])
    time.sleep(2)  # no retention yet: nothing goes
    assert len(logs.filter_log_events(logGroupName="/retention/logs")["events"]) == 3

    logs.put_retention_policy(logGroupName="/retention/logs", retentionInDays=1)
    remaining = wait_for(lambda: (lambda m: m if m == ["fresh"] else None)(
        [e["message"] for e in logs.filter_log_events(logGroupName="/retention/logs")["events"]]), timeout=15)
    assert remaining == ["fresh"]
    stored = logs.describe_log_groups(logGroupNamePrefix="/retention/logs")["logGroups"][0]["storedBytes"]
    assert stored == len("fresh")


def test_expired_items_are_deleted_by_ttl_but_not_those_expired_five_years_ago(sweeping):
    dynamodb = sweeping("dynamodb")
    dynamodb.create_table(TableName="retention-ttl", BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    dynamodb.update_time_to_live(TableName="retention-ttl",
                                 TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    now = int(time.time())
    for key, expires in (("expired", now - 5), ("expires-later", now + 3600), ("six-years-ago", now - 6 * 365 * 86400)):
        dynamodb.put_item(TableName="retention-ttl", Item={"id": {"S": key}, "expires": {"N": str(expires)}})
    dynamodb.put_item(TableName="retention-ttl", Item={"id": {"S": "no-ttl-attribute"}})
    dynamodb.put_item(TableName="retention-ttl", Item={"id": {"S": "not-a-number"}, "expires": {"S": "yesterday"}})

    def keys():
        return sorted(i["id"]["S"] for i in dynamodb.scan(TableName="retention-ttl")["Items"])

    remaining = wait_for(lambda: (lambda k: k if "expired" not in k else None)(keys()), timeout=15)
    assert remaining == ["expires-later", "no-ttl-attribute", "not-a-number", "six-years-ago"]
    assert dynamodb.describe_table(TableName="retention-ttl")["Table"]["ItemCount"] == 4


ARCHIVE_RETENTION = textwrap.dedent('''
    """In-process: an archive holding an event archived two days ago and one just now, swept."""
    import json, time
    from localcloud.gateway import build_app
    from localcloud.settings import load_settings
    build_app(load_settings())
    from localcloud import seams
    from localcloud.services.events import archive_store, archives
    bus = "arn:aws:events:us-east-1:222222222222:event-bus/default"
    with seams.request_scope("222222222222", "us-east-1"):
        seams.events.action("CreateArchive", {"ArchiveName": "kept-a-day", "EventSourceArn": bus,
                                              "RetentionDays": 1})
        seams.events.action("CreateArchive", {"ArchiveName": "kept-for-ever", "EventSourceArn": bus})
        for name in ("kept-a-day", "kept-for-ever"):
            for age_s in (2 * 86400, 0):
                archive_store.add("222222222222", "us-east-1", [name],
                                  {"EventId": f"{name}-{age_s}", "Time": int(time.time()) - age_s})
        removed = archives.expire_events()
        totals = {n: archive_store.totals("222222222222", "us-east-1", n) for n in ("kept-a-day", "kept-for-ever")}
    print(json.dumps({"removed": removed, "totals": totals}))
''')


def test_archived_events_older_than_retention_days_are_deleted(tmp_path):
    # Events cannot be put with an old time through the API here, so the sweep runs
    # in-process, in a fresh interpreter (no server), on the real stores.
    result = subprocess.run([PYTHON, "-c", ARCHIVE_RETENTION], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=120, env=server_env(free_port(), tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["removed"] == 1
    kept_a_day, kept_for_ever = outcome["totals"]["kept-a-day"], outcome["totals"]["kept-for-ever"]
    assert kept_a_day[0] == 1 and kept_for_ever[0] == 2  # RetentionDays 0: "retained indefinitely"
    assert 0 < kept_a_day[1] < kept_for_ever[1]
