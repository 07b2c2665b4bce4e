"""HTTP API (API Gateway v2) AWS_PROXY integrations with an IntegrationSubtype, served by
localcloud/services/apigatewayv2/ on the local cloud's own port."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from .conftest import ACCOUNT_A, ACCOUNT_B, REGION, allow, create_role, drain, queue_arn, queue_depth

ROLE = f"arn:aws:iam::{ACCOUNT_A}:role/http-api-integration"
ROLE_B = f"arn:aws:iam::{ACCOUNT_B}:role/http-api-integration-b"
MAX_MESSAGE_SIZE = 262144


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    """A plain, unsigned HTTP request (what curl sends): status and body."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def host_form(localcloud, api_id: str, path: str = "/") -> tuple[str, dict]:
    """The ``<apiId>.execute-api.localhost.localstack.cloud`` URL form, sent to 127.0.0.1
    with that Host header (no DNS needed)."""
    return f"{localcloud.endpoint}{path}", {"Host": localcloud.execute_api_host(api_id)}


class HttpApi:
    """One HTTP API with a $default stage, built through the apigatewayv2 API."""

    def __init__(self, aws, name: str, account: str = ACCOUNT_A, region: str = REGION):
        self.gw = aws("apigatewayv2", account, region)
        self.api_id = self.gw.create_api(Name=name, ProtocolType="HTTP")["ApiId"]
        self.gw.create_stage(ApiId=self.api_id, StageName="$default", AutoDeploy=True)

    def integrate(self, subtype: str, parameters: dict, route: str, authorization: str = "NONE",
                  credentials: str | None = ROLE) -> str:
        arguments = dict(ApiId=self.api_id, IntegrationType="AWS_PROXY", IntegrationSubtype=subtype,
                         PayloadFormatVersion="1.0", RequestParameters=parameters)
        if credentials:
            arguments["CredentialsArn"] = credentials
        integration_id = self.gw.create_integration(**arguments)["IntegrationId"]
        self.gw.create_route(ApiId=self.api_id, RouteKey=route, Target=f"integrations/{integration_id}",
                             AuthorizationType=authorization)
        return integration_id


def _integration_statements(account: str) -> list[dict]:
    return [allow("sqs:SendMessage", f"arn:aws:sqs:*:{account}:*"),
            allow("events:PutEvents", f"arn:aws:events:*:{account}:event-bus/*"),
            allow("states:StartExecution", f"arn:aws:states:*:{account}:stateMachine:*")]


@pytest.fixture(scope="module", autouse=True)
def integration_roles(aws):
    """The roles the integrations act as (API Gateway assumes them; strict IAM evaluates
    what they may do), plus the one the state machine and function of these tests name."""
    create_role(aws("iam"), ROLE.rsplit("/", 1)[-1], ["apigateway.amazonaws.com", "states.amazonaws.com",
                                                       "lambda.amazonaws.com"], _integration_statements(ACCOUNT_A))
    create_role(aws("iam", ACCOUNT_B), ROLE_B.rsplit("/", 1)[-1], ["apigateway.amazonaws.com"],
                _integration_statements(ACCOUNT_B))


@pytest.fixture
def sqs_api(aws, unique):
    """An HTTP API whose ``POST /`` sends the request body to a queue (MaximumMessageSize 256 KiB)."""
    sqs = aws("sqs")
    queue_url = sqs.create_queue(QueueName=unique("api-q"),
                                 Attributes={"MaximumMessageSize": str(MAX_MESSAGE_SIZE)})["QueueUrl"]
    api = HttpApi(aws, unique("api"))
    api.integration_id = api.integrate("SQS-SendMessage", {"QueueUrl": queue_url, "MessageBody": "$request.body"},
                                       "POST /")
    api.queue_url = queue_url
    return api


def test_sqs_send_message_puts_the_exact_body_on_the_queue(localcloud, aws, sqs_api):
    body = '{"amount": 42.5, "currency": "EUR", "note": "é€😀 \\u00e9"}'.encode()
    status, response = http("POST", localcloud.execute_api_url(sqs_api.api_id, "/"), body,
                            {"Content-Type": "application/json"})
    assert status == 200, response
    result = json.loads(response)["SendMessageResponse"]["SendMessageResult"]
    assert result["MessageId"]
    messages = drain(aws("sqs"), sqs_api.queue_url, expected=1, timeout=5, quiet=0.3)
    assert [m["Body"].encode() for m in messages] == [body]
    assert messages[0]["MessageId"] == result["MessageId"]


