"""A failed batch waiting on the failure queue keeps its stream records through the trim, so the failure handler can
still read them by sequence number."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from local import moto_patches
from local.runtime import LocalRuntime
from local.stack import REGION
from tests.conftest import example
from tests.e2e.conftest import Client

pytestmark = pytest.mark.e2e


def test_a_failed_batch_outlives_the_trim_until_the_failure_handler_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The runner gives up on a record; the trim runs while its batch waits on the failure queue; the failure
    handler still reads the record by sequence number and fails the execution."""
    from functions.failure_handler import app as failure_app
    from functions.task_runner import app as runner_app

    real_failure_handler = failure_app.lambda_handler
    queue_reached = threading.Event()
    trimmed = threading.Event()
    batches: list[dict[str, Any]] = []

    def broken_runner(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("this runner fails every batch")

    def failure_handler_after_the_trim(event: dict[str, Any], context: Any) -> Any:
        batches.extend(json.loads(record["body"])["DDBStreamBatchInfo"] for record in event["Records"])
        queue_reached.set()
        assert trimmed.wait(30)
        return real_failure_handler(event, context)

    monkeypatch.setattr(runner_app, "lambda_handler", broken_runner)
    monkeypatch.setattr(failure_app, "lambda_handler", failure_handler_after_the_trim)
    with LocalRuntime(port=0, moto_port=0) as runtime:
        assert runtime.stack is not None and runtime.retention is not None
        client = Client(runtime.url)
        execution_id = client.start(example("data_processing"))
        assert queue_reached.wait(30), "the batch never reached the failure queue"
        shard = moto_patches.table_of(runtime.stack.table_name, REGION).stream_shard
        assert shard is not None

        dropped = runtime.retention.trim()
        kept_from = shard.starting_sequence_number
        trimmed.set()
        document = client.wait_for_end(execution_id)

    first = int(batches[0]["startSequenceNumber"])
    assert dropped > 0  # the flow's own records before the failed one went (the flow was stored first)
    assert kept_from <= first  # the failed batch did not
    assert document["status"] == "FAILED"
    assert document["error"]
