"""One pipe execution: a batch from the source through filter, enrichment and target.

Returns the source records that failed (to stay on the source and be retried); the rest
were delivered or filtered out. As the Pipes user guide has it:

* filtered-out records are done with ("EventBridge Pipes filtering");
* an enrichment answering a JSON array makes that array the batch for the target; an
  empty answer ("", {} or []) ends the execution with nothing to deliver, and anything
  else is one event ("Filtering events using enrichment"); an enrichment failure fails
  the whole batch; "partial batch failure handling of the enrichment is not supported",
  so an enrichment's ``batchItemFailures`` object is, like any answer, passed on;
* a target reporting failed entries (batch APIs) or ``batchItemFailures`` (Lambda, Step
  Functions, API Gateway, API destinations) fails only those records; an
  ``itemIdentifier`` that is empty, null or names no record of the batch fails it all.
https://docs.aws.amazon.com/eventbridge/latest/userguide/pipes-enrichment.html
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-batching-concurrency.html
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-logs-execution-steps.html
Log records: the step levels and which steps carry ``payload`` (those where the batch may
have changed), ``awsRequest`` and ``awsResponse`` (the invocations) are eb-pipes-logs.html's.
"""

from __future__ import annotations

from localcloud.services.pipes import invoke, permissions, targets
from localcloud.services.pipes.invoke import Result
from localcloud.services.pipes.pipe_logs import ExecutionLog, error_detail
from localcloud.services.pipes.templates import passes_filters, transform
from localcloud.services.pipes.validation import TARGET_MAX_BATCH, kind_of


def record_id(record: dict) -> str:
    return record.get("messageId") or record.get("eventID") or ""


def execute(definition: dict, records: list[dict]) -> list[dict]:
    selected = [r for r in records if passes_filters(definition, r)]
    if not selected:
        return []
    log = ExecutionLog(definition)
    try:
        log.step("ExecutionStarted", "INFO", payload=selected)
        events = selected
        if definition.get("Enrichment"):
            events = _enrichment_stage(definition, selected, log)
            if events is None:
                log.step("ExecutionFailed", "ERROR")
                return selected
            if not events:
                log.step("TargetStageSkipped", "TRACE")
                log.step("ExecutionSucceeded", "INFO")
                return []
        failed = _target_stage(definition, selected, events, log)
        if not failed:
            log.step("ExecutionSucceeded", "INFO")
        else:
            log.step("ExecutionFailed" if len(failed) == len(selected) else "ExecutionPartiallyFailed", "ERROR")
        return failed
    finally:
        log.flush()


def _denied(denied: permissions.AccessDenied, service: str, arn: str) -> Result:
    return Result(False, error=error_detail(denied.message, status=403, service=service,
                                            exception_type=denied.code, resource_arn=arn))


def _enrichment_stage(definition: dict, events: list, log: ExecutionLog) -> list | None:
    arn = definition["Enrichment"]
    kind = kind_of(arn)
    parameters = definition.get("EnrichmentParameters") or {}
    log.step("EnrichmentStageEntered", "INFO")
    payloads = _transformed("Enrichment", parameters.get("InputTemplate"), events, definition, log)
    log.step("EnrichmentInvocationStarted", "TRACE")
    try:
        permissions.require(definition, permissions.invoke_action(kind, {"InvocationType": "REQUEST_RESPONSE"}), arn)
        result = _invoke_enrichment(kind, arn, parameters, events, payloads, definition.get("RoleArn", ""))
    except permissions.AccessDenied as denied:
        result = _denied(denied, kind, arn)
    if not result.ok:
        log.step("EnrichmentInvocationFailed", "ERROR", request=result.request, response=result.raw_response,
                 error=result.error)
        log.step("EnrichmentStageFailed", "ERROR", error=result.error)
        return None
    output = enrichment_events(result.response)
    log.step("EnrichmentInvocationSucceeded", "TRACE", request=result.request, response=result.raw_response)
    log.step("EnrichmentStageSucceeded", "INFO", payload=output)
    return output


