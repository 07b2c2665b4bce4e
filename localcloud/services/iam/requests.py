"""Strict IAM for requests to the AWS APIs: ministack authenticates, ``localcloud.auth`` decides.

ministack's ``AUTH=true`` mode verifies the signatures of the keys it issued and maps each
request to its IAM action and resource; it treats an account-id access key as that
account's root without checking its signature, lets a root act on other accounts'
resources wherever a service does not check for itself, and evaluates neither bus
policies nor KMS key use (measured on 1.5.33; README "Strict IAM"). This extension makes
the root key's secret ``test`` and takes the decision: the same evaluation in-process work
gets (``localcloud.auth``).
"""

from __future__ import annotations

import logging

from localcloud import auth, seams
from localcloud.auth import principals
from localcloud.extension import Extension

logger = logging.getLogger("localcloud.iam")


def _caller(access_key_id: str) -> principals.Caller | None:
    identity = seams.iam.identity_of_key(access_key_id, seams.current_account())
    if identity is None:
        return None
    return principals.parse(identity.arn, identity.session_policies, identity.has_session_policies)


def decide(access_key_id, action, service, region, resource, service_context):
    """None when the authenticated request may go on; else the refusal for ministack to word."""
    if seams.authentication.always_allowed(action):
        return None
    if not access_key_id:
        if service != "s3":
            return None  # an operation AWS serves unsigned (ministack refused the others already)
        caller = principals.parse(principals.ANONYMOUS)
    else:
        caller = _caller(access_key_id)
        if caller is None:
            return seams.authentication.deny("", explicit=False, message="The security token included in the "
                                             "request is invalid.", code="InvalidClientTokenId", status=403)
    seams.set_acting(caller)
    if action == "events:PutEvents":
        return None  # AWS authorizes each entry on its own bus: the events handler asks per entry
    decision = auth.decide(caller, action, resource, dict(service_context))
    if decision.allowed:
        return None
    logger.info("denied: %s", decision.message)
    worded_by_ministack = not decision.implied and decision.reason in (
        f"because no identity-based policy allows the {action} action",
        "with an explicit deny in an identity-based policy",
        "with an explicit deny in a resource-based policy")
    return seams.authentication.deny(
        caller.arn, decision.explicit, resource if decision.in_resource_policy else "",
        message="" if worded_by_ministack else decision.message,
        code=decision.code if decision.implied else "", status=decision.status if decision.implied else 403)


def authorize_in_process(principal, service, method, path, headers, body, account, region):
    """Every in-process call (seams.call_json_api and friends) is evaluated for the principal
    it acts as, exactly as an API request; refused, it answers with the service's error."""
    for action, resource, context in seams.authentication.request_checks(service, method, path, headers, body,
                                                                         account, region):
        if action == "events:PutEvents":
            continue  # per entry, in the events handler
        decision = auth.authorize(auth.Request(principal, action, resource, context))
        if not decision.allowed:
            logger.info("denied: %s", decision.message)
            return seams.authentication.refusal(service, action, decision.principal, headers, decision.message,
                                                decision.code if decision.implied else "",
                                                decision.status if decision.implied else 0)
    return None


def needed() -> bool:
    return auth.enabled() and seams.authentication.enabled() and not seams.authentication.probe_root_signatures()


def install() -> None:
    seams.authentication.install(decide)
    seams.install_in_process_authorizer(authorize_in_process)
    seams.sqs.disable_queue_policy_check()


EXTENSION = Extension(name="strict_iam", needed=needed, install=install)
