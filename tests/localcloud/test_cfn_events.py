"""CloudFormation AWS::Events::Archive and AWS::Events::EventBusPolicy
(localcloud/services/events/cloudformation.py)."""

from __future__ import annotations

import json
import subprocess
import textwrap
import time

import pytest
from botocore.exceptions import ClientError

from .conftest import ACCOUNT_A, ACCOUNT_B, PROJECT_ROOT, PYTHON, REGION, drain, server_env

PATTERN = {"source": ["com.example.cfn"]}


def template(bus: str, retention_days: int, *, with_policy: bool = True) -> dict:
    resources = {
        "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": bus}},
        "Archive": {"Type": "AWS::Events::Archive", "Properties": {
            "SourceArn": {"Fn::GetAtt": ["Bus", "Arn"]},
            "Description": "seven days of transactions",
            "RetentionDays": retention_days,
            "EventPattern": PATTERN,
        }},
    }
    if with_policy:
        resources["Policy"] = {"Type": "AWS::Events::EventBusPolicy", "Properties": {
            "EventBusName": {"Ref": "Bus"},
            "StatementId": "AllowLedger",
            "Statement": {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_B}:root"},
                          "Action": "events:PutEvents", "Resource": {"Fn::GetAtt": ["Bus", "Arn"]}},
        }}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": resources,
        "Outputs": {"ArchiveName": {"Value": {"Ref": "Archive"}},
                    "ArchiveArn": {"Value": {"Fn::GetAtt": ["Archive", "Arn"]}}},
    }


def wait_stack(cfn, name: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        except ClientError as error:
            if "does not exist" in str(error):
                return {"StackStatus": "DELETE_COMPLETE"}
            raise
        if not stack["StackStatus"].endswith("IN_PROGRESS"):
            return stack
        if time.monotonic() > deadline:
            raise AssertionError(f"stack {name} still {stack['StackStatus']} after {timeout} s")
        time.sleep(0.1)


def outputs(stack: dict) -> dict:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def failure_reasons(cfn, name: str) -> list[str]:
    try:
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    except ClientError:
        return []
    return [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
            for e in events if "FAILED" in e["ResourceStatus"]]


def test_stack_with_archive_and_bus_policy_creates_updates_and_deletes(aws, unique):
    cfn, events = aws("cloudformation"), aws("events")
    stack_name, bus = unique("cfn-events"), unique("cfn-bus")
    bus_arn = f"arn:aws:events:{REGION}:{ACCOUNT_A}:event-bus/{bus}"

    cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(template(bus, 7)))
    stack = wait_stack(cfn, stack_name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", failure_reasons(cfn, stack_name)
    archive_name = outputs(stack)["ArchiveName"]

    archive = events.describe_archive(ArchiveName=archive_name)
    assert archive["EventSourceArn"] == bus_arn
    assert archive["RetentionDays"] == 7
    assert json.loads(archive["EventPattern"]) == PATTERN
    assert archive["ArchiveArn"] == outputs(stack)["ArchiveArn"]
    assert archive_name in [a["ArchiveName"] for a in events.list_archives(EventSourceArn=bus_arn)["Archives"]]

    policy = json.loads(events.describe_event_bus(Name=bus)["Policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["AllowLedger"]["Effect"] == "Allow"
    assert statements["AllowLedger"]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT_B}:root"}
    assert statements["AllowLedger"]["Action"] == "events:PutEvents"
    assert statements["AllowLedger"]["Resource"] == bus_arn

    # update: RetentionDays 7 -> 14 is an in-place change (same archive name)
    cfn.update_stack(StackName=stack_name, TemplateBody=json.dumps(template(bus, 14)))
    stack = wait_stack(cfn, stack_name)
    assert stack["StackStatus"] == "UPDATE_COMPLETE", failure_reasons(cfn, stack_name)
    assert outputs(stack)["ArchiveName"] == archive_name
    assert events.describe_archive(ArchiveName=archive_name)["RetentionDays"] == 14

    # update: dropping the policy resource removes its statement
    cfn.update_stack(StackName=stack_name, TemplateBody=json.dumps(template(bus, 14, with_policy=False)))
    stack = wait_stack(cfn, stack_name)
    assert stack["StackStatus"] == "UPDATE_COMPLETE", failure_reasons(cfn, stack_name)
    assert "AllowLedger" not in events.describe_event_bus(Name=bus).get("Policy", "")

    cfn.delete_stack(StackName=stack_name)
    assert wait_stack(cfn, stack_name)["StackStatus"] == "DELETE_COMPLETE"
    with pytest.raises(ClientError) as missing:
        events.describe_archive(ArchiveName=archive_name)
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert bus not in [b["Name"] for b in events.list_event_buses()["EventBuses"]]


def test_delete_stack_removes_the_policy_statement(aws, unique):
    """The policy goes with its stack even when the bus it is on lives elsewhere."""
    cfn, events = aws("cloudformation"), aws("events")
    bus = unique("cfn-kept-bus")
    events.create_event_bus(Name=bus)
    stack_name = unique("cfn-policy")
    body = {"Resources": {"Policy": {"Type": "AWS::Events::EventBusPolicy", "Properties": {
        "EventBusName": bus, "StatementId": "AllowLedger",
        "Statement": {"Effect": "Allow", "Principal": {"AWS": ACCOUNT_B}, "Action": "events:PutEvents",
                      "Resource": f"arn:aws:events:{REGION}:{ACCOUNT_A}:event-bus/{bus}"}}}}}
    cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(body))
    assert wait_stack(cfn, stack_name)["StackStatus"] == "CREATE_COMPLETE", failure_reasons(cfn, stack_name)
    assert "AllowLedger" in events.describe_event_bus(Name=bus)["Policy"]
    cfn.delete_stack(StackName=stack_name)
    assert wait_stack(cfn, stack_name)["StackStatus"] == "DELETE_COMPLETE"
    assert "Policy" not in events.describe_event_bus(Name=bus)


def test_bus_policy_made_by_cloudformation_is_enforced(aws, unique, observer):
    """The statement a stack writes is the one cross-account PutEvents is checked against."""
    cfn = aws("cloudformation")
    stack_name, bus = unique("cfn-enforced"), unique("cfn-enf-bus")
    cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(template(bus, 7)))
    assert wait_stack(cfn, stack_name)["StackStatus"] == "CREATE_COMPLETE", failure_reasons(cfn, stack_name)
    seen = observer(bus, pattern=PATTERN)
    bus_arn = f"arn:aws:events:{REGION}:{ACCOUNT_A}:event-bus/{bus}"
    entry = {"EventBusName": bus_arn, "Source": "com.example.cfn", "DetailType": "t", "Detail": "{}"}
    allowed = aws("events", ACCOUNT_B).put_events(Entries=[entry])
    assert allowed["FailedEntryCount"] == 0, allowed
    denied = aws("events", "444444444444").put_events(Entries=[entry])
    assert denied["Entries"][0].get("ErrorCode") == "AccessDeniedException"
    assert [json.loads(m["Body"])["account"] for m in drain(aws("sqs"), seen, expected=1, timeout=5, quiet=0.5)] \
        == [ACCOUNT_B]
    cfn.delete_stack(StackName=stack_name)
    wait_stack(cfn, stack_name)


