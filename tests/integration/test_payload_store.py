"""flowcore.adapters.payloads: large values in S3 (moto in process), content-addressed under their execution."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError
from moto import mock_aws

from flowcore.adapters import clients
from flowcore.adapters.payloads import PayloadStoreUnavailable, S3PayloadStore, execution_prefix, payload_key
from flowcore.domain.errors import NotFound, StoreUnavailable
from flowcore.domain.payloads import MAX_PAYLOAD_BYTES, OversizedPayload, PayloadRef

BUCKET = "payloads-under-test"
EXECUTION = "0d4c1f52-7a9e-4f7e-9a40-0b6c2f0f8a11"
OTHER = "0d4c1f52-7a9e-4f7e-9a40-0b6c2f0f8a1"  # a prefix of EXECUTION's id, as a string


@pytest.fixture
def s3(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        clients.reset()
        client = clients.s3()  # the service's own client, as its functions build it
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_encryption(
            Bucket=BUCKET,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
        yield client
        clients.reset()


@pytest.fixture
def store(s3: Any) -> S3PayloadStore:
    return S3PayloadStore(lambda: s3, BUCKET)


def keys(s3: Any, prefix: str = "") -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [entry["Key"] for page in pages for entry in page.get("Contents", [])]


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str).encode()


def test_a_value_is_stored_as_compact_json_under_its_execution_named_by_its_hash(
    store: S3PayloadStore, s3: Any
) -> None:
    # Given a value
    value = {"rows": [{"id": n, "name": f"row {n}"} for n in range(3)], "note": "żółw"}
    # When it is stored
    ref = store.put(EXECUTION, value)
    # Then its key is executions/<execution_id>/<sha256>.json, its size and hash those of its compact JSON
    body = compact(value)
    digest = hashlib.sha256(body).hexdigest()
    assert ref == PayloadRef(f"executions/{EXECUTION}/{digest}.json", len(body), digest)
    assert ref.key == payload_key(EXECUTION, digest)
    stored = s3.get_object(Bucket=BUCKET, Key=ref.key)
    assert stored["Body"].read() == body
    assert stored["ContentType"] == "application/json"
    assert stored["ServerSideEncryption"] == "AES256"
    # And it reads back as it was
    assert store.get(ref) == value


def test_storing_the_same_value_again_is_the_same_object(store: S3PayloadStore, s3: Any) -> None:
    first = store.put(EXECUTION, {"a": 1, "b": [1, 2]})
    again = store.put(EXECUTION, {"a": 1, "b": [1, 2]})
    other = store.put(EXECUTION, {"a": 2})
    assert again == first
    assert other.key != first.key
    assert sorted(keys(s3)) == sorted([first.key, other.key])


def test_the_same_value_of_two_executions_is_two_objects(store: S3PayloadStore, s3: Any) -> None:
    mine, theirs = store.put(EXECUTION, {"a": 1}), store.put(OTHER, {"a": 1})
    assert mine.sha256 == theirs.sha256
    assert mine.key != theirs.key
    assert len(keys(s3)) == 2


def test_values_json_cannot_hold_are_stored_as_their_text(store: S3PayloadStore) -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert store.get(store.put(EXECUTION, {"at": when})) == {"at": str(when)}


def test_a_value_over_the_limit_is_refused_with_its_size_and_nothing_is_stored(store: S3PayloadStore, s3: Any) -> None:
    # Given a value one byte over 10 MiB as JSON (a string: its quotes count)
    value = "x" * (MAX_PAYLOAD_BYTES - 1)
    # When it is stored / Then it is refused, the message giving its size and the limit
    with pytest.raises(OversizedPayload) as refused:
        store.put(EXECUTION, value)
    assert refused.value.size == MAX_PAYLOAD_BYTES + 1
    assert f"{MAX_PAYLOAD_BYTES + 1} bytes" in refused.value.message
    assert str(MAX_PAYLOAD_BYTES) in refused.value.message
    assert keys(s3) == []


def test_a_value_of_exactly_the_limit_is_stored(store: S3PayloadStore) -> None:
    ref = store.put(EXECUTION, "x" * (MAX_PAYLOAD_BYTES - 2))
    assert ref.size == MAX_PAYLOAD_BYTES
    assert len(store.get(ref)) == MAX_PAYLOAD_BYTES - 2


def test_the_link_downloads_the_value_with_no_other_credentials(store: S3PayloadStore) -> None:
    ref = store.put(EXECUTION, {"big": "y" * 40_000})
    url = store.url(ref, expires_seconds=120)
    assert "X-Amz-Expires=120" in url
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url  # SigV4 in every region
    downloaded = requests.get(url, timeout=10)
    assert downloaded.status_code == 200
    assert downloaded.json() == {"big": "y" * 40_000}


def test_a_value_is_found_by_its_hash_only_under_its_own_execution(store: S3PayloadStore) -> None:
    ref = store.put(EXECUTION, {"a": 1})
    assert store.find(EXECUTION, ref.sha256) == ref
    assert store.find(OTHER, ref.sha256) is None
    assert store.find(EXECUTION, "0" * 64) is None
    assert store.find(EXECUTION, "../" + ref.sha256) is None  # not a hash: never turned into a key


def test_finding_a_value_lists_its_key_within_executions_and_never_heads_it(store: S3PayloadStore, s3: Any) -> None:
    # The API may list only with a prefix under executions/ (template.yaml); S3 answers a HeadObject of a missing
    # key 403 to such a caller, so a lookup must be a listing whose prefix meets that condition.
    ref = store.put(EXECUTION, {"a": 1})
    calls: list[tuple[str, str | None]] = []
    s3.meta.events.register(
        "before-parameter-build.s3.*", lambda params, model, **_: calls.append((model.name, params.get("Prefix")))
    )
    assert store.find(EXECUTION, ref.sha256) == ref
    assert store.find(EXECUTION, "1" * 64) is None
    assert calls == [("ListObjectsV2", ref.key), ("ListObjectsV2", payload_key(EXECUTION, "1" * 64))]
    assert all(prefix.startswith("executions/") for _, prefix in calls if prefix)


def test_reading_a_value_that_is_gone_is_not_found(store: S3PayloadStore) -> None:
    ref = store.put(EXECUTION, {"a": 1})
    store.delete_all(EXECUTION)
    with pytest.raises(NotFound, match=ref.key):
        store.get(ref)


def test_deleting_an_execution_deletes_every_value_under_it_a_page_at_a_time(store: S3PayloadStore, s3: Any) -> None:
    # Given 2,050 objects under one execution (over two pages of a listing), and one of another execution
    # whose id starts with the same characters
    for number in range(2050):
        s3.put_object(Bucket=BUCKET, Key=payload_key(EXECUTION, f"{number:064x}"), Body=b"{}")
    kept = store.put(OTHER, {"a": 1})
    deletes: list[int] = []
    s3.meta.events.register(
        "before-call.s3.DeleteObjects", lambda params, **_: deletes.append(len(params["body"].split(b"<Key>")) - 1)
    )
    # When the execution's values are deleted
    removed = store.delete_all(EXECUTION)
    # Then every one went, a page (at most 1,000 keys) per call, and nothing of the other execution
    assert removed == 2050
    assert deletes == [1000, 1000, 50]
    assert keys(s3, execution_prefix(EXECUTION)) == []
    assert keys(s3) == [kept.key]
    assert store.delete_all(EXECUTION) == 0


def test_without_a_bucket_nothing_is_stored_and_nothing_needs_deleting() -> None:
    built: list[int] = []

    def client() -> Any:
        built.append(1)
        raise AssertionError("no client is needed")

    store = S3PayloadStore(client, None)
    assert store.delete_all(EXECUTION) == 0
    with pytest.raises(PayloadStoreUnavailable, match="PAYLOAD_BUCKET"):
        store.put(EXECUTION, {"a": 1})
    assert built == []


def test_the_client_is_built_on_first_use_only(s3: Any) -> None:
    built: list[int] = []

    def client() -> Any:
        built.append(1)
        return s3

    store = S3PayloadStore(client, BUCKET)
    assert built == []
    store.put(EXECUTION, {"a": 1})
    assert built == [1]


class Refusing:
    """An S3 client whose every call fails with `code`."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __getattr__(self, operation: str) -> Any:
        def call(**_: Any) -> Any:
            raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, operation)

        return call


def test_an_s3_that_keeps_refusing_is_unavailable_and_other_errors_are_raised_as_they_are() -> None:
    with pytest.raises(StoreUnavailable):
        S3PayloadStore(lambda: Refusing("SlowDown"), BUCKET).put(EXECUTION, {"a": 1})
    with pytest.raises(ClientError):
        S3PayloadStore(lambda: Refusing("AccessDenied"), BUCKET).put(EXECUTION, {"a": 1})


def test_the_shared_client_signs_with_sigv4_and_is_built_once(aws_env: None) -> None:
    clients.reset()
    try:
        first = clients.s3()
        assert clients.s3() is first
        assert first.meta.config.signature_version == "s3v4"
    finally:
        clients.reset()
