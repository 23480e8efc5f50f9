"""The runner's side of data passing, on the in-memory ports: what a run reads (and from where), what it
records, and how a failing expression or a large value ends its task."""

from __future__ import annotations

from typing import Any

import pytest

from flowcore.domain.records import Dispatch, EndedAttempt, RunRef, TaskResult
from flowcore.domain.statuses import TaskStatus
from flowcore.runner.outcome import Outcome
from tests.definitions import edge
from tests.rig import EXECUTION, Rig, fresh_script

START = Dispatch(EXECUTION, 1, None, 1)


@pytest.fixture(autouse=True)
def _script() -> None:
    fresh_script()


def run_of(rig: Rig, task_name: str) -> Any:
    return next(run for run in rig.store.runs_of(EXECUTION) if run.ref.task_name == task_name)


def chain_of_three() -> dict[str, Any]:
    return {
        "name": "three",
        "start_task": "a",
        "tasks": [
            {"name": "a", "type": "pass", "input": {"n": "${input.n}"}},
            {"name": "b", "type": "pass", "input": {"n": "${sum([previous.output.n, `1`])}"}},
            {"name": "c", "type": "pass", "input": {"a": "${tasks.a.output.n}", "b": "${previous.output.n}"}},
        ],
        "conditions": [edge("a", "b"), edge("b", "c")],
    }


def test_a_chain_reads_what_its_runs_produced_from_memory() -> None:
    rig = Rig()
    rig.start(chain_of_three(), {"n": 1})
    assert rig.drain() == [Outcome.COMMITTED]
    # One invocation ran all three: `previous` and `tasks.a` came from memory, no latest result was read
    assert run_of(rig, "c").output == {"a": 1, "b": 2}
    assert "latest" not in rig.store.calls
    # `a` is read as `tasks.a`, so its result is kept; `b` and `c` are not read by name
    assert rig.store.calls.count("remember") == 1
    assert [run.predecessor for run in rig.store.runs_of(EXECUTION)] == [None, "000001#a", "000002#b"]
    assert [run.input for run in rig.store.runs_of(EXECUTION)] == [{"n": 1}, {"n": 2}, {"a": 1, "b": 2}]


def test_across_hand_offs_a_run_reads_latest_results_and_its_predecessor_once() -> None:
    rig = Rig(chain_tasks=1)  # every run goes through the stream
    rig.start(chain_of_three(), {"n": 1})
    rig.drain()
    assert run_of(rig, "c").output == {"a": 1, "b": 2}
    # `b` found its predecessor among the latest results (`a` is kept: `c` reads it); `c` read `tasks.a` in
    # one query, and `previous` (`b`, which nothing reads by name) from its run item
    assert rig.store.calls.count("latest") == 2
    assert rig.store.reads == [RunRef(EXECUTION, 2, "b")]
    assert run_of(rig, "b").predecessor == "000001#a" and run_of(rig, "c").predecessor == "000002#b"


def test_a_flow_without_templates_writes_and_reads_nothing_more() -> None:
    rig = Rig(chain_tasks=1)
    plain = {
        "name": "plain",
        "start_task": "a",
        "tasks": [{"name": "a", "type": "pass"}, {"name": "b", "type": "pass"}],
    }
    rig.start(plain)
    rig.drain()
    runs = rig.store.runs_of(EXECUTION)
    assert [(run.input, run.predecessor, run.routed) for run in runs] == [(None, None, None)] * 2
    assert "latest" not in rig.store.calls and "remember" not in rig.store.calls


def test_a_condition_on_a_computed_value_records_its_choice() -> None:
    definition = {
        "name": "choose",
        "start_task": "s",
        "tasks": [{"name": "s", "type": "pass", "input": {"n": 3}}, {"name": "big"}, {"name": "small"}],
        "conditions": [edge("s", "big", failure="small", when={"expr": "output.n > input.limit"})],
    }
    rig = Rig()
    rig.start(definition, {"limit": 2})
    rig.drain()
    assert [run.ref.task_name for run in rig.store.runs_of(EXECUTION)] == ["s", "big"]
    assert run_of(rig, "s").routed == ("big",)


