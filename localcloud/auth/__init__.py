"""Who is calling, and may they: the one place services ask before acting.

Requests to the AWS APIs are evaluated here (ministack authenticates them; see
``localcloud/services/iam``), and so is in-process work that AWS performs with a role or
as a service: a pipe reading its source as its RoleArn, a rule delivering to a target, an
integration sending to a queue. Callers name the principal AWS would use and ask
``require`` (or ``authorize``) before each action:

    auth.require("arn:aws:iam::222222222222:role/PipeRole", "sqs:ReceiveMessage", queue_arn,
                 **{"aws:SourceArn": pipe_arn})

``LOCALCLOUD_IAM=off`` allows everything (a quick experiment); strict is the default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from localcloud.auth import evaluation, implied, principals, resources
from localcloud.auth.principals import Caller

_OFF_VALUES = ("off", "0", "false", "permissive")


def enabled() -> bool:
    """Strict IAM is on unless ``LOCALCLOUD_IAM=off``."""
    return os.environ.get("LOCALCLOUD_IAM", "strict").strip().lower() not in _OFF_VALUES


def mode() -> str:
    return "strict" if enabled() else "off"


class AccessDenied(Exception):
    """Raised by :func:`require`; ``code``, ``message`` and ``status`` are AWS's for the refusal."""

    def __init__(self, message: str, code: str = "AccessDeniedException", status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    code: str = "AccessDeniedException"
    message: str = ""
    status: int = 400
    principal: str = ""
    explicit: bool = False
    in_resource_policy: bool = False  # an explicit Deny in the resource's own policy decided
    implied: bool = False  # refused for what the action needs besides itself (a KMS key)


@dataclass(frozen=True)
class Request:
    principal: str  # ARN the work acts as: a role, an account root, an assumed-role session, a service
    action: str  # "sqs:ReceiveMessage"
    resource: str  # the resource ARN
    context: dict = field(default_factory=dict)  # condition keys: aws:SourceArn, kms:ViaService, …


_ALLOW = Decision(True)
# API operations IAM authorizes as another action: SQS's and SNS's batch calls need the
# single call's permission (there is no sqs:SendMessageBatch in IAM; SQS developer guide,
# "Amazon SQS API permissions"; SNS "PublishBatch ... requires sns:Publish").
AUTHORIZED_AS = {"sqs:sendmessagebatch": "sqs:SendMessage", "sqs:deletemessagebatch": "sqs:DeleteMessage",
                 "sqs:changemessagevisibilitybatch": "sqs:ChangeMessageVisibility", "sns:publishbatch": "sns:Publish"}


def _denial_message(caller: Caller, action: str, resource: str, reason: str) -> str:
    return f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource} {reason}"


def decide(caller: Caller, action: str, resource: str, context: dict) -> Decision:
    """The decision for a caller already resolved (the API request hook resolves access keys)."""
    if not enabled():
        return Decision(True, "IAM is not evaluated (LOCALCLOUD_IAM=off)")
    action = AUTHORIZED_AS.get(action.lower(), action)
    resource = resources.normalized(resource or "*")
    outcome = evaluation.decide(caller, action, resource, context)
    if not outcome.allowed:
        return Decision(False, outcome.reason, message=_denial_message(caller, action, resource or "*", outcome.reason),
                        principal=caller.arn, explicit=outcome.explicit, in_resource_policy=outcome.in_resource_policy)
    for need in implied.requirements(caller, action, resource or "", context):
        needed = evaluation.decide(need.caller, need.action, need.resource, need.context)
        if not needed.allowed:
            message = need.message or _denial_message(need.caller, need.action, need.resource, needed.reason)
            return Decision(False, needed.reason, code=need.code, message=message, status=need.status,
                            principal=caller.arn, explicit=needed.explicit, implied=True)
    return _ALLOW


def authorize(request: Request) -> Decision:
    """May ``request.principal`` perform ``request.action`` on ``request.resource``?"""
    return decide(principals.parse(request.principal), request.action, request.resource, request.context)


def require(principal: str, action: str, resource: str, **context) -> None:
    """Raise :class:`AccessDenied` with AWS's code and message unless the request is allowed."""
    decision = authorize(Request(principal, action, resource, context))
    if not decision.allowed:
        raise AccessDenied(decision.message, decision.code, decision.status)


def decide_for_acting(action: str, resource: str, **context) -> Decision:
    """The decision for whoever acts in the current call: the authenticated caller of an API
    request, or the principal of an in-process call (the scope account's root when none is set)."""
    from localcloud import seams

    acting = seams.acting()
    if isinstance(acting, Caller):
        return decide(acting, action, resource, context)
    principal = acting or f"arn:aws:iam::{seams.current_account()}:root"
    return authorize(Request(principal, action, resource, context))


def signed_caller(method: str, raw_path: str, query_string: str, raw_headers: list,
                  body: bytes) -> tuple[Caller | None, tuple[str, str] | None]:
    """Who signed a request our own data plane serves: (caller, None), or (None, (code, message))."""
    from localcloud import seams

    key, found = seams.authentication.verify_signature(method, raw_path, query_string, raw_headers, body)
    if key is None:
        return None, found
    identity = seams.iam.identity_of_key(key, found)
    if identity is None:
        return None, ("InvalidClientTokenId", "The security token included in the request is invalid.")
    return principals.parse(identity.arn, identity.session_policies, identity.has_session_policies), None


def acting_role(service: str, role_arn: str, **context) -> str:
    """The principal a service acts as when it assumes ``role_arn`` (its trust policy must let
    ``service``, e.g. ``events.amazonaws.com``, assume it); raises :class:`AccessDenied`."""
    require(service, "sts:AssumeRole", role_arn, **context)
    return role_arn
