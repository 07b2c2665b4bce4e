"""Delivering a batch to the pipe's target, through the target service's batch API where
it has one ("Pipes will use the batch API for the supported enrichment or target even if
the batch size is 1"), with the target parameters each target takes.
https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_PipeTargetParameters.html
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-event-target.html
"""

from __future__ import annotations

import base64
import json
import time
import uuid

from localcloud import seams
from localcloud.services.pipes import invoke
from localcloud.services.pipes.invoke import Result, dynamic
from localcloud.services.pipes.pipe_logs import error_detail
from localcloud.services.pipes.validation import TARGET_MAX_BATCH, kind_of


def _scope(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return parts[4], parts[3]


def _chunks(size: int, count: int):
    for start in range(0, count, size):
        yield range(start, min(start + size, count))


def _batched(definition: dict, events: list, payloads: list[str], service: str, action: str, build, outcomes) -> Result:
    """Call ``action`` per chunk of entries; ``outcomes(status, body, chunk)`` gives the
    indexes of failed entries."""
    arn = definition["Target"]
    account, region = _scope(arn)
    failed, requests, responses, errors = set(), [], [], []
    for chunk in _chunks(TARGET_MAX_BATCH[kind_of(arn)], len(payloads)):
        request = build([events[i] for i in chunk], [payloads[i] for i in chunk])
        status, body = seams.call_json_api_sync(service, action, account, region, request,
                                                principal=definition.get("RoleArn", ""))
        requests.append(request)
        responses.append(body)
        if status >= 400:
            failed.update(chunk)
            errors.append(error_detail(body.get("message") or body.get("Message") or str(body), status=status,
                                       service=service, exception_type=body.get("__type", ""), resource_arn=arn))
            continue
        failed.update(chunk[i] for i in outcomes(body, len(chunk)))
    error = errors[0] if errors else error_detail(
        f"{len(failed)} of {len(payloads)} entries were not accepted", status=200, service=service,
        resource_arn=arn) if failed else None
    return Result(not failed, request=requests, raw_response=responses, error=error, failed_indexes=failed)


def _event_bus(definition: dict, events: list, payloads: list[str]) -> Result:
    parameters = (definition.get("TargetParameters") or {}).get("EventBridgeEventBusParameters") or {}
    source_kind = {"sqs": "aws:sqs", "kinesis": "aws:kinesis", "dynamodb": "aws:dynamodb"}.get(
        kind_of(definition.get("Source", "")), "")

    def build(chunk_events, chunk_payloads):
        return {"Entries": [{
            "EventBusName": definition["Target"],
            "Source": dynamic(parameters.get("Source"), event) or f"Pipe {definition['Name']}",
            "DetailType": dynamic(parameters.get("DetailType"), event) or f"Event from {source_kind}",
            "Detail": payload,
            "Resources": list(parameters.get("Resources") or []),
            **({"Time": dynamic(parameters["Time"], event)} if parameters.get("Time") else {}),
        } for event, payload in zip(chunk_events, chunk_payloads)]}

    return _batched(definition, events, payloads, "events", "PutEvents", build,
                    lambda body, n: [i for i, e in enumerate((body.get("Entries") or [])[:n]) if "EventId" not in e]
                    + list(range(len(body.get("Entries") or []), n)))


def _queue(definition: dict, events: list, payloads: list[str]) -> Result:
    parameters = (definition.get("TargetParameters") or {}).get("SqsQueueParameters") or {}
    queue_url = seams.sqs.queue_url_for_arn(definition["Target"])
    if queue_url is None:
        return Result(False, error=error_detail("The specified queue does not exist.", status=400, service="sqs",
                                                exception_type="AWS.SimpleQueueService.NonExistentQueue",
                                                resource_arn=definition["Target"]))

    def build(chunk_events, chunk_payloads):
        entries = []
        for index, (event, payload) in enumerate(zip(chunk_events, chunk_payloads)):
            entry = {"Id": str(index), "MessageBody": payload}
            for name in ("MessageGroupId", "MessageDeduplicationId"):
                if parameters.get(name):
                    entry[name] = dynamic(parameters[name], event)
            entries.append(entry)
        return {"QueueUrl": queue_url, "Entries": entries}

    return _batched(definition, events, payloads, "sqs", "SendMessageBatch", build,
                    lambda body, n: [int(f["Id"]) for f in body.get("Failed") or []])


def _kinesis(definition: dict, events: list, payloads: list[str]) -> Result:
    parameters = (definition.get("TargetParameters") or {}).get("KinesisStreamParameters") or {}

    def build(chunk_events, chunk_payloads):
        return {"StreamARN": definition["Target"], "Records": [{
            "Data": base64.b64encode(payload.encode()).decode(),
            "PartitionKey": str(dynamic(parameters.get("PartitionKey"), event) or uuid.uuid4()),
        } for event, payload in zip(chunk_events, chunk_payloads)]}

    return _batched(definition, events, payloads, "kinesis", "PutRecords", build,
                    lambda body, n: [i for i, r in enumerate(body.get("Records") or []) if r.get("ErrorCode")])


def _firehose(definition: dict, events: list, payloads: list[str]) -> Result:
    def build(_chunk_events, chunk_payloads):
        return {"DeliveryStreamName": definition["Target"].split("/")[-1],
                "Records": [{"Data": base64.b64encode(p.encode()).decode()} for p in chunk_payloads]}

    return _batched(definition, events, payloads, "firehose", "PutRecordBatch", build,
                    lambda body, n: [i for i, r in enumerate(body.get("RequestResponses") or []) if r.get("ErrorCode")])


def _log_group(definition: dict, events: list, payloads: list[str]) -> Result:
    parameters = (definition.get("TargetParameters") or {}).get("CloudWatchLogsParameters") or {}
    group = definition["Target"].split(":log-group:", 1)[-1].removesuffix(":*")
    now = int(time.time() * 1000)

    def build(chunk_events, chunk_payloads):
        stream = dynamic(parameters.get("LogStreamName"), chunk_events[0]) or definition["Name"]
        return {"logGroupName": group, "logStreamName": stream, "logEvents": [{
            "timestamp": int(dynamic(parameters.get("Timestamp"), event) or now), "message": payload,
        } for event, payload in zip(chunk_events, chunk_payloads)]}

    if not parameters.get("LogStreamName"):  # the pipe's own stream, made on first use
        account, region = _scope(definition["Target"])
        seams.call_json_api_sync("logs", "CreateLogStream", account, region,
                                 {"logGroupName": group, "logStreamName": definition["Name"]},
                                 principal=definition.get("RoleArn", ""))
    return _batched(definition, events, payloads, "logs", "PutLogEvents", build, lambda body, n: [])


def _topic(definition: dict, events: list, payloads: list[str]) -> Result:
    arn = definition["Target"]
    account, region = _scope(arn)
    failed, errors = set(), []
    for index, payload in enumerate(payloads):
        status, body = seams.call_query_api_sync("sns", "Publish", account, region,
                                                 {"TopicArn": arn, "Message": payload},
                                                 principal=definition.get("RoleArn", ""))
        if status >= 400:
            failed.add(index)
            errors.append(error_detail(body.decode("utf-8", "replace")[:512], status=status, service="sns",
                                       resource_arn=arn))
    return Result(not failed, request=payloads, error=errors[0] if errors else None, failed_indexes=failed)


def _lambda(definition: dict, events: list, payloads: list[str]) -> Result:
    parameters = (definition.get("TargetParameters") or {}).get("LambdaFunctionParameters") or {}
    synchronous = parameters.get("InvocationType", "REQUEST_RESPONSE") == "REQUEST_RESPONSE"
    return invoke.lambda_function(definition["Target"], as_json_array(payloads), synchronous,
                                  principal=definition.get("RoleArn", ""))


def _state_machine(definition: dict, events: list, payloads: list[str]) -> Result:
    parameters = (definition.get("TargetParameters") or {}).get("StepFunctionStateMachineParameters") or {}
    synchronous = parameters.get("InvocationType", "FIRE_AND_FORGET") == "REQUEST_RESPONSE"
    return invoke.state_machine(definition["Target"], as_json_array(payloads), synchronous,
                                principal=definition.get("RoleArn", ""))


def _http(definition: dict, events: list, payloads: list[str]) -> Result:
    """One request per event; the first failure ends the batch (the rest are retried)."""
    kind = kind_of(definition["Target"])
    parameters = (definition.get("TargetParameters") or {}).get("HttpParameters") or {}
    results = []
    for index, (event, payload) in enumerate(zip(events, payloads)):
        result = invoke.http(kind, definition["Target"], parameters, payload, event)
        results.append(result)
        if not result.ok:
            return Result(False, request=[r.request for r in results], raw_response=[r.raw_response for r in results],
                          error=result.error, failed_indexes=set(range(index, len(payloads))))
    failures = [item for r in results for item in (r.item_failures or [])]
    return Result(True, request=[r.request for r in results], raw_response=[r.raw_response for r in results],
                  item_failures=failures or None)


def as_json_array(payloads: list[str]) -> str:
    return "[" + ",".join(p if _is_json(p) else json.dumps(p) for p in payloads) + "]"


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except ValueError:
        return False


DELIVER = {"events": _event_bus, "sqs": _queue, "kinesis": _kinesis, "firehose": _firehose, "logs": _log_group,
           "sns": _topic, "lambda": _lambda, "states": _state_machine, "api-destination": _http,
           "api-gateway": _http}


def deliver(definition: dict, events: list, payloads: list[str]) -> Result:
    return DELIVER[kind_of(definition["Target"])](definition, events, payloads)
