"""ministack's request authentication (its ``AUTH=true`` mode), and the points where the
local cloud takes over the decision.

ministack verifies SigV4 signatures of the keys it issued (IAM access keys, STS
sessions: secret, session token, expiry), refuses unsigned requests where AWS needs
credentials, maps each request to an IAM action and resource, and shapes refusals in each
protocol. We change four things, each by wrapping the one function that does it:

* ``pin_signed_request``: a request signed with an account's root key (the access key id
  is the account id) is verified too, with the secret ``test``; an Authorization header
  that is no signature at all is refused (IncompleteSignature), not taken as the default
  account's root;
* ``pin_request_origin``: every request counts as secure transport (aws:SecureTransport);
* ``resolve_principal``: who the caller is, without ministack's policy gathering;
* ``enforce``: after ministack's authentication, the decision is the caller's function.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable
from dataclasses import dataclass

_AUTH_KEYS = ("AWS4-HMAC-SHA256",)


def _evaluator():
    from ministack.core import iam_evaluator

    return iam_evaluator


def enabled() -> bool:
    """Whether ministack runs with AUTH=true (read once, when ministack is imported)."""
    from ministack import app

    return bool(app.AUTH)


def always_allowed(action: str) -> bool:
    """Actions AWS never denies (sts:GetCallerIdentity)."""
    return action in _evaluator()._ALWAYS_ALLOWED_ACTIONS


def _header(raw_headers: list, name: bytes) -> str:
    from ministack.core.sigv4 import decode_header_value

    return decode_header_value(next((v for n, v in raw_headers if n.lower() == name), b""))


def _verify_root_signatures(original: Callable) -> Callable:
    def pin_signed_request(method, raw_path, query_params, raw_headers, handshake=False):
        original(method, raw_path, query_params, raw_headers, handshake)
        evaluator = _evaluator()
        if evaluator._signed_request.get() is not None:
            return
        authorization = _header(raw_headers, b"authorization")
        if not authorization or authorization.startswith(("AWS ", "AWS4-ECDSA")):
            return  # unsigned (ministack refuses it where AWS does), SigV2, SigV4a
        from ministack.core.router import extract_access_key_id

        key = extract_access_key_id({"authorization": authorization}) or ""
        if authorization.startswith(_AUTH_KEYS) and key and not evaluator.is_root_access_key(key):
            return  # an issued key: ministack pinned or refused it already
        headers: dict[str, str] = {}
        for name, value in raw_headers:
            from ministack.core.sigv4 import decode_header_value

            lowered, text = name.decode("latin-1").lower(), decode_header_value(value)
            headers[lowered] = f"{headers[lowered]},{text}" if lowered in headers else text
        # A root key's signature is checked with the root secret; anything else that is
        # not a SigV4 header names no parts and is refused as an incomplete signature.
        evaluator._signed_request.set(evaluator.SignedRequest(
            key, method, raw_path, query_params, headers, handshake=handshake))

    return pin_signed_request


def _secure_transport(original: Callable) -> Callable:
    def pin_request_origin(source_ip: str, secure_transport: bool) -> None:
        original(source_ip, True)

    return pin_request_origin


@dataclass(frozen=True)
class Denial:
    """What our decision says about a refused request, for the refusal's wording."""

    message: str
    code: str
    status: int


_pending_denial: contextvars.ContextVar[Denial | None] = contextvars.ContextVar("localcloud_denial", default=None)


def _principal_without_policies(original: Callable) -> Callable:
    def resolve_principal(access_key_id, account_id, credential=None):
        evaluator = _evaluator()
        if not credential:
            from ministack.core.responses import _account_from_sts_session

            account_id = _account_from_sts_session(access_key_id) or account_id
            credential = evaluator.resolve_credential(access_key_id, account_id)
        if isinstance(credential, evaluator.CredentialResolutionError):
            return evaluator.AuthError(credential.code, credential.message)
        return evaluator.PrincipalInfo(arn=credential.principal_arn, type=credential.principal_type,
                                       account=credential.account_id, policies=None)

    return resolve_principal


