"""Our own runtime bootstraps for Python and Node.js functions, and the answers they give.

ministack 1.5.33's warm workers differ from AWS's runtimes where functions can tell:

* Python: no handler on the root logger, so ``logging.info`` inside a function (what most
  functions use) is lost; every handler error answers ``errorType: Runtime.HandlerError``.
* Node.js: ``@aws-sdk/client-*`` are stubs ("no stub for '@aws-sdk/client-s3'"; none for
  ``lib-dynamodb``); ``console.log`` writes bare lines; errors as for Python.
* Both: the local cloud's public names (``*.localhost.localstack.cloud``, in queue URLs and
  API endpoints) need public DNS; a handler error replaces the execution environment (AWS
  keeps it: module state survives, the next invocation is warm).

``bootstrap.py`` and ``bootstrap.js`` (ours) run instead, speaking the same worker protocol,
and behave as AWS's runtimes do (see each file's header). A handler error's answer is the
payload AWS gives (errorType = the exception's own type: what Step Functions' Retry/Catch,
destinations and callers match on):

* Python ``{"errorMessage", "errorType": "ValueError", "requestId", "stackTrace": [...]}``
  (AWS-recorded: LocalStack tests/aws/services/lambda_/test_lambda.snapshot.json::
  TestLambdaErrors::test_lambda_handler_error);
* Node.js ``{"errorType": "Error", "errorMessage", "trace": [...]}`` (AWS-recorded:
  test_lambda_common.snapshot.json::TestLambdaRuntimesCommon::test_uncaught_exception_invoke).

The Node.js runtime's AWS SDK for JavaScript v3 clients are pinned in ``node_sdk/`` and
installed by ``make`` (``npm ci``); a client it does not bundle must be bundled with the
function, as any dependency. The SDKs read the standard environment (the function's
credentials, ``AWS_REGION``, ``AWS_ENDPOINT_URL``), so they talk to the local cloud.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from localcloud import seams
from localcloud.extension import Extension
from localcloud.services.awslambda import invocations, records

logger = logging.getLogger("localcloud.lambda_bootstraps")

HERE = Path(__file__).parent
SDK_FOLDER = HERE / "node_sdk"
SDK_NODE_MODULES = SDK_FOLDER / "node_modules"
_SDK_MARKER = SDK_NODE_MODULES / "@aws-sdk" / "client-s3" / "package.json"


def sdk_version() -> str | None:
    """The installed SDK's version (of its S3 client), None when it is not installed."""
    try:
        return json.loads(_SDK_MARKER.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


@lru_cache(maxsize=1)
def node_version() -> str | None:
    node = shutil.which("node")
    if not node:
        return None
    try:
        return subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10).stdout.strip().lstrip("v")
    except (OSError, subprocess.SubprocessError):
        return None


def _config(runtime: str) -> dict:
    protocol = seams.awslambda.worker_protocol()
    advertised = urlparse(f"//{os.environ.get('MINISTACK_HOST', '')}").hostname
    return {
        "recordMarker": records.RECORD_MARKER,
        "sdkNodeModules": str(SDK_NODE_MODULES) if sdk_version() else None,
        "gatewayHostnames": [advertised] if advertised and advertised != "localhost" else [],
        "depthEnv": protocol["depth_env"],
        "depthHeader": protocol["depth_header"],
        "durableEnv": protocol["durable_env"],
        "runtime": runtime,
    }


def bootstrap_script(runtime: str) -> str:
    source = HERE / ("bootstrap.py" if runtime.startswith("python") else "bootstrap.js")
    return source.read_text().replace("__LOCALCLOUD_CONFIG__", json.dumps(_config(runtime)))


def _ours(detect_runtime_binary):
    def detect(runtime: str):
        binary, script = detect_runtime_binary(runtime)
        if runtime.startswith(("python", "nodejs")):
            return binary, bootstrap_script(runtime)
        return binary, script

    return detect


def _aws_error_answers(execute_warm):
    """A handler error is the function's error, with the payload our bootstrap reported."""
    def execute(func, event, request_id):
        result = execute_warm(func, event, request_id)
        _worker, answer = invocations.last_answer(request_id)
        if isinstance(result, dict) and answer and isinstance(answer.get("aws_error"), dict):
            result.update(body=answer["aws_error"], error=True, log=answer.get("log", ""))
        return result

    return execute


def needed() -> bool:
    """ministack's worker scripts stub the Node.js SDK and leave Python's root logger
    without a handler (probes of the scripts it would run)."""
    return seams.awslambda.nodejs_sdk_is_stubbed() or not seams.awslambda.python_root_logger_configured()


def install() -> None:
    if not sdk_version():
        logger.warning("the AWS SDK for JavaScript v3 is not installed in %s (run `make install`): Node.js "
                       "functions that use it fail with \"Cannot find module '@aws-sdk/…'\"", SDK_FOLDER)
    invocations.install_recorder()
    seams.awslambda.wrap_runtime_function("_detect_runtime_binary", _ours)
    seams.awslambda.wrap_service_functions({"_execute_function_warm": _aws_error_answers})


def health() -> dict:
    return {"node": node_version(), "aws_sdk_for_javascript": sdk_version() or "not installed (run `make install`)"}


EXTENSION = Extension(name="lambda_runtime_bootstraps", needed=needed, install=install)
