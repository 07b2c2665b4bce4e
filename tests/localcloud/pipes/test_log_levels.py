"""Which execution steps each log level records, for an execution the enrichment ends (an
empty answer: no target invocation), per the step table of
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-logs.html ("Specifying
EventBridge Pipes log level"): Target Stage Skipped is a TRACE step only. Runs one
execution in-process with the enrichment's answer given.
"""

from __future__ import annotations

import pytest

from localcloud import auth
from localcloud.services.pipes import execution, pipe_logs
from localcloud.services.pipes.invoke import Result

RECORD = {"messageId": "m-1", "body": "x", "eventSource": "aws:sqs", "attributes": {}}


@pytest.mark.parametrize("level, steps", [
    ("INFO", ["ExecutionStarted", "EnrichmentStageEntered", "EnrichmentStageSucceeded", "ExecutionSucceeded"]),
    ("TRACE", ["ExecutionStarted", "EnrichmentStageEntered", "EnrichmentInvocationStarted",
               "EnrichmentInvocationSucceeded", "EnrichmentStageSucceeded", "TargetStageSkipped",
               "ExecutionSucceeded"]),
])
def test_an_execution_the_enrichment_ends_logs_the_documented_steps(monkeypatch, level, steps):
    written = []
    monkeypatch.setattr(auth, "require", lambda *args, **kwargs: None)
    monkeypatch.setattr(execution, "_invoke_enrichment", lambda *args: Result(True, response=[]))
    monkeypatch.setattr(pipe_logs.ExecutionLog, "flush", lambda log: written.extend(log.records))
    definition = {"Name": "p", "Arn": "arn:aws:pipes:us-east-1:222222222222:pipe/p",
                  "RoleArn": "arn:aws:iam::222222222222:role/pipe",
                  "Source": "arn:aws:sqs:us-east-1:222222222222:source",
                  "Enrichment": "arn:aws:lambda:us-east-1:222222222222:function:filter",
                  "Target": "arn:aws:sqs:us-east-1:222222222222:target", "LogConfiguration": {"Level": level}}
    assert execution.execute(definition, [RECORD]) == []  # done with, nothing to retry
    assert [r["messageType"] for r in written] == steps
