"""Log groups and log streams as the CloudWatch Logs API reference describes them, with
streams on the SQLite store (ministack keeps them, and their events, in memory):

* DescribeLogGroups / ListLogGroups (ListLogGroups is unknown to ministack):
  https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_ListLogGroups.html
  patterns are case-sensitive, ListLogGroups' takes ``^`` for a prefix and ``|`` between
  alternatives;
* CreateLogStream / DeleteLogStream / DescribeLogStreams;
* DeleteLogGroup also deletes the group's events;
* DescribeQueries (unknown to ministack) over ministack's Insights queries.
"""

from __future__ import annotations

import base64
import json
import re
import time

from localcloud import seams
from localcloud.services.logs import store
from localcloud.services.logs.common import invalid, missing_group, read_limit, resolve_group

_STREAM_NAME = re.compile(r"^[^:*]{1,512}$")


def _token(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def _untoken(token):
    try:
        return json.loads(base64.urlsafe_b64decode(str(token).encode()))
    except ValueError:
        return None


def _page(names: list[str], data: dict, maximum: int):
    """(page, next token or None, error) of a sorted list of names."""
    limit, error = read_limit(data, maximum, maximum)
    if error:
        return None, None, error
    start = 0
    if data.get("nextToken"):
        start = _untoken(data["nextToken"])
        if not isinstance(start, int):
            return None, None, invalid("The specified nextToken is invalid.")
    page = names[start:start + limit]
    return page, _token(start + limit) if start + limit < len(names) else None, None


# --- log groups ------------------------------------------------------------------------------------------

def describe_log_groups(data: dict):
    prefix, pattern = data.get("logGroupNamePrefix"), data.get("logGroupNamePattern")
    if prefix and pattern:
        return invalid("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
    names = seams.logs.group_names()
    if prefix:
        names = [n for n in names if n.startswith(prefix)]
    elif pattern:
        names = [n for n in names if pattern in n]
    if data.get("logGroupClass"):
        names = [n for n in names if (seams.logs.group(n) or {}).get("logGroupClass", "STANDARD")
                 == data["logGroupClass"]]
    page, token, error = _page(names, data, 50)
    if error:
        return error
    account, region = seams.current_account(), seams.current_region()
    groups = []
    for name in page:
        record = seams.logs.group(name) or {}
        entry = {"logGroupName": name, "creationTime": record.get("creationTime"),
                 "metricFilterCount": seams.logs.metric_filter_count(name), "arn": record.get("arn"),
                 "logGroupClass": record.get("logGroupClass") or "STANDARD",
                 "logGroupArn": seams.logs.group_arn(name)}
        if not pattern:  # "If you specify logGroupNamePattern … only arn, creationTime, and logGroupName"
            gid = store.group_id(account, region, name)
            entry["storedBytes"] = store.group_bytes(gid) if gid is not None else 0
            entry["deletionProtectionEnabled"] = bool(record.get("deletionProtectionEnabled", False))
        if record.get("retentionInDays") is not None:
            entry["retentionInDays"] = record["retentionInDays"]
        if record.get("kmsKeyId"):
            entry["kmsKeyId"] = record["kmsKeyId"]
        groups.append(entry)
    response = {"logGroups": groups}
    if token:
        response["nextToken"] = token
    return seams.json_response(response)


def _name_matcher(pattern: str):
    """ListLogGroups' logGroupNamePattern: alternatives split by ``|``, each a
    case-sensitive substring, or a prefix when it starts with ``^``."""
    alternatives = [a for a in pattern.split("|") if a]

    def matches(name: str) -> bool:
        return any(name.startswith(a[1:]) if a.startswith("^") else a in name for a in alternatives)

    return matches


def list_log_groups(data: dict):
    names = seams.logs.group_names()
    if data.get("logGroupNamePattern"):
        matches = _name_matcher(data["logGroupNamePattern"])
        names = [n for n in names if matches(n)]
    if data.get("logGroupClass"):
        names = [n for n in names if (seams.logs.group(n) or {}).get("logGroupClass", "STANDARD")
                 == data["logGroupClass"]]
    page, token, error = _page(names, data, 1000) if "limit" in data else _page(names, {**data, "limit": 50}, 1000)
    if error:
        return error
    response = {"logGroups": [{"logGroupName": n, "logGroupArn": seams.logs.group_arn(n),
                               "logGroupClass": (seams.logs.group(n) or {}).get("logGroupClass") or "STANDARD"}
                              for n in page]}
    if token:
        response["nextToken"] = token
    return seams.json_response(response)


def delete_log_group(original):
    def handler(data: dict):
        status, headers, body = original(data)
        if status < 300:
            store.delete_group(seams.current_account(), seams.current_region(), data.get("logGroupName"))
        return status, headers, body

    return handler


# --- log streams -----------------------------------------------------------------------------------------

def create_log_stream(data: dict):
    name = data.get("logStreamName") or ""
    if not _STREAM_NAME.match(name):
        return invalid("1 validation error detected: Value at 'logStreamName' failed to satisfy constraint: "
                        "Member must satisfy regular expression pattern: [^:*]*")
    gid, _group_name, error = resolve_group(data)
    if error:
        return error
    if not store.create_stream(gid, name, int(time.time() * 1000)):
        return seams.error_response("ResourceAlreadyExistsException", "The specified log stream already exists")
    return seams.json_response({})


def delete_log_stream(data: dict):
    gid, _group_name, error = resolve_group(data)
    if error:
        return error
    if not store.delete_stream(gid, data.get("logStreamName") or ""):
        return seams.error_response("ResourceNotFoundException", "The specified log stream does not exist.")
    return seams.json_response({})


def describe_log_streams(data: dict):
    gid, group_name, error = resolve_group(data)
    if error:
        return error
    by_last_event = data.get("orderBy") == "LastEventTime"
    prefix = data.get("logStreamNamePrefix") or ""
    if by_last_event and prefix:
        return invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
    limit, error = read_limit(data, 50, 50)
    if error:
        return error
    after = None
    if data.get("nextToken"):
        after = _untoken(data["nextToken"])
        if not isinstance(after, list):
            return invalid("The specified nextToken is invalid.")
    page = store.list_streams(gid, prefix=prefix, by_last_event=by_last_event, descending=bool(data.get("descending")),
                              after=tuple(after) if after else None, limit=limit + 1)
    more, page = len(page) > limit, page[:limit]
    arn = seams.logs.group_arn(group_name)
    streams = []
    for found in page:
        entry = {"logStreamName": found.name, "creationTime": found.created,
                 "arn": f"{arn}:log-stream:{found.name}", "storedBytes": 0,
                 "uploadSequenceToken": f"{found.sequence:056d}"}
        for key, value in (("firstEventTimestamp", found.first_ts), ("lastEventTimestamp", found.last_ts),
                           ("lastIngestionTime", found.last_ingest)):
            if value is not None:
                entry[key] = value
        streams.append(entry)
    response = {"logStreams": streams}
    if more:
        last = page[-1]
        response["nextToken"] = _token([last.last_ts or 0, last.name] if by_last_event else [last.name])
    return seams.json_response(response)


# --- Insights queries --------------------------------------------------------------------------------------

def start_query(original):
    """ministack's StartQuery, with the creation time DescribeQueries reports."""
    def handler(data: dict):
        status, headers, body = original(data)
        if status < 300:
            query_id = json.loads(body).get("queryId")
            for query in seams.logs.queries():
                if query.get("queryId") == query_id:
                    query.setdefault("createTime", int(time.time() * 1000))
        return status, headers, body

    return handler


def describe_queries(data: dict):
    wanted_group, wanted_status = data.get("logGroupName"), data.get("status")
    if wanted_group and seams.logs.group(wanted_group) is None:
        return missing_group()
    found = [q for q in seams.logs.queries()
             if (not wanted_group or q.get("logGroupName") == wanted_group
                 or wanted_group in (q.get("logGroupNames") or []))
             and (not wanted_status or q.get("status") == wanted_status)]
    found.sort(key=lambda q: q.get("createTime", 0), reverse=True)
    limit = data.get("maxResults", 1000)
    if not isinstance(limit, int) or not 1 <= limit <= 1000:
        return invalid(f"1 validation error detected: Value '{limit}' at 'maxResults' failed to satisfy "
                        "constraint: Member must have value between 1 and 1000")
    start = _untoken(data["nextToken"]) if data.get("nextToken") else 0
    if not isinstance(start, int):
        return invalid("The specified nextToken is invalid.")
    page = found[start:start + limit]
    response = {"queries": [{"queryLanguage": "CWLI", "queryId": q.get("queryId"), "queryString": q.get("queryString"),
                             "status": q.get("status"), "createTime": q.get("createTime", 0),
                             "logGroupName": q.get("logGroupName") or next(iter(q.get("logGroupNames") or []), "")}
                            for q in page]}
    if start + limit < len(found):
        response["nextToken"] = _token(start + limit)
    return seams.json_response(response)
