"""Does a JSON request body fit its operation's input shape, as AWS deserializes it?

AWS's JSON services deserialize a body against the operation's model before any code of
the service runs, and a member of the wrong type is 400 SerializationException with the
deserializer's words ("class java.lang.String can not be converted to an Integer",
"Start of list found where not expected", "Expected list or null", as recorded from
DynamoDB in mhart/dynalite's tests). ministack reads bodies with ``dict.get`` and fails
with a Python error instead. The gateway asks this module only when a handler failed, so
the models (botocore's, already installed) are loaded only then.
"""

from __future__ import annotations

import re
from functools import lru_cache

_MODEL_NAMES = {"states": "stepfunctions", "monitoring": "cloudwatch", "elasticloadbalancing": "elbv2"}
_NUMBER_TYPES = {"integer": "Integer", "long": "Long", "short": "Short", "double": "Double", "float": "Float"}


@lru_cache(maxsize=1)
def _session():
    import botocore.session

    return botocore.session.get_session()


@lru_cache(maxsize=32)
def _model(name: str):
    try:
        return _session().get_service_model(name)
    except Exception:  # a service botocore does not know: nothing to check against
        return None


def _model_name(service: str, path: str) -> str:
    if service == "apigateway" and path.startswith("/v2/"):
        return "apigatewayv2"
    return _MODEL_NAMES.get(service, service)


def _uri_pattern(request_uri: str) -> re.Pattern:
    path = request_uri.split("?", 1)[0]
    pattern = re.sub(r"\\\{[^}]+?\\\+\\\}", ".+", re.escape(path))
    return re.compile("^" + re.sub(r"\\\{[^}]+?\\\}", "[^/]+", pattern) + "$")


def operation_input(service: str, method: str, path: str, headers: dict):
    """The input shape of the operation a request calls (body members only), or None."""
    model = _model(_model_name(service, path))
    if model is None:
        return None
    target = headers.get("x-amz-target", "")
    if target:
        name = target.rsplit(".", 1)[-1]
        return model.operation_model(name).input_shape if name in model.operation_names else None
    for name in model.operation_names:
        operation = model.operation_model(name)
        http = operation.http
        if http.get("method") == method and _uri_pattern(http.get("requestUri", "/")).match(path):
            shape = operation.input_shape
            payload = shape.serialization.get("payload") if shape is not None else None
            return shape.members[payload] if payload else shape
    return None


def _number_class(value) -> str:
    if isinstance(value, float) and not value.is_integer():
        return "java.lang.Double"
    return "java.lang.Integer" if -2**31 <= value < 2**31 else "java.lang.Long"


def _start_of(value) -> str:
    return ("Start of list found where not expected" if isinstance(value, list)
            else "Start of structure or map found where not expected.")


def type_error(shape, value, top: bool = True) -> str | None:
    """The deserializer's message for the first value of the wrong type, else None."""
    if value is None:
        return None
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return "Start of list found where not expected" if isinstance(value, list) else "Expected null"
        for name, member in shape.members.items():
            if top and member.serialization.get("location"):
                continue  # carried in the URI, a header or the query string, not the body
            found = type_error(member, value.get(name), top=False)
            if found:
                return found
        return None
    if kind in ("list", "map"):
        expected = list if kind == "list" else dict
        if not isinstance(value, expected):
            return _start_of(value) if isinstance(value, (list, dict)) else f"Expected {kind} or null"
        items = value if kind == "list" else value.values()
        inner = shape.member if kind == "list" else shape.value
        return next((found for item in items if (found := type_error(inner, item, top=False))), None)
    if isinstance(value, (list, dict)):
        return _start_of(value) if kind != "document" else None
    if kind in ("string", "blob"):
        article = "an String" if kind == "string" else "a Blob"
        if isinstance(value, bool):
            return f"class java.lang.Boolean can not be converted to {article}"
        if isinstance(value, (int, float)):
            return f"class {_number_class(value)} can not be converted to {article}"
    elif kind in _NUMBER_TYPES:
        if isinstance(value, bool):
            return f"class java.lang.Boolean can not be converted to an {_NUMBER_TYPES[kind]}"
        if isinstance(value, str):
            return f"class java.lang.String can not be converted to an {_NUMBER_TYPES[kind]}"
    elif kind == "boolean":
        if isinstance(value, str) and value.lower() not in ("true", "false"):
            return f"'{value.upper()}' can not be converted to an Boolean"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"class {_number_class(value)} can not be converted to an Boolean"
    return None


def body_type_error(service: str, method: str, path: str, headers: dict, document) -> str | None:
    shape = operation_input(service, method, path, headers)
    return type_error(shape, document) if shape is not None else None
