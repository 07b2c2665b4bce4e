"""Accounts are isolated as on AWS: another account's root may do nothing to the payments
account's resources that no resource policy allows it, while payments' own root may.

AWS: a cross-account request needs both the caller's identity policy (a root holds every
permission of its own account) and the resource's policy
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html).
Nothing in the stacks grants another account anything on these resources. Error codes
are each service's: SQS ``AccessDenied`` (its query-compatible code), the JSON services
``AccessDeniedException``, a PutEvents entry ``AccessDeniedException`` (PutEventsResultEntry).
"""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from ops import transactions

PAYMENTS, LEDGER, UNKNOWN = "222222222222", "333333333333", "999999999999"
PIPELINE = "PaymentsTransactionPipeline"


@pytest.fixture(scope="module")
def resources(pipeline):
    """ARNs of the payments account's resources, looked up as payments' root."""
    def client(service):
        return pipeline.client(service, PAYMENTS)

    everything = json.loads(pipeline.outputs_file.read_text())
    out = everything[PIPELINE]
    key = client("sqs").get_queue_attributes(QueueUrl=out["IngressQueueUrl"],
                                             AttributeNames=["KmsMasterKeyId"])["Attributes"]["KmsMasterKeyId"]
    table = client("dynamodb").list_tables()["TableNames"][0]
    return {
        "out": out,
        "buses": [out["TransactionBusArn"], everything["PaymentsBus"]["BusArn"]],
        "key": key,
        "ciphertext": client("kms").encrypt(KeyId=key, Plaintext=b"payments only")["CiphertextBlob"],
        "secret": client("secretsmanager").list_secrets()["SecretList"][0]["ARN"],
        "table": client("dynamodb").describe_table(TableName=table)["Table"]["TableArn"],
        "function": client("lambda").get_function(FunctionName=out["RecorderFunctionName"])["Configuration"]["FunctionArn"],
        "group": f"arn:aws:logs:us-east-1:{PAYMENTS}:log-group:{out['RecorderLogGroupName']}",
        "archive": client("events").describe_archive(ArchiveName=out["ArchiveName"])["ArchiveArn"],
    }


def _calls(r):
    out = r["out"]
    now = time.time()
    return {
        "sqs:ReceiveMessage (dead-letter queue)": ("sqs", lambda c: c.receive_message(
            QueueUrl=out["IngressDeadLetterQueueUrl"], VisibilityTimeout=0)),
        "sqs:SendMessage (ingress queue)": ("sqs", lambda c: c.send_message(
            QueueUrl=out["IngressQueueUrl"], MessageBody='{"isolation": "probe"}')),
        "sqs:PurgeQueue (rule dead-letter queue)": ("sqs", lambda c: c.purge_queue(
            QueueUrl=out["RuleDeadLetterQueueUrl"])),
        "sqs:GetQueueAttributes": ("sqs", lambda c: c.get_queue_attributes(
            QueueUrl=out["IngressQueueUrl"], AttributeNames=["All"])),
        "logs:FilterLogEvents": ("logs", lambda c: c.filter_log_events(logGroupIdentifier=r["group"], limit=1)),
        "events:StartReplay": ("events", lambda c: c.start_replay(
            ReplayName=f"isolation-{time.time_ns()}", EventSourceArn=r["archive"], EventStartTime=now - 2,
            EventEndTime=now - 1, Destination={"Arn": out["TransactionBusArn"]})),
        "lambda:InvokeFunction": ("lambda", lambda c: c.invoke(FunctionName=r["function"], InvocationType="DryRun")),
        "lambda:GetFunction": ("lambda", lambda c: c.get_function(FunctionName=r["function"])),
        "secretsmanager:GetSecretValue": ("secretsmanager", lambda c: c.get_secret_value(SecretId=r["secret"])),
        "dynamodb:GetItem": ("dynamodb", lambda c: c.get_item(TableName=r["table"], Key={"id": {"S": "probe"}})),
        "dynamodb:Scan": ("dynamodb", lambda c: c.scan(TableName=r["table"], Limit=1)),
        "kms:Decrypt": ("kms", lambda c: c.decrypt(CiphertextBlob=r["ciphertext"])),
    }


CALLS = list(_calls({"out": {}, "group": "", "archive": "", "function": "", "secret": "", "table": "",
                     "ciphertext": b""}))
EXPECTED_CODE = {"sqs": "AccessDenied"}


@pytest.mark.parametrize("outsider", [LEDGER, UNKNOWN])
@pytest.mark.parametrize("name", CALLS)
def test_another_accounts_root_is_refused_and_payments_root_is_not(aws, resources, outsider, name):
    service, call = _calls(resources)[name]
    action = name.split(" ")[0]
    with pytest.raises(Exception) as refused:
        call(aws(service, outsider))
    error = refused.value.response["Error"]
    assert error["Code"] == EXPECTED_CODE.get(service, "AccessDeniedException"), error
    assert f"arn:aws:iam::{outsider}:root is not authorized to perform: {action}" in error["Message"], error
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)
    try:
        call(aws(service, PAYMENTS))  # the owner's root may
    except ClientError as answered:
        # One purge per queue per 60 s: the second owner's purge passed authorization, then
        # met the first (AWS answers PurgeQueueInProgress only to a caller that may purge).
        if action != "sqs:PurgeQueue" or "PurgeQueueInProgress" not in answered.response["Error"]["Code"]:
            raise


@pytest.mark.parametrize("outsider", [LEDGER, UNKNOWN])
def test_put_events_on_payments_buses_fails_the_entry(aws, resources, outsider):
    """PutEvents authorizes each entry on its bus; a refused entry fails with AccessDeniedException."""
    for bus in resources["buses"]:
        entry = {"EventBusName": bus, "Source": "isolation.probe", "DetailType": "probe", "Detail": "{}"}
        refused = aws("events", outsider).put_events(Entries=[entry])
        assert refused["FailedEntryCount"] == 1, bus
        assert refused["Entries"][0]["ErrorCode"] == "AccessDeniedException"
        assert aws("events", PAYMENTS).put_events(Entries=[entry])["FailedEntryCount"] == 0


def test_a_forged_transaction_from_another_account_is_never_recorded(aws, resources):
    """The forgery of the issue: another account's root sending a transaction to the ingress queue."""
    since = int(time.time() * 1000)
    body = '{"forged": true, "amount": 1000000}'
    with pytest.raises(Exception) as refused:
        aws("sqs", LEDGER).send_message(QueueUrl=resources["out"]["IngressQueueUrl"], MessageBody=body)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert transactions.recorded(transactions.sha256_hex(body), since, timeout=3) == []
