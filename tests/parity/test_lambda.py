"""Lambda runtimes as AWS runs them: log events, error answers, the Node.js runtime's SDK,
one /tmp per execution environment, and the interpreter the local cloud really uses.

References (each test names the one it pins):
* Node.js logging: https://docs.aws.amazon.com/lambda/latest/dg/nodejs-logging.html
  (``<time>\\t<requestId>\\tINFO\\t<message>``; a multi-line message is one entry), AWS's
  runtime https://github.com/aws/aws-lambda-nodejs-runtime-interface-client src/LogPatch.js
  (one framed record per console call, ending in a newline; console.warn WARN,
  console.error ERROR), and the AWS-recorded LocalStack snapshot
  tests/aws/services/lambda_/test_lambda.snapshot.json::TestLambdaFeatures::
  test_invocation_with_logs[nodejs16.x] (``date\\t<request-id>\\tINFO\\t{}\\n``).
* Platform lines: the ``get-log-events`` output in the Lambda developer guide
  (``START RequestId: … Version: $LATEST\\n``, ``END RequestId: …\\n``,
  ``REPORT RequestId: …\\tDuration: … ms\\t…\\tMax Memory Used: … MB\\t\\n``).
* The SDK in the Node.js runtime: https://docs.aws.amazon.com/lambda/latest/dg/lambda-nodejs.html
  ("The Node.js runtimes include the AWS SDK for JavaScript v3").
* Ephemeral storage: https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html
  (each execution environment has its own /tmp).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import tempfile
import zipfile

import pytest

from tests.localcloud.conftest import health, wait_for
from tests.parity.conftest import PROJECT_ROOT, own_local_cloud

ACCOUNT = "222222222222"
REGION = "us-east-1"
LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
LOG_WRITES = {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
              "Resource": "*"}
TEXT_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\t(?P<request>[0-9a-f-]{36})\t(?P<level>[A-Z]+)\t")


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _role(iam, name: str, statements: list[dict]) -> str:
    """An execution role Lambda may assume, allowed exactly ``statements``."""
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="execution", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [LOG_WRITES, *statements]}))
    return arn


def _function(aws, unique, runtime: str, files: dict[str, str], handler: str = "index.handler",
              statements: list[dict] = (), environment: dict | None = None, label: str = "") -> str:
    name = unique(label or runtime.replace(".", ""))
    lambda_ = aws("lambda", ACCOUNT, REGION)
    lambda_.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Timeout=30,
                            Role=_role(aws("iam", ACCOUNT, REGION), name, list(statements)),
                            Code={"ZipFile": _zip(files)}, Environment={"Variables": environment or {}})
    return name


def _invoke(aws, name: str, payload: dict | None = None, tail: bool = False) -> tuple[dict, object]:
    response = aws("lambda", ACCOUNT, REGION).invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode(),
                                                     LogType="Tail" if tail else "None")
    return response, json.loads(response["Payload"].read() or b"null")


def _request_id(response: dict) -> str:
    """The invocation's request id, from its log tail (LogType=Tail)."""
    return re.search(r"START RequestId: ([0-9a-f-]{36})", base64.b64decode(response["LogResult"]).decode())[1]


def _events(aws, name: str, request_id: str, timeout: float = 10) -> list[dict]:
    """The log events of one invocation, START to REPORT."""
    logs = aws("logs", ACCOUNT, REGION)

    def complete():
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        starts = [i for i, e in enumerate(events) if e["message"].startswith(f"START RequestId: {request_id}")]
        ends = [i for i, e in enumerate(events) if e["message"].startswith(f"REPORT RequestId: {request_id}")]
        return events[starts[0]:ends[0] + 1] if starts and ends else None

    found = wait_for(complete, timeout=timeout, interval=0.2)
    assert found, f"no complete log of {request_id} in /aws/lambda/{name}"
    return found


NODE_LOGGING = """
exports.handler = async (event, context) => {
  console.log("ENVIRONMENT\\n" + JSON.stringify({a: 1, b: [1, 2]}, null, 2));
  console.info("info line");
  console.warn("Event not processed.");
  console.error("bad", {code: 42});
  return context.awsRequestId;
};
"""


