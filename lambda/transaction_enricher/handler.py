"""The ingress pipe's enrichment: validates each SQS record and adds a ``validation`` field
beside its ``body``, never touching the body itself (the recorder logs it byte for byte).

EventBridge Pipes invokes it synchronously with the batch as a JSON array and sends what
it returns on to the bus ("EventBridge Pipes passes the enrichment responses directly to
the configured target"). A record without a string body is refused: the whole batch
fails and stays on the queue, which dead-letters it after maxReceiveCount.
"""

from __future__ import annotations

import json

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()

VALIDATOR = "transaction-enricher/v1"


class InvalidRecord(ValueError):
    """A pipe record that carries no string body."""


def validation_of(body: str) -> dict:
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    return {"validator": VALIDATOR, "body_bytes": len(body.encode("utf-8")),
            "body_is_json_object": isinstance(parsed, dict)}


def enrich(record: dict) -> dict:
    body = record.get("body") if isinstance(record, dict) else None
    if not isinstance(body, str):
        raise InvalidRecord("pipe record without a string body")
    return {**record, "validation": validation_of(body)}


@logger.inject_lambda_context
def lambda_handler(event: list, context: LambdaContext) -> list:
    enriched = [enrich(record) for record in event]
    logger.info("batch enriched", records=len(enriched))
    return enriched
