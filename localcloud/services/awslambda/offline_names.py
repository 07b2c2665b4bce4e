"""The local cloud's public names resolve inside Python functions without public DNS.

URLs the local cloud hands out carry ``localhost.localstack.cloud`` (an SQS QueueUrl, an
API's endpoint, a presigned URL), a public DNS name for 127.0.0.1 that does not resolve
offline. A Python function's environment resolves that name and its subdomains to the
local cloud itself (Node.js functions: ``bootstrap.js`` does the same), so the URL forms
stay as LocalStack users know them and work with no network.
"""

from __future__ import annotations

import ipaddress
import os

from localcloud import seams
from localcloud.extension import Extension

PREAMBLE = '''
def _localcloud_offline_names(names, address):
    import socket

    resolve = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and any(name == n or name.endswith("." + n) for n in names):
            host = address
        return resolve(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo


_localcloud_offline_names(%r, %r)
'''


def gateway_name() -> str:
    return os.environ.get("MINISTACK_HOST", "").split(":")[0]


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return name in ("", "localhost")


def _with_names_resolved(detect_runtime_binary):
    def detect(runtime: str):
        binary, script = detect_runtime_binary(runtime)
        if runtime.startswith("python"):
            script = PREAMBLE % ((gateway_name(),), "127.0.0.1") + script
        return binary, script

    return detect


def needed() -> bool:
    """The URLs ministack hands out name a host that needs public DNS."""
    return not _is_address(gateway_name())


def install() -> None:
    seams.awslambda.wrap_runtime_function("_detect_runtime_binary", _with_names_resolved)


EXTENSION = Extension(name="lambda_offline_names", needed=needed, install=install)
