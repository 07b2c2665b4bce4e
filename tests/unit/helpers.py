"""Helpers to read synthesized CloudFormation templates in assertions."""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

def resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource, for every resource of one CloudFormation type."""
    return {k: v for k, v in template.get("Resources", {}).items() if v["Type"] == type_}


def only(template: dict[str, Any], type_: str) -> tuple[str, dict[str, Any]]:
    found = resources(template, type_)
    assert len(found) == 1, f"expected exactly one {type_}, found {sorted(found)}"
    return next(iter(found.items()))


def recorder_function(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The transaction recorder (a stack may also hold the pipe's enrichment function)."""
    found = {k: v for k, v in resources(template, "AWS::Lambda::Function").items() if k.startswith("Recorder")}
    assert len(found) == 1, f"expected exactly one recorder function, found {sorted(found)}"
    return next(iter(found.items()))


def props(resource: dict[str, Any]) -> dict[str, Any]:
    return resource.get("Properties", {})


def get_att(logical_id: str, attribute: str = "Arn") -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def render(value: Any, partition: str = "aws") -> str:
    """A string value with Fn::Join flattened: AWS::Partition becomes ``partition`` and
    any other token becomes ``${Ref:Id}`` / ``${GetAtt:Id.Attr}``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return delimiter.join(render(p, partition) for p in parts)
    if value == {"Ref": "AWS::Partition"}:
        return partition
    if isinstance(value, dict) and "Ref" in value:
        return "${Ref:%s}" % value["Ref"]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "${GetAtt:%s}" % ".".join(value["Fn::GetAtt"])
    raise AssertionError(f"cannot render {value!r}")


def policy_statements_for_role(template: dict[str, Any], role_logical_id: str) -> list[dict[str, Any]]:
    """Every statement of every AWS::IAM::Policy attached to the role, plus inline policies."""
    statements = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if ref(role_logical_id) in props(policy).get("Roles", []):
            statements.extend(props(policy)["PolicyDocument"]["Statement"])
    role = template["Resources"][role_logical_id]
    for inline in props(role).get("Policies", []):
        statements.extend(inline["PolicyDocument"]["Statement"])
    return statements


def role_of(resource: dict[str, Any], property_name: str = "RoleArn") -> str:
    """Logical id of the role a resource (or a rule target) names with Fn::GetAtt [Role, Arn]."""
    value = (props(resource) if "Type" in resource else resource)[property_name]
    assert "Fn::GetAtt" in value and value["Fn::GetAtt"][1] == "Arn", value
    return value["Fn::GetAtt"][0]


def acknowledgements(stack: Any) -> list[tuple[str, str, str]]:
    """(construct path, rule id, reason) of every Validations.of(...).acknowledge(...)."""
    found = []
    for path, entries in stack.metadata.items():
        for entry in entries:
            if entry.get("type") == "aws:cdk:acknowledged-rules":
                for rule_id, reason in (entry.get("data") or {}).items():
                    found.append((path, rule_id, reason))
    return found


ACCOUNT_ROOT_RE = re.compile(r"^arn:aws:iam::(\d{12}):root$")


def account_principals(principal: Any) -> list[str]:
    """Account ids named by an ``{"AWS": ...}`` principal (account roots only)."""
    accounts = []
    for value in as_list(principal.get("AWS", [])):
        rendered = render(value)
        match = ACCOUNT_ROOT_RE.match(rendered)
        accounts.append(match.group(1) if match else rendered)
    return accounts


def iter_json_lines(text: str) -> Iterator[dict[str, Any]]:
    """The JSON objects among the lines of captured output (Powertools Logger lines)."""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            yield json.loads(line)
