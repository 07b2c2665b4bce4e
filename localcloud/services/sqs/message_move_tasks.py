"""SQS dead-letter queue redrive: StartMessageMoveTask, ListMessageMoveTasks,
CancelMessageMoveTask and ListDeadLetterSourceQueues, which ministack 1.5.33 answers
with InvalidAction.

As AWS documents them (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html):
the source must be the dead-letter queue of another queue; without a DestinationArn each
message goes back to the queue it was dead-lettered from; one active task per source; the
task runs asynchronously and ListMessageMoveTasks reports it. Messages move through
SQS's own ReceiveMessage, SendMessage and DeleteMessage, so a message is deleted from
the dead-letter queue only once its copy was accepted.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import threading
import time
import uuid

from localcloud import auth, seams
from localcloud.extension import Extension

logger = logging.getLogger("localcloud")

ACTIONS = ("StartMessageMoveTask", "ListMessageMoveTasks", "CancelMessageMoveTask", "ListDeadLetterSourceQueues")
_RECEIVE_VISIBILITY_S = 30
_tasks: dict[str, list[dict]] = {}  # source ARN -> its tasks, newest first
_lock = threading.Lock()


class _Refused(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _arn_parts(arn: str) -> tuple[str, str, str] | None:
    """(region, account, queue name) of an SQS queue ARN."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "sqs"]:
        return None
    return parts[3], parts[4], parts[5]


def _queue_url(arn: str, call) -> str | None:
    parts = _arn_parts(arn)
    if not parts:
        return None
    region, account, name = parts
    status, found = call("sqs", "GetQueueUrl", account, region, {"QueueName": name, "QueueOwnerAWSAccountId": account})
    return found.get("QueueUrl") if status < 400 else None


def _dead_letter_sources(dlq_arn: str, call) -> list[str]:
    """URLs of the queues whose redrive policy names ``dlq_arn`` (same account and region, as SQS requires)."""
    region, account, _name = _arn_parts(dlq_arn)
    _status, listed = call("sqs", "ListQueues", account, region, {})
    sources = []
    for url in listed.get("QueueUrls", []):
        _status, found = call("sqs", "GetQueueAttributes", account, region,
                              {"QueueUrl": url, "AttributeNames": ["RedrivePolicy"]})
        policy = (found.get("Attributes") or {}).get("RedrivePolicy")
        try:
            if policy and json.loads(policy).get("deadLetterTargetArn") == dlq_arn:
                sources.append(url)
        except ValueError:
            continue
    return sources


def _count(url: str, account: str, region: str, call) -> int:
    _status, found = call("sqs", "GetQueueAttributes", account, region,
                          {"QueueUrl": url, "AttributeNames": ["ApproximateNumberOfMessages"]})
    return int((found.get("Attributes") or {}).get("ApproximateNumberOfMessages", 0))


def _as(principal: str):
    """SQS's own calls in-process, made as ``principal`` (the task's caller; the account's root
    for the lookups behind an API call already authorized)."""
    return functools.partial(seams.call_json_api_sync, principal=principal)


def _root() -> str:
    return f"arn:aws:iam::{seams.current_account()}:root"


def _handle(token: str) -> str:
    return base64.b64encode(token.encode()).decode()


def _public(task: dict) -> dict:
    shown = {k: task[k] for k in ("ApproximateNumberOfMessagesMoved", "ApproximateNumberOfMessagesToMove", "SourceArn",
                                  "StartedTimestamp", "Status")}
    for optional in ("DestinationArn", "MaxNumberOfMessagesPerSecond", "FailureReason"):
        if task.get(optional) is not None:
            shown[optional] = task[optional]
    if task["Status"] == "RUNNING":
        shown["TaskHandle"] = task["TaskHandle"]
    return shown