def test_node_console_calls_are_one_prefixed_event_each(aws, unique):
    name = _function(aws, unique, "nodejs20.x", {"index.js": NODE_LOGGING})
    _response, request_id = _invoke(aws, name)
    messages = [e["message"] for e in _events(aws, name, request_id)]
    records = messages[1:-2]
    assert len(records) == 4, messages
    parsed = [TEXT_PREFIX.match(m) for m in records]
    assert all(parsed), records
    assert [(p["request"], p["level"]) for p in parsed] == [(request_id, "INFO"), (request_id, "INFO"),
                                                           (request_id, "WARN"), (request_id, "ERROR")]
    assert records[0][parsed[0].end():] == 'ENVIRONMENT\n{\n  "a": 1,\n  "b": [\n    1,\n    2\n  ]\n}\n'
    assert records[3][parsed[3].end():] == "bad { code: 42 }\n"


def test_platform_lines_and_log_result_are_awss(aws, unique):
    name = _function(aws, unique, "nodejs20.x", {"index.js": NODE_LOGGING})
    response, request_id = _invoke(aws, name, tail=True)
    messages = [e["message"] for e in _events(aws, name, request_id)]
    assert messages[0] == f"START RequestId: {request_id} Version: $LATEST\n"
    assert messages[-2] == f"END RequestId: {request_id}\n"
    assert re.fullmatch(rf"REPORT RequestId: {request_id}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
                        r"Memory Size: 128 MB\tMax Memory Used: [1-9]\d* MB\t\n", messages[-1]), messages[-1]
    # LogType=Tail returns the end of the same log as text.
    assert base64.b64decode(response["LogResult"]).decode() == "".join(messages)[-4096:]


def test_an_execution_environment_writes_one_log_stream(aws, unique):
    """One stream per environment, named yyyy/mm/dd/[$LATEST]<32 hex>, reused while warm."""
    code = "def handler(event, context):\n    return [context.log_group_name, context.log_stream_name]\n"
    name = _function(aws, unique, "python3.12", {"index.py": code})
    answers = [_invoke(aws, name)[1] for _ in range(3)]
    streams = aws("logs", ACCOUNT, REGION).describe_log_streams(logGroupName=f"/aws/lambda/{name}")["logStreams"]
    assert len(streams) == 1, streams
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", streams[0]["logStreamName"])
    # the context names them too (AWS_LAMBDA_LOG_GROUP_NAME, AWS_LAMBDA_LOG_STREAM_NAME)
    assert answers == [[f"/aws/lambda/{name}", streams[0]["logStreamName"]]] * 3


def test_python_print_lines_are_events_ending_in_a_newline(aws, unique):
    """A Python function's stdout is one event per line (AWS-recorded LogResult of
    test_invocation_with_logs[python3.10]: ``{}\\n``)."""
    code = "def handler(event, context):\n    print('first\\nsecond \\u2028 same line')\n"
    name = _function(aws, unique, "python3.12", {"index.py": code})
    response, _payload = _invoke(aws, name, tail=True)
    messages = [e["message"] for e in _events(aws, name, _request_id(response))]
    assert messages[1:-2] == ["first\n", "second \u2028 same line\n"]


PYTHON_LOGGING = """
import logging
logger = logging.getLogger()
logger.setLevel(logging.INFO)

def handler(event, context):
    logger.info("received\\n%s", {"a": 1})
    logging.getLogger("my.module").warning("careful")
    logger.debug("not written at INFO")
    return context.aws_request_id
"""


