"""Ledger's consumer of backbone events: logs each event it receives as one JSON line."""

from __future__ import annotations

import json
from functools import partial

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

# Pure-ASCII JSON lines: a body may hold U+2028, U+2029 or U+0085, and a log pipeline that
# splits on any Unicode line boundary would cut a raw one in two. Escaped, the parsed
# value is still the exact body.
logger = Logger(json_serializer=partial(json.dumps, default=str, separators=(",", ":"), ensure_ascii=True))


@event_source(data_class=EventBridgeEvent)
@logger.inject_lambda_context
def lambda_handler(event: EventBridgeEvent, context: LambdaContext) -> dict:
    detail = event.detail if isinstance(event.detail, dict) else {}
    logger.info(
        "domain event received",
        detail_type=event.detail_type,
        source=event.source,
        origin_account=event.account,
        region=event.region,
        event_id=event.get_id,
        body_sha256=detail.get("body_sha256"),
        detail=detail,
    )
    return {"event_id": event.get_id}