def _start(request: dict, principal: str) -> dict:
    source = request.get("SourceArn", "")
    destination = request.get("DestinationArn")
    rate = request.get("MaxNumberOfMessagesPerSecond")
    call = _as(principal)
    source_url = _queue_url(source, call)
    if not source_url:
        raise _Refused("ResourceNotFoundException",
                       "The resource that you specified for the SourceArn parameter doesn't exist.", 404)
    if destination and not _queue_url(destination, call):
        raise _Refused("ResourceNotFoundException",
                       "The resource that you specified for the DestinationArn parameter doesn't exist.", 404)
    if rate is not None and not 1 <= int(rate) <= 500:
        raise _Refused("InvalidParameterValue", "Value for parameter MaxNumberOfMessagesPerSecond is invalid.")
    if not _dead_letter_sources(source, call):
        raise _Refused("InvalidParameterValue", "Source queue must be configured as a Dead Letter Queue.")
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
        auth.require(principal, action, source)
    region, account, _name = _arn_parts(source)
    with _lock:
        if any(t["Status"] == "RUNNING" for t in _tasks.get(source, [])):
            raise _Refused("InvalidParameterValue", "There is already a task running. Only one active task is allowed "
                           "for a source queue arn at a given time.")
        task = {
            "TaskHandle": _handle(json.dumps({"taskId": str(uuid.uuid4()), "sourceArn": source})),
            "SourceArn": source, "DestinationArn": destination,
            "MaxNumberOfMessagesPerSecond": int(rate) if rate is not None else None,
            "ApproximateNumberOfMessagesMoved": 0,
            "ApproximateNumberOfMessagesToMove": _count(source_url, account, region, call),
            "StartedTimestamp": int(time.time() * 1000), "Status": "RUNNING", "cancel": False,
            "principal": principal,
        }
        _tasks.setdefault(source, []).insert(0, task)
    threading.Thread(target=_move, args=(task, source_url, account, region), daemon=True,
                     name=f"sqs-move-{_arn_parts(source)[2]}").start()
    return {"TaskHandle": task["TaskHandle"]}


def _move(task: dict, source_url: str, account: str, region: str) -> None:
    call = _as(task["principal"])
    urls: dict[str, str | None] = {}
    try:
        while not task["cancel"] and task["ApproximateNumberOfMessagesMoved"] < task["ApproximateNumberOfMessagesToMove"]:
            _status, page = call("sqs", "ReceiveMessage", account, region, {
                "QueueUrl": source_url, "MaxNumberOfMessages": 10, "VisibilityTimeout": _RECEIVE_VISIBILITY_S,
                "MessageSystemAttributeNames": ["All"], "MessageAttributeNames": ["All"]})
            messages = page.get("Messages", [])
            movable = [m for m in messages if task["DestinationArn"] or (m.get("Attributes") or {}).get("DeadLetterQueueSourceArn")]
            if not movable:
                break  # empty, or only messages that were sent to the DLQ directly and have no source to go back to
            for message in movable:
                if task["cancel"]:
                    break
                target = task["DestinationArn"] or message["Attributes"]["DeadLetterQueueSourceArn"]
                if target not in urls:
                    urls[target] = _queue_url(target, call)
                    if urls[target]:
                        auth.require(task["principal"], "sqs:SendMessage", target)
                if not urls[target]:
                    task.update(Status="FAILED", FailureReason="AWS.SimpleQueueService.NonExistentQueue")
                    return
                _send_then_delete(message, urls[target], target, source_url, account, region, call)
                task["ApproximateNumberOfMessagesMoved"] += 1
                if task["MaxNumberOfMessagesPerSecond"]:
                    time.sleep(1 / task["MaxNumberOfMessagesPerSecond"])
        task["Status"] = "CANCELLED" if task["cancel"] else "COMPLETED"
    except auth.AccessDenied as denied:
        task.update(Status="FAILED", FailureReason=denied.code)
    except Exception:  # noqa: BLE001 - a task that stops must say so, not stay RUNNING
        logger.exception("message move task from %s failed", task["SourceArn"])
        task.update(Status="FAILED", FailureReason="AWS.SimpleQueueService.InternalError")


def _send_then_delete(message: dict, target_url: str, target_arn: str, source_url: str, account: str, region: str,
                      call) -> None:
    attributes = message.get("Attributes") or {}
    send = {"QueueUrl": target_url, "MessageBody": message["Body"]}
    if message.get("MessageAttributes"):
        send["MessageAttributes"] = message["MessageAttributes"]
    for key in ("MessageGroupId", "MessageDeduplicationId"):
        if attributes.get(key):
            send[key] = attributes[key]
    target_region, target_account, _name = _arn_parts(target_arn)
    status, answer = call("sqs", "SendMessage", target_account, target_region, send)
    if status >= 400:
        raise RuntimeError(f"SendMessage to {target_arn}: {answer}")
    call("sqs", "DeleteMessage", account, region, {"QueueUrl": source_url, "ReceiptHandle": message["ReceiptHandle"]})


