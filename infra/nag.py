"""cdk-nag (AwsSolutions pack) wiring and acknowledgements, each with its reason."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def check_with_cdk_nag(app: IConstruct) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(construct: IConstruct, findings: dict[str, str]) -> None:
    """Acknowledge findings (``RuleId`` or ``RuleId[Finding]``) on a construct and its children."""
    for finding_id, reason in findings.items():
        Validations.of(construct).acknowledge(Acknowledgment(id=finding_id, reason=reason))
