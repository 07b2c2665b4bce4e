"""CloudWatch Logs answers as AWS gives them, for what the pipeline and its readers use.

Sources: the CloudWatch Logs API reference and user guide (cited per test), and
LocalStack's tests recorded against AWS ("LS:" below):
tests/aws/services/logs/test_logs_filter_events.py (+ .snapshot.json),
tests/aws/services/logs/test_logs_groups.py (+ .snapshot.json).
"""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest
from botocore.exceptions import ClientError

from tests.localcloud.conftest import ACCOUNT_A, REGION


def error_of(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response["Error"]


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def group(aws, unique):
    """A log group with one stream; yields (group, stream)."""
    logs = aws("logs")
    name, stream = unique("/parity/logs"), "stream-1"
    logs.create_log_group(logGroupName=name)
    logs.create_log_stream(logGroupName=name, logStreamName=stream)
    yield name, stream
    logs.delete_log_group(logGroupName=name)


def put(aws, group: str, stream: str, messages: list[str], start_ms: int | None = None) -> int:
    """Put messages one millisecond apart, in batches of 10,000; returns the first timestamp."""
    logs, first = aws("logs"), start_ms or now_ms() - len(messages) - 1000
    for offset in range(0, len(messages), 10_000):
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
            {"timestamp": first + offset + i, "message": m} for i, m in enumerate(messages[offset:offset + 10_000])])
    return first


def all_pages(call, **kwargs) -> tuple[list[dict], int]:
    """Every event over every page, and how many pages it took."""
    events, pages = [], 0
    while True:
        page = call(**kwargs)
        pages += 1
        events += page["events"]
        if not page.get("nextToken"):
            return events, pages
        kwargs["nextToken"] = page["nextToken"]


# --- FilterLogEvents pagination ---------------------------------------------------------------------


def test_filter_log_events_pages_past_ten_thousand_events_with_next_token(aws, group):
    # "FilterLogEvents is a paginated operation. Each page returned can contain up to 1 MB of log
    # events or up to 10,000 log events … If the results don't include a nextToken, then
    # pagination is finished." (API_FilterLogEvents)
    name, stream = group
    put(aws, name, stream, [f"event {i}" for i in range(10_050)])
    logs = aws("logs")
    first = logs.filter_log_events(logGroupName=name)
    assert len(first["events"]) <= 10_000 and first.get("nextToken")
    events, pages = all_pages(logs.filter_log_events, logGroupName=name)
    assert pages >= 2
    assert [e["message"] for e in events] == [f"event {i}" for i in range(10_050)]  # each once, in timestamp order
    assert len({e["eventId"] for e in events}) == 10_050


def test_filter_log_events_limit_pages(aws, group):
    # LS: TestFilterLogEvents::test_filter_log_events_pagination (validated against AWS)
    name, stream = group
    put(aws, name, stream, [f"Message number {i}" for i in range(25)])
    logs = aws("logs")
    page = logs.filter_log_events(logGroupName=name, logStreamNames=[stream], limit=20)
    assert len(page["events"]) == 20 and "nextToken" in page
    rest = logs.filter_log_events(logGroupName=name, logStreamNames=[stream], limit=20, nextToken=page["nextToken"])
    assert len(page["events"] + rest["events"]) == 25
    assert set(page["events"][0]) == {"logStreamName", "timestamp", "message", "ingestionTime", "eventId"}
    assert page["searchedLogStreams"] == []


def test_filter_log_events_limit_above_ten_thousand_is_refused(aws, group):
    # LS snapshot: test_filter_log_events_limit_validation
    error = error_of(aws("logs").filter_log_events, logGroupName=group[0], limit=10001)
    assert error == {"Code": "InvalidParameterException", "Message": "1 validation error detected: Value '10001' at "
                     "'limit' failed to satisfy constraint: Member must have value less than or equal to 10000"}


def test_filter_log_events_unknown_token_is_refused(aws, group):
    # LS snapshot: test_filter_log_events_unknown_token
    error = error_of(aws("logs").filter_log_events, logGroupName=group[0], logStreamNames=[group[1]], limit=20,
                     nextToken="invalid-token")
    assert error == {"Code": "InvalidParameterException", "Message": "The specified nextToken is invalid."}


def test_filter_log_events_on_a_missing_group(aws, unique):
    error = error_of(aws("logs").filter_log_events, logGroupName=unique("/parity/missing"))
    assert error == {"Code": "ResourceNotFoundException", "Message": "The specified log group does not exist."}


# --- filter patterns --------------------------------------------------------------------------------
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html

