"""The policy evaluation logic on its own: identity and resource policies, explicit deny,
cross-account, KMS key policies and grants, service principals, boundaries, conditions.

Cases follow the IAM User Guide's evaluation logic
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html,
…/reference_policies_evaluation-logic-cross-account.html) and KMS's
(https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html).
The IAM store and resource policies are supplied by the test, not by a local cloud.
"""

from __future__ import annotations

import json

import pytest

from localcloud import auth
from localcloud.auth import evaluation
from localcloud.auth.policy import compile_policy
from localcloud.auth import principals
from localcloud.auth.principals import IdentityPolicies
from localcloud.auth.resources import ResourcePolicy

PAYMENTS, LEDGER = "222222222222", "333333333333"
QUEUE = f"arn:aws:sqs:us-east-1:{PAYMENTS}:ingress"
KEY = f"arn:aws:kms:us-east-1:{PAYMENTS}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = f"arn:aws:iam::{PAYMENTS}:role/Recorder"
SESSION = f"arn:aws:sts::{PAYMENTS}:assumed-role/Recorder/fn"


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra):
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture
def world(monkeypatch):
    """Roles' identity policies and resources' policies, as the test sets them."""
    state = {"roles": {}, "boundaries": {}, "resources": {}}

    def identity(caller):
        if caller.kind == "root":
            return None
        documents = state["roles"].get((caller.account, caller.name), [])
        boundary = state["boundaries"].get((caller.account, caller.name))
        session = tuple(compile_policy(d) for d in caller.session_documents)
        return IdentityPolicies(
            tuple(s for d in documents for s in compile_policy(d)),
            None if boundary is None else compile_policy(boundary),
            tuple(s for part in session for s in part) if caller.has_session_policies else None,
        )

    def resource_policy(action, resource):
        found = state["resources"].get(resource)
        if found is None:
            return None
        document, kind, grants = found
        return ResourcePolicy(compile_policy(document), required=kind in ("kms", "trust"), grants=grants, kind=kind)

    monkeypatch.setattr(evaluation, "identity_policies", identity)
    monkeypatch.setattr(evaluation, "resource_policy", resource_policy)
    monkeypatch.setattr(evaluation, "owner_account", lambda resource: resource.split(":")[4] if resource.count(":") >= 5 else "")
    monkeypatch.setattr(auth.implied, "requirements", lambda *args: [])
    monkeypatch.setenv("LOCALCLOUD_IAM", "strict")
    return state


def decide(principal, action, resource, **context):
    return auth.authorize(auth.Request(principal, action, resource, context))


def test_identity_policy_allows_and_nothing_else_does(world):
    world["roles"][(PAYMENTS, "Recorder")] = [doc(allow("sqs:SendMessage", QUEUE))]
    assert decide(SESSION, "sqs:SendMessage", QUEUE).allowed
    denied = decide(SESSION, "sqs:ReceiveMessage", QUEUE)
    assert not denied.allowed
    assert denied.message == (f"User: {SESSION} is not authorized to perform: sqs:ReceiveMessage on resource: {QUEUE} "
                              "because no identity-based policy allows the sqs:ReceiveMessage action")


def test_wildcards_in_actions_are_case_insensitive_and_resources_are_not(world):
    world["roles"][(PAYMENTS, "Recorder")] = [doc(allow("SQS:send*", f"arn:aws:sqs:us-east-1:{PAYMENTS}:ingr?ss"))]
    assert decide(ROLE, "sqs:SendMessage", QUEUE).allowed
    assert not decide(ROLE, "sqs:SendMessage", QUEUE.replace("ingress", "Ingress")).allowed


def test_explicit_deny_wins_over_any_allow(world):
    world["roles"][(PAYMENTS, "Recorder")] = [doc(allow("sqs:*")), doc(deny("sqs:SendMessage", QUEUE))]
    decision = decide(SESSION, "sqs:SendMessage", QUEUE)
    assert not decision.allowed and decision.explicit
    assert decision.reason == "with an explicit deny in an identity-based policy"


def test_queue_policy_deny_of_non_tls_requests(world):
    """The stacks' queues deny sqs:* when aws:SecureTransport is false. A request to the
    local cloud counts as secure transport (an SDK call on AWS is HTTPS); the statement
    still refuses a request whose context says otherwise."""
    world["roles"][(PAYMENTS, "Recorder")] = [doc(allow("sqs:SendMessage", QUEUE))]
    world["resources"][QUEUE] = (doc(deny("sqs:*", QUEUE, Principal={"AWS": "*"},
                                          Condition={"Bool": {"aws:SecureTransport": "false"}})), "sqs", ())
    assert decide(SESSION, "sqs:SendMessage", QUEUE).allowed
    refused = decide(SESSION, "sqs:SendMessage", QUEUE, **{"aws:SecureTransport": "false"})
    assert not refused.allowed and refused.in_resource_policy
    assert refused.reason == "with an explicit deny in a resource-based policy"