def test_python_logging_goes_through_the_runtimes_root_handler(aws, unique):
    """AWS's Python runtime gives the root logger a handler: each record is one event
    ``[LEVEL]\t<time>Z\t<requestId>\t<message>\n``
    (https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html; AWS's runtime
    https://github.com/aws/aws-lambda-python-runtime-interface-client awslambdaric/bootstrap.py)."""
    name = _function(aws, unique, "python3.12", {"index.py": PYTHON_LOGGING})
    _response, request_id = _invoke(aws, name)
    records = [e["message"] for e in _events(aws, name, request_id)][1:-2]
    pattern = rf"\[(?P<level>[A-Z]+)\]\t\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\t{request_id}\t(?P<message>.*)\n"
    parsed = [re.fullmatch(pattern, record, re.S) for record in records]
    assert all(parsed) and len(parsed) == 2, records
    assert [(p["level"], p["message"]) for p in parsed] == [("INFO", "received\n{'a': 1}"), ("WARNING", "careful")]


def test_python_handler_error_answers_with_the_exception_type(aws, unique):
    """AWS-recorded: test_lambda.snapshot.json::TestLambdaErrors::test_lambda_handler_error
    (Payload: errorMessage, errorType "Exception", requestId, stackTrace of the function's
    frames); the log holds one "[ERROR] <type>: <message>" record with the traceback."""
    code = "def handler(event, context):\n    raise ValueError('the database is not there')\n"
    name = _function(aws, unique, "python3.12", {"index.py": code})
    response, payload = _invoke(aws, name)
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "the database is not there"
    assert re.fullmatch(r"[0-9a-f-]{36}", payload["requestId"])
    assert len(payload["stackTrace"]) == 1
    assert re.fullmatch(r'  File ".*/index\.py", line 2, in handler\n'
                        r"    raise ValueError\('the database is not there'\)\n", payload["stackTrace"][0])
    messages = [e["message"] for e in _events(aws, name, payload["requestId"])]
    errors = [m for m in messages if m.startswith("[ERROR]")]
    assert len(errors) == 1 and errors[0].startswith(
        "[ERROR] ValueError: the database is not there\nTraceback (most recent call last):\n"), messages


def test_node_handler_error_answers_with_the_error_name(aws, unique):
    """AWS-recorded: test_lambda_common.snapshot.json::TestLambdaRuntimesCommon::
    test_uncaught_exception_invoke[nodejs18.x] (Payload: errorType "Error", errorMessage,
    trace); the log holds an "Invoke Error" ERROR record."""
    code = "exports.handler = async () => { throw new TypeError('no such order'); };\n"
    name = _function(aws, unique, "nodejs20.x", {"index.js": code})
    response, payload = _invoke(aws, name, tail=True)
    assert response["FunctionError"] == "Unhandled"
    assert (payload["errorType"], payload["errorMessage"]) == ("TypeError", "no such order")
    assert payload["trace"][0] == "TypeError: no such order" and payload["trace"][1].lstrip().startswith("at ")
    messages = [e["message"] for e in _events(aws, name, _request_id(response))]
    invoke_errors = [m for m in messages if "\tERROR\tInvoke Error \t" in m]
    assert len(invoke_errors) == 1, messages
    described = json.loads(invoke_errors[0].split("\tInvoke Error \t", 1)[1])
    assert (described["errorType"], described["errorMessage"]) == ("TypeError", "no such order")


STATEFUL = {
    "python3.12": ("index.py", "calls = 0\ndef handler(event, context):\n    global calls\n    calls += 1\n"
                               "    if event.get('fail'):\n        raise ValueError('asked to fail')\n    return calls\n"),
    "nodejs20.x": ("index.js", "let calls = 0;\nexports.handler = async (event) => {\n  calls += 1;\n"
                               "  if (event.fail) throw new Error('asked to fail');\n  return calls;\n};\n"),
}


@pytest.mark.parametrize("runtime", sorted(STATEFUL))
def test_a_handler_error_keeps_the_execution_environment(aws, unique, runtime):
    """The runtime reports a handler's error and goes on to the next invocation in the same
    environment (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html:
    the environment is reset when the function crashes or times out, not when its handler
    returns an error): state kept in the module survives."""
    file, code = STATEFUL[runtime]
    name = _function(aws, unique, runtime, {file: code})
    assert _invoke(aws, name)[1] == 1
    response, payload = _invoke(aws, name, {"fail": True})
    assert response["FunctionError"] == "Unhandled" and payload["errorMessage"] == "asked to fail"
    assert _invoke(aws, name)[1] == 3


