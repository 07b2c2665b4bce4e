"""A handler's error answers and logs as AWS's runtimes write them.

ministack 1.5.33 answers every handler error with ``errorType: Runtime.HandlerError`` and
logs the raw traceback line by line. AWS's runtimes answer with the exception's own type,
which is what Step Functions' Retry/Catch rules, a Lambda destination and a caller's
``FunctionError`` handling match on:

* Python: ``{"errorMessage", "errorType": "ValueError", "requestId", "stackTrace": [frames]}``,
  logged as one ``[ERROR] ValueError: …`` record with the traceback (AWS-recorded: LocalStack
  tests/aws/services/lambda_/test_lambda.snapshot.json::TestLambdaErrors::test_lambda_handler_error);
* Node.js: ``{"errorType": "Error", "errorMessage", "trace": [stack lines]}``, logged as an
  ``Invoke Error`` record (AWS-recorded: test_lambda_common.snapshot.json::
  TestLambdaRuntimesCommon::test_uncaught_exception_invoke[nodejs18.x]).

Timeouts and failures to start keep ministack's answers.
"""

from __future__ import annotations

import re

from localcloud import seams
from localcloud.extension import Extension
from localcloud.services.awslambda import invocations, records

_CARETS = re.compile(r"^\s*[~^]+\s*$")
# The frames of the worker that runs the handler are the runtime's, not the function's.
_RUNTIME_FRAME = re.compile(r'^  File ".*/_worker\.(py|js)"')
NBSP = "\u00a0"


def python_error(error_message: str, trace: str, request_id: str) -> tuple[dict, str]:
    """(answer payload, log message) for a Python handler's exception, from its traceback."""
    lines = trace.rstrip("\n").split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    position = starts[-1] + 1 if starts else len(lines)
    frames: list[str] = []
    while position < len(lines) and lines[position].startswith("  File "):
        entry = lines[position] + "\n"
        position += 1
        while position < len(lines) and lines[position].startswith("    "):
            if not _CARETS.match(lines[position]):
                entry += lines[position] + "\n"
            position += 1
        if not _RUNTIME_FRAME.match(entry):
            frames.append(entry)
    exception_line = lines[position] if position < len(lines) else ""
    error_type = exception_line.split(":", 1)[0].strip().rsplit(".", 1)[-1] or "Exception"
    payload = {"errorMessage": error_message, "errorType": error_type, "requestId": request_id, "stackTrace": frames}
    description = f"[ERROR] {error_type}: {error_message}" if error_message else f"[ERROR] {error_type}"
    log_lines = [description, "Traceback (most recent call last):"]
    for frame in frames:
        for line in frame.splitlines():
            stripped = line.lstrip(" ")
            log_lines.append(NBSP * (len(line) - len(stripped)) + stripped)
    return payload, "\n".join(log_lines)


def node_error(answer: dict) -> dict:
    """The answer payload of a Node.js handler's error (our runtime sends it ready-made)."""
    if isinstance(answer.get("aws_error"), dict):
        return answer["aws_error"]
    trace = (answer.get("trace") or "").split("\n")
    first = trace[0] if trace else ""
    error_type = first.split(":", 1)[0] if ":" in first else "Error"
    return {"errorType": error_type, "errorMessage": answer.get("error", ""), "trace": [t for t in trace if t]}


def _aws_errors(execute_warm):
    def execute(func, event, request_id):
        result = execute_warm(func, event, request_id)
        if not (isinstance(result, dict) and result.get("error")):
            return result
        _worker, answer = invocations.last_answer(request_id)
        if not answer or answer.get("status") != "error" or not answer.get("trace"):
            return result  # a timeout or a worker that died: ministack's answer stands
        runtime = (func.get("config") or func).get("Runtime", "")
        log = answer.get("log", "")
        if runtime.startswith("python"):
            payload, message = python_error(answer.get("error", ""), answer["trace"], request_id)
            log = "\n".join(filter(None, [log, records.encode(message)]))
        elif runtime.startswith("nodejs"):
            payload = node_error(answer)
        else:
            return result
        result["body"], result["log"] = payload, log
        return result

    return execute


def needed() -> bool:
    """ministack's warm executor names every handler error Runtime.HandlerError (source probe)."""
    return seams.awslambda.warm_errors_are_generic()


def install() -> None:
    invocations.install_recorder()
    seams.awslambda.wrap_service_functions({"_execute_function_warm": _aws_errors})


EXTENSION = Extension(name="lambda_error_answers", needed=needed, install=install)
