"""One transaction through the deployed pipeline, and what it left behind at each hop: log
lines (leaves), dead-letter messages, metrics, executions, the API's answer.

Leaves of the path: the recorder's log line, the backbone's audit log (us-east-1 and the
second region), the ledger's inbound audit log, and the ledger consumer's log line.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone

from ops import transactions
from ops.environment import client, output

BACKBONE, PAYMENTS, LEDGER = "111111111111", "222222222222", "333333333333"
PIPELINE = "PaymentsTransactionPipeline"
LEAVES = {
    "recorder-line": None,  # read through ops.transactions.recorded
    "enricher-line": None,  # the pipe's enrichment logs each batch (without the transaction in it)
    "backbone-audit": ("Backbone", "AuditLogGroupName", BACKBONE, "us-east-1"),
    "second-region-audit": ("BackboneSecondRegion", "AuditLogGroupName", BACKBONE, "eu-west-1"),
    "ledger-inbound": ("LedgerBus", "InboundLogGroupName", LEDGER, "us-east-1"),
    "consumer-line": ("LedgerBus", "ConsumerLogGroupName", LEDGER, "us-east-1"),
}
# Which leaves a failure at each point of the path keeps from happening; UNDETERMINED: a
# refusal by the pipe's role may come before its enrichment (reading the queue) or after it.
ALL = frozenset(LEAVES)
BEFORE_THE_BUS = frozenset({"enricher-line"})
DOWNSTREAM = {
    "api": ALL - BEFORE_THE_BUS, "pipe": ALL - BEFORE_THE_BUS, "rule": ALL - BEFORE_THE_BUS, "workflow": ALL - BEFORE_THE_BUS,
    "publish": ALL - BEFORE_THE_BUS - {"recorder-line"},
    "to-ledger": frozenset({"ledger-inbound", "consumer-line"}),
    "consumer": frozenset({"consumer-line"}),
    "to-second-region": frozenset({"second-region-audit"}),
    "ledger-logs": frozenset({"ledger-inbound", "consumer-line"}),  # both log groups under the ledger's key
    **{leaf: frozenset({leaf}) for leaf in LEAVES},
}
# The enrichment's log line names no transaction: other batches (a message a refusal kept,
# delivered once its visibility timeout ends) may write one at any time. It is asserted only
# while its own grant is taken away, when no batch can write one.
UNDETERMINED = {point: BEFORE_THE_BUS for point in DOWNSTREAM if point != "enricher-line"}
DEAD_LETTERS = {  # which dead-letter queue a refusal at a point lands in
    "rule": (PIPELINE, "RuleDeadLetterQueueUrl", PAYMENTS, "us-east-1"),
    "workflow": (PIPELINE, "WorkflowDeadLetterQueueUrl", PAYMENTS, "us-east-1"),
    "publish": (PIPELINE, "WorkflowDeadLetterQueueUrl", PAYMENTS, "us-east-1"),
    "to-ledger": ("Backbone", "DeliveryDeadLetterQueueUrl", BACKBONE, "us-east-1"),
    "to-second-region": ("Backbone", "DeliveryDeadLetterQueueUrl", BACKBONE, "us-east-1"),
    "consumer": ("LedgerBus", "DeliveryDeadLetterQueueUrl", LEDGER, "us-east-1"),
}


def wait(find, timeout: float):
    return transactions.wait_for(find, timeout, interval=0.1)


class Transaction:
    """A transaction with a unique token, sent through the HTTP API."""

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex
        self.body = json.dumps({"grant_probe": self.token, "amount": 1, "customer": {"name": "Ada"}})
        self.sha = transactions.sha256_hex(self.body)
        self.sent_ms = int(time.time() * 1000)
        self.since = self.sent_ms - 1000
        self.accepted = transactions.post(self.body)

    # --- leaves -------------------------------------------------------------------------------

    def leaf(self, name: str, timeout: float) -> bool:
        if name == "recorder-line":
            return bool(transactions.recorded(self.sha, self.since, timeout=timeout))
        if name == "enricher-line":  # from the moment this transaction was sent (no batch of before)
            return bool(wait(lambda: self._log_lines(enricher_log_group(), "batch enriched", self.sent_ms), timeout))
        stack, group, account, region = LEAVES[name]
        return bool(transactions.domain_events(stack, group, account, region, self.sha, self.since, timeout=timeout))

    # --- evidence of a refusal ----------------------------------------------------------------

    def dead_letter(self, point: str, timeout: float) -> dict | None:
        """The dead-letter message this transaction left for ``point`` (deleted once read)."""
        stack, key, account, region = DEAD_LETTERS[point]
        sqs, url = client("sqs", account, region), output(stack, key)

        def find():
            for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                               MessageAttributeNames=["All"], VisibilityTimeout=0).get("Messages", []):
                if self.token in message["Body"] or self.sha in message["Body"]:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    return message
            return None

        return wait(find, timeout)

    def _log_lines(self, group: str, text: str, since: int | None = None) -> list[str]:
        logs = client("logs", PAYMENTS, "us-east-1")
        events = logs.filter_log_events(logGroupName=group, startTime=since or self.since).get("events", [])
        return [e["message"] for e in events if text in e["message"]]

    def pipe_error(self, timeout: float) -> str | None:
        """Where Pipes shows a refusal: the pipe's StateReason (it may not read its source) or
        an error record in its log group (an enrichment or target call refused)."""
        def find():
            described = pipe()
            if "permission" in described.get("StateReason", ""):
                return f"StateReason: {described['StateReason']}"
            group = described["LogConfiguration"]["CloudwatchLogsLogDestination"]["LogGroupArn"]
            group = group.split(":log-group:")[1].removesuffix(":*")
            found = self._log_lines(group, "not authorized") + self._log_lines(group, "AccessDenied")
            return found[0] if found else None

        return wait(find, timeout)

    def recorder_error(self, timeout: float) -> str | None:
        """A line of the recorder's log naming an AccessDenied-family error, since this transaction."""
        group = output(PIPELINE, "RecorderLogGroupName")
        logs = client("logs", PAYMENTS, "us-east-1")

        def find():
            events = logs.filter_log_events(logGroupName=group, startTime=self.since, filterPattern="AccessDenied")
            return next((e["message"] for e in events.get("events", []) if "AccessDenied" in e["message"]), None)

        return wait(find, timeout)


def metric_sum(namespace: str, name: str, dimensions: dict, account: str, region: str, since: datetime) -> float:
    cloudwatch = client("cloudwatch", account, region)
    found = cloudwatch.get_metric_statistics(
        Namespace=namespace, MetricName=name, Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=since, EndTime=datetime.now(timezone.utc) + timedelta(minutes=1), Period=60, Statistics=["Sum"])
    return sum(point["Sum"] for point in found.get("Datapoints", []))


def pipe() -> dict:
    pipes = client("pipes", PAYMENTS, "us-east-1")
    return pipes.describe_pipe(Name=pipes.list_pipes()["Pipes"][0]["Name"])


def enricher_log_group() -> str:
    function = pipe()["Enrichment"]
    configuration = client("lambda", PAYMENTS, "us-east-1").get_function_configuration(FunctionName=function)
    return (configuration.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{configuration['FunctionName']}"
