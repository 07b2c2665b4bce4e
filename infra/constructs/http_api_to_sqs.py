"""HTTP API whose POST / hands the request body to SQS unchanged, no Lambda in front."""

import json

import jsii
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.logs import encrypted_log_group
from infra.nag import acknowledge

# One JSON line per request; the fields API Gateway documents for HTTP API access logs.
ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "integrationStatus": "$context.integrationStatus",
    "integrationError": "$context.integrationErrorMessage",
}, separators=(",", ":"))


class HttpApiToSqs(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: sqs.IQueue,
        key: kms.IKey,
        log_retention_days: int,
        authorization: str,
    ) -> None:
        super().__init__(scope, construct_id)
        if authorization not in ("AWS_IAM", "NONE"):
            raise ValueError(f"api_authorization must be AWS_IAM or NONE, got {authorization!r}")
        self.api = apigwv2.HttpApi(self, "Api", create_default_stage=False, description="Transaction ingestion")
        self.access_log_group = encrypted_log_group(self, "AccessLogs", key=key, days=log_retention_days)
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            access_log_settings=_JsonAccessLogs(self.access_log_group),
        )
        integration = integrations.HttpSqsIntegration(
            "SendMessage",
            queue=queue,
            subtype=apigwv2.HttpIntegrationSubtype.SQS_SEND_MESSAGE,
            # The whole body, byte for byte: not the default $request.body.MessageBody.
            parameter_mapping=apigwv2.ParameterMapping()
            .custom("QueueUrl", queue.queue_url)
            .custom("MessageBody", "$request.body"),
        )
        self.route = apigwv2.HttpRoute(
            self,
            "PostRoot",
            http_api=self.api,
            route_key=apigwv2.HttpRouteKey.with_(path="/", method=apigwv2.HttpMethod.POST),
            integration=integration,
            authorizer=apigwv2.HttpNoneAuthorizer() if authorization == "NONE" else _iam_authorizer(),
        )
        # HttpSqsIntegration's role gets sqs:SendMessage only; a queue under a customer
        # managed key also needs the key for every SendMessage.
        key.grant(self.route.node.find_child("InvokeRole"), "kms:GenerateDataKey", "kms:Decrypt")
        if authorization == "NONE":
            acknowledge(self.route, {
                "AwsSolutions-APIG4": "The configuration chose api_authorization NONE: an open ingestion endpoint "
                "(the local cloud's default). AWS configurations use AWS_IAM.",
            })

    @property
    def url(self) -> str:
        return self.stage.url


@jsii.implements(apigwv2.IAccessLogSettings)
class _JsonAccessLogs:
    def __init__(self, log_group) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return apigw.AccessLogFormat.custom(ACCESS_LOG_FORMAT)


def _iam_authorizer():
    from aws_cdk import aws_apigatewayv2_authorizers as authorizers

    return authorizers.HttpIamAuthorizer()
