"""An app the console was not written for, built through the AWS APIs (no CDK): orders
come in through an HTTP API, wait on a queue (with a dead-letter queue), a pipe puts
them on a bus (archived), a rule starts an EXPRESS workflow (logging ALL) that runs a
Lambda, which logs the order and publishes OrderRecorded to a hub bus in another
account; the hub delivers to a shipping account's bus (a consumer Lambda there) and to
the hub bus of a second region. Roles, bus policies and log permissions are what AWS
requires, so strict IAM finds what it needs.

``break_the_pipe()`` makes the pipe put its events with a source only AWS may use
("aws.orders"), so PutEvents fails every entry (NotAuthorizedForSourceException) and the
records stay on the queue until its dead-letter queue; ``mend_the_pipe()`` puts the source
back. (Deleting the pipe's target bus would not do: EventBridge accepts events for a bus
that does not exist, and the pipe takes the records.)
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from dataclasses import dataclass, field

ORDERS, HUB, SHIPPING = "222222222222", "111111111111", "333333333333"
REGION, SECOND_REGION = "us-east-1", "eu-west-1"

RECORDER = '''
import hashlib, json, os
import boto3

def handler(event, context):
    body = event["detail"]["body"]
    sha = hashlib.sha256(body.encode()).hexdigest()
    print(json.dumps({"message": "order recorded", "body": body, "body_sha256": sha}))
    boto3.client("events").put_events(Entries=[{
        "EventBusName": os.environ["HUB_BUS_ARN"], "Source": "orders", "DetailType": "OrderRecorded",
        "Detail": json.dumps({"body_sha256": sha})}])
    return {"body_sha256": sha}
'''
SHIPPER = '''
import json

def handler(event, context):
    print(json.dumps({"message": "shipping", "body_sha256": event["detail"]["body_sha256"]}))
'''


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", source)
    return buffer.getvalue()


def _trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


def _allow(*grants: tuple[list[str], str], principal: dict | None = None) -> str:
    """A policy document allowing each (actions, resource)."""
    statements = [{"Effect": "Allow", "Action": actions, "Resource": resource, **({"Principal": principal} if principal else {})}
                  for actions, resource in grants]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


@dataclass
class OrdersApp:
    aws: object  # the session's client factory: aws(service, account, region)
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    arns: dict = field(default_factory=dict)

    def name(self, base: str) -> str:
        return f"{base}-{self.suffix}"

    def role(self, account: str, base: str, service: str, *grants: tuple[list[str], str]) -> str:
        iam = self.aws("iam", account, REGION)
        arn = iam.create_role(RoleName=self.name(base), AssumeRolePolicyDocument=_trust(service))["Role"]["Arn"]
        iam.put_role_policy(RoleName=self.name(base), PolicyName="least", PolicyDocument=_allow(*grants))
        return arn

    def log_group(self, account: str, region: str, base: str) -> str:
        logs = self.aws("logs", account, region)
        name = f"/{base}/{self.suffix}"
        logs.create_log_group(logGroupName=name)
        return f"arn:aws:logs:{region}:{account}:log-group:{name}"

    def bus(self, account: str, region: str, base: str, allow_account: str | None = None) -> str:
        events = self.aws("events", account, region)
        arn = events.create_event_bus(Name=self.name(base))["EventBusArn"]
        if allow_account:
            events.put_permission(EventBusName=self.name(base), Action="events:PutEvents", Principal=allow_account,
                                  StatementId=f"from-{allow_account}")
        return arn

    def rule(self, account: str, region: str, bus: str, base: str, pattern: dict, target: dict) -> str:
        events = self.aws("events", account, region)
        arn = events.put_rule(Name=self.name(base), EventBusName=bus, EventPattern=json.dumps(pattern))["RuleArn"]
        events.put_targets(Rule=self.name(base), EventBusName=bus, Targets=[{"Id": "t", **target}])
        return arn

    def function(self, account: str, base: str, source: str, environment: dict, *grants: tuple[list[str], str]) -> str:
        role = self.role(account, f"{base}-role", "lambda.amazonaws.com", *grants, (
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], "*"))
        return self.aws("lambda", account, REGION).create_function(
            FunctionName=self.name(base), Runtime="python3.12", Role=role, Handler="index.handler",
            Code={"ZipFile": _zip(source)}, Timeout=10, Environment={"Variables": environment})["FunctionArn"]

    def build(self) -> "OrdersApp":
        sqs = self.aws("sqs", ORDERS, REGION)
        # shipping account: a bus that accepts the hub's events, a consumer
        shipping_bus = self.bus(SHIPPING, REGION, "shipping", allow_account=HUB)
        shipper = self.function(SHIPPING, "ship-order", SHIPPER, {})
        shipping_rule = self.rule(SHIPPING, REGION, self.name("shipping"), "shipping-orders",
                                  {"detail-type": ["OrderRecorded"]}, {"Arn": shipper})
        self.aws("lambda", SHIPPING, REGION).add_permission(
            FunctionName=self.name("ship-order"), StatementId="events", Action="lambda:InvokeFunction",
            Principal="events.amazonaws.com", SourceArn=shipping_rule)
        # hub account, both regions
        self.arns["hub"] = hub = self.bus(HUB, REGION, "hub", allow_account=ORDERS)
        second_hub = self.bus(HUB, SECOND_REGION, "hub")
        for region in (REGION, SECOND_REGION):
            group = self.log_group(HUB, region, "hub-audit")
            self.aws("logs", HUB, region).put_resource_policy(policyName=self.name("events-to-logs"), policyDocument=_allow(
                (["logs:CreateLogStream", "logs:PutLogEvents"], group + ":*"), principal={"Service": "events.amazonaws.com"}))
            self.rule(HUB, region, self.name("hub"), "hub-audit", {"source": [{"prefix": ""}]}, {"Arn": group})
        self.rule(HUB, REGION, self.name("hub"), "to-shipping", {"detail-type": ["OrderRecorded"]}, {
            "Arn": shipping_bus, "RoleArn": self.role(HUB, "to-shipping", "events.amazonaws.com",
                                                      (["events:PutEvents"], shipping_bus))})
        self.rule(HUB, REGION, self.name("hub"), "to-second-region", {"detail-type": ["OrderRecorded"]}, {
            "Arn": second_hub, "RoleArn": self.role(HUB, "to-second-region", "events.amazonaws.com",
                                                    (["events:PutEvents"], second_hub))})
        # orders account: queue and dead-letter queue, HTTP API, pipe, bus, workflow, recorder
        dlq = sqs.create_queue(QueueName=self.name("orders-dlq"))["QueueUrl"]
        self.arns["dlq"] = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.arns["queue_url"] = queue = sqs.create_queue(QueueName=self.name("orders"), Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": self.arns["dlq"], "maxReceiveCount": "2"})})["QueueUrl"]
        self.arns["queue"] = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.arns["recorder"] = self.function(ORDERS, "record-order", RECORDER, {"HUB_BUS_ARN": hub},
                                              (["events:PutEvents"], hub))
        self.arns["workflow_logs"] = self.log_group(ORDERS, REGION, "orders-flow")
        states_role = self.role(ORDERS, "orders-flow", "states.amazonaws.com", (["lambda:InvokeFunction"], self.arns["recorder"]), ([
            "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"],
            "*"))
        self.arns["workflow"] = self.aws("stepfunctions", ORDERS, REGION).create_state_machine(
            name=self.name("orders-flow"), type="EXPRESS", roleArn=states_role,
            definition=json.dumps({"StartAt": "Record", "States": {"Record": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "OutputPath": "$.Payload",
                "Parameters": {"FunctionName": self.arns["recorder"], "Payload.$": "$"}, "End": True}}}),
            loggingConfiguration={"level": "ALL", "includeExecutionData": True, "destinations": [
                {"cloudWatchLogsLogGroup": {"logGroupArn": self.arns["workflow_logs"] + ":*"}}]})["stateMachineArn"]
        self._create_bus()
        self.arns["pipe_role"] = pipe_role = self.role(ORDERS, "orders-pipe", "pipes.amazonaws.com", (
            ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], self.arns["queue"]),
            (["events:PutEvents"], self.arns["bus"]))
        self.aws("pipes", ORDERS, REGION).create_pipe(
            Name=self.name("orders-pipe"), RoleArn=pipe_role, Source=self.arns["queue"], Target=self.arns["bus"],
            SourceParameters={"SqsQueueParameters": {"BatchSize": 10, "MaximumBatchingWindowInSeconds": 0}},
            TargetParameters=self._pipe_target("orders.api"))
        gateway = self.aws("apigatewayv2", ORDERS, REGION)
        self.arns["api_id"] = api = gateway.create_api(Name=self.name("orders-api"), ProtocolType="HTTP")["ApiId"]
        gateway.create_stage(ApiId=api, StageName="$default", AutoDeploy=True)
        integration = gateway.create_integration(
            ApiId=api, IntegrationType="AWS_PROXY", IntegrationSubtype="SQS-SendMessage", PayloadFormatVersion="1.0",
            CredentialsArn=self.role(ORDERS, "orders-api", "apigateway.amazonaws.com",
                                     (["sqs:SendMessage"], self.arns["queue"])),
            RequestParameters={"QueueUrl": queue, "MessageBody": "$request.body"})["IntegrationId"]
        gateway.create_route(ApiId=api, RouteKey="POST /", Target=f"integrations/{integration}")
        return self

    def _create_bus(self) -> None:
        events = self.aws("events", ORDERS, REGION)
        self.arns["bus"] = events.create_event_bus(Name=self.name("orders-bus"))["EventBusArn"]
        events.create_archive(ArchiveName=self.name("orders-archive"), EventSourceArn=self.arns["bus"],
                              EventPattern=json.dumps({"source": ["orders.api"]}), RetentionDays=7)
        self.rule(ORDERS, REGION, self.name("orders-bus"), "order-received", {"source": ["orders.api"]}, {
            "Arn": self.arns["workflow"], "RoleArn": self.role(ORDERS, f"start-{uuid.uuid4().hex[:4]}", "events.amazonaws.com",
                                                               (["states:StartExecution"], self.arns["workflow"]))})

    @staticmethod
    def _pipe_target(source: str) -> dict:
        return {"EventBridgeEventBusParameters": {"Source": source, "DetailType": "OrderReceived"}}

    def _update_pipe_source(self, source: str) -> None:
        self.aws("pipes", ORDERS, REGION).update_pipe(Name=self.name("orders-pipe"), RoleArn=self.arns["pipe_role"],
                                                      TargetParameters=self._pipe_target(source))

    def break_the_pipe(self) -> None:
        self._update_pipe_source("aws.orders")

    def mend_the_pipe(self) -> None:
        self._update_pipe_source("orders.api")