def test_another_accounts_root_needs_the_resource_policy(world):
    world["resources"][QUEUE] = (doc(), "sqs", ())
    refused = decide(f"arn:aws:iam::{LEDGER}:root", "sqs:ReceiveMessage", QUEUE)
    assert not refused.allowed
    assert refused.reason == "because no resource-based policy allows the sqs:ReceiveMessage action"
    assert decide(f"arn:aws:iam::{PAYMENTS}:root", "sqs:ReceiveMessage", QUEUE).allowed
    world["resources"][QUEUE] = (doc(allow("sqs:ReceiveMessage", QUEUE, Principal={"AWS": LEDGER})), "sqs", ())
    assert decide(f"arn:aws:iam::{LEDGER}:root", "sqs:ReceiveMessage", QUEUE).allowed


def test_cross_account_needs_both_sides(world):
    ledger_role = f"arn:aws:iam::{LEDGER}:role/Reader"
    world["resources"][QUEUE] = (doc(allow("sqs:ReceiveMessage", QUEUE, Principal={"AWS": ledger_role})), "sqs", ())
    assert not decide(ledger_role, "sqs:ReceiveMessage", QUEUE).allowed  # no identity policy in ledger
    world["roles"][(LEDGER, "Reader")] = [doc(allow("sqs:*"))]
    assert decide(ledger_role, "sqs:ReceiveMessage", QUEUE).allowed
    world["resources"][QUEUE] = (doc(), "sqs", ())
    assert not decide(ledger_role, "sqs:ReceiveMessage", QUEUE).allowed  # identity alone is not enough


def test_same_account_resource_policy_naming_the_role_suffices(world):
    world["resources"][QUEUE] = (doc(allow("sqs:SendMessage", QUEUE, Principal={"AWS": ROLE})), "sqs", ())
    assert decide(SESSION, "sqs:SendMessage", QUEUE).allowed
    # naming only the account delegates to identity policies
    world["resources"][QUEUE] = (doc(allow("sqs:SendMessage", QUEUE, Principal={"AWS": PAYMENTS})), "sqs", ())
    assert not decide(SESSION, "sqs:SendMessage", QUEUE).allowed


def test_kms_key_policy_must_allow_even_the_owner(world):
    world["roles"][(PAYMENTS, "Recorder")] = [doc(allow("kms:Decrypt", KEY))]
    world["resources"][KEY] = (doc(allow("kms:*", Principal={"AWS": f"arn:aws:iam::{PAYMENTS}:root"})), "kms", ())
    assert decide(SESSION, "kms:Decrypt", KEY).allowed
    assert decide(f"arn:aws:iam::{PAYMENTS}:root", "kms:Decrypt", KEY).allowed
    world["resources"][KEY] = (doc(allow("kms:*", Principal={"AWS": f"arn:aws:iam::{PAYMENTS}:role/Other"})), "kms", ())
    assert not decide(SESSION, "kms:Decrypt", KEY).allowed
    assert not decide(f"arn:aws:iam::{PAYMENTS}:root", "kms:Decrypt", KEY).allowed


def test_kms_grant_allows_its_operations_to_its_grantee(world):
    world["resources"][KEY] = (doc(), "kms", ({"GranteePrincipal": ROLE, "Operations": ["Decrypt"]},))
    assert decide(SESSION, "kms:Decrypt", KEY).allowed
    assert not decide(SESSION, "kms:Encrypt", KEY).allowed


def test_service_principal_needs_the_resource_policy_and_its_conditions(world):
    rule = f"arn:aws:events:us-east-1:{PAYMENTS}:rule/bus/TransactionReceived"
    world["resources"][QUEUE] = (doc(allow("sqs:SendMessage", QUEUE, Principal={"Service": "events.amazonaws.com"},
                                           Condition={"ArnEquals": {"aws:SourceArn": rule}})), "sqs", ())
    assert decide("events.amazonaws.com", "sqs:SendMessage", QUEUE, **{"aws:SourceArn": rule}).allowed
    assert not decide("events.amazonaws.com", "sqs:SendMessage", QUEUE, **{"aws:SourceArn": rule + "x"}).allowed
    assert not decide("pipes.amazonaws.com", "sqs:SendMessage", QUEUE, **{"aws:SourceArn": rule}).allowed
    # and an account's root is not a service: a Service principal never lets it in
    world["resources"][ROLE] = (doc(allow("sts:AssumeRole", Principal={"Service": "lambda.amazonaws.com"})), "trust", ())
    assert not decide(f"arn:aws:iam::{LEDGER}:root", "sts:AssumeRole", ROLE).allowed
    assert not decide(f"arn:aws:iam::{PAYMENTS}:root", "sts:AssumeRole", ROLE).allowed
    assert decide("lambda.amazonaws.com", "sts:AssumeRole", ROLE).allowed


