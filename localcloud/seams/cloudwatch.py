"""CloudWatch metrics AWS services publish (AWS/Events FailedInvocations, …), in the current scope."""

from __future__ import annotations


def record_metric(namespace: str, name: str, value: float, unit: str, dimensions: dict) -> None:
    from ministack.services import cloudwatch

    cloudwatch.record_metric(namespace, name, value, unit, dimensions)


def _point_store() -> dict | None:
    """ministack's metric store across accounts and regions, {(account, region, (namespace,
    name, dimensions)): [point, …]}; None if it is not held that way."""
    from ministack.services import cloudwatch

    data = getattr(getattr(cloudwatch, "_metrics", None), "_data", None)
    return data if isinstance(data, dict) else None


def metric_point_lists() -> list[tuple[str, list]]:
    """(namespace, stored points) of every metric in every account and region: ministack
    appends one dict per data point to these lists and keeps them two weeks."""
    data = _point_store() or {}
    return [(scoped_key[-1][0], points) for scoped_key, points in list(data.items())
            if isinstance(points, list) and isinstance(scoped_key[-1], tuple)]


def keeps_raw_points() -> bool:
    """ministack stores data points in lists per metric (folding them again is harmless:
    a folded minute folds to itself)."""
    return _point_store() is not None
