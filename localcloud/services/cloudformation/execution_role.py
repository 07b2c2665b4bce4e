"""CloudFormation acts as the stack's service role (RoleARN), as on AWS.

* Passing a role to CloudFormation (CreateStack, UpdateStack, CreateChangeSet with
  RoleARN) needs iam:PassRole on it, and the role must trust cloudformation.amazonaws.com;
  else the call is refused (AccessDenied; ValidationError "Role … is invalid or cannot be
  assumed").
* Each resource is then created as that role (as the caller, without a role): the role
  needs the resource type's create permission (the first permission of the create handler
  in the CloudFormation resource schema) and iam:PassRole for the roles the resource names
  (a function's Role, a state machine's or pipe's RoleArn, an integration's
  CredentialsArn). A refusal fails the resource with AWS's message, and the stack rolls back.

Checked on "*" (the resource does not exist yet); resource types outside PERMISSIONS are
created without a check. CDK's bootstrap execution role (AdministratorAccess) passes.
"""

from __future__ import annotations

import json
import logging
import threading
from urllib.parse import parse_qs

from localcloud import auth, seams
from localcloud.extension import Extension

logger = logging.getLogger("localcloud.cloudformation")

CLOUDFORMATION = "cloudformation.amazonaws.com"
PERMISSIONS = {
    "AWS::IAM::Role": "iam:CreateRole", "AWS::IAM::Policy": "iam:PutRolePolicy",
    "AWS::IAM::ManagedPolicy": "iam:CreatePolicy", "AWS::KMS::Key": "kms:CreateKey", "AWS::KMS::Alias": "kms:CreateAlias",
    "AWS::SQS::Queue": "sqs:CreateQueue", "AWS::SQS::QueuePolicy": "sqs:SetQueueAttributes",
    "AWS::SNS::Topic": "sns:CreateTopic", "AWS::Events::EventBus": "events:CreateEventBus",
    "AWS::Events::EventBusPolicy": "events:PutPermission", "AWS::Events::Rule": "events:PutRule",
    "AWS::Events::Archive": "events:CreateArchive", "AWS::Logs::LogGroup": "logs:CreateLogGroup",
    "AWS::Logs::ResourcePolicy": "logs:PutResourcePolicy", "AWS::Lambda::Function": "lambda:CreateFunction",
    "AWS::Lambda::Permission": "lambda:AddPermission", "AWS::SecretsManager::Secret": "secretsmanager:CreateSecret",
    "AWS::DynamoDB::Table": "dynamodb:CreateTable", "AWS::DynamoDB::GlobalTable": "dynamodb:CreateTable",
    "AWS::StepFunctions::StateMachine": "states:CreateStateMachine", "AWS::Pipes::Pipe": "pipes:CreatePipe",
    "AWS::ApiGatewayV2::Api": "apigateway:POST", "AWS::ApiGatewayV2::Integration": "apigateway:POST",
    "AWS::ApiGatewayV2::Route": "apigateway:POST", "AWS::ApiGatewayV2::Stage": "apigateway:POST",
    "AWS::S3::Bucket": "s3:CreateBucket", "AWS::SSM::Parameter": "ssm:PutParameter",
    "AWS::ECR::Repository": "ecr:CreateRepository",
}
PASSED_ROLES = {"AWS::Lambda::Function": "Role", "AWS::StepFunctions::StateMachine": "RoleArn",
                "AWS::Pipes::Pipe": "RoleArn", "AWS::ApiGatewayV2::Integration": "CredentialsArn"}

_lock = threading.Lock()
_stack_roles: dict[tuple[str, str, str], str] = {}  # (account, region, stack name) -> RoleARN


def _params(method: str, headers: dict, body: bytes, query_params: dict) -> dict[str, str]:
    if "amz-json" in headers.get("content-type", ""):
        try:
            return {k: v for k, v in json.loads(body or b"{}").items() if isinstance(v, str)}
        except ValueError:
            return {}
    found = {k: v[0] for k, v in query_params.items() if v}
    if method == "POST" and body:
        found.update({k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items() if v})
    return found


def _refusal(code: str, message: str, status: int) -> tuple[int, dict, bytes]:
    body = (f'<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>'
            f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>{seams.new_id()}</RequestId>"
            "</ErrorResponse>").encode()
    return status, {"Content-Type": "text/xml"}, body


def _wrap_handler(original):
    async def handle(method, path, headers, body, query_params):
        params = _params(method, headers, body, query_params)
        role = params.get("RoleARN")
        if params.get("Action") in ("CreateStack", "UpdateStack", "CreateChangeSet") and role:
            passing = auth.decide_for_acting("iam:PassRole", role, **{"iam:PassedToService": CLOUDFORMATION})
            if not passing.allowed:
                return _refusal("AccessDenied", passing.message, 403)
            if not auth.authorize(auth.Request(CLOUDFORMATION, "sts:AssumeRole", role)).allowed:
                return _refusal("ValidationError", f"Role {role} is invalid or cannot be assumed", 400)
            with _lock:
                _stack_roles[(seams.current_account(), seams.current_region(), params.get("StackName", ""))] = role
        return await original(method, path, headers, body, query_params)

    return handle


def _acting_principal(stack_name: str):
    with _lock:
        role = _stack_roles.get((seams.current_account(), seams.current_region(), stack_name))
    return role or seams.acting()


def _check(resource_type: str, props: dict, stack_name: str) -> None:
    principal = _acting_principal(stack_name)
    if principal is None:
        return
    needed = [(PERMISSIONS[resource_type], "*")]
    passed = props.get(PASSED_ROLES.get(resource_type, ""))
    if isinstance(passed, str) and passed.startswith("arn:"):
        needed.append(("iam:PassRole", passed))
    for action, resource in needed:
        decision = (auth.decide(principal, action, resource, {}) if isinstance(principal, auth.Caller)
                    else auth.authorize(auth.Request(principal, action, resource)))
        if not decision.allowed:
            raise PermissionError(f'Resource handler returned message: "{decision.message} (Service: '
                                  f'{resource_type.split("::")[1]}, Status Code: 403)" (HandlerErrorCode: AccessDenied)')


def _wrap_create(resource_type: str, original):
    def create(logical_id, props, stack_name):
        _check(resource_type, props, stack_name)
        return original(logical_id, props, stack_name)

    return create


def install() -> None:
    seams.wrap_service_handler("cloudformation", _wrap_handler)
    handlers = seams.cloudformation.resource_handlers()
    for resource_type in PERMISSIONS:
        if resource_type in handlers and "create" in handlers[resource_type]:
            handlers[resource_type]["create"] = _wrap_create(resource_type, handlers[resource_type]["create"])


EXTENSION = Extension(name="cloudformation_service_role", needed=auth.enabled, install=install)
