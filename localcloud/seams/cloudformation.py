"""ministack's CloudFormation resource-handler table, and probes of its provisioners."""

from __future__ import annotations

from localcloud.seams.core import PROBE_ACCOUNT_A, PROBE_REGION, request_scope


def resource_handlers() -> dict[str, dict]:
    from ministack.services.cloudformation.provisioners import _RESOURCE_HANDLERS

    return _RESOURCE_HANDLERS


def physical_name(stack_name: str, logical_id: str, max_len: int) -> str:
    """The name CloudFormation generates for a resource whose template names none."""
    from ministack.services.cloudformation.provisioners import _physical_name

    return _physical_name(stack_name, logical_id, max_len=max_len)


def probe_secret_ref_is_arn() -> bool:
    """True when ministack's CloudFormation secret's physical id (its Ref) is the ARN."""
    handlers = resource_handlers()["AWS::SecretsManager::Secret"]
    with request_scope(PROBE_ACCOUNT_A, PROBE_REGION):
        physical_id, _attrs = handlers["create"]("Probe", {"Name": "localcloud-probe-secret",
                                                           "SecretString": "probe"}, "localcloud-probe")
        handlers["delete"](physical_id, {"Name": "localcloud-probe-secret"})
    return physical_id.startswith("arn:")
