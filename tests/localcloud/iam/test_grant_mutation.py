"""Every grant the data path needs is needed: take it away on the deployed local cloud, send
one transaction, and it fails at exactly that hop, with AWS's error, and goes no further;
give it back, and transactions flow again.

The grants are read from the synthesized templates (tests/localcloud/iam/grants.py): every
Allow statement of the IAM policies, role trust policies, KMS key policies, queue and bus
policies, Logs resource policies and Lambda permissions. Where a grant acts is derived
from the template (which pipe, integration, rule, state machine or function names a role;
which bus, log group or dead-letter queue a resource policy guards), so a grant added to a
stack is covered without editing this test. A grant the path does not need must be listed
in NOT_ON_THE_PATH with its reason, else the test fails: a grant nothing needs is a
least-privilege finding. Dead-letter grants are exercised by first refusing the target
they stand behind (then the event must be missing from the dead-letter queue).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

from ops.environment import client, output

from ..conftest import PROJECT_ROOT
from . import trace
from .grants import Grant, Mutator, all_grants, refs

WAIT_S = 45  # for a refusal's evidence, or a hop that should happen (a busy machine's cold starts included)
SETTLE_S = 2  # once the evidence is in, how long a hop that should not happen gets to show up anyway

# (stack, logical id, actions or Sid) -> why a transaction does not exercise it
NOT_ON_THE_PATH = {
    "xray": "X-Ray tracing: the local cloud does not run X-Ray",
    "states-logging": "the state machine's log delivery set-up (CreateLogDelivery, …): used by Step Functions when "
                      "the state machine is created, not per execution",
    "pipe-logs": "the pipe's log group, at level ERROR: a pipe that fails nothing writes nothing (a refusal by "
                 "the pipe's role is logged there: that is how the other pipe grants are checked)",
    "lambda-trust": "Lambda checks that it may assume a function's role when the function is created; "
                    "invocations use the session it issued then",
    "key-administration": "no IAM identity of this account uses the key on a transaction's path; the statement "
                          "lets the account's IAM policies administer and use its key",
    "redundant-via-secretsmanager": "redundant on AWS too: the key policy's first statement already lets this "
                                    "account's IAM policies allow the recorder's kms:Decrypt through Secrets Manager",
    "application-bus-inbound": "the payments account's application bus: a payments transaction never comes back to "
                               "it (the backbone's rule leaves the sender out)",
    "same-account-delivery": "the second region's bus policy lets application accounts publish there directly; "
                             "the backbone's own forwarding is same-account and needs no bus policy",
    "no-dead-letter-rule": "no rule of this stack has a dead-letter queue encrypted with this key",
}


@dataclass
class Expectation:
    point: str  # where the transaction stops (trace.DOWNSTREAM)
    evidence: str  # "api", "pipe", "dead-letter", "recorder-error", "missing-line", "failed-execution", "failed-invocation"
    trigger: list[Grant] | None = None  # dead-letter grants: refuse these first
    rule: str = ""  # for failed-invocation: the rule's physical name is looked up from this logical id
    function: str = ""  # a function's role: its execution environments are replaced (as a deploy does)


def _actor(grant: Grant, role_logical_id: str) -> tuple[str, str]:
    """(point, detail) where a role acts: what names it in the template."""
    for logical_id, resource in grant.resources_referring(role_logical_id):
        kind, props = resource["Type"], resource["Properties"]
        if kind == "AWS::Pipes::Pipe":
            return "pipe", logical_id
        if kind == "AWS::ApiGatewayV2::Integration":
            return "api", logical_id
        if kind == "AWS::StepFunctions::StateMachine":
            return "workflow", logical_id
        if kind == "AWS::Lambda::Function":
            enrichments = [r for r in grant.template["Resources"].values() if r["Type"] == "AWS::Pipes::Pipe"
                           and logical_id in refs(r["Properties"].get("Enrichment"))]
            return ("enricher" if enrichments else "recorder" if grant.stack == trace.PIPELINE else "consumer"), \
                logical_id
        if kind == "AWS::Events::Rule":
            target = next(t for t in props["Targets"] if role_logical_id in refs(t.get("RoleArn")))
            arn = str(target["Arn"])
            if grant.stack == trace.PIPELINE:
                return "rule", logical_id
            return ("to-second-region" if ":eu-west-1:" in arn else "to-ledger"), logical_id
    raise AssertionError(f"{grant.label}: no resource of {grant.stack} acts as {role_logical_id}")


def _role_statement(grant: Grant, role_logical_id: str) -> Expectation | str:
    point, where = _actor(grant, role_logical_id)
    services = {a.split(":")[0] for a in grant.actions}
    if services == {"xray"}:
        return "xray"
    if point == "pipe":
        return "pipe-logs" if services == {"logs"} else Expectation("pipe", "pipe")
    if point == "api":
        return Expectation("api", "api")
    if point in ("rule", "to-ledger", "to-second-region"):
        return Expectation(point, "dead-letter")
    if point == "workflow":
        if services <= {"logs", "xray"}:
            return "states-logging"
        if services == {"lambda"}:
            return Expectation("workflow", "dead-letter")
        return Expectation("workflow", "failed-execution", trigger=_workflow_lambda_grants(grant))
    if point == "recorder":
        return Expectation("recorder-line", "missing-line", function=where) if services == {"logs"} else \
            Expectation("publish", "recorder-error", function=where)
    if point == "enricher":  # the enrichment: its only grant is its logs
        return Expectation("enricher-line", "missing-line", function=where)
    return Expectation("consumer-line", "missing-line", function=where)  # the consumer: its only grant is its logs


def _workflow_lambda_grants(grant: Grant) -> list[Grant]:
    return [g for g in GRANTS if g.stack == grant.stack and g.logical_id == grant.logical_id and
            {a.split(":")[0] for a in g.actions} == {"lambda"}]


def _trigger_for_rule(stack: str, rule_logical_id: str) -> list[Grant]:
    """What to take away so that this rule's target refuses its events."""
    rule = next(r for g in GRANTS if g.stack == stack for lid, r in g.template["Resources"].items()
                if lid == rule_logical_id)
    target = rule["Properties"]["Targets"][0]
    if target.get("RoleArn"):
        role = next(iter(refs(target["RoleArn"])))
        return [g for g in GRANTS if g.stack == stack and g.kind == "iam-policy"
                and role in refs(g.template["Resources"][g.logical_id]["Properties"]["Roles"])]
    function = next(iter(refs(target["Arn"])))
    return [g for g in GRANTS if g.stack == stack and g.kind == "lambda-permission"
            and function in refs(g.template["Resources"][g.logical_id]["Properties"]["FunctionName"])]


