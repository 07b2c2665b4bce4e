"""The pipe's execution role is asked before each enrichment and target call; a denial
fails the step as AWS does: logged in the pipe's log (403, AccessDeniedException) and the
records stay on the source. Runs the runtime in-process with ``auth.require`` denying,
so it holds before strict IAM evaluation exists.
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-permissions.html
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-error-troubleshooting.html ("customer
invocation errors ... the pipe has insufficient permissions to invoke the target")
"""

from __future__ import annotations

from localcloud import auth
from localcloud.services.pipes import execution, pipe_logs, targets

ROLE = "arn:aws:iam::222222222222:role/pipe"
TARGET = "arn:aws:sqs:us-east-1:222222222222:target"
RECORD = {"messageId": "m-1", "body": "x", "eventSource": "aws:sqs", "attributes": {}}


def _definition(**extra) -> dict:
    return {"Name": "p", "Arn": "arn:aws:pipes:us-east-1:222222222222:pipe/p", "RoleArn": ROLE,
            "Source": "arn:aws:sqs:us-east-1:222222222222:source", "Target": TARGET,
            "LogConfiguration": {"Level": "ERROR"}, **extra}


def _run(monkeypatch, definition: dict, denied_action: str) -> tuple[list, list, list, list]:
    asked, written, delivered = [], [], []

    def require(principal, action, resource, **context):
        asked.append((principal, action, resource))
        if action == denied_action:
            raise auth.AccessDenied(f"User: {principal} is not authorized to perform: {action} on resource: {resource}")

    monkeypatch.setattr(auth, "require", require)
    monkeypatch.setattr(pipe_logs.ExecutionLog, "flush", lambda log: written.extend(log.records))
    monkeypatch.setattr(targets, "deliver", lambda *args: delivered.append(args) or targets.Result(True))
    failed = execution.execute(definition, [RECORD])
    return failed, written, asked, delivered


def test_a_denied_target_call_is_logged_and_the_record_stays(monkeypatch):
    failed, written, asked, delivered = _run(monkeypatch, _definition(), "sqs:SendMessage")
    assert failed == [RECORD] and delivered == []
    assert (ROLE, "sqs:SendMessage", TARGET) in asked
    assert [r["messageType"] for r in written] == ["TargetInvocationFailed", "TargetStageFailed", "ExecutionFailed"]
    assert written[0]["error"]["httpStatusCode"] == 403
    assert written[0]["error"]["exceptionType"] == "AccessDeniedException"
    assert "sqs:SendMessage" in written[0]["error"]["message"]


def test_a_denied_enrichment_call_fails_the_batch(monkeypatch):
    enrichment = "arn:aws:lambda:us-east-1:222222222222:function:enrich"
    failed, written, asked, delivered = _run(monkeypatch, _definition(Enrichment=enrichment), "lambda:InvokeFunction")
    assert failed == [RECORD] and delivered == []
    assert (ROLE, "lambda:InvokeFunction", enrichment) in asked
    assert [r["messageType"] for r in written] == ["EnrichmentInvocationFailed", "EnrichmentStageFailed",
                                                   "ExecutionFailed"]


def test_allowed_calls_ask_the_documented_actions(monkeypatch):
    failed, _written, asked, delivered = _run(monkeypatch, _definition(), "none")
    assert failed == [] and len(delivered) == 1
    # Pipes assumes the role (its trust policy must let pipes.amazonaws.com), then acts as it
    assert asked == [("pipes.amazonaws.com", "sts:AssumeRole", ROLE), (ROLE, "sqs:SendMessage", TARGET)]


def test_a_role_that_does_not_trust_pipes_is_refused(monkeypatch):
    failed, written, asked, delivered = _run(monkeypatch, _definition(), "sts:AssumeRole")
    assert failed == [RECORD] and delivered == []
    assert asked == [("pipes.amazonaws.com", "sts:AssumeRole", ROLE)]
    assert "sts:AssumeRole" in written[0]["error"]["message"]