def test_get_integration_returns_subtype_and_credentials(aws, sqs_api):
    gw = aws("apigatewayv2")
    integration = gw.get_integration(ApiId=sqs_api.api_id, IntegrationId=sqs_api.integration_id)
    assert integration["IntegrationSubtype"] == "SQS-SendMessage"
    assert integration["CredentialsArn"] == ROLE
    assert integration["RequestParameters"] == {"QueueUrl": sqs_api.queue_url, "MessageBody": "$request.body"}
    listed = gw.get_integrations(ApiId=sqs_api.api_id)["Items"]
    assert [(i["IntegrationId"], i.get("IntegrationSubtype"), i.get("CredentialsArn")) for i in listed] == [
        (sqs_api.integration_id, "SQS-SendMessage", ROLE)]


def test_both_url_forms_reach_the_queue(localcloud, aws, sqs_api):
    status, _ = http("POST", localcloud.execute_api_url(sqs_api.api_id, "/"), b"path-form")
    assert status == 200
    url, headers = host_form(localcloud, sqs_api.api_id)
    status, response = http("POST", url, b"host-form", headers)
    assert status == 200, response
    bodies = sorted(m["Body"] for m in drain(aws("sqs"), sqs_api.queue_url, expected=2, timeout=5))
    assert bodies == ["host-form", "path-form"]


def test_unknown_route_is_404_not_found(localcloud, aws, sqs_api):
    for method, path in (("POST", "/nowhere"), ("GET", "/"), ("PUT", "/")):
        status, response = http(method, localcloud.execute_api_url(sqs_api.api_id, path), b"x")
        assert (status, response) == (404, b'{"message":"Not Found"}'), (method, path)
    assert queue_depth(aws("sqs"), sqs_api.queue_url) == 0


def test_body_over_the_queue_limit_is_a_400_and_nothing_is_queued(localcloud, aws, sqs_api):
    status, response = http("POST", localcloud.execute_api_url(sqs_api.api_id, "/"), b"x" * (MAX_MESSAGE_SIZE + 1))
    assert status == 400, response
    error = json.loads(response)["Error"]
    assert error["Code"]
    assert queue_depth(aws("sqs"), sqs_api.queue_url) == 0
    # exactly at the limit is accepted
    status, response = http("POST", localcloud.execute_api_url(sqs_api.api_id, "/"), b"y" * MAX_MESSAGE_SIZE)
    assert status == 200, response[:300]
    assert [len(m["Body"]) for m in drain(aws("sqs"), sqs_api.queue_url, expected=1, timeout=5)] == [MAX_MESSAGE_SIZE]


def test_empty_body_is_a_400(localcloud, aws, sqs_api):
    status, response = http("POST", localcloud.execute_api_url(sqs_api.api_id, "/"), b"")
    assert status == 400, response
    assert json.loads(response)["Error"]["Code"]
    assert queue_depth(aws("sqs"), sqs_api.queue_url) == 0


def test_invalid_utf8_body_is_a_400_and_nothing_is_queued(localcloud, aws, sqs_api):
    status, response = http("POST", localcloud.execute_api_url(sqs_api.api_id, "/"), b'{"a": "\xff\xfe"}')
    assert status == 400, response
    assert json.loads(response)["Error"]["Code"]
    assert queue_depth(aws("sqs"), sqs_api.queue_url) == 0


def test_eventbridge_put_events_subtype(localcloud, aws, unique, observer):
    events = aws("events")
    bus = unique("api-bus")
    events.create_event_bus(Name=bus)
    seen = observer(bus, pattern={"source": ["com.example.api"]})
    api = HttpApi(aws, unique("api-events"))
    api.integrate("EventBridge-PutEvents", {"Detail": "$request.body", "DetailType": "TransactionReceived",
                                             "Source": "com.example.api", "EventBusName": bus}, "POST /events")
    status, response = http("POST", localcloud.execute_api_url(api.api_id, "/events"), b'{"amount": 7}')
    assert status == 200, response
    assert json.loads(response)["FailedEntryCount"] == 0
    messages = drain(aws("sqs"), seen, expected=1, timeout=5)
    assert len(messages) == 1
    event = json.loads(messages[0]["Body"])
    assert (event["source"], event["detail-type"], event["detail"], event["account"]) == (
        "com.example.api", "TransactionReceived", {"amount": 7}, ACCOUNT_A)


