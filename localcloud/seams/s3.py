"""S3 as ministack keeps it: which account owns a bucket, and its bucket policy."""

from __future__ import annotations


def bucket_owner_and_policy(bucket: str) -> tuple[str, str] | None:
    """(owner account, bucket policy) of ``bucket``; bucket names are global."""
    from ministack.services import s3

    for account, name in list(s3._buckets.to_dict()):
        if name == bucket:
            return account, s3._bucket_policies.get_scoped(account, None, bucket) or ""
    return None
