"""Large values of an execution, in S3 outside its items (`flowcore.domain.payloads`).

Keys are content-addressed under their execution, `executions/<execution_id>/<sha256>.json`, built here and
nowhere else: the same value stored twice is the same object (a redelivered record that stores an output
again changes nothing), and deleting an execution deletes its prefix. A value is stored as compact JSON, the
bytes outputs have always been measured by; the bucket encrypts it (SSE-S3) and expires it a day after the
table's retention (template.yaml, `PayloadBucket`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from flowcore.domain.errors import NotFound, StoreUnavailable
from flowcore.domain.payloads import MAX_PAYLOAD_BYTES, OversizedPayload, PayloadRef, encoded

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

PREFIX = "executions/"
_SUFFIX = ".json"
_CONTENT_TYPE = "application/json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: What S3 answers for a key that is not there (HeadObject has no body, hence no code but the status).
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
#: What S3 answers when it is overloaded, after the SDK's own retries (standard mode, 5 attempts).
_UNAVAILABLE = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "503", "500"})


def execution_prefix(execution_id: str) -> str:
    """Every value of one execution is under this prefix (the API's role may list and delete only there)."""
    return f"{PREFIX}{execution_id}/"


def payload_key(execution_id: str, sha256: str) -> str:
    return f"{execution_prefix(execution_id)}{sha256}{_SUFFIX}"


class PayloadStoreUnavailable(RuntimeError):
    """No bucket is configured (PAYLOAD_BUCKET) where a value must be stored or read."""


class S3PayloadStore:
    """`ports.PayloadStore` (and `PayloadDownloads`) on one bucket. `client` builds the S3 client on first use:
    most invocations never store or read a large value, and the client costs cold start."""

    def __init__(self, client: Callable[[], S3Client] | None, bucket: str | None) -> None:
        self._client = client
        self._bucket = bucket

    def put(self, execution_id: str, value: Any) -> PayloadRef:
        body = encoded(value)
        if len(body) > MAX_PAYLOAD_BYTES:
            raise OversizedPayload(len(body))
        digest = hashlib.sha256(body)
        ref = PayloadRef(payload_key(execution_id, digest.hexdigest()), len(body), digest.hexdigest())
        s3, bucket = self._s3()
        with _translated(ref.key):
            # S3 checks the body against the checksum: a value is never stored other than it was sent.
            s3.put_object(
                Bucket=bucket,
                Key=ref.key,
                Body=body,
                ContentType=_CONTENT_TYPE,
                ChecksumSHA256=base64.b64encode(digest.digest()).decode(),
            )
        return ref

    def get(self, ref: PayloadRef) -> Any:
        s3, bucket = self._s3()
        with _translated(ref.key):
            answer = s3.get_object(Bucket=bucket, Key=ref.key)
            with closing(answer["Body"]) as body:
                return json.loads(body.read())

    def url(self, ref: PayloadRef, expires_seconds: int = 900) -> str:
        """A presigned GET: signed here (no call to S3), good for `expires_seconds` or as long as the function's
        credentials last, whichever ends first."""
        s3, bucket = self._s3()
        return s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": ref.key}, ExpiresIn=expires_seconds
        )

    def find(self, execution_id: str, sha256: str) -> PayloadRef | None:
        """The value of this execution with this hash, if it is stored.

        A listing of the key as a prefix, not a HeadObject: S3 answers a HeadObject of a missing key with 404 only
        to a caller allowed to list the bucket with no condition, and 403 to the API, whose listing is held to
        `executions/` (template.yaml). The listing's own prefix satisfies that condition.
        """
        if not _SHA256.match(sha256):
            return None
        key = payload_key(execution_id, sha256)
        s3, bucket = self._s3()
        with _translated(key):
            listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
        if not listed or listed[0]["Key"] != key:
            return None
        return PayloadRef(key, int(listed[0]["Size"]), sha256)

    def delete_all(self, execution_id: str) -> int:
        """Delete every object under the execution's prefix, a page (1,000 keys) at a time; how many."""
        if self._bucket is None:
            return 0  # nothing can have been stored without a bucket
        s3, bucket = self._s3()
        deleted = 0
        with _translated(execution_prefix(execution_id)):
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=execution_prefix(execution_id))
            for page in pages:
                keys: list[ObjectIdentifierTypeDef] = [{"Key": entry["Key"]} for entry in page.get("Contents", [])]
                if keys:
                    deleted += self._delete(s3, bucket, keys)
        return deleted

    @staticmethod
    def _delete(s3: S3Client, bucket: str, keys: list[ObjectIdentifierTypeDef]) -> int:
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        errors = answer.get("Errors", [])
        if errors:
            first = errors[0]
            raise RuntimeError(
                f"S3 did not delete {len(errors)} of {len(keys)} payloads of the execution "
                f"(first: {first.get('Key')}: {first.get('Code')} {first.get('Message')})"
            )
        return len(keys)

    def _s3(self) -> tuple[S3Client, str]:
        if self._client is None or not self._bucket:
            raise PayloadStoreUnavailable("no payload bucket is configured (PAYLOAD_BUCKET)")
        return self._client(), self._bucket


@contextmanager
def _translated(key: str) -> Iterator[None]:
    """S3's errors as the service's: a missing key is `NotFound`, an S3 that kept refusing `StoreUnavailable`."""
    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _MISSING:
            raise NotFound(f"the payload {key} is not stored (deleted with its execution, or expired)") from error
        if code in _UNAVAILABLE:
            raise StoreUnavailable("S3 kept refusing after retries; try again") from error
        raise