MESSAGES = [
    "[ERROR 400] BAD REQUEST",
    "[ERROR 401] UNAUTHORIZED REQUEST",
    "[WARN] retry after 2 s",
    "error: lower case",
    '{"level": "ERROR", "latency": 250, "user": {"id": null}}',
    '{"level": "INFO", "latency": 12, "user": {"id": "u-1"}}',
    "127.0.0.1 frank [10/Oct/2000] \"GET /a\" 404 2326",
]


@pytest.mark.parametrize(("pattern", "expected"), [
    # "Filter patterns are case sensitive."
    ("ERROR", [0, 1, 4]),
    ("error", [3]),
    ('"BAD REQUEST"', [0]),  # an exact phrase
    ("ERROR UNAUTHORIZED", [1]),  # every term
    ("?WARN ?UNAUTHORIZED", [1, 2]),  # any term
    ("ERROR -400", [1, 4]),  # and not
    ('" "', list(range(7))),  # "matches all log events"
    ('{ $.level = "ERROR" }', [4]),  # JSON: events that are not JSON never match
    ('{ $.latency > 100 && $.user.id IS NULL }', [4]),
    ('{ $.level = "IN*" }', [5]),
    ('{ $.user.id NOT EXISTS }', []),
    ("%[Ww]ARN%", [2]),  # a regular expression
    ("[ip, user, date, request, status = 404, bytes > 1000]", [6]),  # space-delimited
])
def test_filter_patterns_match_as_cloudwatch_documents_them(aws, group, pattern, expected):
    name, stream = group
    put(aws, name, stream, MESSAGES)
    found, _pages = all_pages(aws("logs").filter_log_events, logGroupName=name, filterPattern=pattern)
    assert [e["message"] for e in found] == [MESSAGES[i] for i in expected]


# --- groups, queries --------------------------------------------------------------------------------


def test_list_log_groups_summaries_and_patterns(aws, unique):
    # API_ListLogGroups: "Use ^ to match log group names by prefix … For a substring match,
    # specify the string to match. All matches are case sensitive … separate them with a |";
    # LogGroupSummary is logGroupName, logGroupArn, logGroupClass.
    logs = aws("logs")
    prefix = unique("/parity/list")
    names = [f"{prefix}/alpha", f"{prefix}/Beta", f"{prefix}/gamma"]
    for name in names:
        logs.create_log_group(logGroupName=name)
    try:
        # LS snapshot: list-log-groups-no-match
        assert logs.list_log_groups(logGroupNamePattern="no-such-group")["logGroups"] == []
        matched = logs.list_log_groups(logGroupNamePattern=f"^{prefix}/al|Beta")["logGroups"]
        assert [g["logGroupName"] for g in matched] == sorted([names[0], names[1]])  # ASCII order
        assert logs.list_log_groups(logGroupNamePattern=f"{prefix}/beta")["logGroups"] == []  # case sensitive
        assert matched[1] == {"logGroupName": names[0], "logGroupClass": "STANDARD",
                              "logGroupArn": f"arn:aws:logs:{REGION}:{ACCOUNT_A}:log-group:{names[0]}"}
        paged = logs.list_log_groups(logGroupNamePattern=prefix, limit=2)
        assert len(paged["logGroups"]) == 2 and paged.get("nextToken")
        rest = logs.list_log_groups(logGroupNamePattern=prefix, limit=2, nextToken=paged["nextToken"])
        assert [g["logGroupName"] for g in paged["logGroups"] + rest["logGroups"]] == sorted(names)
    finally:
        for name in names:
            logs.delete_log_group(logGroupName=name)


def test_describe_log_groups_pattern_is_a_case_sensitive_substring(aws, unique):
    # API_DescribeLogGroups: "match the string based on a case-sensitive substring search";
    # LS snapshot: error-prefix-and-pattern
    logs = aws("logs")
    name = unique("/parity/DataLogs")
    logs.create_log_group(logGroupName=name)
    try:
        token = name.rsplit("-", 1)[1]
        assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePattern=f"DataLogs-{token}")[
            "logGroups"]] == [name]
        assert logs.describe_log_groups(logGroupNamePattern=f"datalogs-{token}")["logGroups"] == []
        error = error_of(logs.describe_log_groups, logGroupNamePattern="x", logGroupNamePrefix="x")
        assert error == {"Code": "InvalidParameterException",
                         "Message": "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."}
    finally:
        logs.delete_log_group(logGroupName=name)