def test_step_functions_start_execution_subtype(localcloud, aws, unique):
    sfn = aws("stepfunctions")
    machine = sfn.create_state_machine(
        name=unique("api-sm"), roleArn=ROLE,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]
    api = HttpApi(aws, unique("api-sfn"))
    api.integrate("StepFunctions-StartExecution", {"StateMachineArn": machine, "Input": "$request.body"},
                  "POST /start")
    status, response = http("POST", localcloud.execute_api_url(api.api_id, "/start"), b'{"order": 1}')
    assert status == 200, response
    execution_arn = json.loads(response)["executionArn"]
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert [e["executionArn"] for e in executions] == [execution_arn]
    described = sfn.describe_execution(executionArn=execution_arn)
    assert json.loads(described["input"]) == {"order": 1}


def test_header_and_query_string_mappings(localcloud, aws, unique):
    sqs = aws("sqs")
    queue_url = sqs.create_queue(QueueName=unique("api-map"))["QueueUrl"]
    api = HttpApi(aws, unique("api-map"))
    api.integrate("SQS-SendMessage", {"QueueUrl": queue_url, "MessageBody": "$request.header.x-body"},
                  "POST /header")
    api.integrate("SQS-SendMessage", {"QueueUrl": queue_url, "MessageBody": "$request.querystring.y",
                                      "DelaySeconds": "$request.header.X-Delay"}, "POST /query")
    api.integrate("SQS-SendMessage", {"QueueUrl": queue_url, "MessageBody": "$request.body.payload.text"},
                  "POST /field")
    status, response = http("POST", localcloud.execute_api_url(api.api_id, "/header"), b"ignored",
                            {"X-Body": "from-header"})
    assert status == 200, response
    status, response = http("POST", localcloud.execute_api_url(api.api_id, "/query?y=from-query&z=other"), b"ignored",
                            {"x-delay": "0"})
    assert status == 200, response
    status, response = http("POST", localcloud.execute_api_url(api.api_id, "/field"),
                            b'{"payload": {"text": "from-body-field"}, "other": 1}')
    assert status == 200, response
    bodies = sorted(m["Body"] for m in drain(sqs, queue_url, expected=3, timeout=5))
    assert bodies == ["from-body-field", "from-header", "from-query"]
    # a request without the mapped value sends nothing
    status, _ = http("POST", localcloud.execute_api_url(api.api_id, "/header"), b"no header")
    assert status == 400
    assert queue_depth(sqs, queue_url) == 0


def test_query_string_mapping_is_percent_decoded(localcloud, aws, unique):
    sqs = aws("sqs")
    queue_url = sqs.create_queue(QueueName=unique("api-qs"))["QueueUrl"]
    api = HttpApi(aws, unique("api-qs"))
    api.integrate("SQS-SendMessage", {"QueueUrl": queue_url, "MessageBody": "$request.querystring.y"}, "POST /")
    status, response = http("POST", localcloud.execute_api_url(api.api_id, "/?y=a%20b%2Fc%C3%A9"), b"ignored")
    assert status == 200, response
    assert [m["Body"] for m in drain(sqs, queue_url, expected=1, timeout=5)] == ["a b/cé"]


def test_aws_iam_route_needs_a_valid_signature_and_execute_api_invoke(localcloud, aws, unique):
    """An AWS_IAM route: unsigned is 403 Forbidden; a SigV4 signature is verified (the root
    key's secret is ``test``), then execute-api:Invoke is evaluated for the signer: the
    API's own account root may, another account's root may not (HTTP APIs have no
    resource policy to let it in)."""
    sqs = aws("sqs")
    queue_url = sqs.create_queue(QueueName=unique("api-iam"))["QueueUrl"]
    api = HttpApi(aws, unique("api-iam"))
    api.integrate("SQS-SendMessage", {"QueueUrl": queue_url, "MessageBody": "$request.body"}, "POST /",
                  authorization="AWS_IAM")
    url = localcloud.execute_api_url(api.api_id, "/")
    status, response = http("POST", url, b"unsigned")
    assert (status, response) == (403, b'{"message":"Forbidden"}')
    status, response = http("POST", url, b"forged", signed_headers(url, b"forged", ACCOUNT_A, secret="not-test"))
    assert status == 403 and b"signature we calculated does not match" in response, response
    status, response = http("POST", url, b"other account", signed_headers(url, b"other account", ACCOUNT_B))
    assert status == 403 and b"execute-api:Invoke" in response, response
    assert queue_depth(sqs, queue_url) == 0
    status, response = http("POST", url, b"signed", signed_headers(url, b"signed", ACCOUNT_A))
    assert status == 200, response
    assert [m["Body"] for m in drain(sqs, queue_url, expected=1, timeout=5)] == ["signed"]


