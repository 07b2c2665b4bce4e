"""CloudWatch metrics AWS services publish (AWS/Events FailedInvocations, …), in the current scope."""

from __future__ import annotations


def record_metric(namespace: str, name: str, value: float, unit: str, dimensions: dict) -> None:
    from ministack.services import cloudwatch

    cloudwatch.record_metric(namespace, name, value, unit, dimensions)