def _worded_denials(original: Callable) -> Callable:
    def access_denied_response(service, action, principal_arn, request_id, **kwargs):
        denial = _pending_denial.get()
        if denial is None or kwargs.get("error_code"):
            return original(service, action, principal_arn, request_id, **kwargs)
        _pending_denial.set(None)
        if denial.message:
            kwargs.update(message=denial.message, error_code=denial.code)
        status, headers, body = original(service, action, principal_arn, request_id, **kwargs)
        return (denial.status if denial.message else status), headers, body

    return access_denied_response


def deny(principal_arn: str, explicit: bool, resource_policy_arn: str = "", message: str = "",
         code: str = "", status: int = 403):
    """What ``enforce`` returns for a refusal; ``message`` rewords it (else ministack's wording)."""
    evaluator = _evaluator()
    _pending_denial.set(Denial(message, code, status))
    return evaluator.EvalResult("Deny" if explicit else "ImplicitDeny", principal_arn,
                                resource_policy_arn=resource_policy_arn)


def _json_field(body: bytes, name: str) -> str:
    try:
        import json

        value = json.loads(body or b"{}").get(name)
    except (ValueError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""


def _resources_across_accounts(original: Callable) -> Callable:
    """ministack names a request's resource in the caller's account; where the request
    names it otherwise (a log group or archive ARN, a ciphertext's key), the owner's."""
    def extract_resource_arn(service, method, path, headers, body, routing_params, region, account_id):
        try:
            found = original(service, method, path, headers, body, routing_params, region, account_id)
        except (AttributeError, TypeError, ValueError, KeyError):
            # A body whose members have the wrong types names no resource; AWS refuses it as a
            # SerializationException, which the handler answers. Evaluated on "*" meanwhile:
            # only a caller allowed the action on every resource gets that far.
            found = "*"
        target = headers.get("x-amz-target", "").rsplit(".", 1)[-1]
        if service == "logs":
            identifier = _json_field(body, "logGroupIdentifier")
            if identifier.startswith("arn:"):
                found = identifier.removesuffix(":*")
            elif identifier:
                found = f"arn:aws:logs:{region}:{account_id}:log-group:{identifier}"
            stream = _json_field(body, "logStreamName")
            if stream and ":log-group:" in found and found.count(":") == 6:
                found += f":log-stream:{stream}"
        elif found == "*" and service in ("dynamodbstreams", "kinesis"):
            # a stream read names its stream, or only a shard iterator of it
            from localcloud.seams import dynamodb, kinesis

            found = _json_field(body, "StreamArn") or _json_field(body, "StreamARN")
            iterator = _json_field(body, "ShardIterator")
            if not found and iterator:
                found = (dynamodb if service == "dynamodbstreams" else kinesis).stream_of_iterator(iterator)
            found = found or "*"
        elif service == "events" and target == "StartReplay":
            found = _json_field(body, "EventSourceArn") or found
        elif service == "kms" and found.startswith("arn:aws:kms:") and ":key/" in found:
            from localcloud.seams import kms

            with_key = kms.key_arn(found, found.split(":")[4], region)
            found = with_key or kms.key_arn_by_id(found.rsplit("/", 1)[-1]) or found
        return found

    return extract_resource_arn


def install(decide: Callable) -> None:
    """``decide(access_key_id, action, service, region, resource, service_context)`` runs after
    ministack authenticated the request and returns None (allowed) or :func:`deny`'s result."""
    from ministack import app
    from ministack.core import iam_actions

    evaluator = _evaluator()
    app.pin_signed_request = _verify_root_signatures(app.pin_signed_request)
    app.pin_request_origin = _secure_transport(app.pin_request_origin)
    evaluator.resolve_principal = _principal_without_policies(evaluator.resolve_principal)
    iam_actions.access_denied_response = _worded_denials(iam_actions.access_denied_response)
    iam_actions.extract_resource_arn = _resources_across_accounts(iam_actions.extract_resource_arn)
    authenticate_then = evaluator.enforce

    def enforce(access_key_id, iam_action, service, region, resource_arn="*", service_context=None):
        failure = authenticate_then(access_key_id, iam_action, service, region, resource_arn=resource_arn,
                                    service_context=service_context)
        if failure is not None:
            return failure
        return decide(access_key_id, iam_action, service, region, resource_arn, service_context or {})

    evaluator.enforce = enforce


def probe_root_signatures() -> bool:
    """Probe: does ministack check the signature of a request signed with a root key?"""
    from ministack import app

    evaluator = _evaluator()
    header = (b"authorization", b"AWS4-HMAC-SHA256 Credential=000000000901/20260101/us-east-1/sqs/aws4_request, "
                                b"SignedHeaders=host, Signature=0")
    token = evaluator._signed_request.set(None)
    try:
        app.pin_signed_request("POST", "/", {}, [header, (b"host", b"localhost")])
        return evaluator._signed_request.get() is not None
    finally:
        evaluator._signed_request.reset(token)


def verify_signature(method: str, raw_path: str, query_string: str, raw_headers: list,
                     body: bytes) -> tuple[str, str] | tuple[None, tuple[str, str]]:
    """Check a request's SigV4 signature the way an AWS API request is checked (a request
    our own data plane serves, e.g. an HTTP API route with AWS_IAM authorization).
    Returns (access key id, account) when it holds, else (None, (code, message))."""
    from urllib.parse import parse_qs

    from ministack import app
    from ministack.core.router import extract_access_key_id

    evaluator = _evaluator()
    query = parse_qs(query_string, keep_blank_values=True)
    app.pin_signed_request(method, raw_path, query, raw_headers)
    evaluator.pin_signed_body(body)
    if evaluator._signed_request.get() is None:
        return None, ("MissingAuthenticationToken", "Missing Authentication Token")
    key = extract_access_key_id({"authorization": _header(raw_headers, b"authorization")}, query) or ""
    account = account_of_key(key)
    from localcloud.seams.core import request_scope

    with request_scope(account, "us-east-1"):
        checked = evaluator.authenticate(key, account)
    evaluator._signed_request.set(None)
    if isinstance(checked, evaluator.AuthError):
        return None, (checked.code, checked.message)
    return key, account


def account_of_key(access_key_id: str) -> str:
    """The account an access key belongs to (a root key is its account id)."""
    from ministack.core.responses import _account_from_sts_session

    evaluator = _evaluator()
    if re.fullmatch(r"\d{12}", access_key_id or ""):
        return access_key_id
    return (_account_from_sts_session(access_key_id) or evaluator.find_iam_access_key_account(access_key_id)
            or "000000000000")


def request_checks(service: str, method: str, path: str, headers: dict, body: bytes, account: str,
                   region: str) -> list[tuple[str, str, dict]]:
    """(IAM action, resource ARN, condition keys) an API request is authorized for, as
    ministack maps it (a DynamoDB call naming several tables is one check per table)."""
    from ministack.core import iam_actions

    from ministack import app

    params = app._routing_params(method, path, headers, body, {})  # a query-protocol body's fields
    action = iam_actions.extract_iam_action(service, method, path, headers, body, params)
    if not action:
        return []
    resource = iam_actions.extract_resource_arn(service, method, path, headers, body, params, region, account)
    if service == "dynamodb":
        context = iam_actions.dynamodb_service_context(body)
        arns = iam_actions.dynamodb_resource_arns(body, region, account) or [resource]
        return [(action, arn, context) for arn in arns]
    return [(action, resource or "*", {})]


def refusal(service: str, action: str, principal_arn: str, headers: dict, message: str, code: str,
            status: int) -> tuple[int, dict, bytes]:
    """A refusal worded and shaped as the service answers it (its protocol's error shape)."""
    from ministack.core import iam_actions

    from localcloud.seams.core import new_id

    _pending_denial.set(None)
    found_status, response_headers, body = iam_actions.access_denied_response(
        service, action, principal_arn, new_id(), error_code=code, message=message, headers=headers)
    return status or found_status, response_headers, body
