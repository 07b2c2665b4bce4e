"""Pipe enrichments: Lambda, Step Functions EXPRESS, API destinations, API Gateway.

https://docs.aws.amazon.com/eventbridge/latest/userguide/pipes-enrichment.html
"EventBridge invokes enrichments synchronously ... passes the enrichment responses
directly to the configured target ... If you do not want to pass events along, return
an empty array"; enrichment errors follow the source's retry and dead-letter behaviour
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-error-troubleshooting.html).
"""

from __future__ import annotations

import json

from ..conftest import ACCOUNT_A, REGION, drain, queue_depth, wait_for
from .conftest import sqs_source_grants, wait_state

ENRICH = """
def handler(event, context):
    return [dict(record, enriched="by-lambda", batch_size=len(event)) for record in event]
"""


def test_lambda_enrichment_output_is_what_the_target_receives(aws, unique, queue, function, pipe_role):
    sqs, pipes = aws("sqs"), aws("pipes")
    (source_url, source_arn), (target_url, target_arn) = queue("enr-src"), queue("enr-dst")
    enricher = function(ENRICH)
    role = pipe_role({**sqs_source_grants(source_arn), "lambda:InvokeFunction": enricher,
                      "sqs:SendMessage": target_arn})
    name = unique("enr-lambda")
    pipes.create_pipe(Name=name, RoleArn=role, Source=source_arn, Target=target_arn, Enrichment=enricher,
                      SourceParameters={"SqsQueueParameters": {"BatchSize": 2, "MaximumBatchingWindowInSeconds": 1}})
    assert pipes.describe_pipe(Name=name)["Enrichment"] == enricher
    bodies = ['{"amount": 1}', 'plain text "quoted"']
    for body in bodies:
        sqs.send_message(QueueUrl=source_url, MessageBody=body)
    delivered = [json.loads(m["Body"]) for m in drain(sqs, target_url, expected=2, timeout=20)]
    assert sorted(d["body"] for d in delivered) == sorted(bodies)  # the body string untouched
    assert {d["enriched"] for d in delivered} == {"by-lambda"}
    assert {d["batch_size"] for d in delivered} == {2}  # the enrichment got the batch as one array
    assert wait_for(lambda: queue_depth(sqs, source_url) == 0, timeout=5)


def test_enrichment_input_template_shapes_what_the_enrichment_gets(aws, unique, queue, function, pipe_role):
    sqs, pipes = aws("sqs"), aws("pipes")
    (source_url, source_arn), (target_url, target_arn) = queue("enr-tpl-src"), queue("enr-tpl-dst")
    echo = function("def handler(event, context):\n    return event\n")
    role = pipe_role({**sqs_source_grants(source_arn), "lambda:InvokeFunction": echo, "sqs:SendMessage": target_arn})
    name = unique("enr-tpl")
    pipes.create_pipe(Name=name, RoleArn=role, Source=source_arn, Target=target_arn, Enrichment=echo,
                      EnrichmentParameters={"InputTemplate": '{"order": <$.body.order>, "pipe": <aws.pipes.pipe-name>}'})
    sqs.send_message(QueueUrl=source_url, MessageBody='{"order": 7, "secret": "not passed on"}')
    delivered = drain(sqs, target_url, expected=1, timeout=15)
    assert [json.loads(m["Body"]) for m in delivered] == [{"order": 7, "pipe": name}]


def test_an_empty_array_from_the_enrichment_drops_the_batch(aws, unique, queue, function, pipe_role):
    sqs, pipes = aws("sqs"), aws("pipes")
    (source_url, source_arn), (target_url, target_arn) = queue("enr-drop-src"), queue("enr-drop-dst")
    keep_big = function("def handler(event, context):\n"
                        "    return [r for r in event if int(r['body']) > 10]\n")
    role = pipe_role({**sqs_source_grants(source_arn), "lambda:InvokeFunction": keep_big,
                      "sqs:SendMessage": target_arn})
    pipes.create_pipe(Name=unique("enr-drop"), RoleArn=role, Source=source_arn, Target=target_arn,
                      Enrichment=keep_big, SourceParameters={"SqsQueueParameters": {"BatchSize": 1}})
    for body in ("3", "42", "5"):
        sqs.send_message(QueueUrl=source_url, MessageBody=body)
    delivered = drain(sqs, target_url, expected=1, timeout=15, quiet=1.5)
    assert [json.loads(m["Body"])["body"] for m in delivered] == ["42"]
    # the dropped batches count as processed: deleted from the source, not retried
    assert wait_for(lambda: queue_depth(sqs, source_url) == 0, timeout=5)


