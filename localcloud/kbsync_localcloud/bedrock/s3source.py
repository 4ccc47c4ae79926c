"""Read a data source's objects straight from moto's S3 backend (in-process, same account).

Going through the backend rather than an S3 client keeps the scan free of HTTP, credentials and
endpoint choice, so the same code serves decorator mode and server mode.
"""

from __future__ import annotations

from moto.s3.exceptions import MissingBucket
from moto.s3.models import FakeDeleteMarker, FakeKey, s3_backends
from moto.utilities.utils import get_partition

from kbsync_localcloud.bedrock.documents import S3Object


class BucketMissing(LookupError):
    """The data source's bucket does not exist: the whole ingestion job fails."""


def bucket_name_from_arn(bucket_arn: str) -> str:
    return bucket_arn.rsplit(":", 1)[-1]


def list_current_objects(account_id: str, region: str, bucket: str, prefix: str) -> list[S3Object]:
    """Every current object version under `prefix` (delete markers excluded), sorted by key."""
    backend = s3_backends[account_id][get_partition(region)]
    try:
        fake_bucket = backend.get_bucket(bucket)
    except MissingBucket as error:
        raise BucketMissing(bucket) from error
    found = []
    for key_name, key in list(fake_bucket.keys.items()):
        if isinstance(key, FakeDeleteMarker) or not isinstance(key, FakeKey):
            continue
        if key_name.startswith(prefix):
            found.append(_as_object(key))
    return sorted(found, key=lambda obj: obj.key)


def _as_object(key: FakeKey) -> S3Object:
    return S3Object(
        key=key.name,
        size=int(key.size),
        etag=key.etag,
        last_modified=key.last_modified.timestamp(),
        read=lambda: key.value,
    )
