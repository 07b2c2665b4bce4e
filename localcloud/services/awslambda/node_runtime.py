"""The Node.js runtime: our own bootstrap, and the AWS SDK for JavaScript v3 it provides.

ministack 1.5.33 runs Node.js functions with a bootstrap whose ``@aws-sdk/client-*`` are
stubs ("no stub for '@aws-sdk/client-s3'"; ``lib-dynamodb`` has none at all) and whose
``console.log`` writes bare lines. AWS's Node.js runtimes bundle the real SDK v3 and write
each console call as one log record with a time, request id and level prefix.

``bootstrap.js`` (ours) runs instead, speaking the same worker protocol. The SDK clients it
provides are pinned in ``node_sdk/package.json`` (+ lock) and installed by ``make``
(``npm ci`` in ``node_sdk/``); a client it does not bundle must be bundled with the
function, as with any dependency. The SDK reads the standard environment (the function's
credentials, ``AWS_REGION``, ``AWS_ENDPOINT_URL``), so it talks to the local cloud.
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
from localcloud.services.awslambda import records

logger = logging.getLogger("localcloud.lambda_nodejs")

BOOTSTRAP = Path(__file__).with_name("bootstrap.js")
SDK_FOLDER = Path(__file__).with_name("node_sdk")
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


def bootstrap_script(runtime: str) -> str:
    protocol = seams.awslambda.worker_protocol()
    advertised = urlparse(f"//{os.environ.get('MINISTACK_HOST', '')}").hostname
    config = {
        "recordMarker": records.RECORD_MARKER,
        "sdkNodeModules": str(SDK_NODE_MODULES) if sdk_version() else None,
        "gatewayHostnames": [advertised] if advertised else [],
        "depthEnv": protocol["depth_env"],
        "depthHeader": protocol["depth_header"],
        "durableEnv": protocol["durable_env"],
        "runtime": runtime,
    }
    return BOOTSTRAP.read_text().replace("__LOCALCLOUD_CONFIG__", json.dumps(config))


def _our_bootstrap(detect_runtime_binary):
    def detect(runtime: str):
        if runtime.startswith("nodejs"):
            return "node", bootstrap_script(runtime)
        return detect_runtime_binary(runtime)

    return detect


def needed() -> bool:
    """ministack's Node.js bootstrap stubs the SDK (source probe of its worker script)."""
    return seams.awslambda.nodejs_sdk_is_stubbed()


def install() -> None:
    if not sdk_version():
        logger.warning("the AWS SDK for JavaScript v3 is not installed in %s (run `make install`): Node.js "
                       "functions that use it fail with \"Cannot find module '@aws-sdk/…'\"", SDK_FOLDER)
    seams.awslambda.wrap_runtime_function("_detect_runtime_binary", _our_bootstrap)


def health() -> dict:
    return {"node": node_version(), "aws_sdk_for_javascript": sdk_version() or "not installed (run `make install`)"}


EXTENSION = Extension(name="lambda_nodejs_runtime", needed=needed, install=install)
