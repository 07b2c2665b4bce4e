"""Malformed request bodies to the AWS APIs get AWS's 4xx envelope for their protocol,
never a 500 or Python's words (localcloud/gateway/shapes.py, wire_types.py).

Pinned against:
* awsJson: 400 ``{"__type": "com.amazon.coral.service#SerializationException"}`` for a body
  that is not a JSON object, and the deserializer's message for a member of the wrong
  type, as recorded from DynamoDB (mhart/dynalite test suite and validations);
* restJson1: Smithy's AWS protocol tests RestJsonInvalidJsonBody and
  RestJsonTechnicallyValidJsonBody (smithy-lang/smithy, smithy-aws-protocol-tests/model/
  restJson1/malformedRequests/malformed-request-body.smithy): 400, x-amzn-ErrorType
  SerializationException; Lambda Invoke: InvalidRequestContentException, 400 (Lambda API
  reference, Invoke, Errors: https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html);
* awsQuery: an <ErrorResponse> with a Sender fault;
* restXml: MalformedXML and MalformedPolicy, 400 (Amazon S3 API reference, Error
  responses: https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
"""

from __future__ import annotations

import http.client
import io
import json
import zipfile
from urllib.parse import urlparse

import pytest

from ..conftest import sigv4_headers

LOG_WRITES = {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
              "Resource": "*"}  # the AWSLambdaBasicExecutionRole grant
SERIALIZATION = "com.amazon.coral.service#SerializationException"
NOT_AN_OBJECT = [b"{", b"not json", b'{"a":', b"\xff\xfe", b"[1, 2]", b'"text"', b"123", b"null", b"{} trailing"]
AWS_JSON_SERVICES = {
    # service: (signing name, X-Amz-Target, content type)
    "events": ("events", "AWSEvents.PutEvents", "application/x-amz-json-1.1"),
    "sqs": ("sqs", "AmazonSQS.SendMessage", "application/x-amz-json-1.0"),
    "logs": ("logs", "Logs_20140328.PutLogEvents", "application/x-amz-json-1.1"),
    "states": ("states", "AWSStepFunctions.StartExecution", "application/x-amz-json-1.0"),
    "kms": ("kms", "TrentService.Encrypt", "application/x-amz-json-1.1"),
    "secretsmanager": ("secretsmanager", "secretsmanager.GetSecretValue", "application/x-amz-json-1.1"),
    "dynamodb": ("dynamodb", "DynamoDB_20120810.PutItem", "application/x-amz-json-1.0"),
}


def call(localcloud, method: str, path: str, body: bytes, headers: dict, signing: str) -> tuple[int, dict, bytes]:
    """``method path`` with ``body``, signed for the ``signing`` service as account A's root."""
    port = urlparse(localcloud.endpoint).port
    headers = sigv4_headers(method, f"http://127.0.0.1:{port}{path}", body, signing, headers)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def assert_no_python(body: bytes) -> None:
    for words in (b"Traceback", b"object has no attribute", b"NoneType", b"KeyError", b"not subscriptable"):
        assert words not in body, body[:300]


@pytest.mark.parametrize("service", sorted(AWS_JSON_SERVICES))
@pytest.mark.parametrize("body", NOT_AN_OBJECT, ids=lambda b: repr(b)[2:12])
def test_aws_json_body_that_is_not_an_object_is_a_serialization_exception(localcloud, service, body):
    signing, target, content_type = AWS_JSON_SERVICES[service]
    status, _headers, response = call(localcloud, "POST", "/", body, {
        "content-type": content_type, "x-amz-target": target}, signing)
    assert status == 400, response[:300]
    assert json.loads(response)["__type"] == SERIALIZATION


@pytest.mark.parametrize("service,target,document,message", [
    ("events", "AWSEvents.PutEvents", {"Entries": "x"}, "Expected list or null"),
    ("events", "AWSEvents.ListRules", {"Limit": "ten"}, "class java.lang.String can not be converted to an Integer"),
    ("sqs", "AmazonSQS.SendMessage", {"QueueUrl": 5, "MessageBody": "x"},
     "class java.lang.Integer can not be converted to an String"),
    ("states", "AWSStepFunctions.ListExecutions", {"maxResults": "ten"},
     "class java.lang.String can not be converted to an Integer"),
    ("dynamodb", "DynamoDB_20120810.BatchWriteItem", {"RequestItems": [1]}, "Start of list found where not expected"),
    ("kms", "TrentService.CreateAlias", {"AliasName": {"a": 1}, "TargetKeyId": "k"},
     "Start of structure or map found where not expected."),
])
def test_aws_json_member_of_the_wrong_type_is_a_serialization_exception(localcloud, service, target, document,
                                                                        message):
    """Where ministack's handler fails on such a body (it accepts some that AWS refuses)."""
    signing, _target, content_type = AWS_JSON_SERVICES[service]
    status, _headers, response = call(localcloud, "POST", "/", json.dumps(document).encode(), {
        "content-type": content_type, "x-amz-target": target}, signing)
    assert status == 400, response[:300]
    assert json.loads(response) == {"__type": SERIALIZATION, "Message": message}


