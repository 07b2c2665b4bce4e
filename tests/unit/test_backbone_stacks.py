"""The backbone account's global bus (both regions) and the application accounts' buses,
as synthesized for the local configuration and for the AWS example (organization set)."""

from __future__ import annotations

import json

import pytest

from .helpers import (
    account_principals,
    as_list,
    get_att,
    recorder_function,
    only,
    policy_statements_for_role,
    props,
    ref,
    render,
    resources,
    role_of,
)

CASES = {
    "local": {
        "prefix": "",
        "backbone": "111111111111",
        "payments": "222222222222",
        "ledger": "333333333333",
        "name": "local",
        "org": None,
    },
    "aws": {
        "prefix": "DeliveryPipeline/",
        "backbone": "123456789012",
        "payments": "210987654321",
        "ledger": "345678901234",
        "name": "aws-example",
        "org": "o-exampleorgid",
    },
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request, local_synth, aws_synth):
    synth = local_synth if request.param == "local" else aws_synth
    return synth, CASES[request.param]


def _stack(case, local_name: str, pipeline_name: str):
    synth, c = case
    return synth.stack(local_name if not c["prefix"] else c["prefix"] + pipeline_name)


@pytest.fixture(scope="module")
def primary(case):
    return _stack(case, "Backbone", "Backbone-us-east-1/Backbone")


@pytest.fixture(scope="module")
def second(case):
    return _stack(case, "BackboneSecondRegion", "Backbone-eu-west-1/BackboneSecondRegion")


@pytest.fixture(scope="module")
def payments_bus(case):
    return _stack(case, "PaymentsBus", "App-payments/PaymentsBus")


@pytest.fixture(scope="module")
def ledger_bus(case):
    return _stack(case, "LedgerBus", "App-ledger/LedgerBus")


@pytest.fixture(scope="module")
def c(case):
    return case[1]


def bus_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:events:{region}:{account}:event-bus/{name}"


def rules_targeting(template, arn: str) -> list[tuple[str, dict, dict]]:
    """(rule id, rule, target) for every rule target whose Arn is exactly ``arn``."""
    return [
        (rule_id, rule, target)
        for rule_id, rule in resources(template, "AWS::Events::Rule").items()
        for target in props(rule).get("Targets", [])
        if target["Arn"] == arn
    ]


def bus_targets(template) -> list[str]:
    """Every literal event-bus ARN some rule of the template targets."""
    return [
        target["Arn"]
        for rule in resources(template, "AWS::Events::Rule").values()
        for target in props(rule).get("Targets", [])
        if isinstance(target["Arn"], str) and ":event-bus/" in target["Arn"]
    ]


# --------------------------------------------------------------------------- the global bus


def test_backbone_stacks_are_in_the_backbone_account_in_both_regions(primary, second, c):
    assert (primary.account, primary.region) == (c["backbone"], "us-east-1")
    assert (second.account, second.region) == (c["backbone"], "eu-west-1")


@pytest.mark.parametrize("which", ["primary", "second"])
def test_global_bus_is_named_from_the_configuration_and_encrypted(request, which, c):
    stack = request.getfixturevalue(which)
    (_, bus) = only(stack.template, "AWS::Events::EventBus")
    assert props(bus)["Name"] == f"{c['name']}-backbone"  # both regions: same name, other region
    (key_id, key) = only(stack.template, "AWS::KMS::Key")
    assert props(bus)["KmsKeyIdentifier"] == get_att(key_id)
    assert props(key)["EnableKeyRotation"] is True


@pytest.mark.parametrize("which", ["primary", "second"])
def test_only_the_application_accounts_may_put_events_on_the_global_bus(request, which, c):
    template = request.getfixturevalue(which).template
    (bus_id, _) = only(template, "AWS::Events::EventBus")
    (_, policy) = only(template, "AWS::Events::EventBusPolicy")
    statement = props(policy)["Statement"]
    assert props(policy)["EventBusName"] == ref(bus_id)
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == get_att(bus_id)
    assert sorted(account_principals(statement["Principal"])) == sorted([c["payments"], c["ledger"]])
    if c["org"]:
        # With an organization configured, the accounts must also still be in it.
        assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": c["org"]}}
    else:
        assert "Condition" not in statement


