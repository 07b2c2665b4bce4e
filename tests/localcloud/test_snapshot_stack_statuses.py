"""A stack status counts as saved only if the saved snapshot holds it.

The CloudFormation API answers a finished status only once a checkpoint saved it, so a
client that saw CREATE_COMPLETE finds the stack after a SIGKILL. A checkpoint copies the
stores one after the other; a getter that waits on a lock lets other threads run, and a
stack can finish between the copy of CloudFormation's store and the end of the copying.
That stack must still count as not saved (the flake behind a stack restored as
ROLLBACK_FAILED right after ``make deploy``). In process, with the seams to ministack
replaced by a stand-in store.
"""

from __future__ import annotations

import json

import pytest

from localcloud import seams
from localcloud.state.database import Database
from localcloud.state.snapshot import Snapshots

STACK = "arn:aws:cloudformation:us-east-1:333333333333:stack/LedgerBus/1"


@pytest.fixture
def stand_in(monkeypatch):
    """CloudFormation's store as a dict, and the persistence seams that read it."""
    live = {STACK: "CREATE_IN_PROGRESS"}
    persistence = seams.persistence
    monkeypatch.setattr(persistence, "defer_lambda_blob_pruning", lambda: None)
    monkeypatch.setattr(persistence, "watch_writes", lambda on_write: None)
    monkeypatch.setattr(persistence, "state_getters", lambda: {"cloudformation": lambda: dict(live)})
    monkeypatch.setattr(persistence, "format_version", lambda key: 1)
    monkeypatch.setattr(persistence, "stack_statuses", lambda: dict(live))
    monkeypatch.setattr(persistence, "encode", lambda data: json.dumps(data).encode())
    monkeypatch.setattr(persistence, "lambda_blob_files", lambda: [])
    monkeypatch.setattr(persistence, "prune_lambda_blobs", lambda: None)
    monkeypatch.setattr(seams, "ministack_version", lambda: "test")
    return live


def _saved_status(db: Database) -> str:
    with db.read() as connection:
        payload = connection.execute("SELECT payload FROM snapshot_parts WHERE name='cloudformation'").fetchone()[0]
    return json.loads(payload)[STACK]


def test_a_stack_that_finishes_while_a_checkpoint_copies_is_not_taken_as_saved(stand_in, tmp_path):
    def finishes_the_stack_meanwhile() -> dict:  # copied after CloudFormation's store
        stand_in[STACK] = "CREATE_COMPLETE"
        return {}

    db = Database(tmp_path / "state.sqlite3")
    snapshots = Snapshots(db, {"other": finishes_the_stack_meanwhile})
    snapshots.checkpoint(full=True)

    assert _saved_status(db) == "CREATE_IN_PROGRESS"
    assert snapshots.finished_stacks_not_durable(), "CREATE_COMPLETE would be answered, yet the snapshot lacks it"

    snapshots.extension_states = {}
    snapshots.checkpoint(full=True)
    assert _saved_status(db) == "CREATE_COMPLETE"
    assert not snapshots.finished_stacks_not_durable()


def test_a_hot_checkpoint_does_not_count_stacks_as_saved(stand_in, tmp_path):
    db = Database(tmp_path / "state.sqlite3")
    snapshots = Snapshots(db, {})
    snapshots.checkpoint(full=True)
    stand_in[STACK] = "CREATE_COMPLETE"
    snapshots.checkpoint(full=False)  # queues, executions…: CloudFormation is not saved
    assert snapshots.finished_stacks_not_durable()