def test_describe_queries_lists_started_queries(aws, group):
    # API_DescribeQueries: QueryInfo is queryId, queryString, status, createTime, logGroupName.
    name, stream = group
    first = put(aws, name, stream, ["one", "two"])
    logs = aws("logs")
    query = "fields @message | limit 5"
    query_id = logs.start_query(logGroupName=name, startTime=first // 1000 - 60, endTime=first // 1000 + 60,
                                queryString=query)["queryId"]
    listed = [q for q in logs.describe_queries(logGroupName=name)["queries"] if q["queryId"] == query_id]
    assert len(listed) == 1
    assert listed[0]["queryString"] == query and listed[0]["logGroupName"] == name
    assert listed[0]["status"] in ("Scheduled", "Running", "Complete") and listed[0]["createTime"] > 0


# --- streams and GetLogEvents -----------------------------------------------------------------------


def test_get_log_events_gives_back_the_token_at_the_end_of_the_stream(aws, group):
    # API_GetLogEvents: "If you have reached the end of the stream, it returns the same token you passed in."
    name, stream = group
    put(aws, name, stream, [f"line {i}" for i in range(5)])
    logs = aws("logs")
    head = logs.get_log_events(logGroupName=name, logStreamName=stream, startFromHead=True, limit=3)
    assert [e["message"] for e in head["events"]] == ["line 0", "line 1", "line 2"]
    rest = logs.get_log_events(logGroupName=name, logStreamName=stream, nextToken=head["nextForwardToken"])
    assert [e["message"] for e in rest["events"]] == ["line 3", "line 4"]
    end = logs.get_log_events(logGroupName=name, logStreamName=stream, nextToken=rest["nextForwardToken"])
    assert end["events"] == [] and end["nextForwardToken"] == rest["nextForwardToken"]
    tail = logs.get_log_events(logGroupName=name, logStreamName=stream, limit=2)  # the newest, oldest first
    assert [e["message"] for e in tail["events"]] == ["line 3", "line 4"]


def test_put_log_events_refuses_a_batch_out_of_order_and_reports_old_events(aws, group):
    # API_PutLogEvents: "The log events in the batch must be in chronological order by their
    # timestamp"; "None of the log events in the batch can be more than 14 days in the past."
    name, stream = group
    logs, now = aws("logs"), now_ms()
    error = error_of(logs.put_log_events, logGroupName=name, logStreamName=stream,
                     logEvents=[{"timestamp": now, "message": "b"}, {"timestamp": now - 1, "message": "a"}])
    assert error["Code"] == "InvalidParameterException"
    answer = logs.put_log_events(logGroupName=name, logStreamName=stream, logEvents=[
        {"timestamp": now - 14 * 86_400_000 - 3_600_000, "message": "too old"},
        {"timestamp": now - 14 * 86_400_000 + 3_600_000, "message": "old enough"}])
    assert answer["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0}
    assert [e["message"] for e in logs.filter_log_events(logGroupName=name)["events"]] == ["old enough"]


# --- Lambda's log streams ---------------------------------------------------------------------------


def _function(aws, unique, code: str) -> str:
    iam, lam = aws("iam"), aws("lambda")
    name, role_name = unique("fn"), unique("fn-role")
    # The grants of AWSLambdaBasicExecutionRole, on this function's group: Lambda writes the
    # function's log as its execution role (strict IAM: without them no line is written).
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    iam.put_role_policy(RoleName=role_name, PolicyName="logs", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT_A}:log-group:/aws/lambda/{name}:*"}]}))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("index.py", code)
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="index.handler",
                        Code={"ZipFile": archive.getvalue()}, Timeout=30)
    waiter = lam.get_waiter("function_active_v2")
    waiter.wait(FunctionName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60})
    return name


def test_a_function_writes_one_stream_per_execution_environment(aws, unique):
    # "Each log stream corresponds to an instance of your function" (Lambda developer guide,
    # monitoring-cloudwatchlogs): sequential invocations share their environment's stream.
    # Each line of output is one log event, split on newlines only, and ends with its newline
    # (tests/parity/test_lambda.py pins the newline against AWS's get-log-events output).
    name = _function(aws, unique, "def handler(event, context):\n    print('first\\u2028line')\n"
                                  "    print('second')\n    return 'ok'\n")
    lam, logs = aws("lambda"), aws("logs")
    for _ in range(3):
        assert lam.invoke(FunctionName=name, Payload=b"{}")["StatusCode"] == 200
    group = f"/aws/lambda/{name}"
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert len(streams) == 1, streams
    assert streams[0]["logStreamName"].split("/", 3)[3].startswith("[$LATEST]")
    messages = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
    assert sum(m.startswith("START RequestId: ") for m in messages) == 3
    assert sum(m.startswith("REPORT RequestId: ") for m in messages) == 3
    assert messages.count("first\u2028line\n") == 3 and messages.count("second\n") == 3
