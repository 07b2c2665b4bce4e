"""A REST API invokes its Lambda integrations as AWS does: with the integration's
credentials role, or else as apigateway.amazonaws.com under the function's resource policy.

"For a Lambda integration, API Gateway needs permission to invoke the function: a resource
policy on the function (lambda:InvokeFunction for apigateway.amazonaws.com, its SourceArn
the method's execute-api ARN) or an IAM role given as the integration's credentials"
(https://docs.aws.amazon.com/apigateway/latest/developerguide/integrating-api-with-aws-services-lambda.html;
CDK's LambdaIntegration adds the permission). Without it, API Gateway answers 500
"Internal server error" ("Execution failed due to configuration error: Invalid permissions
on Lambda function" in the execution log). ministack 1.5.33 invoked the function regardless.
"""

from __future__ import annotations

import json
import logging

from localcloud import auth, seams
from localcloud.extension import Extension

logger = logging.getLogger("localcloud.apigateway")

REFUSED = (500, {"Content-Type": "application/json", "x-amzn-ErrorType": "InternalServerErrorException"},
           json.dumps({"message": "Internal server error"}).encode())


def _function_arn(reference: str, account: str, region: str) -> str:
    if reference.startswith("arn:"):
        return reference
    return f"arn:aws:lambda:{region}:{account}:function:{reference}"


def refusal(integration: dict, api_id: str, stage_name: str, resource, method: str, account: str,
            region: str) -> str | None:
    """Why API Gateway may not invoke the integration's function, or None."""
    function = _function_arn(seams.apigateway.rest_integration_function(integration), account, region)
    path = resource.get("path", "/") if isinstance(resource, dict) else str(resource or "/")
    source = f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage_name}/{method}{path}"
    context = {"aws:SourceArn": source, "aws:SourceAccount": account}
    try:
        credentials = integration.get("credentials") or ""
        if credentials and credentials != "arn:aws:iam::*:user/*":  # the caller's own credentials: not modelled
            auth.require(auth.acting_role("apigateway.amazonaws.com", credentials, **context),
                         "lambda:InvokeFunction", function)
        else:
            auth.require("apigateway.amazonaws.com", "lambda:InvokeFunction", function, **context)
    except auth.AccessDenied as denied:
        return denied.message
    return None


def _with_permission(invoke):
    async def invoke_if_permitted(integration, api_id, stage_name, stage, resource, request_path, method, *args,
                                  **kwargs):
        account = kwargs.get("owner_account_id") or seams.current_account()
        region = kwargs.get("owner_region") or seams.current_region()
        why = refusal(integration or {}, api_id, stage_name, resource, method, account, region)
        if why:
            logger.warning("api %s: Execution failed due to configuration error: Invalid permissions on Lambda "
                           "function: %s", api_id, why)
            return REFUSED
        return await invoke(integration, api_id, stage_name, stage, resource, request_path, method, *args, **kwargs)

    return invoke_if_permitted


def install() -> None:
    seams.apigateway.wrap_rest_api_lambda_invocations(_with_permission)


EXTENSION = Extension(name="rest_api_lambda_permission", needed=auth.enabled, install=install)
