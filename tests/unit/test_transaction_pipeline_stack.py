"""The payments account's transaction pipeline, as synthesized (PaymentsTransactionPipeline).

HTTP API -> SQS -> Pipe -> custom bus (archived) -> rule -> Step Functions EXPRESS ->
Lambda. Every assertion runs against both configurations: the local one (deployed
directly, open API) and the AWS example (deployed by the delivery pipeline, IAM auth).
"""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Match, Template

from .helpers import (
    as_list,
    get_att,
    only,
    recorder_function,
    policy_statements_for_role,
    props,
    ref,
    render,
    resources,
    role_of,
)

LOCAL_STACK = "PaymentsTransactionPipeline"
AWS_STACK = "DeliveryPipeline/App-payments/PaymentsTransactionPipeline"

# What each configuration says about payments and the backbone (config/*.json).
EXPECTED = {
    "local": {"account": "222222222222", "backbone": "111111111111", "prefix": "local", "authorization": "NONE"},
    "aws": {"account": "210987654321", "backbone": "123456789012", "prefix": "aws-example", "authorization": "AWS_IAM"},
}


@pytest.fixture(scope="module", params=["local", "aws"])
def case(request, local_synth, aws_synth):
    """(name, template dict, expectations) for one configuration."""
    name = request.param
    template = local_synth.template(LOCAL_STACK) if name == "local" else aws_synth.template(AWS_STACK)
    return name, template, EXPECTED[name]


@pytest.fixture(scope="module")
def t(case):
    return case[1]


@pytest.fixture(scope="module")
def expected(case):
    return case[2]


# --------------------------------------------------------------------------- resource lookups


def the_key(t) -> str:
    return only(t, "AWS::KMS::Key")[0]


def ingress_queue(t) -> tuple[str, dict]:
    """The only queue with a redrive policy: the one the API writes to."""
    with_redrive = {k: v for k, v in resources(t, "AWS::SQS::Queue").items() if "RedrivePolicy" in props(v)}
    assert len(with_redrive) == 1, sorted(with_redrive)
    return next(iter(with_redrive.items()))


def the_bus(t) -> tuple[str, dict]:
    return only(t, "AWS::Events::EventBus")


def the_function(t) -> tuple[str, dict]:
    return recorder_function(t)


def the_state_machine(t) -> tuple[str, dict]:
    return only(t, "AWS::StepFunctions::StateMachine")


def definition(t) -> dict:
    """The state machine definition, tokens rendered as ${Ref:..}/${GetAtt:..}."""
    _, machine = the_state_machine(t)
    return json.loads(render(props(machine)["DefinitionString"]))


def workflow_dead_letter_queue(t) -> str:
    """Logical id of the queue the workflow's Catch sends the body to."""
    states = definition(t)["States"]
    record = states[definition(t)["StartAt"]]
    queue_url = states[record["Catch"][0]["Next"]]["Parameters"]["QueueUrl"]
    assert re.fullmatch(r"\$\{Ref:\w+\}", queue_url), queue_url
    return queue_url[len("${Ref:"):-1]


def log_group_of_arn(t, value) -> dict:
    assert "Fn::GetAtt" in value, value
    logical_id = value["Fn::GetAtt"][0]
    group = t["Resources"][logical_id]
    assert group["Type"] == "AWS::Logs::LogGroup"
    return group


# --------------------------------------------------------------------------- HTTP API -> SQS


def test_post_root_is_the_only_route(t):
    routes = resources(t, "AWS::ApiGatewayV2::Route")
    assert [props(r)["RouteKey"] for r in routes.values()] == ["POST /"]


def test_integration_sends_the_raw_request_body_to_the_ingress_queue(t):
    queue_id, _ = ingress_queue(t)
    (integration_id, integration) = only(t, "AWS::ApiGatewayV2::Integration")
    p = props(integration)
    assert p["IntegrationType"] == "AWS_PROXY"
    assert p["IntegrationSubtype"] == "SQS-SendMessage"
    # The whole body byte for byte, not CDK's default "$request.body.MessageBody".
    assert p["RequestParameters"] == {"MessageBody": "$request.body", "QueueUrl": ref(queue_id)}
    assert "CredentialsArn" in p
    (_, route) = only(t, "AWS::ApiGatewayV2::Route")
    assert render(props(route)["Target"]) == "integrations/${Ref:%s}" % integration_id


