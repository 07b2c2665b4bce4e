"""Requests to the AWS APIs are authenticated as AWS authenticates them: unsigned, malformed,
wrongly signed and expired requests are refused with AWS's errors, in each protocol's shape.

Error codes and statuses: the query protocol's common errors (IncompleteSignature 400,
InvalidClientTokenId 403, MissingAuthenticationToken 403, SignatureDoesNotMatch 403,
ExpiredToken 403; https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html)
and the JSON protocol's (IncompleteSignatureException, UnrecognizedClientException,
MissingAuthenticationTokenException, InvalidSignatureException, ExpiredTokenException;
https://docs.aws.amazon.com/cloudwatchlogs/latest/APIReference/CommonErrors.html).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError

PAYMENTS = "222222222222"
JSON_LOGS = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Logs_20140328.DescribeLogGroups"}
QUERY_STS = {"Content-Type": "application/x-www-form-urlencoded"}
QUERY_BODY = b"Action=GetCallerIdentity&Version=2011-06-15"
MALFORMED = "AWS4-HMAC-SHA256 Credential=222222222222/20260101/us-east-1/logs/aws4_request"


def raw(pipeline, method: str, path: str, headers: dict, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(pipeline.endpoint + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize(("label", "headers", "body", "status", "code"), [
    ("JSON, unsigned", JSON_LOGS, b"{}", 400, "MissingAuthenticationTokenException"),
    ("JSON, not a signature", {**JSON_LOGS, "Authorization": "garbage"}, b"{}", 400, "IncompleteSignatureException"),
    ("JSON, signature without its parts", {**JSON_LOGS, "Authorization": MALFORMED}, b"{}", 400,
     "IncompleteSignatureException"),
    ("query, unsigned", QUERY_STS, QUERY_BODY, 403, "MissingAuthenticationToken"),
    ("query, not a signature", {**QUERY_STS, "Authorization": "garbage"}, QUERY_BODY, 400, "IncompleteSignature"),
])
def test_unsigned_and_malformed_requests_are_refused(pipeline, label, headers, body, status, code):
    found_status, found = raw(pipeline, "POST", "/", headers, body)
    assert found_status == status, found
    text = found.decode()
    assert (json.loads(text).get("__type") == code) if text.startswith("{") else f"<Code>{code}</Code>" in text, text


def test_rest_api_unsigned_request_is_refused(pipeline):
    status, body = raw(pipeline, "GET", "/2015-03-31/functions/", {})
    assert status == 403
    assert json.loads(body)["__type"] == "MissingAuthenticationTokenException"


@pytest.mark.parametrize(("service", "call", "status", "wrong_secret", "unknown_key"), [
    ("logs", lambda c: c.describe_log_groups(), 400, "InvalidSignatureException", "UnrecognizedClientException"),
    ("sts", lambda c: c.get_caller_identity(), 403, "SignatureDoesNotMatch", "InvalidClientTokenId"),
    ("lambda", lambda c: c.list_functions(), 403, "InvalidSignatureException", "UnrecognizedClientException"),
])
def test_wrong_secret_and_unknown_key(aws, service, call, status, wrong_secret, unknown_key):
    """An account's root key (the account id) signs with the secret ``test``; anything else is refused."""
    call(aws(service, PAYMENTS))
    with pytest.raises(ClientError) as refused:
        call(aws(service, PAYMENTS, secret="not-test"))
    assert refused.value.response["Error"]["Code"] == wrong_secret
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    with pytest.raises(ClientError) as unknown:
        call(aws(service, "AKIAIOSFODNN7EXAMPLE", secret="x"))
    assert unknown.value.response["Error"]["Code"] == unknown_key


@pytest.fixture(scope="module")
def session_role(pipeline):
    iam = pipeline.client("iam", PAYMENTS)
    name = f"signature-probe-{uuid.uuid4().hex[:8]}"
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": f"arn:aws:iam::{PAYMENTS}:root"}}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="logs", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": "*"}]}))
    return arn


def _session(aws, role_arn):
    credentials = aws("sts", PAYMENTS).assume_role(RoleArn=role_arn, RoleSessionName="probe")["Credentials"]
    return credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]


def test_session_credentials_need_their_token_and_secret(aws, session_role):
    key, secret, token = _session(aws, session_role)
    aws("logs", key, secret=secret, token=token).describe_log_groups()
    for wrong in ({"secret": secret, "token": None}, {"secret": secret, "token": token[:-4] + "abcd"},
                  {"secret": "wrong", "token": token}):
        with pytest.raises(ClientError) as refused:
            aws("logs", key, **wrong).describe_log_groups()
        assert refused.value.response["Error"]["Code"] in ("UnrecognizedClientException", "InvalidSignatureException")


def test_expired_session_token(aws, pipeline, session_role):
    key, secret, token = _session(aws, session_role)
    aws("sts", key, secret=secret, token=token).get_caller_identity()
    status, _body = raw(pipeline, "POST", "/_localcloud/sts/expire-session", {"Content-Type": "application/json"},
                        json.dumps({"AccessKeyId": key}).encode())
    assert status == 200
    with pytest.raises(ClientError) as expired:
        aws("logs", key, secret=secret, token=token).describe_log_groups()
    assert expired.value.response["Error"]["Code"] == "ExpiredTokenException"
    with pytest.raises(ClientError) as expired_query:
        aws("sts", key, secret=secret, token=token).get_caller_identity()
    assert expired_query.value.response["Error"]["Code"] == "ExpiredToken"
    assert expired_query.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