def signed_headers(url: str, body: bytes, account: str, secret: str = "test") -> dict:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=url, data=body)
    SigV4Auth(Credentials(account, secret), "execute-api", REGION).add_auth(request)
    return dict(request.headers)


def test_api_in_one_account_is_reachable_unsigned(localcloud, aws, unique):
    """API ids are global: an unsigned request (no credentials, so ministack's default
    account) reaches an API owned by account B, in B's scope."""
    sqs_b = aws("sqs", ACCOUNT_B)
    queue_url = sqs_b.create_queue(QueueName=unique("api-b"))["QueueUrl"]
    api = HttpApi(aws, unique("api-b"), account=ACCOUNT_B)
    api.integrate("SQS-SendMessage", {"QueueUrl": queue_url, "MessageBody": "$request.body"}, "POST /",
                  credentials=ROLE_B)
    status, response = http("POST", localcloud.execute_api_url(api.api_id, "/"), b"to-account-b")
    assert status == 200, response
    url, headers = host_form(localcloud, api.api_id)
    status, response = http("POST", url, b"to-account-b-host", headers)
    assert status == 200, response
    bodies = sorted(m["Body"] for m in drain(sqs_b, queue_url, expected=2, timeout=5))
    assert bodies == ["to-account-b", "to-account-b-host"]
    assert queue_arn(sqs_b, queue_url).split(":")[4] == ACCOUNT_B


def test_deleted_integration_route_is_no_longer_served_by_the_extension(localcloud, aws, sqs_api):
    gw = aws("apigatewayv2")
    gw.delete_api(ApiId=sqs_api.api_id)
    status, _ = http("POST", localcloud.execute_api_url(sqs_api.api_id, "/"), b"after-delete")
    assert status in (403, 404)
    assert queue_depth(aws("sqs"), sqs_api.queue_url) == 0


