"""local/moto_patches.py, 7.: with `spool_objects`, moto's S3 keeps each object's bytes in a file of its own, opened
only while it is read or written, and forgets an object (and its file) when it is deleted or replaced."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.s3.models import FakeKey

from local import moto_patches
from local.moto_patches import FileBuffer
from tests.conftest import Harness


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "spool"
    moto_patches.spool_objects(folder)
    try:
        yield folder
    finally:
        moto_patches.spool_objects(None)


def objects_in(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.glob("*.object")}


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_an_objects_bytes_are_in_a_file_and_read_back_whole(harness: Harness, spool: Path) -> None:
    s3: Any = boto3.client("s3")
    bucket = harness.stack.payload_bucket
    body = os.urandom(6 * 1024 * 1024)  # over moto's own in-memory threshold
    s3.put_object(Bucket=bucket, Key="executions/e/a.json", Body=body)
    assert list(objects_in(spool).values()) == [body]
    assert s3.get_object(Bucket=bucket, Key="executions/e/a.json")["Body"].read() == body
    assert s3.head_object(Bucket=bucket, Key="executions/e/a.json")["ContentLength"] == len(body)


def test_a_replaced_or_deleted_object_leaves_no_file_and_is_not_kept(harness: Harness, spool: Path) -> None:
    s3: Any = boto3.client("s3")
    bucket = harness.stack.payload_bucket
    s3.put_object(Bucket=bucket, Key="executions/e/a.json", Body=b"first")
    s3.put_object(Bucket=bucket, Key="executions/e/a.json", Body=b"second")
    assert list(objects_in(spool).values()) == [b"second"]
    s3.delete_object(Bucket=bucket, Key="executions/e/a.json")
    gc.collect()
    assert objects_in(spool) == {}
    assert FakeKey.instances_tracked == []  # type: ignore[attr-defined]


def test_many_objects_hold_no_file_open(harness: Harness, spool: Path) -> None:
    s3: Any = boto3.client("s3")
    before = open_files()
    for number in range(300):
        s3.put_object(Bucket=harness.stack.payload_bucket, Key=f"executions/e/{number}.json", Body=b"x" * 70_000)
    assert len(objects_in(spool)) == 300
    assert open_files() - before < 10


def test_spooling_starts_with_an_empty_folder_and_can_be_turned_off(harness: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    folder.mkdir()
    (folder / "1-1.object").write_bytes(b"left by a stack that died")
    moto_patches.spool_objects(folder)
    moto_patches.spool_objects(None)
    assert objects_in(folder) == {}
    boto3.client("s3").put_object(Bucket=harness.stack.payload_bucket, Key="executions/e/a.json", Body=b"{}")
    assert objects_in(folder) == {}


def test_the_file_buffer_behaves_as_the_file_calls_moto_makes(tmp_path: Path) -> None:
    buffer = FileBuffer(tmp_path / "b.object")
    assert buffer.write(b"hello world") == 11
    buffer.seek(0)
    assert buffer.read(5) == b"hello"
    assert buffer.tell() == 5
    assert buffer.read() == b" world"
    buffer.seek(0)
    buffer.truncate()
    buffer.write(b"new")
    buffer.seek(-2, os.SEEK_END)
    assert buffer.read() == b"ew"
    buffer.close()
    assert not (tmp_path / "b.object").exists()
    with pytest.raises(ValueError, match="closed"):
        buffer.read()
    buffer.close()  # twice is harmless, as for a file
