"""Who is calling, and may they: the one place services ask before acting.

In-process work that AWS performs with a role (a pipe reading its source, a rule
delivering to a target, an integration sending to a queue) names the principal it acts
as, and asks ``authorize`` before each action, exactly as an external caller's request
is evaluated.

Today every decision allows: IAM is not evaluated yet (issue 7 builds the evaluation
here). Callers already pass the principal, action, resource and context AWS would use,
so enforcement lands in this module alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class AccessDenied(Exception):
    """Raised by :func:`require`; ``code`` and ``message`` are AWS's for the refusal."""

    def __init__(self, message: str, code: str = "AccessDeniedException") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


@dataclass(frozen=True)
class Request:
    principal: str  # ARN the work acts as: a role, an account root, an assumed-role session
    action: str  # "sqs:ReceiveMessage"
    resource: str  # the resource ARN
    context: dict = field(default_factory=dict)  # condition keys: aws:SourceArn, kms:ViaService, …


def authorize(request: Request) -> Decision:
    """May ``request.principal`` perform ``request.action`` on ``request.resource``?"""
    return Decision(True, "IAM is not evaluated")


def require(principal: str, action: str, resource: str, **context) -> None:
    """Raise :class:`AccessDenied` with AWS's message unless the request is allowed."""
    decision = authorize(Request(principal, action, resource, context))
    if not decision.allowed:
        raise AccessDenied(f"User: {principal} is not authorized to perform: {action} on resource: {resource}"
                           + (f" because {decision.reason}" if decision.reason else ""))