def enrichment_events(answer) -> list:
    """The events one enrichment answer makes: "If you don't want to invoke the target,
    return an empty response, such as "", {}, or []"; a JSON array is the events."""
    if isinstance(answer, list):
        return answer
    return [] if answer in (None, "", {}) else [answer]


def _invoke_enrichment(kind: str, arn: str, parameters: dict, events: list, payloads: list[str],
                       principal: str) -> Result:
    if kind == "lambda":
        return invoke.lambda_function(arn, targets.as_json_array(payloads), principal=principal)
    if kind == "states":
        return invoke.state_machine(arn, targets.as_json_array(payloads), synchronous=True, principal=principal)
    outputs, requests, responses = [], [], []
    for event, payload in zip(events, payloads):
        result = invoke.http(kind, arn, parameters.get("HttpParameters") or {}, payload, event)
        requests.append(result.request)
        responses.append(result.raw_response)
        if not result.ok:
            return Result(False, request=requests, raw_response=responses, error=result.error)
        outputs.extend(enrichment_events(result.response))
    return Result(True, response=outputs, request=requests, raw_response=responses)


def _transformed(stage: str, template: str | None, events: list, definition: dict, log: ExecutionLog) -> list[str]:
    """The stage's payloads through its input template, with the TRACE steps AWS logs around it."""
    if template:
        log.step(f"{stage}TransformationStarted", "TRACE")
    payloads = transform(template, events, definition)
    if template:
        log.step(f"{stage}TransformationSucceeded", "TRACE", payload=targets.as_json_array(payloads))
    return payloads


def _target_stage(definition: dict, selected: list[dict], events: list, log: ExecutionLog) -> list[dict]:
    arn = definition["Target"]
    kind = kind_of(arn)
    log.step("TargetStageEntered", "INFO")
    payloads = _transformed("Target", (definition.get("TargetParameters") or {}).get("InputTemplate"), events,
                            definition, log)
    log.step("TargetInvocationStarted", "TRACE")
    limit = TARGET_MAX_BATCH.get(kind)
    if limit and len(payloads) > limit:
        # "if the array is larger than the batch size supported by the target, the pipe
        # won't invoke the target"
        result = Result(False, error=error_detail(f"The batch of {len(payloads)} events is larger than the target's "
                                                  f"maximum batch size ({limit}).", service=kind, resource_arn=arn))
    else:
        try:
            parameters = (definition.get("TargetParameters") or {}).get("StepFunctionStateMachineParameters")
            permissions.require(definition, permissions.invoke_action(kind, parameters), arn)
            result = targets.deliver(definition, events, payloads)
        except permissions.AccessDenied as denied:
            result = _denied(denied, kind, arn)
    failed = _failed_records(definition, selected, events, result)
    details = {"request": result.request, "response": result.raw_response}
    if not failed:
        log.step("TargetInvocationSucceeded", "TRACE", **details)
        log.step("TargetStageSucceeded", "INFO", payload=targets.as_json_array(payloads))
    elif len(failed) < len(selected):
        log.step("TargetInvocationPartiallyFailed", "ERROR", error=result.error, **details)
        log.step("TargetStagePartiallyFailed", "ERROR", error=result.error)
    else:
        log.step("TargetInvocationFailed", "ERROR", error=result.error, **details)
        log.step("TargetStageFailed", "ERROR", error=result.error)
    return failed


def _failed_records(definition: dict, selected: list[dict], events: list, result: Result) -> list[dict]:
    if result.ok and result.item_failures:
        identifiers = set(result.item_failures)
        known = {record_id(r) for r in selected}
        if any(not isinstance(i, str) or not i or i not in known for i in identifiers):
            result.error = result.error or error_detail("batchItemFailures names an unknown itemIdentifier",
                                                        status=200)
            return list(selected)
        result.error = result.error or error_detail(f"{len(identifiers)} batch item failures", status=200)
        return [r for r in selected if record_id(r) in identifiers]
    if result.ok:
        return []
    if result.failed_indexes and not definition.get("Enrichment") and len(events) == len(selected):
        return [selected[i] for i in sorted(result.failed_indexes)]
    return list(selected)