def test_ledger_subscription_rule_forwards_transaction_recorded_from_other_accounts(primary, c):
    ledger_bus = bus_arn(c["ledger"], "us-east-1", f"{c['name']}-ledger")
    ((rule_id, rule, target),) = rules_targeting(primary.template, ledger_bus)
    (bus_id, _) = only(primary.template, "AWS::Events::EventBus")
    assert props(rule)["EventBusName"] == ref(bus_id)
    # One hop, and never ledger's own events back to it.
    assert props(rule)["EventPattern"] == {
        "detail-type": ["TransactionRecorded"],
        "account": [{"anything-but": [c["ledger"]]}],
    }
    assert "DeadLetterConfig" in target
    role_id = role_of(target)
    trust = props(primary.template["Resources"][role_id])["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "events.amazonaws.com"}]
    assert policy_statements_for_role(primary.template, role_id) == [
        {"Action": "events:PutEvents", "Effect": "Allow", "Resource": ledger_bus}
    ]


def test_no_rule_targets_the_payments_bus(primary, second, c):
    # Payments subscribes to nothing: the backbone must not send it anything.
    for stack in (primary, second):
        assert [a for a in bus_targets(stack.template) if a.endswith(f"event-bus/{c['name']}-payments")] == []


def test_primary_forwards_subscribed_detail_types_to_the_second_region(primary, c):
    second_bus = bus_arn(c["backbone"], "eu-west-1", f"{c['name']}-backbone")
    ((_, rule, target),) = rules_targeting(primary.template, second_bus)
    assert props(rule)["EventPattern"] == {"detail-type": ["TransactionRecorded"]}
    assert policy_statements_for_role(primary.template, role_of(target)) == [
        {"Action": "events:PutEvents", "Effect": "Allow", "Resource": second_bus}
    ]
    # Exactly the subscriber and the second region: nothing else leaves the bus.
    assert sorted(bus_targets(primary.template)) == sorted(
        [second_bus, bus_arn(c["ledger"], "us-east-1", f"{c['name']}-ledger")]
    )


def test_second_region_forwards_nothing(second):
    # Forwarding from eu-west-1 would loop back or deliver twice.
    assert bus_targets(second.template) == []


@pytest.mark.parametrize("which", ["primary", "second"])
def test_every_event_is_written_to_the_audit_log(request, which, c):
    stack = request.getfixturevalue(which)
    t = stack.template
    (bus_id, _) = only(t, "AWS::Events::EventBus")
    audits = [
        (rule, target)
        for rule in resources(t, "AWS::Events::Rule").values()
        for target in props(rule)["Targets"]
        if props(rule)["EventPattern"] == {"source": [{"prefix": ""}]} and ":logs:" in render(target["Arn"])
    ]
    ((rule, target),) = audits
    assert props(rule)["EventBusName"] == ref(bus_id)
    group_ref = render(target["Arn"]).rsplit(":log-group:", 1)[1]
    group_id = group_ref[len("${Ref:"):-1]
    group = props(t["Resources"][group_id])
    assert render(target["Arn"]) == f"arn:aws:logs:{stack.region}:{c['backbone']}:log-group:${{Ref:{group_id}}}"
    assert group["RetentionInDays"] == 30 and "KmsKeyId" in group
    _assert_logs_resource_policy_allows_eventbridge(t, group_id)


def _assert_logs_resource_policy_allows_eventbridge(template, group_id: str) -> None:
    """A plain AWS::Logs::ResourcePolicy lets EventBridge write into the log group."""
    allowing = []
    for policy in resources(template, "AWS::Logs::ResourcePolicy").values():
        document = json.loads(render(props(policy)["PolicyDocument"]))
        for s in document["Statement"]:
            if s["Effect"] == "Allow" and s["Resource"] == "${GetAtt:%s.Arn}" % group_id:
                if "events.amazonaws.com" in as_list(s["Principal"]["Service"]):
                    allowing.append(set(as_list(s["Action"])))
    assert allowing and {"logs:CreateLogStream", "logs:PutLogEvents"} <= allowing[0]


@pytest.mark.parametrize("which", ["primary", "second"])
def test_global_bus_is_archived(request, which, case):
    t = request.getfixturevalue(which).template
    (bus_id, _) = only(t, "AWS::Events::EventBus")
    (_, archive) = only(t, "AWS::Events::Archive")
    assert props(archive)["SourceArn"] == get_att(bus_id)
    assert props(archive)["EventPattern"] == {"source": [{"prefix": ""}]}  # everything
    assert props(archive)["RetentionDays"] == 7


@pytest.mark.parametrize("which", ["primary", "second"])
def test_backbone_outputs(request, which, case):
    outputs = request.getfixturevalue(which).template["Outputs"]
    assert {"GlobalBusName", "GlobalBusArn", "ArchiveName", "AuditLogGroupName", "DeliveryDeadLetterQueueUrl"} <= set(outputs)


# --------------------------------------------------------------------------- application buses


@pytest.mark.parametrize("app", ["payments", "ledger"])
def test_application_bus_accepts_events_from_the_backbone_account_only(request, app, c):
    stack = request.getfixturevalue(f"{app}_bus")
    assert (stack.account, stack.region) == (c[app], "us-east-1")
    t = stack.template
    (bus_id, bus) = only(t, "AWS::Events::EventBus")
    assert props(bus)["Name"] == f"{c['name']}-{app}"
    (key_id, _) = only(t, "AWS::KMS::Key")
    assert props(bus)["KmsKeyIdentifier"] == get_att(key_id)
    (_, policy) = only(t, "AWS::Events::EventBusPolicy")
    statement = props(policy)["Statement"]
    assert (statement["Effect"], statement["Action"], statement["Resource"]) == ("Allow", "events:PutEvents", get_att(bus_id))
    assert account_principals(statement["Principal"]) == [c["backbone"]]


def test_payments_bus_forwards_nothing(payments_bus):
    # Payments' recorder puts TransactionRecorded straight onto the global bus (see
    # test_transaction_pipeline_stack); a second hop bus-to-bus would not be delivered on.
    assert bus_targets(payments_bus.template) == []


@pytest.mark.parametrize("app", ["payments", "ledger"])
def test_inbound_log_rule_excludes_the_own_account(request, app, c):
    t = request.getfixturevalue(f"{app}_bus").template
    logging_rules = [
        (rule, target)
        for rule in resources(t, "AWS::Events::Rule").values()
        for target in props(rule)["Targets"]
        if ":logs:" in render(target["Arn"])
    ]
    ((rule, target),) = logging_rules
    assert props(rule)["EventPattern"] == {"account": [{"anything-but": [c[app]]}]}
    group_id = render(target["Arn"]).rsplit(":log-group:", 1)[1][len("${Ref:"):-1]
    _assert_logs_resource_policy_allows_eventbridge(t, group_id)


def test_ledger_consumer_receives_transaction_recorded_from_other_accounts(ledger_bus, c):
    t = ledger_bus.template
    (function_id, function) = only(t, "AWS::Lambda::Function")
    lambda_rules = [
        (rule_id, rule, target)
        for rule_id, rule in resources(t, "AWS::Events::Rule").items()
        for target in props(rule)["Targets"]
        if target["Arn"] == get_att(function_id)
    ]
    ((rule_id, rule, target),) = lambda_rules
    assert props(rule)["EventPattern"] == {
        "detail-type": ["TransactionRecorded"],
        "account": [{"anything-but": [c["ledger"]]}],
    }
    assert "DeadLetterConfig" in target
    permissions = [
        props(p) for p in resources(t, "AWS::Lambda::Permission").values() if props(p)["SourceArn"] == get_att(rule_id)
    ]
    assert permissions and permissions[0]["Principal"] == "events.amazonaws.com"
    p = props(function)
    assert p["Runtime"] == "python3.14" and p["Handler"] == "handler.lambda_handler"
    assert p["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "ledger_consumer"
    group = props(t["Resources"][p["LoggingConfig"]["LogGroup"]["Ref"]])
    assert group["RetentionInDays"] == 30 and "KmsKeyId" in group
    assert {"ConsumerLogGroupName", "ConsumerFunctionName", "InboundLogGroupName", "BusArn"} <= set(t["Outputs"])


def test_payments_runs_no_consumer(payments_bus):
    assert resources(payments_bus.template, "AWS::Lambda::Function") == {}


# --------------------------------------------------------------------------- the links fit together


def test_cross_account_links_name_buses_that_exist(case, primary, second, ledger_bus, payments_bus):
    # Names computed on both sides of each link from the configuration must agree.
    synth, c = case
    existing = set()
    for stack in synth.stacks.values():
        for bus in resources(stack.template, "AWS::Events::EventBus").values():
            existing.add(bus_arn(stack.account, stack.region, props(bus)["Name"]))
    targeted = set(bus_targets(primary.template))
    stack = synth.stack("PaymentsTransactionPipeline" if not c["prefix"] else "DeliveryPipeline/App-payments/PaymentsTransactionPipeline")
    (_, recorder) = recorder_function(stack.template)
    targeted.add(props(recorder)["Environment"]["Variables"]["DOMAIN_EVENT_BUS_ARN"])
    assert targeted and targeted <= existing, f"links to buses no stack creates: {sorted(targeted - existing)}"


def _key_lets_eventbridge_write_to_sqs(key_policy: dict) -> bool:
    for s in key_policy["Statement"]:
        services = as_list(s.get("Principal", {}).get("Service", []))
        if s["Effect"] != "Allow" or "events.amazonaws.com" not in services:
            continue
        actions = set(as_list(s["Action"]))
        can_generate = actions & {"kms:GenerateDataKey", "kms:GenerateDataKey*", "kms:*"}
        can_decrypt = actions & {"kms:Decrypt", "kms:Decrypt*", "kms:*"}
        # A statement bound to the event bus encryption context does not cover SQS,
        # whose encryption context is aws:sqs:arn.
        bus_only = "aws:events:event-bus:arn" in json.dumps(s.get("Condition", {}))
        if can_generate and can_decrypt and not bus_only:
            return True
    return False


def test_eventbridge_can_write_to_its_kms_encrypted_dead_letter_queues(all_stacks):
    # EventBridge sends undeliverable events to a rule target's DLQ as the
    # events.amazonaws.com service; for a queue under a customer managed key the key
    # policy must let that principal use the key (kms:GenerateDataKey, kms:Decrypt),
    # or the dead letters are dropped (InvocationsFailedToBeSentToDlq).
    unusable = []
    checked = 0
    for stack in all_stacks:
        t = stack.template
        for rule_id, rule in resources(t, "AWS::Events::Rule").items():
            for target in props(rule).get("Targets", []):
                if "DeadLetterConfig" not in target:
                    continue
                queue_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
                key = props(t["Resources"][queue_id]).get("KmsMasterKeyId")
                if not (isinstance(key, dict) and "Fn::GetAtt" in key):
                    continue
                checked += 1
                key_policy = props(t["Resources"][key["Fn::GetAtt"][0]])["KeyPolicy"]
                if not _key_lets_eventbridge_write_to_sqs(key_policy):
                    unusable.append(f"{stack.display_name}: {rule_id} -> {queue_id}")
    assert checked >= 4
    assert unusable == [], "EventBridge may not use the key of these rule dead-letter queues:\n" + "\n".join(unusable)


def test_ledger_consumer_dedupes_on_its_own_encrypted_table_with_least_privilege(ledger_bus):
    # At-least-once delivery: the consumer keeps what it handled (Powertools idempotency)
    # in a table of its own, encrypted with the stack's key, expiring by TTL.
    t = ledger_bus.template
    (table_id, table) = only(t, "AWS::DynamoDB::GlobalTable")
    (function_id, function) = only(t, "AWS::Lambda::Function")
    table_props = props(table)
    assert "TableName" not in table_props  # no hard-coded physical name
    assert table_props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table_props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table_props["SSESpecification"]["SSEEnabled"] is True
    assert table_props["SSESpecification"]["SSEType"] == "KMS"
    assert props(function)["Environment"]["Variables"]["IDEMPOTENCY_TABLE_NAME"] == ref(table_id)
    role_id = props(function)["Role"]["Fn::GetAtt"][0]
    table_grants = [s for s in policy_statements_for_role(t, role_id)
                    if get_att(table_id) in as_list(s["Resource"])]
    granted = {a for s in table_grants for a in as_list(s["Action"])}
    assert granted == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
