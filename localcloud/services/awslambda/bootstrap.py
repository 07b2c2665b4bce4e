# The local cloud's Python Lambda runtime: one execution environment per process.
#
# It speaks the warm-worker protocol of the local cloud's Lambda service on stdin/stdout (an
# init line, then one line per invocation; one JSON answer line each) and behaves as AWS's
# Python runtimes do where a function can tell:
#   * the root logger has AWS's handler: "[LEVEL]\t<time>Z\t<requestId>\t<message>\n", one
#     log record per call (multi-line messages stay one record); print() output is one event
#     per line, as AWS captures stdout;
#   * a handler error answers {errorMessage, errorType, requestId, stackTrace} and logs
#     "[ERROR] <type>: <message>" with the traceback as one record;
#   * the local cloud's public names (*.localhost.localstack.cloud) resolve offline.
import importlib
import json
import logging
import os
import site
import socket
import sys
import time
import traceback

CONFIG = json.loads(r'''__LOCALCLOUD_CONFIG__''')

# --- output channels: fd 1 carries the protocol, everything else the function writes goes
# to stderr, which the local cloud captures as the function's log.
_protocol = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr


def answer(message):
    _protocol.write(json.dumps(message) + "\n")
    _protocol.flush()


def log_record(message):
    sys.stderr.write(CONFIG["recordMarker"] + json.dumps({"t": int(time.time() * 1000), "m": message}) + "\n")
    sys.stderr.flush()


# --- the local cloud's public names resolve without public DNS
_resolve = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if isinstance(name, str) and any(name == n or name.endswith("." + n) for n in CONFIG["gatewayHostnames"]):
        host = "127.0.0.1"
    return _resolve(host, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo

# --- logging, as AWS's runtime sets it up
_request_id = ""


class _RequestId(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _request_id
        return True


class _RecordHandler(logging.Handler):
    def emit(self, record):
        try:
            log_record(self.format(record))
        except Exception:
            self.handleError(record)


_formatter = logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
                               "%Y-%m-%dT%H:%M:%S")
_formatter.converter = time.gmtime
_handler = _RecordHandler()
_handler.setFormatter(_formatter)
_handler.addFilter(_RequestId())
logging.getLogger().addHandler(_handler)
if os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper() in logging._nameToLevel:
    logging.getLogger().setLevel(os.environ["AWS_LAMBDA_LOG_LEVEL"].upper())


# --- errors, as AWS's runtime reports them
def _error(error_type, message, frames):
    """(answer, log message) for an error: AWS's payload, and its "[ERROR]" record."""
    payload = {"errorMessage": message, "errorType": error_type, "requestId": _request_id, "stackTrace": frames}
    lines = [f"[ERROR] {error_type}: {message}" if message else f"[ERROR] {error_type}"]
    if frames is not None:
        lines.append("Traceback (most recent call last):")
        for frame in frames:
            for line in frame.splitlines():
                stripped = line.lstrip(" ")
                lines.append("\u00a0" * (len(line) - len(stripped)) + stripped)
    return payload, "\n".join(lines)


def _report(error_type, message, frames):
    """The answer to an invocation whose handler failed. The environment lives on, as on
    AWS: the answer is an "ok" one (a worker that answers "error" is replaced) carrying the
    error payload, which the local cloud returns as the function's error."""
    payload, record = _error(error_type, message, frames)
    log_record(record)
    return {"status": "ok", "result": None, "aws_error": payload}


def _handler_frames(tb):
    """The traceback's frames from the function's code on (the runtime's own are left out)."""
    frames = traceback.extract_tb(tb)
    while frames and frames[0].filename == __file__:
        frames.pop(0)
    return traceback.format_list([(f.filename, f.lineno, f.name, f.line) for f in frames])


# --- the depth of recursive invocations travels on every SDK call, as ministack's own does
def _count_depth():
    try:
        import botocore.handlers
    except ImportError:
        return

    def add_depth(params, **_kwargs):
        depth = os.environ.get(CONFIG["depthEnv"])
        if depth and CONFIG["depthHeader"] not in params["headers"]:
            params["headers"][CONFIG["depthHeader"]] = depth

    botocore.handlers.BUILTIN_HANDLERS.append(("before-call", add_depth))


def _add_layers():
    for layer in filter(None, os.environ.get("_LAMBDA_LAYERS_DIRS", "").split(os.pathsep)):
        python = os.path.join(layer, "python")
        if os.path.isdir(python):
            sys.path.insert(0, python)
            lib = os.path.join(python, "lib")
            for version in os.listdir(lib) if os.path.isdir(lib) else []:
                packages = os.path.join(lib, version, "site-packages")
                if os.path.isdir(packages):
                    site.addsitedir(packages)
        sys.path.insert(0, layer)


def _load_handler(init):
    module_name, handler_name = init["module"], init["handler"]
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as error:
        raise _Fault("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}", [])
    except SyntaxError as error:
        raise _Fault("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {error}",
                     [f'  File "{error.filename}" Line {error.lineno}\n    {error.text}'])
    handler = getattr(module, handler_name, None)
    if handler is None:
        raise _Fault("Runtime.HandlerNotFound", f"Handler '{handler_name}' missing on module '{module_name}'", None)
    return handler


class _Fault(Exception):
    def __init__(self, error_type, message, frames):
        super().__init__(message)
        self.error_type, self.message, self.frames = error_type, message, frames


class _Context:
    def __init__(self, init, ctx):
        self.function_name = init.get("function_name", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = ctx.get("invoked_function_arn") or init.get("arn", "")
        self.memory_limit_in_mb = init.get("memory", 128)
        self.aws_request_id = ctx.get("request_id", "")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = time.time() + float(ctx.get("timeout_ms") or 3000) / 1000

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.time()) * 1000))


def _set_per_invocation_environment(ctx):
    for name, value in (("_X_AMZN_TRACE_ID", ctx.get("trace_id")), (CONFIG["depthEnv"], ctx.get("depth"))):
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = str(value)
    durable = ctx.get("durable") or {}
    for name in CONFIG["durableEnv"]:
        if name in durable:
            os.environ[name] = str(durable[name])
        else:
            os.environ.pop(name, None)


def main():
    global _request_id
    init = json.loads(sys.stdin.readline())
    os.environ.update(init.get("env") or {})
    os.environ.setdefault("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/" + init.get("function_name", ""))
    os.environ.setdefault("AWS_EXECUTION_ENV", "AWS_Lambda_" + CONFIG["runtime"])
    sys.path.insert(0, init["code_dir"])
    _add_layers()
    _count_depth()
    try:
        handler = _load_handler(init)
    except _Fault as fault:
        log_record(_error(fault.error_type, fault.message, fault.frames)[1])
        answer({"status": "error", "error": f"{fault.error_type}: {fault.message}"})
        return
    except Exception as error:
        log_record(_error(type(error).__name__, str(error), _handler_frames(error.__traceback__))[1])
        answer({"status": "error", "error": f"{type(error).__name__}: {error}"})
        return
    answer({"status": "ready", "cold": True})
    for line in sys.stdin:
        message = json.loads(line)
        ctx = message.get("ctx") or {}
        _request_id = ctx.get("request_id", "")
        _set_per_invocation_environment(ctx)
        try:
            result = handler(message.get("event"), _Context(init, ctx))
        except Exception as error:
            answer(_report(type(error).__name__, str(error), _handler_frames(error.__traceback__)))
            continue
        try:
            answer({"status": "ok", "result": result})
        except (TypeError, ValueError) as error:
            answer(_report("Runtime.MarshalError", f"Unable to marshal response: {error}", None))


if __name__ == "__main__":
    main()