def test_route_authorization_follows_the_configuration(t, expected):
    # Local: an open endpoint (acknowledged for cdk-nag); AWS: SigV4-signed requests only.
    (_, route) = only(t, "AWS::ApiGatewayV2::Route")
    assert props(route)["AuthorizationType"] == expected["authorization"]


def test_same_assertions_through_the_cdk_assertions_api(t):
    # The same contract in aws_cdk.assertions terms, as a cross-check of the helpers above.
    template = Template.from_json(t)
    template.resource_count_is("AWS::ApiGatewayV2::Api", 1)
    template.has_resource_properties("AWS::ApiGatewayV2::Api", {"ProtocolType": "HTTP"})
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Integration",
        {
            "IntegrationType": "AWS_PROXY",
            "IntegrationSubtype": "SQS-SendMessage",
            "RequestParameters": {"MessageBody": "$request.body", "QueueUrl": {"Ref": Match.any_value()}},
        },
    )
    template.has_resource_properties(
        "AWS::Pipes::Pipe",
        {
            "SourceParameters": {"SqsQueueParameters": {"BatchSize": 10, "MaximumBatchingWindowInSeconds": 0}},
            "TargetParameters": {
                "EventBridgeEventBusParameters": {"Source": "transactions.api", "DetailType": "TransactionReceived"}
            },
        },
    )
    template.has_resource_properties("AWS::StepFunctions::StateMachine", {"StateMachineType": "EXPRESS"})
    template.has_resource_properties(
        "AWS::Lambda::Function", {"Runtime": "python3.14", "Handler": "handler.lambda_handler"}
    )
    template.all_resources_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_api_invoke_role_may_only_send_messages_to_the_ingress_queue(t):
    queue_id, _ = ingress_queue(t)
    (_, integration) = only(t, "AWS::ApiGatewayV2::Integration")
    role_id = role_of(integration, "CredentialsArn")
    sqs_statements = [s for s in policy_statements_for_role(t, role_id) if any(a.startswith("sqs:") for a in as_list(s["Action"]))]
    assert sqs_statements and all(as_list(s["Action"]) == ["sqs:SendMessage"] for s in sqs_statements)
    assert all(s["Resource"] == get_att(queue_id) for s in sqs_statements)


def test_api_invoke_role_can_use_the_queue_key(t):
    # SendMessage to a queue encrypted with a customer managed key needs
    # kms:GenerateDataKey and kms:Decrypt on that key for the caller (the SQS developer
    # guide, "Key management"): API Gateway calls SQS with this role. Without them every
    # POST fails with KMS.AccessDeniedException on AWS (local clouds do not check).
    (_, integration) = only(t, "AWS::ApiGatewayV2::Integration")
    role_id = role_of(integration, "CredentialsArn")
    allowed = set()
    for statement in policy_statements_for_role(t, role_id):
        if statement["Effect"] == "Allow" and get_att(the_key(t)) in as_list(statement["Resource"]):
            allowed.update(as_list(statement["Action"]))
    assert {"kms:GenerateDataKey", "kms:Decrypt"} <= allowed | {a.rstrip("*") for a in allowed}, (
        f"API Gateway's SQS role lacks kms:GenerateDataKey/kms:Decrypt on the queue's key: {sorted(allowed)}"
    )


def test_default_stage_writes_json_access_logs_to_an_encrypted_log_group(t, expected):
    (_, stage) = only(t, "AWS::ApiGatewayV2::Stage")
    p = props(stage)
    assert p["StageName"] == "$default" and p["AutoDeploy"] is True
    group = log_group_of_arn(t, p["AccessLogSettings"]["DestinationArn"])
    assert props(group)["RetentionInDays"] == 30
    assert props(group)["KmsKeyId"] == get_att(the_key(t))
    access_log = json.loads(p["AccessLogSettings"]["Format"])
    assert access_log["requestId"] == "$context.requestId"
    assert access_log["status"] == "$context.status"
    assert access_log["integrationError"] == "$context.integrationErrorMessage"


# --------------------------------------------------------------------------- the ingress queue