def _rule_point(stack: str, rule_logical_id: str) -> str:
    """Where a rule of the path delivers (the point its refusal stops the transaction)."""
    template = next(g.template for g in GRANTS if g.stack == stack)
    target = str(template["Resources"][rule_logical_id]["Properties"]["Targets"][0]["Arn"])
    if stack == trace.PIPELINE:
        return "rule"
    if stack == "LedgerBus":
        return "consumer"
    return "to-second-region" if ":eu-west-1:" in target else "to-ledger"


def _dead_letter_rules(stack: str) -> list[str]:
    template = next(g.template for g in GRANTS if g.stack == stack)
    return [lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::Events::Rule"
            and any(t.get("DeadLetterConfig") for t in r["Properties"]["Targets"])]


LOG_LEAVES = {"PaymentsTransactionPipeline": "recorder-line", "Backbone": "backbone-audit",
              "BackboneSecondRegion": "second-region-audit", "LedgerBus": "ledger-inbound"}
BUS_POINTS = {"PaymentsTransactionPipeline": "pipe", "Backbone": "publish", "BackboneSecondRegion": "to-second-region",
              "LedgerBus": "to-ledger"}


def expectation(grant: Grant) -> Expectation | str:
    if grant.kind == "iam-policy":
        roles = refs(grant.template["Resources"][grant.logical_id]["Properties"]["Roles"])
        return _role_statement(grant, next(iter(roles)))
    if grant.kind == "trust":
        point, _ = _actor(grant, grant.logical_id)
        if point in ("recorder", "consumer", "enricher"):
            return "lambda-trust"
        if point == "workflow":
            return Expectation("workflow", "failed-execution")
        return Expectation(point, "api" if point == "api" else "pipe" if point == "pipe" else "dead-letter")
    if grant.kind == "key-policy":
        services = grant.principal_services
        condition = str(grant.statement.get("Condition", ""))
        if not services:
            if "secretsmanager" in condition:
                return "redundant-via-secretsmanager"
            return Expectation("api", "api") if grant.stack == trace.PIPELINE else "key-administration"
        if grant.stack == "PaymentsBus":
            return "application-bus-inbound"
        if any(s.startswith("logs.") for s in services):
            return Expectation("ledger-logs" if grant.stack == "LedgerBus" else LOG_LEAVES[grant.stack], "missing-line")
        if "event-bus" in condition:
            return Expectation(BUS_POINTS[grant.stack], "dead-letter" if BUS_POINTS[grant.stack].startswith("to-")
                               else "pipe" if grant.stack == trace.PIPELINE else "recorder-error")
        rules = _dead_letter_rules(grant.stack)
        if not rules:
            return "no-dead-letter-rule"
        return Expectation(_rule_point(grant.stack, rules[0]), "failed-invocation",
                           trigger=_trigger_for_rule(grant.stack, rules[0]), rule=rules[0])
    if grant.kind == "queue-policy":
        rule = next(iter(refs(grant.statement.get("Condition"))))
        return Expectation(_rule_point(grant.stack, rule), "failed-invocation",
                           trigger=_trigger_for_rule(grant.stack, rule), rule=rule)
    if grant.kind == "bus-policy":
        if grant.stack == "PaymentsBus":
            return "application-bus-inbound"
        if grant.stack == "BackboneSecondRegion":
            return "same-account-delivery"
        return Expectation("publish" if grant.stack == "Backbone" else "to-ledger",
                           "recorder-error" if grant.stack == "Backbone" else "dead-letter")
    if grant.kind == "logs-policy":
        if grant.stack == "PaymentsBus":
            return "application-bus-inbound"
        return Expectation(LOG_LEAVES[grant.stack], "missing-line")
    return Expectation("consumer", "dead-letter")  # a Lambda permission: the ledger's consumer


