"""EventBridge archives with their events on disk (the local cloud's SQLite database)
rather than in a list in memory, and replays that read them back a chunk at a time.

What ministack 1.5.33 does without this: every archived event stays in memory for good
(RetentionDays is stored, never applied), DescribeArchive's SizeBytes stays 0, and a
replay copies the whole archive into a list first. Here, as the EventBridge API reference
describes (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_DescribeArchive.html):
EventCount and SizeBytes count what the archive holds; events older than RetentionDays
(by their Time) are deleted ("0 … retained indefinitely"); a replay sends the events
whose Time lies in [EventStartTime, EventEndTime] to the rules of the destination bus,
stamped with the replay's name, and stops when cancelled.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from localcloud import seams
from localcloud.extension import Extension
from localcloud.services.events import archive_store
from localcloud.state import retention

logger = logging.getLogger("localcloud.archives")


def _bus_arn(event: dict) -> str:
    return (f"arn:aws:events:{seams.current_region()}:{seams.current_account()}:event-bus/"
            f"{event.get('EventBusName', 'default')}")


def archive_event(_original):
    def keep(event: dict, view=None) -> None:
        source = _bus_arn(event)
        names = [a.get("ArchiveName") for a in seams.event_archives.archives_in_scope()
                 if a.get("EventSourceArn") == source and a.get("State", "ENABLED") == "ENABLED"
                 and (not a.get("EventPattern") or seams.event_archives.matches(a["EventPattern"], event, view))]
        if names:
            kept = {k: v for k, v in event.items() if not k.startswith("_")}
            archive_store.add(seams.current_account(), seams.current_region(), names, kept)

    return keep


def _with_totals(record: dict) -> dict:
    count, size = archive_store.totals(seams.current_account(), seams.current_region(), record.get("ArchiveName", ""))
    return {**{k: v for k, v in record.items() if k != "Events"}, "EventCount": count, "SizeBytes": size}


def describe_archive(original):
    def handler(data: dict):
        status, headers, body = original(data)
        if status >= 300:
            return status, headers, body
        return seams.json_response(_with_totals(json.loads(body)))

    return handler


def list_archives(original):
    def handler(data: dict):
        status, headers, body = original(data)
        if status >= 300:
            return status, headers, body
        document = json.loads(body)
        document["Archives"] = [_with_totals(a) for a in document.get("Archives", [])]
        return seams.json_response(document)

    return handler


def delete_archive(original):
    def handler(data: dict):
        status, headers, body = original(data)
        if status < 300:
            archive_store.drop(seams.current_account(), seams.current_region(), data.get("ArchiveName", ""))
        return status, headers, body

    return handler


# --- replays -----------------------------------------------------------------------------------------------

def _error(code: str, message: str):
    return seams.error_response(code, message)


def start_replay(_original):
    def handler(data: dict):
        name = data.get("ReplayName")
        if not name:
            return _error("ValidationException", "ReplayName is required")
        replays = seams.event_archives.replays()
        if name in replays:
            return _error("ResourceAlreadyExistsException", f"Replay {name} already exists.")
        destination = data.get("Destination") or {}
        if not destination.get("Arn"):
            return _error("ValidationException", "Destination.Arn is required")
        archive_name, problem = seams.event_archives.archive_name_from_arn(data.get("EventSourceArn", ""))
        if problem:
            return _error(*problem)
        record = seams.event_archives.archive(archive_name)
        if record is None:
            return _error("ResourceNotFoundException", f"Archive {archive_name} does not exist.")
        bus_name, problem = seams.event_archives.bus_name_from_ref(destination["Arn"])
        if problem:
            return _error(*problem)
        if destination["Arn"] != record.get("EventSourceArn"):
            return _error("ValidationException", "Parameter Destination.Arn is not valid. Reason: Cross event bus "
                                                 "replay is not permitted.")
        now = time.time()
        start = seams.event_archives.timestamp(data.get("EventStartTime", now))
        end = seams.event_archives.timestamp(data.get("EventEndTime", now))
        if not isinstance(start, (int, float)) or not isinstance(end, (int, float)):
            return _error("ValidationException", "Parameter EventStartTime is not valid.")
        if start >= end:
            return _error("ValidationException", "Parameter EventEndTime is not valid. Reason: EventStartTime "
                                                 "must be before EventEndTime.")
        account, region = seams.current_account(), seams.current_region()
        replay = {"ReplayName": name, "ReplayArn": f"arn:aws:events:{region}:{account}:replay/{name}",
                  "Description": data.get("Description", ""), "EventSourceArn": data["EventSourceArn"],
                  "EventStartTime": start, "EventEndTime": end, "Destination": destination, "State": "STARTING",
                  "ReplayStartTime": now}
        replays[name] = replay
        threading.Thread(target=_replay, args=(account, region, archive_name, bus_name, replay),
                         name=f"localcloud-replay-{name}", daemon=True).start()
        return seams.json_response({"ReplayArn": replay["ReplayArn"], "State": "STARTING"})

    return handler


def _replay(account: str, region: str, archive_name: str, bus_name: str, replay: dict) -> None:
    with seams.request_scope(account, region):
        try:
            replay["State"] = "RUNNING"
            for event in archive_store.events_between(account, region, archive_name, replay["EventStartTime"],
                                                      replay["EventEndTime"]):
                if replay.get("State") == "CANCELLED":
                    return
                event["EventBusName"] = bus_name
                event["ReplayName"] = replay["ReplayName"]
                seams.event_archives.dispatch(event)
                replay["EventLastReplayedTime"] = event.get("Time")
            if replay.get("State") != "CANCELLED":
                replay["State"] = "COMPLETED"
                replay["ReplayEndTime"] = time.time()
        except Exception as error:
            logger.exception("replay %s failed", replay["ReplayName"])
            replay.update(State="FAILED", StateReason=str(error), ReplayEndTime=time.time())


# --- retention and restore ---------------------------------------------------------------------------------

def expire_events() -> int:
    removed = 0
    now = time.time()
    for account, region, name, record in seams.event_archives.all_archives():
        days = int(record.get("RetentionDays") or 0)
        while days > 0:
            count = archive_store.expire(account, region, name, now - days * 86_400)
            removed += count
            if count == 0:
                break
    return removed


def drop_events_of_missing_archives() -> list[str]:
    """After a restore: events of an archive made after the last snapshot have no archive."""
    present = {(a, r, n) for a, r, n, _record in seams.event_archives.all_archives()}
    dropped = []
    for account, region, name in archive_store.stored_archives():
        if (account, region, name) not in present:
            archive_store.drop(account, region, name)
            dropped.append(f"{account}/{region}/{name}")
    return dropped


def needed() -> bool:
    return seams.event_archives.probe_keeps_events_in_memory()


def install() -> None:
    for name, make in (("_archive_event", archive_event), ("_describe_archive", describe_archive),
                       ("_list_archives", list_archives), ("_delete_archive", delete_archive),
                       ("_start_replay", start_replay)):
        seams.event_archives.replace_function(name, make)


def start() -> None:
    dropped = drop_events_of_missing_archives()
    if dropped:
        logger.warning("archived events of archives not in the restored state, removed: %s", dropped)
    retention.register("archive retention", expire_events)


EXTENSION = Extension(name="archives_on_disk", needed=needed, install=install, start=start)