NODE_SDK_CJS = """
const { S3Client, PutObjectCommand, GetObjectCommand, CreateBucketCommand } = require("@aws-sdk/client-s3");
const { SNSClient, CreateTopicCommand, PublishCommand } = require("@aws-sdk/client-sns");
const { SQSClient, CreateQueueCommand, SendMessageCommand } = require("@aws-sdk/client-sqs");
const { STSClient, GetCallerIdentityCommand } = require("@aws-sdk/client-sts");
const { DynamoDBClient, CreateTableCommand } = require("@aws-sdk/client-dynamodb");
const { DynamoDBDocumentClient, PutCommand, GetCommand } = require("@aws-sdk/lib-dynamodb");
const { EventBridgeClient, CreateEventBusCommand, PutEventsCommand } = require("@aws-sdk/client-eventbridge");

exports.handler = async (event) => {
  const name = event.name;
  const s3 = new S3Client({});
  await s3.send(new CreateBucketCommand({ Bucket: name }));
  await s3.send(new PutObjectCommand({ Bucket: name, Key: "k", Body: "stored by node" }));
  const object = await s3.send(new GetObjectCommand({ Bucket: name, Key: "k" }));
  const topic = await new SNSClient({}).send(new CreateTopicCommand({ Name: name }));
  const published = await new SNSClient({}).send(new PublishCommand({ TopicArn: topic.TopicArn, Message: "m" }));
  const queue = await new SQSClient({}).send(new CreateQueueCommand({ QueueName: name }));
  const sent = await new SQSClient({}).send(new SendMessageCommand({ QueueUrl: queue.QueueUrl, MessageBody: "m" }));
  const identity = await new STSClient({}).send(new GetCallerIdentityCommand({}));
  const dynamodb = new DynamoDBClient({});
  await dynamodb.send(new CreateTableCommand({ TableName: name, BillingMode: "PAY_PER_REQUEST",
    AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
    KeySchema: [{ AttributeName: "id", KeyType: "HASH" }] }));
  const documents = DynamoDBDocumentClient.from(dynamodb);
  await documents.send(new PutCommand({ TableName: name, Item: { id: "1", amount: 42.5, tags: ["a"] } }));
  const item = await documents.send(new GetCommand({ TableName: name, Key: { id: "1" } }));
  const eventbridge = new EventBridgeClient({});
  await eventbridge.send(new CreateEventBusCommand({ Name: name }));
  const events = await eventbridge.send(new PutEventsCommand({ Entries: [
    { EventBusName: name, Source: "parity.node", DetailType: "t", Detail: "{}" }] }));
  return { body: await object.Body.transformToString(), published: !!published.MessageId,
    sent: !!sent.MessageId, account: identity.Account, item: item.Item, failed: events.FailedEntryCount };
};
"""

NODE_SDK_STATEMENTS = [{"Effect": "Allow", "Resource": "*", "Action": [
    "s3:CreateBucket", "s3:PutObject", "s3:GetObject", "sns:CreateTopic", "sns:Publish", "sqs:CreateQueue",
    "sqs:SendMessage", "dynamodb:CreateTable", "dynamodb:PutItem", "dynamodb:GetItem", "events:CreateEventBus",
    "events:PutEvents"]}]


def test_node_runtime_provides_the_aws_sdk_v3(aws, unique, localcloud):
    assert re.fullmatch(r"3\.\d+\.\d+", str(localcloud.health["lambda_runtimes"]["aws_sdk_for_javascript"])), (
        "the Node.js runtime's SDK is not installed: run `make install`")
    name = _function(aws, unique, "nodejs20.x", {"index.js": NODE_SDK_CJS}, statements=NODE_SDK_STATEMENTS)
    response, payload = _invoke(aws, name, {"name": unique("node-sdk")})
    assert "FunctionError" not in response, payload
    assert payload == {"body": "stored by node", "published": True, "sent": True, "account": ACCOUNT,
                       "item": {"id": "1", "amount": 42.5, "tags": ["a"]}, "failed": 0}


