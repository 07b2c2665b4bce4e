"""API Gateway as AWS serves it: an API answers at its URL whoever calls, in the URL forms
LocalStack users know; HTTP API CORS preflights come from the API's CORS configuration.

* Invoking a REST API: https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-call-api.html
  (``https://{restapi_id}.execute-api.{region}.amazonaws.com/{stage_name}/``: the URL names
  the API, not the caller's account).
* HTTP API CORS: https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html
  ("API Gateway automatically sends a response to preflight OPTIONS requests, even if
  there isn't an OPTIONS route configured").
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest

OWNER = "222222222222"
OTHER = "333333333333"
REGION = "eu-west-1"  # not the region an unsigned request defaults to


def _call(url: str, method: str = "GET", host: str | None = None, headers: dict | None = None,
          body: bytes | None = None, sign_as: str | None = None, region: str = "us-east-1"):
    all_headers = dict(headers or {})
    if host:
        all_headers["Host"] = host
    if sign_as:
        request = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=all_headers)
        botocore.auth.SigV4Auth(botocore.credentials.Credentials(sign_as, "test"), "execute-api",
                                region).add_auth(request)
        all_headers = dict(request.headers)
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method=method, headers=all_headers),
                                    timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def mock_rest_api(aws):
    """A REST API of account 222222222222 in eu-west-1: GET / answers from a MOCK integration."""
    apigateway = aws("apigateway", OWNER, REGION)
    api_id = apigateway.create_rest_api(name="parity-rest")["id"]
    root = apigateway.get_resources(restApiId=api_id)["items"][0]["id"]
    apigateway.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigateway.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK",
                               requestTemplates={"application/json": '{"statusCode": 200}'})
    apigateway.put_method_response(restApiId=api_id, resourceId=root, httpMethod="GET", statusCode="200")
    apigateway.put_integration_response(restApiId=api_id, resourceId=root, httpMethod="GET", statusCode="200",
                                        responseTemplates={"application/json": '{"answered": "mock"}'})
    apigateway.create_deployment(restApiId=api_id, stageName="prod")
    return api_id


def _url_forms(localcloud, api_id: str) -> dict[str, tuple[str, str | None]]:
    return {
        "host": (f"{localcloud.endpoint}/prod/", localcloud.execute_api_host(api_id)),
        "_aws path": (localcloud.execute_api_url(api_id, "/prod/"), None),
        "restapis path": (f"{localcloud.endpoint}/restapis/{api_id}/prod/_user_request_/", None),
        # AWS's own host, which CDK's RestApi.url output names
        "aws host": (f"{localcloud.endpoint}/prod/", f"{api_id}.execute-api.{REGION}.amazonaws.com"),
    }


@pytest.mark.parametrize("form", ["host", "_aws path", "restapis path", "aws host"])
def test_rest_api_answers_unsigned_callers_in_every_url_form(localcloud, mock_rest_api, form):
    url, host = _url_forms(localcloud, mock_rest_api)[form]
    status, _headers, body = _call(url, host=host)
    assert (status, json.loads(body)) == (200, {"answered": "mock"})


@pytest.mark.parametrize("signer", [OWNER, OTHER])
def test_rest_api_answers_callers_signing_with_any_account(localcloud, mock_rest_api, signer):
    """A NONE-authorized method answers whoever signs (the owner, another account), for
    whichever region the signature names."""
    status, _headers, body = _call(localcloud.execute_api_url(mock_rest_api, "/prod/"), sign_as=signer)
    assert (status, json.loads(body)) == (200, {"answered": "mock"})


def test_rest_api_unknown_id_is_not_found(localcloud):
    status, _headers, _body = _call(localcloud.execute_api_url("0badc0de", "/prod/"))
    assert status in (403, 404)


def _http_api_with_cors(aws, unique) -> str:
    apigatewayv2 = aws("apigatewayv2", OWNER, REGION)
    api = apigatewayv2.create_api(Name=unique("cors"), ProtocolType="HTTP", CorsConfiguration={
        "AllowOrigins": ["https://app.example.com"], "AllowMethods": ["GET", "POST"],
        "AllowHeaders": ["content-type"], "MaxAge": 300})
    apigatewayv2.create_stage(ApiId=api["ApiId"], StageName="$default", AutoDeploy=True)
    return api["ApiId"]


PREFLIGHT = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type"}


def _assert_preflight_allowed(status: int, headers: dict) -> None:
    lowered = {k.lower(): v for k, v in headers.items()}
    assert status == 204, (status, headers)
    assert lowered["access-control-allow-origin"] == "https://app.example.com"
    assert set(lowered["access-control-allow-methods"].replace(" ", "").split(",")) == {"GET", "POST"}
    assert lowered["access-control-allow-headers"].lower() == "content-type"
    assert lowered["access-control-max-age"] == "300"


@pytest.mark.parametrize("form", ["host", "_aws path"])
def test_http_api_cors_preflight_answers_outside_the_default_account(aws, unique, localcloud, form):
    api_id = _http_api_with_cors(aws, unique)
    url, host = {"host": (f"{localcloud.endpoint}/", localcloud.execute_api_host(api_id)),
                 "_aws path": (localcloud.execute_api_url(api_id, "/"), None)}[form]
    status, headers, _body = _call(url, method="OPTIONS", host=host, headers=PREFLIGHT)
    _assert_preflight_allowed(status, headers)


def test_http_api_cors_configuration_from_cloudformation_answers_preflights(aws, unique, localcloud):
    """AWS::ApiGatewayV2::Api CorsConfiguration (the CDK's ``cors_preflight``) is the same
    configuration CreateApi takes: GetApi shows it and preflights are answered from it.
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-apigatewayv2-api-cors.html"""
    cloudformation = aws("cloudformation", OWNER, REGION)
    name = unique("cfn-cors")
    template = {"Resources": {
        "Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {
            "Name": name, "ProtocolType": "HTTP",
            "CorsConfiguration": {"AllowOrigins": ["https://app.example.com"], "AllowMethods": ["GET", "POST"],
                                  "AllowHeaders": ["content-type"], "MaxAge": 300}}},
        "Stage": {"Type": "AWS::ApiGatewayV2::Stage", "Properties": {
            "ApiId": {"Ref": "Api"}, "StageName": "$default", "AutoDeploy": True}}},
        "Outputs": {"ApiId": {"Value": {"Ref": "Api"}}}}
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
    cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1})
    api_id = cloudformation.describe_stacks(StackName=name)["Stacks"][0]["Outputs"][0]["OutputValue"]
    cors = aws("apigatewayv2", OWNER, REGION).get_api(ApiId=api_id)["CorsConfiguration"]
    assert cors == {"AllowOrigins": ["https://app.example.com"], "AllowMethods": ["GET", "POST"],
                    "AllowHeaders": ["content-type"], "MaxAge": 300}
    status, headers, _body = _call(localcloud.execute_api_url(api_id, "/"), method="OPTIONS", headers=PREFLIGHT)
    _assert_preflight_allowed(status, headers)


PROXY_HANDLER = """
import json
def handler(event, context):
    if event["path"] == "/boom":
        raise RuntimeError("secret detail of the failure")
    if event["path"] == "/echo":  # answers with what it was sent
        return json.loads(event["body"])
    return {"statusCode": 201, "headers": {"x-answered-by": "lambda"},
            "body": json.dumps({"path": event["path"], "method": event["httpMethod"],
                                "account": event["requestContext"]["accountId"],
                                "api": event["requestContext"]["apiId"]})}
"""


@pytest.fixture(scope="module")
def lambda_rest_api(aws):
    """A REST API of account 222222222222 whose {proxy+} resource is a Lambda proxy (what the
    CDK's LambdaRestApi makes); the function has its own execution role and lets API
    Gateway invoke it (AddPermission), as on AWS."""
    import io
    import zipfile

    iam, lambda_ = aws("iam", OWNER, REGION), aws("lambda", OWNER, REGION)
    role = iam.create_role(RoleName="parity-rest-proxy", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", PROXY_HANDLER)
    function_arn = lambda_.create_function(FunctionName="parity-rest-proxy", Runtime="python3.12", Role=role,
                                           Handler="index.handler", Code={"ZipFile": code.getvalue()})["FunctionArn"]
    apigateway = aws("apigateway", OWNER, REGION)
    api_id = apigateway.create_rest_api(name="parity-rest-proxy")["id"]
    root = apigateway.get_resources(restApiId=api_id)["items"][0]["id"]
    proxy = apigateway.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")["id"]
    apigateway.put_method(restApiId=api_id, resourceId=proxy, httpMethod="ANY", authorizationType="NONE")
    apigateway.put_integration(
        restApiId=api_id, resourceId=proxy, httpMethod="ANY", type="AWS_PROXY", integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function_arn}/invocations")
    apigateway.create_deployment(restApiId=api_id, stageName="prod")
    lambda_.add_permission(FunctionName="parity-rest-proxy", StatementId="apigateway", Action="lambda:InvokeFunction",
                           Principal="apigateway.amazonaws.com",
                           SourceArn=f"arn:aws:execute-api:{REGION}:{OWNER}:{api_id}/*/*/*")
    return api_id


def test_rest_api_lambda_proxy_answers_with_the_functions_response(localcloud, lambda_rest_api):
    status, headers, body = _call(localcloud.execute_api_url(lambda_rest_api, "/prod/orders/7"), method="POST",
                                  body=b"{}", headers={"content-type": "application/json"})
    assert status == 201
    assert {k.lower(): v for k, v in headers.items()}["x-answered-by"] == "lambda"
    assert json.loads(body) == {"path": "/orders/7", "method": "POST", "account": OWNER, "api": lambda_rest_api}


def test_rest_api_lambda_proxy_failure_is_a_bare_502(localcloud, lambda_rest_api):
    """A function that raises: 502 ``{"message": "Internal server error"}``, its error stays
    in its own log (as for a malformed answer, below)."""
    status, _headers, body = _call(localcloud.execute_api_url(lambda_rest_api, "/prod/boom"))
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})


# AWS-recorded: LocalStack tests/aws/services/apigateway/test_apigateway_lambda.snapshot.json
# ::test_aws_proxy_response_payload_format_validation (the function answers with the body it
# was sent; the status API Gateway gives for each answer).
PROXY_ANSWERS = [
    ({"statusCode": 200}, 200),
    ({"statusCode": 200, "headers": None}, 200),
    ({"statusCode": 200, "wrongValue": "value"}, 502),
    ({}, 502),
    ({"statusCode": 200, "multiValueHeaders": {"test-multi": ["value1", "value2"]}}, 200),
    ({"statusCode": 200, "multiValueHeaders": {"test-multi-invalid": "value1"}}, 502),
    ({"statusCode": "test"}, 502),
    ({"statusCode": "201"}, 201),
    ("justAString", 502),
    ({"headers": {"test-header": "value"}}, 200),
]


@pytest.mark.parametrize(("answer", "expected"), PROXY_ANSWERS, ids=[json.dumps(a) for a, _ in PROXY_ANSWERS])
def test_rest_api_lambda_proxy_answer_format(localcloud, lambda_rest_api, answer, expected):
    status, _headers, body = _call(localcloud.execute_api_url(lambda_rest_api, "/prod/echo"), method="POST",
                                   body=json.dumps(answer).encode(), headers={"content-type": "application/json"})
    assert status == expected, body
    if expected == 502:
        assert json.loads(body) == {"message": "Internal server error"}