GRANTS: list[Grant] = []


def _evidence(tx: trace.Transaction, expected: Expectation, before: dict) -> str:
    """AWS's refusal, where AWS shows it; raises AssertionError when it is not there."""
    kind = expected.evidence
    if kind == "api":
        status, body = tx.accepted.status, str(tx.accepted.body)
        assert status in (400, 403, 500) and ("AccessDenied" in body or "Internal Server Error" in body), (status, body)
        return f"HTTP {status} {body[:160]}"
    if kind == "pipe":  # as AWS shows it: an error record in the pipe's log group (level ERROR)
        line = tx.pipe_error(timeout=WAIT_S)
        assert line, "no refusal in the pipe's log"
        return line[-200:]
    if kind == "recorder-error":  # the handler's SDK call refused: AccessDenied in its log (the workflow retries)
        line = tx.recorder_error(timeout=WAIT_S)
        assert line, "the recorder's log names no AccessDenied error"
        return line[-200:]
    if kind == "dead-letter":
        message = tx.dead_letter(expected.point, timeout=WAIT_S)
        assert message, f"nothing in the dead-letter queue of {expected.point}"
        if expected.point == "workflow":
            return "workflow dead-letter queue: the original body"
        attributes = {k: v["StringValue"] for k, v in (message.get("MessageAttributes") or {}).items()}
        assert "AccessDenied" in attributes.get("ERROR_CODE", "") + attributes.get("ERROR_MESSAGE", ""), attributes
        return f"{attributes['ERROR_CODE']}: {attributes['ERROR_MESSAGE'][:160]}"
    if kind == "failed-execution":  # EXPRESS executions are listed nowhere: AWS/States ExecutionsFailed counts them
        dimensions = {"StateMachineArn": before["machine"]}
        assert transactions_wait(lambda: trace.metric_sum("AWS/States", "ExecutionsFailed", dimensions, trace.PAYMENTS,
                                                          "us-east-1", before["since"]) > before["failed"]), \
            "no ExecutionsFailed"
        return f"ExecutionsFailed of {before['machine']}"
    if kind == "failed-invocation":
        dimensions = {"RuleName": before["rule_name"]}
        assert transactions_wait(lambda: trace.metric_sum("AWS/Events", "FailedInvocations", dimensions,
                                                          *before["rule_where"], before["since"]) > before["failures"]), \
            "no FailedInvocations"
        return f"FailedInvocations of {before['rule_name']}"
    return "log lines missing while the transaction went on"