def test_bus_policy_in_the_deprecated_principal_form(aws, unique):
    """EventBusPolicy with Action/Principal instead of Statement (older templates)."""
    cfn, events = aws("cloudformation"), aws("events")
    bus = unique("cfn-old-bus")
    bus_arn = events.create_event_bus(Name=bus)["EventBusArn"]
    stack_name = unique("cfn-old-policy")
    body = {"Resources": {"Policy": {"Type": "AWS::Events::EventBusPolicy", "Properties": {
        "EventBusName": bus, "StatementId": "AllowLedgerOld", "Action": "events:PutEvents", "Principal": ACCOUNT_B}}}}
    cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(body))
    assert wait_stack(cfn, stack_name)["StackStatus"] == "CREATE_COMPLETE", failure_reasons(cfn, stack_name)
    statement = {s["Sid"]: s for s in json.loads(events.describe_event_bus(Name=bus)["Policy"])["Statement"]}[
        "AllowLedgerOld"]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT_B}:root"}
    entry = {"EventBusName": bus_arn, "Source": "com.example.cfn", "DetailType": "t", "Detail": "{}"}
    assert aws("events", ACCOUNT_B).put_events(Entries=[entry])["FailedEntryCount"] == 0
    cfn.delete_stack(StackName=stack_name)
    wait_stack(cfn, stack_name)


def test_archive_without_source_arn_fails_the_stack(aws, unique):
    cfn = aws("cloudformation")
    stack_name = unique("cfn-bad-archive")
    body = {"Resources": {"Archive": {"Type": "AWS::Events::Archive", "Properties": {"RetentionDays": 1}}}}
    cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(body))
    stack = wait_stack(cfn, stack_name)
    assert stack["StackStatus"] in ("CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED")
    assert any("SourceArn" in reason for reason in failure_reasons(cfn, stack_name))


NEEDED_PROBE = textwrap.dedent("""
    import json
    from ministack.services.cloudformation.engine import validate_template_support
    from ministack.services.cloudformation.provisioners import _RESOURCE_HANDLERS
    from localcloud.services.events import cloudformation as cfn_events

    template = json.loads(%r)
    report = {"types_before": sorted(t for t in cfn_events.HANDLERS if t in _RESOURCE_HANDLERS)}
    try:
        validate_template_support(template, {})
        report["rejected_before"] = None
    except ValueError as error:
        report["rejected_before"] = str(error)
    report["needed_before"] = cfn_events.needed()
    cfn_events.install()
    report["needed_after"] = cfn_events.needed()
    validate_template_support(template, {})
    print(json.dumps(report))
""")


def test_ministack_alone_rejects_the_template_so_the_extension_is_needed(tmp_path):
    """Against the installed ministack (in a subprocess: the server is not touched)."""
    probe = NEEDED_PROBE % json.dumps(template("probe-bus", 7))
    result = subprocess.run([PYTHON, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
                            env=server_env(0, tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["types_before"] == []
    assert report["needed_before"] is True
    assert "Unrecognized resource types" in report["rejected_before"]
    assert "AWS::Events::Archive" in report["rejected_before"]
    assert "AWS::Events::EventBusPolicy" in report["rejected_before"]
    assert report["needed_after"] is False
