"""CloudWatch Logs with its events on disk (the local cloud's SQLite database) instead
of in memory, and the API behaving as AWS documents it where ministack 1.5.33 differs:
FilterLogEvents paginates (ministack stops at 10,000 events without a nextToken) and
reads filter patterns case-sensitively with JSON, regex and space-delimited forms
(ministack: case-insensitive substrings, JSON patterns match everything); ListLogGroups
and DescribeQueries exist (a Lambda function's log is written by awslambda/log_capture.py, through this API);
log groups' retention is enforced.

Log groups themselves stay ministack's; after a restore, a group whose events survived
but whose record did not (made after the last snapshot) is created again, so log lines
never vanish.
"""

from __future__ import annotations

import logging
import time

from localcloud import seams
from localcloud.extension import Extension
from localcloud.services.logs import events_api, groups_api, store
from localcloud.state import retention

logger = logging.getLogger("localcloud.logs")

# Actions ministack does not know, served before its handler.
NEW_ACTIONS = {"ListLogGroups": groups_api.list_log_groups, "DescribeQueries": groups_api.describe_queries}


def _replace(implementation):
    return lambda _original: implementation


def _with_new_actions(original):
    async def handler(method, path, headers, body, query_params):
        action = (headers.get("x-amz-target") or "").rsplit(".", 1)[-1]
        implementation = NEW_ACTIONS.get(action)
        if implementation is None:
            return await original(method, path, headers, body, query_params)
        try:
            data = seams.decode_json(200, body)[1] if body else {}
        except ValueError:
            data = None
        if not isinstance(data, dict) or "raw" in data:
            return seams.error_response("SerializationException", "Invalid JSON")
        return implementation(data)

    return handler


def expire_events() -> int:
    """Delete events older than their group's retention (by event timestamp)."""
    removed = 0
    now_ms = int(time.time() * 1000)
    for account, region, name, record in seams.logs.all_groups():
        days = record.get("retentionInDays")
        if not days:
            continue
        gid = store.group_id(account, region, name)
        while gid is not None:
            count = store.expire(gid, now_ms - int(days) * 86_400_000)
            removed += count
            if count == 0:
                break
    return removed


def recreate_groups_of_surviving_events() -> list[str]:
    present = {(a, r, n) for a, r, n, _g in seams.logs.all_groups()}
    recreated = []
    for account, region, name in store.stored_groups():
        if (account, region, name) not in present:
            with seams.request_scope(account, region):
                seams.logs.create_group(name)
            recreated.append(f"{account}/{region}/{name}")
    if recreated:
        logger.warning("log groups whose events outlived their record, created again: %s", recreated)
    return recreated


def needed() -> bool:
    return not seams.logs.probe_paginates_filter_log_events()


def install() -> None:
    for name, implementation in (("_put_log_events", events_api.put_log_events),
                                 ("_get_log_events", events_api.get_log_events),
                                 ("_filter_log_events", events_api.filter_log_events),
                                 ("_get_log_record", events_api.get_log_record),
                                 ("_collect_query_records", events_api.query_records),
                                 ("_create_log_stream", groups_api.create_log_stream),
                                 ("_delete_log_stream", groups_api.delete_log_stream),
                                 ("_describe_log_streams", groups_api.describe_log_streams),
                                 ("_describe_log_groups", groups_api.describe_log_groups)):
        seams.logs.replace_function(name, _replace(implementation))
    seams.logs.replace_function("_delete_log_group", groups_api.delete_log_group)
    seams.logs.replace_function("_start_query", groups_api.start_query)
    seams.wrap_service_handler("logs", _with_new_actions)


def start() -> None:
    recreate_groups_of_surviving_events()
    retention.register("log group retention", expire_events)


EXTENSION = Extension(name="logs_on_disk", needed=needed, install=install, start=start)
