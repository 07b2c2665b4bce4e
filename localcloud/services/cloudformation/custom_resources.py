"""CloudFormation custom resources: answers that reach the local cloud offline, and a
handler that fails without answering fails its resource at once.

ministack 1.5.33 hands a custom resource's handler a ResponseURL (and a wait-condition
handle its URL) on ``MINISTACK_HOST``, which is ``localhost.localstack.cloud`` here: a
public DNS name that does not resolve offline. The handler's PUT then fails, and the stack
waits for the resource's ServiceTimeout (3,600 s by default) before it fails. CDK adds such
resources for ``logRetention``, ``AwsCustomResource`` and log-group rule targets, so any of
those hung a deploy for an hour.

* Callbacks are internal: the handler runs on this machine, so its ResponseURL names the
  loopback address the local cloud listens on. (The public URL forms, such as an API's
  ``<id>.execute-api.localhost.localstack.cloud`` endpoint, stay as they were.)
* A handler whose invocation fails (an error, a timeout, a function that cannot start)
  and has not answered within a few seconds fails its resource with that error. AWS would
  retry the invocation and then wait out the ServiceTimeout; locally the error is the
  useful answer. A handler that succeeds without answering is waited for, as on AWS (a
  provider with an is-complete handler answers later).
"""

from __future__ import annotations

import logging
import os
import threading
import time

from localcloud import seams
from localcloud.extension import Extension

logger = logging.getLogger("localcloud.cfn_custom_resources")

# A handler may PUT its FAILED answer and then raise; its answer wins if it arrives this soon.
ANSWER_GRACE_S = 2.0
_POLL_S = 0.2

_failures: dict[str, str] = {}  # callback token -> why its handler's invocation failed
_failures_lock = threading.Lock()


def internal_base_url() -> str:
    """Where a handler running on this machine reaches the local cloud, with no DNS."""
    host = os.environ.get("BIND_HOST", "127.0.0.1")
    if host in ("", "0.0.0.0", "localhost"):
        host = "127.0.0.1"
    elif host in ("::", "::1"):
        host = "[::1]"
    return f"http://{host}:{os.environ.get('GATEWAY_PORT', '4566')}"


def _failure_reason(func: dict, result) -> str | None:
    """Why an invocation failed (the handler's errorType and errorMessage), else None."""
    if not isinstance(result, dict) or not result.get("error"):
        return None
    body = result.get("body")
    if isinstance(body, dict):
        error = ": ".join(str(part) for part in (body.get("errorType"), body.get("errorMessage")) if part)
    else:
        error = str(body or "the invocation failed")
    config = func.get("config") or func
    name = config.get("FunctionName", "the handler")
    return (f"Custom resource handler {name} failed without answering its ResponseURL: {error} "
            f"(see log group /aws/lambda/{name})")


def _record_outcome(execute):
    def execute_and_record(func, event):
        token = seams.cloudformation.callback_token(event.get("ResponseURL")) if isinstance(event, dict) else None
        if token is None:
            return execute(func, event)
        try:
            result = execute(func, event)
        except Exception as error:
            with _failures_lock:
                _failures[token] = f"Custom resource handler could not be invoked: {error}"
            raise
        reason = _failure_reason(func, result)
        if reason:
            with _failures_lock:
                _failures[token] = reason
        return result

    return execute_and_record


class _AnswerOrHandlerFailure:
    """What a custom resource waits on: its handler's answer, or, once the handler's
    invocation has failed and no answer came within the grace period, that failure
    (delivered as the FAILED answer, so CloudFormation reports the handler's error)."""

    def __init__(self, token: str, answered: threading.Event):
        self.token, self.answered = token, answered

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        failed_at = None
        try:
            while not self.answered.wait(_POLL_S):
                with _failures_lock:
                    reason = _failures.get(self.token)
                if reason:
                    failed_at = failed_at or time.monotonic()
                    if time.monotonic() - failed_at >= ANSWER_GRACE_S:
                        logger.warning("%s", reason)
                        seams.cloudformation.answer_callback(self.token, {"Status": "FAILED", "Reason": reason})
                        return True
                if deadline is not None and time.monotonic() >= deadline:
                    return False
            return True
        finally:
            with _failures_lock:
                _failures.pop(self.token, None)


def _bounded_wait(register_token):
    def register(token: str):
        return _AnswerOrHandlerFailure(token, register_token(token))

    return register


def _callbacks_need_dns() -> bool:
    from urllib.parse import urlparse
    import ipaddress

    host = urlparse(seams.cloudformation.callback_base_url()).hostname or ""
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        return host != "localhost"


def install_internal_callbacks() -> None:
    seams.cloudformation.replace_callback_base_url(internal_base_url)


def install_bounded_failures() -> None:
    seams.awslambda.wrap_execution(_record_outcome)
    seams.cloudformation.wrap_callback_registration(_bounded_wait)


CALLBACKS = Extension(name="cfn_internal_callbacks", needed=_callbacks_need_dns, install=install_internal_callbacks)
FAILURES = Extension(name="cfn_custom_resource_failures",
                     needed=lambda: not seams.cloudformation.reads_handler_outcome(),
                     install=install_bounded_failures)