def transactions_wait(check) -> bool:
    return bool(trace.wait(check, WAIT_S))


def _before(expected: Expectation, mutator: Mutator, grant: Grant) -> dict:
    before = {"since": datetime.now(timezone.utc).replace(second=0, microsecond=0)}
    if expected.evidence == "failed-execution":
        before["machine"] = output(trace.PIPELINE, "StateMachineArn")
        before["failed"] = trace.metric_sum("AWS/States", "ExecutionsFailed", {"StateMachineArn": before["machine"]},
                                            trace.PAYMENTS, "us-east-1", before["since"])
    if expected.evidence == "failed-invocation":
        before["rule_name"] = mutator.physical(grant, expected.rule)
        before["rule_where"] = (grant.account, grant.region)
        before["failures"] = trace.metric_sum("AWS/Events", "FailedInvocations", {"RuleName": before["rule_name"]},
                                              grant.account, grant.region, before["since"])
    return before


def _fresh_environments(mutator: Mutator, grant: Grant, function_logical_id: str):
    """Replace the function's execution environments (a configuration change, as a deploy
    makes): nothing a warm one cached before the mutation (a secret, say) hides it."""
    lam = client("lambda", grant.account, grant.region)
    name = mutator.physical(grant, function_logical_id)
    environment = lam.get_function_configuration(FunctionName=name).get("Environment") or {"Variables": {}}
    variables = {**environment.get("Variables", {}), "GRANT_MUTATION": str(time.time())}
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": variables})
    return lambda: lam.update_function_configuration(FunctionName=name, Environment=environment)


def _check(grant: Grant, expected: Expectation, mutator: Mutator) -> str:
    blocked = trace.DOWNSTREAM[expected.point]
    undetermined = trace.UNDETERMINED.get(expected.point, frozenset())
    # Statements of one document go highest index first, so indices stay right; restored in reverse.
    taken = sorted([*(expected.trigger or []), grant], key=lambda g: -g.index)
    restores = [mutator.remove(g) for g in taken]
    if expected.function:
        restores.append(_fresh_environments(mutator, grant, expected.function))
    try:
        before = _before(expected, mutator, grant)
        tx = trace.Transaction()
        evidence = _evidence(tx, expected, before)
        for leaf in sorted(trace.ALL - blocked - undetermined):
            assert tx.leaf(leaf, timeout=WAIT_S), f"{leaf} did not happen, though the refusal is further on"
        time.sleep(SETTLE_S)
        for leaf in sorted(blocked):
            assert not tx.leaf(leaf, timeout=0), f"{leaf} happened past the refusal"
        if expected.trigger:
            assert tx.dead_letter(expected.point, timeout=0) is None, "the dead-letter queue got the event without its grant"
    finally:
        for restore in reversed(restores):
            restore()
    again = trace.Transaction()
    for leaf in sorted(blocked):
        assert again.leaf(leaf, timeout=WAIT_S), f"{leaf} still does not happen after the grant was given back"
    return evidence


def test_every_grant_on_the_transaction_path_is_needed(pipeline):
    GRANTS[:] = all_grants(PROJECT_ROOT / f"cdk.out.{pipeline.port}")
    mutator = Mutator(client)
    warm = trace.Transaction()
    assert all(warm.leaf(leaf, timeout=60) for leaf in trace.ALL), "the pipeline does not run with every grant"
    report, failures, unused_reasons = [], [], set(NOT_ON_THE_PATH)
    for grant in GRANTS:
        expected = expectation(grant)
        if isinstance(expected, str):
            assert expected in NOT_ON_THE_PATH, (grant.label, expected)
            unused_reasons.discard(expected)
            report.append(f"not on the path  {grant.label}: {expected}")
            continue
        try:
            evidence = _check(grant, expected, mutator)
            report.append(f"refused at {expected.point:<18} {grant.label}: {evidence}")
        except Exception as error:  # noqa: BLE001 - every grant is reported, not only the first that fails
            failures.append(f"{grant.label} (expected at {expected.point}, {expected.evidence}): "
                            f"{type(error).__name__}: {error}")
    print("\n".join(report))
    assert not failures, "\n".join(failures)
    assert not unused_reasons, f"reasons no grant uses any more (remove them): {sorted(unused_reasons)}"
