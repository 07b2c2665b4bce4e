"""A delivery stream writes to its S3 destination as the destination's role, as on AWS.

Firehose assumes the destination's RoleARN (its trust policy must let
firehose.amazonaws.com) and puts each object with that role's credentials: without
s3:PutObject on the object the delivery fails ("S3.AccessDenied" in the stream's error
log) and nothing reaches the bucket
(https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html#using-iam-s3).
ministack 1.5.33 writes the objects whatever the role allows.
"""

from __future__ import annotations

import logging
import threading

from localcloud import auth, seams
from localcloud.extension import Extension

logger = logging.getLogger("localcloud.firehose")

_delivering = threading.local()  # (stream ARN, role ARN) of the delivery on this thread


def _as_destination_role(deliver_to_s3):
    def deliver(stream, dest, record_data, lambda_keys=None):
        role = ((dest or {}).get("config") or {}).get("RoleARN", "")
        _delivering.value = (seams.firehose.stream_arn(stream), role)
        try:
            return deliver_to_s3(stream, dest, record_data, lambda_keys)
        finally:
            _delivering.value = None

    return deliver


def _checked(put_s3_object):
    def put(bucket, key, body):
        delivering = getattr(_delivering, "value", None)
        if delivering:
            stream, role = delivering
            try:
                auth.acting_role("firehose.amazonaws.com", role, **{"aws:SourceArn": stream})
                auth.require(role, "s3:PutObject", f"arn:aws:s3:::{bucket}/{key}", **{"aws:SourceArn": stream})
            except auth.AccessDenied as denied:
                logger.warning("delivery stream %s: S3.AccessDenied writing s3://%s/%s: %s", stream, bucket, key,
                               denied.message)
                return None
        return put_s3_object(bucket, key, body)

    return put


def install() -> None:
    seams.firehose.wrap_s3_delivery(_as_destination_role, _checked)


EXTENSION = Extension(name="firehose_delivery_role", needed=auth.enabled, install=install)
