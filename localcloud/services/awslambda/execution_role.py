"""A function's logs are written as its execution role, as on AWS.

Lambda sends a function's output to CloudWatch Logs with the execution role's
credentials: without logs:CreateLogStream and logs:PutLogEvents on its log group (or when
CloudWatch Logs may not use the group's KMS key) the function still runs, and its log
lines never appear. The SDK calls the handler makes use the role's temporary credentials
(ministack's AUTH mode issues them: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN in the worker's environment) and are evaluated like any API request.
"""

from __future__ import annotations

import logging

from localcloud import auth, seams
from localcloud.extension import Extension

logger = logging.getLogger("localcloud.lambda")


def _may_write(func: dict) -> bool:
    role, account, region, group = seams.awslambda.log_destination(func)
    stream = f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:*"
    try:
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            auth.require(role, action, stream)
    except auth.AccessDenied as denied:
        logger.warning("function log lines not written to %s: %s", group, denied.message)
        return False
    return True


def _wrap_log_writer(original):
    def emit_lambda_logs(func, *args, **kwargs):
        if _may_write(func):
            original(func, *args, **kwargs)

    return emit_lambda_logs


def install() -> None:
    seams.awslambda.wrap_log_writer(_wrap_log_writer)


EXTENSION = Extension(name="lambda_execution_role", needed=auth.enabled, install=install)