def test_malformed_json_is_understood_by_the_aws_sdk(aws):
    """botocore reads the envelope: the error code a caller's ``except`` sees."""
    events = aws("events")

    def break_body(request, **_):
        request.data = b"[1, 2]"

    events.meta.events.register_first("before-sign.events.PutEvents", break_body)
    try:
        with pytest.raises(events.exceptions.ClientError) as raised:
            events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}])
    finally:
        events.meta.events.unregister("before-sign.events.PutEvents", break_body)
    assert raised.value.response["Error"]["Code"] == "SerializationException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


REST_JSON_CALLS = {
    "lambda CreateFunction": ("lambda", "POST", "/2015-03-31/functions"),
    "pipes CreatePipe": ("pipes", "POST", "/v1/pipes/malformed-pipe"),
    "apigatewayv2 CreateApi": ("apigateway", "POST", "/v2/apis"),
}


@pytest.mark.parametrize("operation", sorted(REST_JSON_CALLS))
@pytest.mark.parametrize("body", [b"{[", b'{ "int": 10 }abc', b"{'int': 10}", b'{"int": 10,}',
                                  b'[{ "int": 10}]', b"10", b"null"], ids=lambda b: repr(b)[2:12])
def test_rest_json_malformed_body_is_a_serialization_exception_and_creates_nothing(localcloud, aws, operation, body):
    signing, method, path = REST_JSON_CALLS[operation]
    apis_before = len(aws("apigatewayv2").get_apis()["Items"])
    status, headers, response = call(localcloud, method, path, body, {
        "content-type": "application/json"}, signing)
    assert status == 400, response[:300]
    assert headers["x-amzn-errortype"] == "SerializationException"
    assert_no_python(response)
    assert len(aws("apigatewayv2").get_apis()["Items"]) == apis_before
    assert "malformed-pipe" not in [p["Name"] for p in aws("pipes").list_pipes()["Pipes"]]


def test_lambda_invoke_with_a_payload_that_is_not_json(localcloud, aws, unique, role):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return event\n")
    name = unique("not-json")
    aws("lambda").create_function(FunctionName=name, Runtime="python3.12", Role=role("lambda.amazonaws.com", [LOG_WRITES]),
                                  Handler="handler.handler", Code={"ZipFile": archive.getvalue()})
    status, headers, response = call(localcloud, "POST", f"/2015-03-31/functions/{name}/invocations",
                                     b"{not json", {}, "lambda")
    assert status == 400, response[:300]
    assert headers["x-amzn-errortype"] == "InvalidRequestContentException"


@pytest.mark.parametrize("service,body", [
    ("sts", b"\xff\xfe"), ("sts", b"{json}"), ("sts", b"Version=2011-06-15"),
    ("iam", b"\xff\xfe"), ("iam", b"{json}"), ("iam", b"Action=CreatePolicy&Version=2010-05-08&PolicyName=p"
                                                    b"&PolicyDocument=%5B1%5D"),
])
def test_query_protocol_malformed_body_gets_an_error_response(localcloud, service, body):
    status, headers, response = call(localcloud, "POST", "/", body, {
        "content-type": "application/x-www-form-urlencoded"}, service)
    assert 400 <= status < 500, response[:300]
    assert response.lstrip().startswith(b"<ErrorResponse") and b"<Type>Sender</Type>" in response, response[:300]


@pytest.mark.parametrize("subresource,method", [("tagging", "PUT"), ("delete", "POST"), ("lifecycle", "PUT"),
                                                ("cors", "PUT"), ("versioning", "PUT"), ("notification", "PUT")])
@pytest.mark.parametrize("body", [b"<Tagging><TagSet>", b"not xml", b"<a></b>"], ids=["unclosed", "text", "mismatched"])
def test_s3_malformed_xml(localcloud, aws, unique, subresource, method, body):
    bucket = unique("xml")
    aws("s3").create_bucket(Bucket=bucket)
    status, _headers, response = call(localcloud, method, f"/{bucket}?{subresource}", body, {
        "content-type": "application/xml"}, "s3")
    assert status == 400, response[:300]
    assert b"<Code>MalformedXML</Code>" in response


def test_s3_bucket_policy_that_is_not_json(localcloud, aws, unique):
    bucket = unique("policy")
    aws("s3").create_bucket(Bucket=bucket)
    status, _headers, response = call(localcloud, "PUT", f"/{bucket}?policy", b"[1]", {
        "content-type": "application/json"}, "s3")
    assert status == 400, response[:300]
    assert b"<Code>MalformedPolicy</Code>" in response
    with pytest.raises(aws("s3").exceptions.ClientError):
        aws("s3").get_bucket_policy(Bucket=bucket)