def _list(request: dict) -> dict:
    source = request.get("SourceArn", "")
    if not _queue_url(source, _as(_root())):
        raise _Refused("ResourceNotFoundException",
                       "The resource that you specified for the SourceArn parameter doesn't exist.", 404)
    limit = int(request.get("MaxResults", 1))
    with _lock:
        return {"Results": [_public(t) for t in _tasks.get(source, [])[:limit]]}


def _cancel(request: dict) -> dict:
    try:
        decoded = json.loads(base64.b64decode(request.get("TaskHandle", ""), validate=True))
        source = decoded["sourceArn"]
    except (ValueError, KeyError, TypeError):
        raise _Refused("InvalidParameterValue", "Value for parameter TaskHandle is invalid.") from None
    if not _queue_url(source, _as(_root())):
        raise _Refused("ResourceNotFoundException",
                       "The resource that you specified for the SourceArn parameter doesn't exist.", 404)
    with _lock:
        task = next((t for t in _tasks.get(source, []) if t["TaskHandle"] == request["TaskHandle"]), None)
        if task is None or task["Status"] != "RUNNING":
            raise _Refused("ResourceNotFoundException", "Task does not exist.", 404)
        task["cancel"] = True
        task["Status"] = "CANCELLING"
        return {"ApproximateNumberOfMessagesMoved": task["ApproximateNumberOfMessagesMoved"]}


def _sources(request: dict) -> dict:
    url = request.get("QueueUrl", "")
    call = _as(_root())
    account, region = seams.current_account(), seams.current_region()
    status, found = call("sqs", "GetQueueAttributes", account, region, {"QueueUrl": url, "AttributeNames": ["QueueArn"]})
    if status >= 400:
        raise _Refused("QueueDoesNotExist", "The specified queue does not exist.")
    return {"queueUrls": _dead_letter_sources(found["Attributes"]["QueueArn"], call)}


_OPERATIONS = {"StartMessageMoveTask": None, "ListMessageMoveTasks": _list, "CancelMessageMoveTask": _cancel,
               "ListDeadLetterSourceQueues": _sources}


def _answer(status: int, document: dict, code: str | None = None) -> tuple[int, dict, bytes]:
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    if code:
        headers.update({"x-amzn-query-error": f"{code};Sender", "x-amzn-errortype": code})
    return status, headers, json.dumps(document).encode()


def _wrap_sqs_handler(original, serving: frozenset):
    async def handle(method, path, headers, body, query_params):
        action = headers.get("x-amz-target", "").rpartition(".")[2]
        if not headers.get("x-amz-target", "").startswith("AmazonSQS.") or action not in serving:
            return await original(method, path, headers, body, query_params)
        try:
            request = json.loads(body) if body else {}
        except ValueError:
            request = {}
        caller = seams.acting()  # who called StartMessageMoveTask: the task moves messages as it
        principal = caller.arn if isinstance(caller, auth.Caller) else (caller or _root())
        operation = _OPERATIONS[action] or (lambda r: _start(r, principal))
        try:
            # The operations call SQS in-process and wait for it: off the event loop (the
            # thread keeps the request's account and region: to_thread copies the context).
            return _answer(200, await asyncio.to_thread(operation, request))
        except _Refused as refused:
            return _answer(refused.status, {"__type": refused.code, "message": refused.message}, refused.code)
        except auth.AccessDenied as denied:
            return _answer(403, {"__type": denied.code, "message": denied.message}, denied.code)

    return handle


def needed() -> bool:
    return not all(seams.sqs.has_action(action) for action in ACTIONS)


def install() -> None:
    missing = frozenset(action for action in ACTIONS if not seams.sqs.has_action(action))
    seams.wrap_service_handler("sqs", lambda original: _wrap_sqs_handler(original, missing))


def stop() -> None:
    with _lock:
        for tasks in _tasks.values():
            for task in tasks:
                task["cancel"] = True


EXTENSION = Extension(name="sqs_message_move_tasks", needed=needed, install=install, stop=stop)