def test_trust_policy_naming_another_account(world):
    deploy_role = f"arn:aws:iam::{PAYMENTS}:role/cdk-deploy"
    world["resources"][deploy_role] = (doc(allow("sts:AssumeRole", Principal={"AWS": "444444444444"},
                                                 Condition={"Null": {"sts:ExternalId": "true"}})), "trust", ())
    assert decide("arn:aws:iam::444444444444:root", "sts:AssumeRole", deploy_role).allowed
    assert not decide("arn:aws:iam::444444444444:root", "sts:AssumeRole", deploy_role, **{"sts:ExternalId": "x"}).allowed
    assert not decide(f"arn:aws:iam::{LEDGER}:root", "sts:AssumeRole", deploy_role).allowed


def test_permissions_boundary_and_session_policy_narrow_the_identity_policy(world):
    world["roles"][(PAYMENTS, "Recorder")] = [doc(allow("sqs:*"))]
    world["boundaries"][(PAYMENTS, "Recorder")] = doc(allow("sqs:SendMessage"))
    assert decide(SESSION, "sqs:SendMessage", QUEUE).allowed
    refused = decide(SESSION, "sqs:DeleteMessage", QUEUE)
    assert refused.reason == "because no permissions boundary allows the sqs:DeleteMessage action"
    narrowed = principals.parse(SESSION, (doc(allow("sqs:ReceiveMessage")),), True)
    assert not auth.decide(narrowed, "sqs:SendMessage", QUEUE, {}).allowed


@pytest.mark.parametrize(("operator", "expected", "actual", "holds"), [
    ("StringEquals", "a", "a", True),
    ("StringEquals", "a", None, False),
    ("StringNotEquals", "a", None, True),  # a negated operator holds when the key is absent
    ("StringLike", "arn:aws:events:*:222222222222:rule/*", "arn:aws:events:us-east-1:222222222222:rule/x", True),
    ("ArnLike", "arn:aws:events:*:*:rule/*", "arn:aws:sqs:us-east-1:222222222222:q", False),
    ("ArnNotLike", "arn:aws:events:*:*:rule/*", None, True),
    ("StringEqualsIfExists", "a", None, True),
    ("Null", "true", None, True),
    ("Null", "false", None, False),
    ("Bool", "true", "true", True),
    ("NumericLessThan", "10", "9", True),
    ("ForAnyValue:StringEquals", ["x", "y"], ["y", "z"], True),
    ("ForAllValues:StringEquals", ["x", "y"], ["y", "z"], False),
    ("ForAllValues:StringEquals", ["x"], None, True),
])
def test_condition_operators(world, operator, expected, actual, holds):
    world["roles"][(PAYMENTS, "Recorder")] = [doc(allow("sqs:SendMessage", Condition={operator: {"test:Key": expected}}))]
    context = {} if actual is None else {"test:Key": actual}
    assert decide(SESSION, "sqs:SendMessage", QUEUE, **context).allowed is holds


def test_policy_variables_in_resources(world):
    user = f"arn:aws:iam::{PAYMENTS}:user/ada"
    world["roles"][(PAYMENTS, "ada")] = [doc(allow("s3:GetObject", "arn:aws:s3:::home/${aws:username}/*"))]
    assert decide(user, "s3:GetObject", "arn:aws:s3:::home/ada/notes").allowed
    assert not decide(user, "s3:GetObject", "arn:aws:s3:::home/bob/notes").allowed


def test_off_switch_allows_everything(world, monkeypatch):
    monkeypatch.setenv("LOCALCLOUD_IAM", "off")
    assert decide(f"arn:aws:iam::{LEDGER}:root", "sqs:ReceiveMessage", QUEUE).allowed
    assert auth.mode() == "off"


def test_batch_calls_need_the_single_calls_permission(world):
    """IAM has no sqs:SendMessageBatch: SendMessageBatch is authorized as sqs:SendMessage
    (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html)."""
    world["roles"][(PAYMENTS, "Recorder")] = [doc(allow("sqs:SendMessage", QUEUE))]
    assert decide(SESSION, "sqs:SendMessageBatch", QUEUE).allowed
    assert not decide(SESSION, "sqs:DeleteMessageBatch", QUEUE).allowed