def test_recovery_follows_the_recorded_choice_instead_of_deciding_again() -> None:
    definition = {
        "name": "choose",
        "start_task": "s",
        "tasks": [{"name": "s", "type": "pass"}, {"name": "big"}, {"name": "small"}],
        "conditions": [edge("s", "big", failure="small", when={"expr": "input.limit > `2`"})],
    }
    rig = Rig(chain_tasks=1)
    rig.start(definition, {"limit": 1})
    # `s` committed, having chosen `big` (as it read the data then), and died before handing it off
    ref = RunRef(EXECUTION, 1, "s")
    ended = EndedAttempt(1, TaskResult.success("s", {}), "t", "t", 1, routed=("big",))
    rig.runs.commit_result(ref, ended, START.guard)
    rig.store.stream.clear()
    # The redelivered start finds the commit and moves on to `big`, not `small`
    assert rig.runner.process(START) is Outcome.RECOVERED
    assert [run.ref.task_name for run in rig.store.runs_of(EXECUTION)] == ["s", "big"]


def test_a_failing_condition_fails_its_task_and_is_routed_as_a_failure() -> None:
    definition = {
        "name": "bad condition",
        "start_task": "s",
        "tasks": [{"name": "s", "type": "pass", "input": {"n": "x"}}, {"name": "next"}, {"name": "fallback"}],
        "conditions": [
            edge("s", "next", when={"expr": "abs(output.n) > `1`"}),
            {"source_task": "s", "outcome": "failure", "target_task_success": "fallback"},
        ],
    }
    rig = Rig()
    rig.start(definition)
    rig.drain()
    failed = run_of(rig, "s")
    assert failed.status is TaskStatus.FAILURE
    assert failed.error.startswith("condition: expression 'abs(output.n) > `1`' failed: invalid type for value: x")
    assert [run.ref.task_name for run in rig.store.runs_of(EXECUTION)] == ["s", "fallback"]


def test_a_templated_parameter_of_the_wrong_type_fails_the_task_with_a_clear_error() -> None:
    definition = {
        "name": "wrong type",
        "start_task": "f",
        "tasks": [{"name": "f", "type": "fetch_data", "parameters": {"records": "${input.records}"}}],
    }
    rig = Rig()
    rig.start(definition, {"records": "many"})
    rig.drain()
    assert (run_of(rig, "f").status, run_of(rig, "f").error) == (
        TaskStatus.FAILURE,
        "parameter 'records' is \"many\", not an integer",
    )
    rig = Rig()
    rig.start(definition, {"records": 12})
    rig.drain()
    assert run_of(rig, "f").output == {"data_source": "default", "records_fetched": 12}


def test_a_large_output_is_kept_aside_and_read_back_only_outside_a_chain() -> None:
    definition = {
        "name": "large",
        "start_task": "make",
        "tasks": [
            {"name": "make", "type": "pass", "input": {"rows": "${input.rows}"}},
            {"name": "count", "type": "pass", "input": {"n": "${length(previous.output.rows)}"}},
        ],
    }
    rows = ["r" * 100] * 500  # about 51 KB: over the inline limit
    for chain_tasks, reads in ((100, 0), (1, 1)):
        rig = Rig(chain_tasks=chain_tasks)
        rig.start(definition, {"rows": rows})
        rig.drain()
        made = run_of(rig, "make")
        assert made.output is None and made.output_ref is not None and made.output_ref.size > 32_000
        assert made.input is None and made.input_ref == made.output_ref  # one object: the same value
        assert run_of(rig, "count").output == {"n": 500}
        assert rig.payloads.reads == reads
        assert (rig.payloads.puts, len(rig.payloads.objects)) == (1, 1)  # its output is its input: stored once