def test_enrichment_failure_keeps_the_batch_until_the_source_dead_letters_it(aws, unique, queue, function,
                                                                              pipe_role):
    sqs, pipes = aws("sqs"), aws("pipes")
    dlq_url, dlq_arn = queue("enr-fail-dlq")
    source_url, source_arn = queue("enr-fail-src", VisibilityTimeout="1", RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
    target_url, target_arn = queue("enr-fail-dst")
    broken = function("def handler(event, context):\n    raise ValueError('enrichment broke')\n")
    role = pipe_role({**sqs_source_grants(source_arn), "lambda:InvokeFunction": broken,
                      "sqs:SendMessage": target_arn})
    pipes.create_pipe(Name=unique("enr-fail"), RoleArn=role, Source=source_arn, Target=target_arn, Enrichment=broken)
    sqs.send_message(QueueUrl=source_url, MessageBody="must not be lost")
    assert wait_for(lambda: queue_depth(sqs, dlq_url) == 1, timeout=20), "never dead-lettered"
    assert [m["Body"] for m in drain(sqs, dlq_url, expected=1, timeout=5)] == ["must not be lost"]
    assert drain(sqs, target_url, timeout=0.5) == []


def _state_machine(aws, unique, kind: str, definition: dict) -> str:
    return aws("stepfunctions").create_state_machine(
        name=unique("enr-sm"), roleArn=f"arn:aws:iam::{ACCOUNT_A}:role/sm", type=kind,
        definition=json.dumps(definition))["stateMachineArn"]


def test_express_state_machine_enrichment(aws, unique, queue, pipe_role):
    sqs, pipes = aws("sqs"), aws("pipes")
    (source_url, source_arn), (target_url, target_arn) = queue("enr-sfn-src"), queue("enr-sfn-dst")
    machine = _state_machine(aws, unique, "EXPRESS", {"StartAt": "Tag", "States": {"Tag": {
        "Type": "Pass", "Result": [{"enriched": "by-express-workflow"}], "End": True}}})
    role = pipe_role({**sqs_source_grants(source_arn), "states:StartSyncExecution": machine,
                      "sqs:SendMessage": target_arn})
    pipes.create_pipe(Name=unique("enr-sfn"), RoleArn=role, Source=source_arn, Target=target_arn, Enrichment=machine)
    sqs.send_message(QueueUrl=source_url, MessageBody="x")
    delivered = drain(sqs, target_url, expected=1, timeout=15)
    assert [json.loads(m["Body"]) for m in delivered] == [{"enriched": "by-express-workflow"}]


def test_standard_workflow_enrichment_stops_the_pipe_with_a_reason(aws, unique, queue, pipe_role):
    """"A pipe may be automatically stopped with an updated StateReason ... A Step Functions
    standard workflow configured as an enrichment" (error-handling guide)."""
    pipes = aws("pipes")
    (_source_url, source_arn), (_target_url, target_arn) = queue("enr-std-src"), queue("enr-std-dst")
    machine = _state_machine(aws, unique, "STANDARD", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    role = pipe_role({**sqs_source_grants(source_arn), "states:StartSyncExecution": machine})
    name = unique("enr-std")
    pipes.create_pipe(Name=name, RoleArn=role, Source=source_arn, Target=target_arn, Enrichment=machine)
    described = wait_state(pipes, name, "STOPPED")
    assert described["CurrentState"] == "STOPPED" and described["DesiredState"] == "RUNNING"
    assert "standard workflow" in described["StateReason"]


def test_api_destination_enrichment_one_request_per_event(aws, unique, queue, pipe_role, endpoint, api_destination):
    sqs, pipes = aws("sqs"), aws("pipes")
    server = endpoint(lambda request: (200, {"enriched": "by-api", "got": json.loads(request["body"])["body"]}))
    destination = api_destination(server.url + "/enrich")
    (source_url, source_arn), (target_url, target_arn) = queue("enr-api-src"), queue("enr-api-dst")
    role = pipe_role({**sqs_source_grants(source_arn), "events:InvokeApiDestination": destination,
                      "sqs:SendMessage": target_arn})
    pipes.create_pipe(Name=unique("enr-api"), RoleArn=role, Source=source_arn, Target=target_arn,
                      Enrichment=destination, EnrichmentParameters={"HttpParameters": {
                          "HeaderParameters": {"x-order": "$.body"}, "QueryStringParameters": {"mode": "full"}}},
                      SourceParameters={"SqsQueueParameters": {"BatchSize": 1}})
    sqs.send_message(QueueUrl=source_url, MessageBody="order-1")
    delivered = drain(sqs, target_url, expected=1, timeout=15)
    assert [json.loads(m["Body"]) for m in delivered] == [{"enriched": "by-api", "got": "order-1"}]
    request = server.requests[0]
    assert request["path"] == "/enrich?mode=full"
    assert request["headers"].get("x-api-key") == "secret-key", request  # the connection's credentials
    assert request["headers"]["x-order"] == "order-1"  # a dynamic header from the event
    assert json.loads(request["body"])["messageId"]  # a single event, not an array


def rest_api_to(aws, url: str) -> tuple[str, str]:
    """A REST API whose POST / proxies to ``url``; (execute-api ARN of POST /, api id)."""
    apigw = aws("apigateway")
    api_id = apigw.create_rest_api(name="pipe-enrichment")["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    apigw.put_method(restApiId=api_id, resourceId=root, httpMethod="POST", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=root, httpMethod="POST", type="HTTP_PROXY",
                          integrationHttpMethod="POST", uri=url)
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    return f"arn:aws:execute-api:{REGION}:{ACCOUNT_A}:{api_id}/prod/POST/", api_id


def test_api_gateway_enrichment(aws, unique, queue, pipe_role, endpoint):
    sqs, pipes = aws("sqs"), aws("pipes")
    server = endpoint(lambda request: (200, [{"enriched": "by-api-gateway"}, {"enriched": "twice"}]))
    api_arn, _api_id = rest_api_to(aws, server.url + "/")
    (source_url, source_arn), (target_url, target_arn) = queue("enr-gw-src"), queue("enr-gw-dst")
    role = pipe_role({**sqs_source_grants(source_arn), "execute-api:Invoke": api_arn, "sqs:SendMessage": target_arn})
    pipes.create_pipe(Name=unique("enr-gw"), RoleArn=role, Source=source_arn, Target=target_arn, Enrichment=api_arn,
                      SourceParameters={"SqsQueueParameters": {"BatchSize": 1}})
    sqs.send_message(QueueUrl=source_url, MessageBody="through the gateway")
    delivered = drain(sqs, target_url, expected=2, timeout=15)
    # a JSON array from the enrichment becomes the batch: two events from one record
    assert sorted(json.loads(m["Body"])["enriched"] for m in delivered) == ["by-api-gateway", "twice"]
    assert json.loads(server.requests[0]["body"])["body"] == "through the gateway"


EMPTY_ANSWERS = """
def handler(event, context):
    return {"empty-string": "", "empty-object": {}, "empty-array": [], "array-of-empty": [{}]}[event[0]["body"]]
"""


def test_an_empty_answer_skips_the_target_and_an_array_of_an_empty_object_invokes_it(aws, unique, queue,
                                                                                      function, pipe_role):
    """"If you don't want to invoke the target, return an empty response, such as "", {}, or
    []. ... If you want to invoke the target with an empty payload, return an array
    containing empty JSON [{}]" (pipes-enrichment.html, "Filtering events using enrichment")."""
    sqs, pipes = aws("sqs"), aws("pipes")
    (source_url, source_arn), (target_url, target_arn) = queue("enr-empty-src"), queue("enr-empty-dst")
    enricher = function(EMPTY_ANSWERS)
    role = pipe_role({**sqs_source_grants(source_arn), "lambda:InvokeFunction": enricher,
                      "sqs:SendMessage": target_arn})
    pipes.create_pipe(Name=unique("enr-empty"), RoleArn=role, Source=source_arn, Target=target_arn,
                      Enrichment=enricher, SourceParameters={"SqsQueueParameters": {"BatchSize": 1}})
    for body in ("empty-string", "empty-object", "empty-array", "array-of-empty"):
        sqs.send_message(QueueUrl=source_url, MessageBody=body)
    delivered = drain(sqs, target_url, expected=1, timeout=15, quiet=1.5)
    assert [m["Body"] for m in delivered] == ["{}"]  # only [{}] reached the target
    assert wait_for(lambda: queue_depth(sqs, source_url) == 0, timeout=5)  # the others were done with


ENRICHMENT_ITEM_FAILURE = """
def handler(event, context):
    return {"batchItemFailures": [{"itemIdentifier": record["messageId"]} for record in event]}
"""


def test_batch_item_failures_from_the_enrichment_are_passed_on_not_retried(aws, unique, queue, function,
                                                                          pipe_role):
    """"Partial batch failure handling of the enrichment is not supported"
    (eb-pipes-batching-concurrency.html, "Partial batch failure"): the enrichment's answer,
    a batchItemFailures object like any other, goes to the target as the event ("EventBridge
    Pipes passes the enrichment responses directly to the configured target",
    pipes-enrichment.html) and the source record is done with, not retried."""
    sqs, pipes = aws("sqs"), aws("pipes")
    dlq_url, dlq_arn = queue("enr-bif-dlq")
    source_url, source_arn = queue("enr-bif-src", VisibilityTimeout="1", RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
    target_url, target_arn = queue("enr-bif-dst")
    enricher = function(ENRICHMENT_ITEM_FAILURE)
    role = pipe_role({**sqs_source_grants(source_arn), "lambda:InvokeFunction": enricher,
                      "sqs:SendMessage": target_arn})
    pipes.create_pipe(Name=unique("enr-bif"), RoleArn=role, Source=source_arn, Target=target_arn,
                      Enrichment=enricher, SourceParameters={"SqsQueueParameters": {"BatchSize": 1}})
    message_id = sqs.send_message(QueueUrl=source_url, MessageBody="named as failed by the enrichment")["MessageId"]
    delivered = drain(sqs, target_url, expected=1, timeout=15, quiet=2.5)  # past a visibility timeout
    assert [json.loads(m["Body"]) for m in delivered] == [{"batchItemFailures": [{"itemIdentifier": message_id}]}]
    assert wait_for(lambda: queue_depth(sqs, source_url) == 0, timeout=5)
    assert queue_depth(sqs, dlq_url) == 0