def test_node_runtime_sdk_resolves_for_es_modules(aws, unique):
    code = ('import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";\n'
            "export const handler = async () => (await new STSClient({}).send(new GetCallerIdentityCommand({}))).Account;\n")
    name = _function(aws, unique, "nodejs20.x", {"index.mjs": code})
    response, payload = _invoke(aws, name)
    assert "FunctionError" not in response, payload
    assert payload == ACCOUNT


TMP_PROBE = """
import os, tempfile
def handler(event, context):
    with open("/tmp/" + event["name"], "w") as f:
        f.write("x")
    return {"tmpdir": tempfile.gettempdir(), "listing": sorted(os.listdir("/tmp")), "cwd": os.getcwd()}
"""


def test_each_execution_environment_has_its_own_tmp(aws, unique, localcloud):
    name = _function(aws, unique, "python3.12", {"index.py": TMP_PROBE}, label="tmp-a")
    marker = unique("tmp-marker")
    _response, first = _invoke(aws, name, {"name": marker})
    home = str(localcloud.home.resolve())
    assert first["tmpdir"].startswith(home) and first["cwd"].startswith(home), first
    if localcloud.health["lambda_runtimes"]["environments"]["private_tmp_mount"]:
        assert first["listing"] == [marker]  # /tmp is the environment's alone
        assert not os.path.exists(os.path.join(tempfile.gettempdir(), marker))
    other = _function(aws, unique, "python3.12", {"index.py": TMP_PROBE}, label="tmp-b")
    _response, second = _invoke(aws, other, {"name": unique("other")})
    assert second["tmpdir"] != first["tmpdir"]


def test_environments_are_removed_when_the_local_cloud_stops(aws, unique):
    """A local cloud of its own: start, run a function, stop; nothing of it stays behind."""
    import boto3

    home = PROJECT_ROOT / ".localcloud" / unique("parity-stop")
    function = unique("stop-probe")
    home.mkdir(parents=True, exist_ok=True)
    with own_local_cloud(home) as cloud:
        client = boto3.client("lambda", endpoint_url=cloud.endpoint, region_name=REGION,
                              aws_access_key_id=ACCOUNT, aws_secret_access_key="test")
        iam = boto3.client("iam", endpoint_url=cloud.endpoint, region_name=REGION,
                           aws_access_key_id=ACCOUNT, aws_secret_access_key="test")
        client.create_function(FunctionName=function, Runtime="python3.12", Handler="index.handler",
                               Role=_role(iam, function, []), Code={"ZipFile": _zip({"index.py": TMP_PROBE})})
        client.invoke(FunctionName=function, Payload=b'{"name": "left-behind"}')
        assert [entry for entry in (home / "lambda").iterdir() if function in entry.name]
    try:
        assert not (home / "lambda").exists()
        # (other local clouds on this machine may have folders in /tmp: only this function's count)
        assert not [entry for entry in os.listdir(tempfile.gettempdir()) if function in entry]
    finally:
        import shutil

        shutil.rmtree(home, ignore_errors=True)


def test_health_names_the_interpreter_a_declared_runtime_really_runs_on(aws, unique, localcloud, capsys):
    """The local cloud runs python3.14 functions on its own Python: the health document says
    so, per runtime, with the local version, and ``make deploy`` warns (README: known limits)."""
    import platform

    from ops.deploy_local import warn_about_runtime_versions

    name = _function(aws, unique, "python3.14", {"index.py": "def handler(e, c):\n    return 1\n"})
    assert _invoke(aws, name)[1] == 1
    document = health(localcloud.endpoint)["lambda_runtimes"]
    assert document["python"] == platform.python_version()
    listed = {m["runtime"]: m for m in document["mismatches"]}
    if platform.python_version().startswith("3.14."):
        pytest.skip("this machine's Python is 3.14: no mismatch to show")
    assert listed["python3.14"]["local"] == platform.python_version()
    assert "python3.14" in listed["python3.14"]["warning"]
    warn_about_runtime_versions({"lambda_runtimes": document})
    assert f"python3.14 functions run on the local Python {platform.python_version()}" in capsys.readouterr().err
