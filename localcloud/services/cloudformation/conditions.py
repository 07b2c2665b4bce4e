"""CloudFormation conditions that join a list parameter, evaluated as AWS evaluates them.

ministack 1.5.33 compares an ``Fn::Join`` inside ``Fn::Equals`` as the unresolved
expression, so ``Fn::Not [Fn::Equals ["", Fn::Join ["", Ref: SomeList]]]`` is true for an
empty list. CDK's bootstrap template tests ``CloudFormationExecutionPolicies`` and
``TrustedAccounts`` that way: a plain ``cdk bootstrap`` then gave the CloudFormation
execution role no policy at all (instead of AdministratorAccess), and under strict IAM
every deploy to that environment failed with AccessDenied. (Condition functions:
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference-conditions.html;
a CommaDelimitedList parameter is a list of its comma-separated members.)
"""

from __future__ import annotations

import copy

from localcloud import seams
from localcloud.extension import Extension

_PROBE = {"Parameters": {"Empty": {"Type": "CommaDelimitedList", "Default": ""}},
          "Conditions": {"HasMembers": {"Fn::Not": [{"Fn::Equals": ["", {"Fn::Join": ["", {"Ref": "Empty"}]}]}]}}}


def _members(value, template: dict, params: dict):
    """A Join's list argument, resolved where it names parameters; None when it cannot be."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        name = value["Ref"]
        if name not in params:
            return None
        text = str(params[name].get("Value", ""))
        kind = str((template.get("Parameters") or {}).get(name, {}).get("Type", "String"))
        return text.split(",") if kind == "CommaDelimitedList" or kind.startswith("List<") else [text]
    if isinstance(value, list):
        resolved = [_joined(item, template, params) for item in value]
        return None if any(not isinstance(item, str) for item in resolved) else resolved
    return None


def _joined(expression, template: dict, params: dict):
    """``expression`` with each ``Fn::Join`` of known values replaced by its text."""
    if isinstance(expression, list):
        return [_joined(item, template, params) for item in expression]
    if not isinstance(expression, dict):
        return expression
    if set(expression) == {"Fn::Join"} and isinstance(expression["Fn::Join"], list) \
            and len(expression["Fn::Join"]) == 2:
        separator, items = expression["Fn::Join"]
        members = _members(items, template, params)
        if isinstance(separator, str) and members is not None:
            return separator.join(members)
    return {key: _joined(value, template, params) for key, value in expression.items()}


def _with_joins_resolved(evaluate):
    def evaluate_conditions(template, params):
        if not isinstance(template, dict) or not template.get("Conditions"):
            return evaluate(template, params)
        resolved = copy.copy(template)
        resolved["Conditions"] = _joined(template["Conditions"], template, params or {})
        return evaluate(resolved, params)

    return evaluate_conditions


def needed() -> bool:
    return seams.cloudformation.evaluate_conditions(_PROBE, {"Empty": {"Value": ""}}).get("HasMembers") is not False


def install() -> None:
    seams.cloudformation.wrap_condition_evaluation(_with_joins_resolved)


EXTENSION = Extension(name="cfn_condition_joins", needed=needed, install=install)
