"""Which AWS service a request is for, as ministack routes it, and its service names."""

from __future__ import annotations

from localcloud.seams.core import ministack_app


def service_for(method: str, path: str, headers: dict, query_params: dict) -> str:
    """ministack's routing decision for a request, from what precedes its body (the
    signing scope, X-Amz-Target, host and path); query-protocol requests that name
    their service only in the body come out as ministack's default."""
    from ministack.core.router import detect_service

    return detect_service(method, path, headers, query_params)


def service_names() -> list[str]:
    return sorted(ministack_app().SERVICE_HANDLERS)
