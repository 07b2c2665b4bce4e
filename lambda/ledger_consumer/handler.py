"""Ledger's consumer of backbone events: handles each domain event once, logging it as
one JSON line.

EventBridge delivers at least once, and a producer may publish again after a timeout:
so the consumer dedupes. A TransactionRecorded carries ``transaction_id``, the same for
every copy of one transaction; an event without one is keyed by its event id. The first
copy is handled ("domain event received"); later copies within 8 days are not, and leave
a "domain event already handled" line saying so.
"""

from __future__ import annotations

import json
import os
from functools import partial

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

# Pure-ASCII JSON lines: a body may hold U+2028, U+2029 or U+0085, and a log pipeline that
# splits on any Unicode line boundary would cut a raw one in two. Escaped, the parsed
# value is still the exact body.
logger = Logger(json_serializer=partial(json.dumps, default=str, separators=(",", ":"), ensure_ascii=True))

_persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE_NAME"])
_idempotency = IdempotencyConfig(expires_after_seconds=8 * 24 * 3600, event_key_jmespath="dedupe_key")


def dedupe_key(event: EventBridgeEvent) -> str:
    detail = event.detail if isinstance(event.detail, dict) else {}
    transaction_id = detail.get("transaction_id")
    return f"transaction:{transaction_id}" if isinstance(transaction_id, str) and transaction_id else \
        f"event:{event.get_id}"


@idempotent_function(data_keyword_argument="domain_event", persistence_store=_persistence, config=_idempotency)
def handle(domain_event: dict) -> dict:
    """The ledger's effect for one domain event (here: the line that records it)."""
    detail = domain_event["detail"]
    logger.info(
        "domain event received",
        detail_type=domain_event["detail_type"],
        source=domain_event["source"],
        origin_account=domain_event["account"],
        region=domain_event["region"],
        event_id=domain_event["event_id"],
        transaction_id=detail.get("transaction_id"),
        body_sha256=detail.get("body_sha256"),
        detail=detail,
    )
    return {"event_id": domain_event["event_id"], "first_request_id": domain_event["request_id"]}


@event_source(data_class=EventBridgeEvent)
@logger.inject_lambda_context
def lambda_handler(event: EventBridgeEvent, context: LambdaContext) -> dict:
    _idempotency.register_lambda_context(context)
    handled = handle(domain_event={
        "dedupe_key": dedupe_key(event),
        "detail_type": event.detail_type,
        "source": event.source,
        "account": event.account,
        "region": event.region,
        "event_id": event.get_id,
        "detail": event.detail if isinstance(event.detail, dict) else {},
        # request_id is left out of the key: it differs on every delivery.
        "request_id": context.aws_request_id,
    })
    duplicate = handled["first_request_id"] != context.aws_request_id
    if duplicate:
        logger.info("domain event already handled", dedupe_key=dedupe_key(event), event_id=event.get_id,
                    first_event_id=handled["event_id"], duplicate=True)
    return {"event_id": event.get_id, "duplicate": duplicate}