def test_ingress_queue_is_encrypted_with_the_stack_key_and_redrives_after_three_receives(t):
    queue_id, queue = ingress_queue(t)
    p = props(queue)
    assert p["KmsMasterKeyId"] == get_att(the_key(t))
    dlq_id = p["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert t["Resources"][dlq_id]["Type"] == "AWS::SQS::Queue"
    assert p["RedrivePolicy"]["maxReceiveCount"] == 3
    # Explicit 256 KiB: newer queues default to 1 MiB and the API contract must not drift.
    assert p["MaximumMessageSize"] == 262144


def test_every_queue_is_kms_encrypted_and_denies_plain_http(t):
    key = get_att(the_key(t))
    policies = resources(t, "AWS::SQS::QueuePolicy")
    ingress_id, _ = ingress_queue(t)
    for queue_id, queue in resources(t, "AWS::SQS::Queue").items():
        assert props(queue).get("KmsMasterKeyId") == key, queue_id
        # The ingress takes 256 KiB; a dead-letter queue may have to hold a whole event around
        # such a body (more than 256 KiB), so it takes SQS's maximum.
        assert props(queue)["MaximumMessageSize"] == (262144 if queue_id == ingress_id else 1048576), queue_id
        denies = [
            s
            for policy in policies.values()
            if ref(queue_id) in props(policy)["Queues"]
            for s in props(policy)["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny"
            and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            and s["Resource"] == get_att(queue_id)
            and s["Action"] == "sqs:*"
        ]
        assert denies, f"{queue_id} does not deny requests without TLS"


# --------------------------------------------------------------------------- SQS -> Pipe -> bus


def test_pipe_reads_the_ingress_queue_and_puts_on_the_transaction_bus(t):
    queue_id, _ = ingress_queue(t)
    bus_id, _ = the_bus(t)
    (_, pipe) = only(t, "AWS::Pipes::Pipe")
    p = props(pipe)
    assert p["Source"] == get_att(queue_id)
    assert p["SourceParameters"] == {"SqsQueueParameters": {"BatchSize": 10, "MaximumBatchingWindowInSeconds": 0}}
    assert p["Target"] == get_att(bus_id)
    assert p["TargetParameters"] == {
        "EventBridgeEventBusParameters": {"Source": "transactions.api", "DetailType": "TransactionReceived"}
    }
    # No input template: the SQS record (body a string, as sent) is the event detail.
    assert "InputTemplate" not in p["TargetParameters"]
    assert p["DesiredState"] == "RUNNING"
    log_group_of_arn(t, p["LogConfiguration"]["CloudwatchLogsLogDestination"]["LogGroupArn"])
    # pipeline.pipe_enrichment (on in both configurations): the enrichment Lambda, no template
    assert p["Enrichment"] == get_att(enrichment_function(t))
    assert "EnrichmentParameters" not in p


def enrichment_function(t) -> str:
    found = [k for k in resources(t, "AWS::Lambda::Function") if k.startswith("PipeEnrichment")]
    assert len(found) == 1, found
    return found[0]


def test_pipe_role_is_least_privilege(t):
    queue_id, _ = ingress_queue(t)
    bus_id, _ = the_bus(t)
    (_, pipe) = only(t, "AWS::Pipes::Pipe")
    pipe_logs = props(pipe)["LogConfiguration"]["CloudwatchLogsLogDestination"]["LogGroupArn"]
    consume = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"}
    allowed_on = {
        json.dumps(get_att(queue_id)): consume | {"sqs:GetQueueUrl"},  # GetQueueUrl: CDK's consume grant, read-only
        json.dumps(get_att(bus_id)): {"events:PutEvents"},
        json.dumps(get_att(the_key(t))): {"kms:Decrypt"},
        json.dumps(pipe_logs): {"logs:CreateLogStream", "logs:PutLogEvents"},
    }
    allowed_on[json.dumps(get_att(enrichment_function(t)))] = {"lambda:InvokeFunction"}
    granted: dict[str, set[str]] = {}
    for statement in policy_statements_for_role(t, role_of(pipe)):
        assert statement["Effect"] == "Allow" and "Condition" not in statement
        for resource in as_list(statement["Resource"]):
            granted.setdefault(json.dumps(resource), set()).update(as_list(statement["Action"]))
    extra = {r: sorted(a - allowed_on.get(r, set())) for r, a in granted.items() if a - allowed_on.get(r, set())}
    assert not extra, f"pipe role has more than it needs: {extra}"
    assert consume <= granted.get(json.dumps(get_att(queue_id)), set())
    assert granted.get(json.dumps(get_att(bus_id))) == {"events:PutEvents"}
    assert "kms:Decrypt" in granted.get(json.dumps(get_att(the_key(t))), set())
    # No managed policies either.
    assert "ManagedPolicyArns" not in props(t["Resources"][role_of(pipe)])


# --------------------------------------------------------------------------- bus, archive, rule


def test_transaction_bus_is_encrypted_with_the_stack_key(t):
    _, bus = the_bus(t)
    assert props(bus)["KmsKeyIdentifier"] == get_att(the_key(t))


def test_archive_keeps_received_transactions_seven_days(t):
    bus_id, _ = the_bus(t)
    (_, archive) = only(t, "AWS::Events::Archive")
    p = props(archive)
    assert p["SourceArn"] == get_att(bus_id)
    assert p["RetentionDays"] == 7
    assert p["EventPattern"]["source"] == ["transactions.api"]
    assert p["EventPattern"].get("detail-type", ["TransactionReceived"]) == ["TransactionReceived"]


def test_rule_starts_the_workflow_with_retries_and_a_dead_letter_queue(t):
    bus_id, _ = the_bus(t)
    machine_id, _ = the_state_machine(t)
    (_, rule) = only(t, "AWS::Events::Rule")
    p = props(rule)
    assert p["EventBusName"] == ref(bus_id)
    assert p["EventPattern"] == {"source": ["transactions.api"], "detail-type": ["TransactionReceived"]}
    (target,) = p["Targets"]
    assert target["Arn"] == ref(machine_id)
    dlq_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert t["Resources"][dlq_id]["Type"] == "AWS::SQS::Queue"
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] >= 3600
    start = policy_statements_for_role(t, role_of(target))
    assert start == [{"Action": "states:StartExecution", "Effect": "Allow", "Resource": ref(machine_id)}]


# --------------------------------------------------------------------------- Step Functions


def test_state_machine_is_express_with_full_logging_and_tracing(t):
    _, machine = the_state_machine(t)
    p = props(machine)
    assert p["StateMachineType"] == "EXPRESS"
    logging = p["LoggingConfiguration"]
    assert logging["Level"] == "ALL" and logging["IncludeExecutionData"] is True
    (destination,) = logging["Destinations"]
    group = log_group_of_arn(t, destination["CloudWatchLogsLogGroup"]["LogGroupArn"])
    assert props(group)["KmsKeyId"] == get_att(the_key(t))
    assert p["TracingConfiguration"] == {"Enabled": True}


def test_definition_retries_the_lambda_then_dead_letters_the_original_body_and_fails(t):
    function_id, _ = the_function(t)
    states = definition(t)["States"]
    start = definition(t)["StartAt"]
    record = states[start]
    assert record["Type"] == "Task"
    assert record["Resource"] == "${GetAtt:%s.Arn}" % function_id
    throttled, retry = record["Retry"]
    # Throttling first (a retrier list is matched in order), waited out longer and with jitter.
    assert throttled["ErrorEquals"] == ["Lambda.TooManyRequestsException"]
    assert throttled["MaxAttempts"] >= 5 and throttled["JitterStrategy"] == "FULL"
    assert retry["ErrorEquals"] == ["States.ALL"] and retry["MaxAttempts"] == 2
    (catch,) = record["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"]
    # Outputs stay the input (ResultPath null): a state's output is limited to 256 KiB like the input,
    # so adding a result or an error to an event near the limit would fail the execution uncaught.
    assert record["ResultPath"] is None and catch["ResultPath"] is None
    dead_letter = states[catch["Next"]]
    assert dead_letter["Type"] == "Task"
    assert dead_letter["Resource"] == "arn:aws:states:::sqs:sendMessage"
    # The body exactly as received, not the whole event or an error document.
    assert dead_letter["Parameters"]["MessageBody.$"] == "$.detail.body"
    assert t["Resources"][workflow_dead_letter_queue(t)]["Type"] == "AWS::SQS::Queue"
    assert states[dead_letter["Next"]]["Type"] == "Fail"
    assert states[record["Next"]]["Type"] == "Succeed"


def test_state_machine_role_can_invoke_only_the_recorder(t):
    function_id, _ = the_function(t)
    _, machine = the_state_machine(t)
    invokes = [s for s in policy_statements_for_role(t, role_of(machine)) if "lambda:InvokeFunction" in as_list(s["Action"])]
    resources_ = [render(r) for s in invokes for r in as_list(s["Resource"])]
    assert resources_ and all(r.startswith("${GetAtt:%s.Arn}" % function_id) for r in resources_)


# --------------------------------------------------------------------------- the recorder Lambda


def test_recorder_function_configuration(t, expected):
    _, function = the_function(t)
    p = props(function)
    assert p["Runtime"] == "python3.14"
    assert p["Handler"] == "handler.lambda_handler"
    assert p["KmsKeyArn"] == get_att(the_key(t))  # environment variables under the CMK
    assert p["TracingConfig"] == {"Mode": "Active"}
    env = p["Environment"]["Variables"]
    table_id, _ = only(t, "AWS::DynamoDB::GlobalTable")
    secret_id, _ = only(t, "AWS::SecretsManager::Secret")
    assert env["IDEMPOTENCY_TABLE_NAME"] == ref(table_id)
    assert env["PSEUDONYMISATION_SECRET_ARN"] == ref(secret_id)
    assert env["PERSONAL_FIELDS"] == "customer.name,customer.email,customer.iban"
    assert env["DOMAIN_EVENT_SOURCE"] == "app.payments"
    assert env["POWERTOOLS_SERVICE_NAME"] == "transaction_recorder"
    assert re.fullmatch(r"arn:aws:events:us-east-1:\d{12}:event-bus/%s-[a-z]+" % expected["prefix"], env["DOMAIN_EVENT_BUS_ARN"])


def test_recorder_publishes_to_the_global_bus(t, expected):
    # Payments publishes TransactionRecorded straight onto the backbone's global bus
    # (EventBridge forwards bus-to-bus once only; that hop is the backbone's delivery).
    _, function = the_function(t)
    env = props(function)["Environment"]["Variables"]
    global_bus = f"arn:aws:events:us-east-1:{expected['backbone']}:event-bus/{expected['prefix']}-backbone"
    assert env["DOMAIN_EVENT_BUS_ARN"] == global_bus
    assert t["Outputs"]["DomainEventBusArn"]["Value"] == global_bus


def test_recorder_has_its_own_encrypted_log_group_with_30_days_retention(t):
    _, function = the_function(t)
    group_ref = props(function)["LoggingConfig"]["LogGroup"]
    group = t["Resources"][group_ref["Ref"]]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert props(group)["RetentionInDays"] == 30
    assert props(group)["KmsKeyId"] == get_att(the_key(t))


def test_recorder_role_is_scoped_to_its_own_resources(t):
    function_id, function = the_function(t)
    role_id = role_of(function, "Role")
    role = t["Resources"][role_id]
    # Not AWSLambdaBasicExecutionRole (logs:* on *): it writes to its own log group only.
    assert "ManagedPolicyArns" not in props(role)
    statements = policy_statements_for_role(t, role_id)
    by_action = {}
    for s in statements:
        assert s["Effect"] == "Allow"
        for action in as_list(s["Action"]):
            by_action.setdefault(action, []).extend(as_list(s["Resource"]))
    log_group_id = props(function)["LoggingConfig"]["LogGroup"]["Ref"]
    assert by_action["logs:PutLogEvents"] == [get_att(log_group_id)]
    assert not any(a.startswith("logs:") and a not in ("logs:CreateLogStream", "logs:PutLogEvents") for a in by_action)
    table_id, _ = only(t, "AWS::DynamoDB::GlobalTable")
    assert set(map(json.dumps, by_action["dynamodb:PutItem"])) == {json.dumps(get_att(table_id))}
    secret_id, _ = only(t, "AWS::SecretsManager::Secret")
    assert by_action["secretsmanager:GetSecretValue"] == [ref(secret_id)]
    domain_bus = props(function)["Environment"]["Variables"]["DOMAIN_EVENT_BUS_ARN"]
    assert by_action["events:PutEvents"] == [domain_bus]  # exactly the domain bus, nothing else
    # The only "*" resources are X-Ray's, which has no resource-level permissions.
    wildcard_actions = {a for a, rs in by_action.items() if "*" in rs}
    assert wildcard_actions <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


# --------------------------------------------------------------------------- data at rest


def test_idempotency_table_is_kms_encrypted_with_the_stack_key(t):
    (_, table) = only(t, "AWS::DynamoDB::GlobalTable")
    p = props(table)
    assert p["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]  # Powertools' default key
    assert p["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    for replica in p["Replicas"]:
        assert replica["SSESpecification"]["KMSMasterKeyId"] == get_att(the_key(t))
    assert p["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


def test_pseudonymisation_secret_is_kms_encrypted_with_the_stack_key(t):
    (_, secret) = only(t, "AWS::SecretsManager::Secret")
    assert props(secret)["KmsKeyId"] == get_att(the_key(t))
    generated = props(secret)["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "key" and json.loads(generated["SecretStringTemplate"]) == {"version": "v1"}


def test_stack_key_rotates(t):
    (_, key) = only(t, "AWS::KMS::Key")
    assert props(key)["EnableKeyRotation"] is True


# --------------------------------------------------------------------------- names and outputs


@pytest.mark.parametrize(
    ("resource_type", "name_property"),
    [
        ("AWS::SQS::Queue", "QueueName"),
        ("AWS::StepFunctions::StateMachine", "StateMachineName"),
        ("AWS::Lambda::Function", "FunctionName"),
        ("AWS::DynamoDB::GlobalTable", "TableName"),
        ("AWS::IAM::Role", "RoleName"),
        ("AWS::Logs::LogGroup", "LogGroupName"),
    ],
)
def test_no_hard_coded_physical_names(t, resource_type, name_property):
    # CloudFormation names them, so two copies of the stack fit in one account and a
    # replacement never collides with the old resource.
    found = resources(t, resource_type)
    assert found, resource_type
    named = [k for k, v in found.items() if name_property in props(v)]
    assert not named, f"{resource_type} with a fixed {name_property}: {named}"


def test_transaction_bus_and_api_names_are_generated_by_cdk(t):
    # CloudFormation requires Name on both; the bus name is CDK's unique id of the
    # construct (stack name + path + hash), not a literal a second copy would collide with.
    _, bus = the_bus(t)
    assert re.fullmatch(r"\w*TransactionsBus[0-9A-F]{8}", props(bus)["Name"]), props(bus)["Name"]
    (_, api) = only(t, "AWS::ApiGatewayV2::Api")
    assert props(api)["Name"] == "Api"  # API names need not be unique


def test_outputs_name_the_resources_the_integration_tests_use(t):
    outputs = t["Outputs"]
    queue_id, queue = ingress_queue(t)
    bus_id, _ = the_bus(t)
    (archive_id, _) = only(t, "AWS::Events::Archive")
    (api_id, _) = only(t, "AWS::ApiGatewayV2::Api")
    dlq_id = props(queue)["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    workflow_dlq = workflow_dead_letter_queue(t)
    assert outputs["IngressQueueUrl"]["Value"] == ref(queue_id)
    assert outputs["IngressDeadLetterQueueUrl"]["Value"] == ref(dlq_id)
    assert outputs["WorkflowDeadLetterQueueUrl"]["Value"] == ref(workflow_dlq)
    assert outputs["TransactionBusName"]["Value"] == ref(bus_id)
    assert outputs["TransactionBusArn"]["Value"] == get_att(bus_id)
    assert outputs["ArchiveName"]["Value"] == ref(archive_id)
    assert render(outputs["ApiEndpoint"]["Value"]).startswith("https://${Ref:%s}.execute-api.us-east-1." % api_id)
    # the workflow's execution history: EXPRESS executions are recorded nowhere else
    workflow_logs = props(the_state_machine(t)[1])["LoggingConfiguration"]["Destinations"][0]
    assert outputs["WorkflowLogGroupName"]["Value"] == ref(
        workflow_logs["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0])


# --------------------------------------------------------------------------- across every stack


def _app_stacks(all_stacks):
    # Leaves out the CDK Pipelines stack and its cross-region support stack (CDK's own).
    return [s for s in all_stacks if s.display_name != "DeliveryPipeline" and not s.display_name.startswith("cross-region-stack")]


def test_every_kms_key_rotates(all_stacks):
    keys = [(s.display_name, k, v) for s in all_stacks for k, v in resources(s.template, "AWS::KMS::Key").items()]
    assert len(keys) >= 10
    assert [(s, k) for s, k, v in keys if props(v).get("EnableKeyRotation") is not True] == []


def test_every_log_group_has_retention_and_a_kms_key(all_stacks):
    groups = [(s.display_name, k, v) for s in _app_stacks(all_stacks) for k, v in resources(s.template, "AWS::Logs::LogGroup").items()]
    assert len(groups) >= 10
    missing = [(s, k) for s, k, v in groups if "RetentionInDays" not in props(v) or "KmsKeyId" not in props(v)]
    assert missing == []


def test_no_function_uses_the_basic_execution_managed_policy(all_stacks):
    for stack in _app_stacks(all_stacks):
        for role_id, role in resources(stack.template, "AWS::IAM::Role").items():
            arns = json.dumps(props(role).get("ManagedPolicyArns", []))
            assert "AWSLambdaBasicExecutionRole" not in arns, (stack.display_name, role_id)


_LOCAL_ENDPOINT = re.compile(r"localhost|localstack|127\.0\.0\.1|(?<![0-9A-Za-z])4566(?![0-9A-Za-z])", re.IGNORECASE)


def test_templates_are_cloud_agnostic(all_stacks):
    # The same templates deploy to the local cloud and to AWS: no emulator endpoint in
    # them. (4566 is matched as a stand-alone number: hashes may contain those digits.)
    offending = {}
    for stack in all_stacks:
        text = json.dumps(stack.template)
        hits = sorted(set(_LOCAL_ENDPOINT.findall(text)))
        if hits:
            offending[stack.display_name] = hits
    assert offending == {}


def test_cloud_agnostic_check_would_see_an_endpoint():
    # Guards the regular expression above against matching nothing.
    assert _LOCAL_ENDPOINT.search('{"Url": "http://127.0.0.1:4566/"}')
    assert _LOCAL_ENDPOINT.search("x.execute-api.localhost.localstack.cloud")
    assert not _LOCAL_ENDPOINT.search("IngressQueue4566ABCD")


# --------------------------------------------------------------------------- Lambda bundling
# The session synth skips bundling (no pip, no network), so the local bundler is tested here.


def test_local_bundling_copies_the_handler_and_installed_requirements(tmp_path, monkeypatch):
    from infra.constructs import python_function

    source = tmp_path / "src"
    (source / "__pycache__").mkdir(parents=True)
    (source / "pkg" / "__pycache__").mkdir(parents=True)
    (source / "handler.py").write_text("def lambda_handler(event, context): ...\n")
    (source / "requirements.txt").write_text("aws-lambda-powertools==3.37.0\n")
    (source / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"")
    (source / "pkg" / "util.py").write_text("X = 1\n")
    (source / "pkg" / "__pycache__" / "util.cpython-311.pyc").write_bytes(b"")
    installed = tmp_path / "deps"
    (installed / "aws_lambda_powertools").mkdir(parents=True)
    (installed / "aws_lambda_powertools" / "__init__.py").write_text("")
    monkeypatch.setattr(python_function, "_installed_requirements", lambda requirements: installed)

    output = tmp_path / "out"
    output.mkdir()
    assert python_function.PipLocalBundling(source).try_bundle(str(output)) is True
    files = sorted(str(p.relative_to(output)) for p in output.rglob("*") if p.is_file())
    assert files == ["aws_lambda_powertools/__init__.py", "handler.py", "pkg/util.py"]


def test_requirements_are_installed_once_per_requirements_and_runtime(tmp_path, monkeypatch):
    import hashlib as _hashlib

    from infra.constructs import python_function

    requirements = tmp_path / "requirements.txt"
    requirements.write_text("aws-lambda-powertools==3.37.0\n")
    monkeypatch.setattr(python_function, "BUILD_ROOT", tmp_path / "build")
    digest = _hashlib.sha256(requirements.read_bytes() + python_function.RUNTIME.name.encode()).hexdigest()[:16]
    cached = tmp_path / "build" / digest
    cached.mkdir(parents=True)
    (cached / ".complete").touch()

    def no_pip(*args, **kwargs):
        raise AssertionError("pip ran although the requirements were installed already")

    monkeypatch.setattr(python_function.subprocess, "run", no_pip)
    assert python_function._installed_requirements(requirements) == cached
    # Another pin is another directory: pip would run.
    requirements.write_text("aws-lambda-powertools==3.38.0\n")
    with pytest.raises(AssertionError, match="pip ran"):
        python_function._installed_requirements(requirements)
