"""One definition of a dispatch: the runner's FilterCriteria in template.yaml say exactly what
`flowcore.adapters.stream.DISPATCHES` says, and both sort every kind of stream record alike."""

from __future__ import annotations

from typing import Any

import pytest

from flowcore.adapters.dynamodb import keys
from flowcore.adapters.dynamodb.values import plain
from flowcore.adapters.stream import dispatch_of, filter_patterns, is_dispatch
from flowcore.domain.records import Dispatch
from local.esm import passes
from local.template import stack_spec


def image(sort_key: str, status: str, **extra: str) -> dict[str, Any]:
    pk = keys.flow_pk("dev/f") if sort_key in (keys.HEAD, keys.version_sk(1)) else keys.execution_pk("dev/e-1")
    fields = {"pk": pk, "sk": sort_key, "status": status, **extra}
    return {name: {"S": value} for name, value in fields.items()}


def record(event: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None) -> dict[str, Any]:
    change: dict[str, Any] = {"Keys": {"pk": (new or old or {})["pk"], "sk": (new or old or {})["sk"]}}
    if new is not None:
        change["NewImage"] = new
    if old is not None:
        change["OldImage"] = old
    return {"eventName": event, "dynamodb": change}


RUN = keys.run_sk(2, "task2")
START = keys.run_sk(1, "task1")
SAMPLES = [
    ("a successor written PENDING", record("INSERT", image(RUN, "PENDING")), True),
    ("a retry dispatched at once", record("MODIFY", image(RUN, "PENDING"), image(RUN, "RUNNING")), True),
    ("a timer's redispatch", record("MODIFY", image(RUN, "PENDING"), image(RUN, "WAITING")), True),
    ("a claim", record("MODIFY", image(RUN, "RUNNING"), image(RUN, "PENDING")), False),
    ("a result", record("MODIFY", image(RUN, "SUCCESS"), image(RUN, "RUNNING")), False),
    ("a start task's result", record("INSERT", image(START, "FAILURE")), False),
    ("a parked run", record("MODIFY", image(RUN, "WAITING"), image(RUN, "PENDING")), False),
    ("a task skipped after a cancel", record("INSERT", image(RUN, "SKIPPED")), False),
    ("a run deleted (TTL or delete)", record("REMOVE", None, image(RUN, "PENDING")), False),
    ("an execution started at once", record("INSERT", image(keys.META, "RUNNING", execution_id="dev/e-1")), True),
    ("an execution created", record("INSERT", image(keys.META, "CREATED", execution_id="dev/e-1")), False),
    (
        "a created execution started",
        record("MODIFY", image(keys.META, "RUNNING", execution_id="dev/e-1"), image(keys.META, "CREATED")),
        True,
    ),
    (
        "branches moving in a running execution",
        record("MODIFY", image(keys.META, "RUNNING", execution_id="dev/e-1"), image(keys.META, "RUNNING")),
        False,
    ),
    ("an execution ending", record("MODIFY", image(keys.META, "COMPLETED"), image(keys.META, "RUNNING")), False),
    ("a flow head", record("INSERT", image(keys.HEAD, "RUNNING")), False),
    ("a flow version", record("INSERT", image(keys.version_sk(1), "PENDING")), False),
]


def test_the_template_states_exactly_the_dispatch_filter() -> None:
    assert stack_spec().mapping.filters == filter_patterns()


@pytest.mark.parametrize(("record_", "expected"), [sample[1:] for sample in SAMPLES], ids=[s[0] for s in SAMPLES])
def test_the_template_and_the_failure_handler_agree_on_each_record(record_: dict[str, Any], expected: bool) -> None:
    # Given the FilterCriteria as Lambda's event filtering applies them (local.esm), and the runner's own rules
    template_filters = stack_spec().mapping.filters
    # When each judges the record / Then they agree, and say what the record is
    assert passes(template_filters, record_) is expected
    assert is_dispatch(record_) is expected


def test_a_dispatch_reads_its_run_from_the_image() -> None:
    start = plain(image(keys.META, "RUNNING", execution_id="dev/e-1"))
    resumed = {**plain(image(RUN, "PENDING")), "attempt": 3, "wait_until": 1700000000}
    assert dispatch_of(start) == Dispatch("dev/e-1", 1, None, 1)
    assert dispatch_of(resumed) == Dispatch("dev/e-1", 2, "task2", 3, wait_until=1700000000)
