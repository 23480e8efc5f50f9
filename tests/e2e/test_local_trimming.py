"""The running stack drops the stream records its readers are done with, and keeps working after it."""

from __future__ import annotations

import pytest

from local import moto_patches
from local.runtime import LocalRuntime
from local.stack import REGION
from tests.conftest import example
from tests.e2e.conftest import Client

pytestmark = pytest.mark.e2e


def test_consumed_records_are_trimmed_and_the_stack_goes_on(runtime: LocalRuntime, client: Client) -> None:
    assert runtime.stack is not None and runtime.retention is not None
    for _ in range(3):
        assert client.run(example("data_processing"))["status"] == "COMPLETED"
    shard = moto_patches.table_of(runtime.stack.table_name, REGION).stream_shard
    assert shard is not None

    read = runtime.retention.horizon()  # the pump is past every record below this
    runtime.retention.trim()

    assert read is not None and shard.starting_sequence_number >= read
    assert len(shard.items) < 10  # whatever was written since the pump last read, at most
    assert client.run(example("data_processing"))["status"] == "COMPLETED"
