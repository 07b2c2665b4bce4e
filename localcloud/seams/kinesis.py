"""Kinesis as ministack keeps it: which stream a shard iterator reads."""

from __future__ import annotations


def stream_of_iterator(shard_iterator: str) -> str:
    """The stream ARN a shard iterator reads, in any account ("" when it is unknown)."""
    from ministack.services import kinesis

    for (_account, _region, token), state in list(kinesis._shard_iterators.all_items()):
        if token == shard_iterator:
            return str(state.get("stream_arn") or "")
    return ""
