"""EventBridge archives and replays in ministack: its archive and replay records, the one
function every archived event goes through, its reading of ARNs and timestamps, and
delivery of a replayed event to the rules of its bus."""

from __future__ import annotations

from collections.abc import Callable


def _eventbridge():
    from ministack.services import eventbridge

    return eventbridge


def replace_function(name: str, make_replacement: Callable[[Callable], Callable]) -> None:
    """``_archive_event(event, view=None)`` (PutEvents and our cross-account delivery
    archive through it), and the action handlers ``_start_replay``, ``_describe_archive``,
    ``_list_archives``, ``_delete_archive``: all looked up by name when called."""
    eventbridge = _eventbridge()
    setattr(eventbridge, name, make_replacement(getattr(eventbridge, name)))


def archives_in_scope() -> list[dict]:
    """Archive records of the current account and region."""
    return list(_eventbridge()._archives.values())


def archive(name: str) -> dict | None:
    return _eventbridge()._archives.get(name)


def all_archives() -> list[tuple[str, str, str, dict]]:
    """(account, region, name, record) of every archive."""
    return [(str(a), str(r), str(n), record) for (a, r, n), record in list(_eventbridge()._archives.all_items())]


def matches(pattern: str, event: dict, view=None) -> bool:
    """An archive's EventPattern against an event, as ministack's archiving matches it."""
    eventbridge = _eventbridge()
    return eventbridge._matches_pattern_view(pattern, view or eventbridge._pattern_event_view(event), "archive")


def archive_name_from_arn(arn: str) -> tuple[str, tuple[str, str] | None]:
    return _eventbridge()._archive_name_from_ref(arn)


def bus_name_from_ref(ref: str) -> tuple[str, tuple[str, str] | None]:
    return _eventbridge()._event_bus_name_from_ref(ref)


def timestamp(value) -> float | str:
    """An API timestamp (epoch number or ISO text) as epoch seconds, as ministack reads it."""
    return _eventbridge()._coerce_timestamp(value)


def replays() -> dict:
    """The current account and region's replay records, by name (a live mapping)."""
    return _eventbridge()._replays


def dispatch(event: dict) -> None:
    """Match an event against the rules of its bus (``EventBusName``) in the current scope."""
    _eventbridge()._dispatch_event(event)


def probe_keeps_events_in_memory() -> bool:
    """True when archiving an event appends it to the archive's record (memory that grows
    with every event), in a scratch account's archive."""
    from localcloud.seams.core import PROBE_ACCOUNT_A, PROBE_REGION, request_scope

    eventbridge = _eventbridge()
    name = "localcloud-probe-archive"
    with request_scope(PROBE_ACCOUNT_A, PROBE_REGION):
        bus_arn = f"arn:aws:events:{PROBE_REGION}:{PROBE_ACCOUNT_A}:event-bus/default"
        eventbridge._create_archive({"ArchiveName": name, "EventSourceArn": bus_arn})
        try:
            eventbridge._put_events({"Entries": [{"Source": "localcloud.probe", "DetailType": "probe", "Detail": "{}"}]})
            return bool((eventbridge._archives.get(name) or {}).get("Events"))
        finally:
            eventbridge._delete_archive({"ArchiveName": name})