def test_integration_made_by_cloudformation_is_served(localcloud, aws, unique):
    """The CDK path: the integration comes from AWS::ApiGatewayV2::Integration."""
    from .test_cfn_events import failure_reasons, outputs, wait_stack

    cfn, sqs, gw = aws("cloudformation"), aws("sqs"), aws("apigatewayv2")
    stack_name = unique("api-stack")
    template = {"Resources": {
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": unique("api-cfn-q")}},
        "Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"Name": unique("api-cfn"), "ProtocolType": "HTTP"}},
        "Integration": {"Type": "AWS::ApiGatewayV2::Integration", "Properties": {
            "ApiId": {"Ref": "Api"}, "IntegrationType": "AWS_PROXY", "IntegrationSubtype": "SQS-SendMessage",
            "CredentialsArn": ROLE, "PayloadFormatVersion": "1.0",
            "RequestParameters": {"QueueUrl": {"Ref": "Queue"}, "MessageBody": "$request.body"}}},
        "Route": {"Type": "AWS::ApiGatewayV2::Route", "Properties": {
            "ApiId": {"Ref": "Api"}, "RouteKey": "POST /",
            "Target": {"Fn::Join": ["", ["integrations/", {"Ref": "Integration"}]]}}},
        "Stage": {"Type": "AWS::ApiGatewayV2::Stage", "Properties": {
            "ApiId": {"Ref": "Api"}, "StageName": "$default", "AutoDeploy": True}},
    }, "Outputs": {"ApiId": {"Value": {"Ref": "Api"}}, "QueueUrl": {"Value": {"Ref": "Queue"}},
                   "IntegrationId": {"Value": {"Ref": "Integration"}}}}
    cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(template))
    stack = wait_stack(cfn, stack_name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", failure_reasons(cfn, stack_name)
    found = outputs(stack)
    integration = gw.get_integration(ApiId=found["ApiId"], IntegrationId=found["IntegrationId"])
    assert (integration["IntegrationSubtype"], integration["CredentialsArn"]) == ("SQS-SendMessage", ROLE)
    status, response = http("POST", localcloud.execute_api_url(found["ApiId"], "/"), b'{"via": "cfn"}')
    assert status == 200, response
    assert [m["Body"] for m in drain(sqs, found["QueueUrl"], expected=1, timeout=5)] == ['{"via": "cfn"}']
    cfn.delete_stack(StackName=stack_name)
    assert wait_stack(cfn, stack_name)["StackStatus"] == "DELETE_COMPLETE"


def test_update_integration_changes_the_mapping(localcloud, aws, sqs_api):
    aws("apigatewayv2").update_integration(
        ApiId=sqs_api.api_id, IntegrationId=sqs_api.integration_id,
        RequestParameters={"QueueUrl": sqs_api.queue_url, "MessageBody": "$request.header.x-message"})
    status, response = http("POST", localcloud.execute_api_url(sqs_api.api_id, "/"), b"body ignored",
                            {"X-Message": "from the header"})
    assert status == 200, response
    assert [m["Body"] for m in drain(aws("sqs"), sqs_api.queue_url, expected=1, timeout=5)] == ["from the header"]
    integration = aws("apigatewayv2").get_integration(ApiId=sqs_api.api_id, IntegrationId=sqs_api.integration_id)
    assert integration["IntegrationSubtype"] == "SQS-SendMessage"  # kept through the update


def test_lambda_proxy_routes_are_left_to_ministack(localcloud, aws, unique):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "import base64\n"
                                     "def handler(event, context):\n"
                                     "    body = event.get('body') or ''\n"
                                     "    if event.get('isBase64Encoded'):\n"
                                     "        body = base64.b64decode(body).decode()\n"
                                     "    return {'statusCode': 201, 'body': 'lambda:' + body}\n")
    function_arn = aws("lambda").create_function(
        FunctionName=unique("api-fn"), Runtime="python3.12", Role=ROLE, Handler="index.handler",
        Code={"ZipFile": buffer.getvalue()})["FunctionArn"]
    api = HttpApi(aws, unique("api-lambda"))
    integration_id = api.gw.create_integration(ApiId=api.api_id, IntegrationType="AWS_PROXY",
                                               IntegrationUri=function_arn, PayloadFormatVersion="2.0")["IntegrationId"]
    api.gw.create_route(ApiId=api.api_id, RouteKey="POST /fn", Target=f"integrations/{integration_id}")
    status, response = http("POST", localcloud.execute_api_url(api.api_id, "/fn"), b"hi",
                            {"Content-Type": "text/plain"})
    assert (status, response) == (201, b"lambda:hi")


def test_access_log_lines_go_to_the_stage_log_group_even_after_it_is_recreated(localcloud, aws, sqs_api, unique):
    logs = aws("logs")
    group = unique("/access")
    logs.create_log_group(logGroupName=group)
    sqs_api.gw.update_stage(ApiId=sqs_api.api_id, StageName="$default", AccessLogSettings={
        "DestinationArn": f"arn:aws:logs:{REGION}:{ACCOUNT_A}:log-group:{group}",
        "Format": '{"requestId":"$context.requestId","status":"$context.status","routeKey":"$context.routeKey"}'})
    url = localcloud.execute_api_url(sqs_api.api_id, "/")

    def lines() -> list[dict]:
        return [json.loads(e["message"]) for e in logs.filter_log_events(logGroupName=group)["events"]]

    for body in (b"first", b"second"):
        assert http("POST", url, body)[0] == 200
    assert http("POST", localcloud.execute_api_url(sqs_api.api_id, "/nope"), b"x")[0] == 404
    assert [(line["status"], line["routeKey"]) for line in lines()] == [("200", "POST /"), ("200", "POST /"), ("404", "")]

    # The group deleted and created again (a redeploy): the next line still arrives.
    logs.delete_log_group(logGroupName=group)
    logs.create_log_group(logGroupName=group)
    assert http("POST", url, b"third")[0] == 200
    assert [line["status"] for line in lines()] == ["200"]
