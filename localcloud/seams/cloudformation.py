"""ministack's CloudFormation resource-handler table, probes of its provisioners, and the
callbacks (custom-resource ResponseURLs, wait-condition handles) it hands out."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlparse

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
    return probe_resource("AWS::SecretsManager::Secret", {"Name": "localcloud-probe-secret", "SecretString": "probe"},
                          lambda physical_id: physical_id.startswith("arn:"))


# --- custom resources: the ResponseURL callback ---------------------------------------

def _custom_resource_modules():
    from ministack.services.cloudformation import custom_resource, wait_conditions

    return custom_resource, wait_conditions


def callback_base_url() -> str:
    """The base of the URLs ministack hands to custom-resource handlers (ResponseURL) and
    wait-condition handles."""
    custom_resource, _ = _custom_resource_modules()
    return custom_resource._gateway_url()


def replace_callback_base_url(base_url: Callable[[], str]) -> None:
    """Both modules build their callback URLs from ``_gateway_url()``, looked up by name."""
    for module in _custom_resource_modules():
        module._gateway_url = base_url


def wrap_callback_registration(make_wrapper: Callable[[Callable], Callable]) -> None:
    """``register_token(token)`` returns what a custom resource waits on for its answer
    (anything with ``wait(timeout)``); it is looked up by name when a handler is invoked."""
    custom_resource, _ = _custom_resource_modules()
    custom_resource.register_token = make_wrapper(custom_resource.register_token)


def answer_callback(token: str, response: dict) -> bool:
    """Deliver ``response`` as if the handler had PUT it to its ResponseURL."""
    custom_resource, _ = _custom_resource_modules()
    return custom_resource.deliver_response(token, response)


def callback_token(response_url: str) -> str | None:
    prefix = "/_ministack/cfn-response/"
    path = urlparse(response_url).path if isinstance(response_url, str) else ""
    if not path.startswith(prefix):
        return None
    return path[len(prefix):] or None


def reads_handler_outcome() -> bool:
    """Probe (source level): does ministack look at the result of the handler's invocation
    (and so can fail a resource whose handler crashed), or only wait for the callback?"""
    import inspect

    custom_resource, _ = _custom_resource_modules()
    source = inspect.getsource(custom_resource.invoke_custom_resource)
    return "= _lambda_svc._execute_function_with_config_scope" in source


def provisioned_state_machine(arn: str) -> dict | None:
    """The stored record of a state machine (current request scope): what
    DescribeStateMachine answers with, less ministack's bookkeeping."""
    from ministack.services import stepfunctions

    return stepfunctions._state_machines.get(arn)


def probe_resource(resource_type: str, props: dict, inspect: Callable[[str], object]):
    """Create a resource through ministack's provisioner in a scratch account, return
    ``inspect(physical_id)``, delete it again."""
    handlers = resource_handlers()[resource_type]
    with request_scope(PROBE_ACCOUNT_A, PROBE_REGION):
        physical_id, _attrs = handlers["create"]("Probe", props, "localcloud-probe")
        try:
            return inspect(physical_id)
        finally:
            handlers["delete"](physical_id, props)


def evaluate_conditions(template: dict, params: dict) -> dict:
    """ministack's condition evaluation: {condition name: bool} for a template and its
    parameters ({name: {"Value": text}})."""
    from ministack.services.cloudformation import engine

    return engine._evaluate_conditions(template, params)


def wrap_condition_evaluation(make_wrapper: Callable[[Callable], Callable]) -> None:
    """Wrap ``_evaluate_conditions(template, params)`` everywhere ministack's CloudFormation
    calls it (its modules import it by name)."""
    from ministack.services.cloudformation import changesets, engine, handlers, stacks

    wrapped = make_wrapper(engine._evaluate_conditions)
    for module in (engine, changesets, handlers, stacks):
        if hasattr(module, "_evaluate_conditions"):
            module._evaluate_conditions = wrapped
