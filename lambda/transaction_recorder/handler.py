"""Records one transaction: logs the body exactly as received with its SHA-256, then
publishes a TransactionRecorded domain event with personal fields pseudonymised.

Invoked by the Step Functions workflow with the EventBridge event the pipe produced; the
SQS record is the event's detail and its ``body`` is the HTTP request body as a string.

Delivery is at least once everywhere on the way (SQS, EventBridge, the workflow's
retries), so the domain event carries ``transaction_id``: derived from the transaction
(its SQS message id and body hash), the same for every attempt. Publishing itself is
idempotent for 8 days (the stored result answers a redelivery or a replay); an attempt
that timed out after PutEvents but before that result was stored publishes again on
retry, with the same ``transaction_id``, and consumers drop what they already handled.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import partial

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from pseudonymise import pseudonymise_fields

# Pure-ASCII JSON lines: a body may hold U+2028, U+2029 or U+0085, and a log pipeline that
# splits on any Unicode line boundary would cut a raw one in two. Escaped, the parsed
# value is still the exact body.
logger = Logger(json_serializer=partial(json.dumps, default=str, separators=(",", ":"), ensure_ascii=True))

PERSONAL_FIELDS = tuple(f for f in os.environ.get("PERSONAL_FIELDS", "").split(",") if f)
DOMAIN_EVENT_SOURCE = os.environ.get("DOMAIN_EVENT_SOURCE", "")
DOMAIN_EVENT_DETAIL_TYPE = "TransactionRecorded"

_persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE_NAME"])
# Replays and SQS redeliveries within this window publish nothing new.
_idempotency = IdempotencyConfig(expires_after_seconds=8 * 24 * 3600, event_key_jmespath="transaction_key")
_events = boto3.client("events")


class MalformedTransactionEvent(ValueError):
    """The event has no string body: not something the pipe produced."""


def body_of(event: EventBridgeEvent) -> str:
    body = event.detail.get("body") if isinstance(event.detail, dict) else None
    if not isinstance(body, str):
        raise MalformedTransactionEvent(f"event {event.get_id} carries no string detail.body")
    return body


def transaction_id_of(message_id: str, body_sha256: str) -> str:
    """The transaction's identity downstream: the same for every delivery and retry."""
    return hashlib.sha256(f"{message_id}\n{body_sha256}".encode("utf-8")).hexdigest()


def domain_event_detail(body: str, body_sha256: str, message_id: str) -> dict:
    secret = json.loads(parameters.get_secret(os.environ["PSEUDONYMISATION_SECRET_ARN"], max_age=300))
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    transaction, pseudonymised = pseudonymise_fields(
        document, PERSONAL_FIELDS, secret["key"].encode("utf-8"), secret.get("version", "v1")
    )
    return {
        "transaction_id": transaction_id_of(message_id, body_sha256),
        "body_sha256": body_sha256,
        "message_id": message_id,
        "transaction": transaction if isinstance(document, dict) else None,
        "body_is_json_object": isinstance(document, dict),
        "pseudonymised_fields": pseudonymised,
    }


@idempotent_function(data_keyword_argument="transaction", persistence_store=_persistence, config=_idempotency)
def publish_transaction_recorded(transaction: dict) -> dict:
    """Once per (SQS message id, body hash): SQS redeliveries and archive replays get the
    stored result back instead of publishing again."""
    detail = domain_event_detail(transaction["body"], transaction["body_sha256"], transaction["message_id"])
    if transaction.get("replay_name"):
        detail["replay_name"] = transaction["replay_name"]  # published from a replay: say so
    response = _events.put_events(Entries=[{
        "EventBusName": os.environ["DOMAIN_EVENT_BUS_ARN"],
        "Source": DOMAIN_EVENT_SOURCE,
        "DetailType": DOMAIN_EVENT_DETAIL_TYPE,
        "Detail": json.dumps(detail, separators=(",", ":")),
    }])
    if response.get("FailedEntryCount"):
        raise RuntimeError(f"PutEvents refused the domain event: {response['Entries']}")
    return {"domain_event_id": response["Entries"][0]["EventId"], "first_request_id": transaction["request_id"]}


@event_source(data_class=EventBridgeEvent)
@logger.inject_lambda_context
def lambda_handler(event: EventBridgeEvent, context: LambdaContext) -> dict:
    _idempotency.register_lambda_context(context)
    body = body_of(event)
    body_sha256 = hashlib.sha256(body.encode("utf-8")).hexdigest()
    message_id = event.detail.get("messageId", "")
    replay_name = event.raw_event.get("replay-name")
    transaction_id = transaction_id_of(message_id, body_sha256)
    # The record of receipt comes first: it must exist even if publishing fails below.
    logger.info(
        "transaction recorded",
        body=body,
        body_sha256=body_sha256,
        message_id=message_id,
        event_id=event.get_id,
        transaction_id=transaction_id,
        replay_name=replay_name,
        validation=event.detail.get("validation"),  # added beside the body by the pipe's enrichment, if any
    )
    published = publish_transaction_recorded(transaction={
        # request_id is left out of the key: it differs on every attempt.
        "transaction_key": f"{message_id}:{body_sha256}",
        "body": body,
        "body_sha256": body_sha256,
        "message_id": message_id,
        "replay_name": replay_name,
        "request_id": context.aws_request_id,
    })
    duplicate = published["first_request_id"] != context.aws_request_id
    logger.info(
        "TransactionRecorded already published" if duplicate else "TransactionRecorded published",
        body_sha256=body_sha256,
        domain_event_id=published["domain_event_id"],
        transaction_id=transaction_id,
        duplicate=duplicate,
    )
    return {"body_sha256": body_sha256, "message_id": message_id, "domain_event_id": published["domain_event_id"],
            "transaction_id": transaction_id, "duplicate": duplicate}
