"""Firehose: where a delivery stream writes to its S3 destination."""

from __future__ import annotations

from collections.abc import Callable


def wrap_s3_delivery(make_deliver_wrapper: Callable[[Callable], Callable],
                     make_put_wrapper: Callable[[Callable], Callable]) -> None:
    """Wrap ministack's ``_deliver_to_s3(stream, dest, record_data, lambda_keys=None)`` (one
    record to a stream's S3 destination; ``dest["config"]`` is its S3 configuration, with
    RoleARN) and ``_put_s3_object(bucket, key, body)``, each object it writes."""
    from ministack.services import firehose

    firehose._deliver_to_s3 = make_deliver_wrapper(firehose._deliver_to_s3)
    firehose._put_s3_object = make_put_wrapper(firehose._put_s3_object)


def stream_arn(stream: dict) -> str:
    return stream.get("arn") or stream.get("DeliveryStreamARN") or ""
