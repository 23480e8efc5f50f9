"""The transition tables of runs and executions, read row by row; the timer state machine's three writes
make moves the tables allow."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from flowcore.domain.statuses import (
    ABSENT,
    ACTIVE_EXECUTION_STATUSES,
    EXECUTION_TRANSITIONS,
    OPEN_RUN_STATUSES,
    RUN_TRANSITIONS,
    ExecutionEvent,
    ExecutionStatus,
    IllegalTransition,
    RunEvent,
    TaskStatus,
    execution_after,
    execution_sources,
    is_open,
    run_after,
    run_sources,
)

ROOT = Path(__file__).resolve().parents[2]
P, R, W, S, F, K = (
    TaskStatus.PENDING,
    TaskStatus.RUNNING,
    TaskStatus.WAITING,
    TaskStatus.SUCCESS,
    TaskStatus.FAILURE,
    TaskStatus.SKIPPED,
)


def test_every_status_has_a_row() -> None:
    assert set(RUN_TRANSITIONS) == {ABSENT, *TaskStatus}
    assert set(EXECUTION_TRANSITIONS) == set(ExecutionStatus)


@pytest.mark.parametrize(
    ("state", "event", "after"),
    [
        (ABSENT, RunEvent.HAND_OFF, P),
        (ABSENT, RunEvent.SUCCEED, S),  # a start task, or a chained one, ends before its item is written
        (ABSENT, RunEvent.SKIP, K),
        (ABSENT, RunEvent.GIVE_UP, F),
        (P, RunEvent.CLAIM, R),
        (P, RunEvent.FAIL, F),
        (P, RunEvent.PARK, W),
        (P, RunEvent.RETRY_NOW, P),
        (P, RunEvent.CANCEL, K),
        (R, RunEvent.SUCCEED, S),
        (R, RunEvent.RECLAIM, P),
        (W, RunEvent.REDISPATCH, P),
        (W, RunEvent.CANCEL, K),
    ],
)
def test_a_run_moves_as_the_table_says(state: str, event: RunEvent, after: TaskStatus) -> None:
    assert run_after(state, event) is after


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (S, RunEvent.CLAIM),  # a committed result is never run again
        (F, RunEvent.RETRY_NOW),
        (K, RunEvent.HAND_OFF),
        (R, RunEvent.CANCEL),  # a claimed run finishes on its own
        (R, RunEvent.SKIP),
        (W, RunEvent.SUCCEED),  # a parked run ends only after its timer dispatched it again
        (ABSENT, RunEvent.RECLAIM),
        (P, RunEvent.REDISPATCH),
    ],
)
def test_a_move_the_table_lacks_is_illegal(state: str, event: RunEvent) -> None:
    with pytest.raises(IllegalTransition, match=f"cannot {event}"):
        run_after(state, event)


def test_final_run_statuses_accept_nothing_and_the_others_are_open() -> None:
    assert {status for status in TaskStatus if not RUN_TRANSITIONS[status]} == {S, F, K}
    assert frozenset({P, R, W}) == OPEN_RUN_STATUSES
    assert not is_open(ABSENT)


def test_where_each_event_may_happen() -> None:
    assert run_sources(RunEvent.CANCEL) == (P, W)
    assert run_sources(RunEvent.RECLAIM) == (R,)
    assert run_sources(RunEvent.REDISPATCH) == (W,)
    assert run_sources(RunEvent.CLAIM) == (ABSENT, P)
    assert run_sources(RunEvent.SUCCEED) == (ABSENT, P, R)


def test_every_run_status_is_reachable_and_every_path_can_end() -> None:
    reached, frontier = {ABSENT}, [ABSENT]
    while frontier:
        for after in RUN_TRANSITIONS[frontier.pop()].values():
            if after not in reached:
                reached.add(after)
                frontier.append(after)
    assert reached == {ABSENT, *TaskStatus}
    for state in (P, R, W):
        assert any(not RUN_TRANSITIONS[after] for after in RUN_TRANSITIONS[state].values())


def test_executions_move_as_the_table_says() -> None:
    assert execution_after(ExecutionStatus.CREATED, ExecutionEvent.START) is ExecutionStatus.RUNNING
    assert execution_after(ExecutionStatus.RUNNING, ExecutionEvent.BRANCH) is ExecutionStatus.RUNNING
    assert execution_after(ExecutionStatus.RUNNING, ExecutionEvent.TIME_OUT) is ExecutionStatus.TIMED_OUT
    assert execution_sources(ExecutionEvent.CANCEL) == (ExecutionStatus.CREATED, ExecutionStatus.RUNNING)
    assert execution_sources(ExecutionEvent.FAIL) == (ExecutionStatus.RUNNING,)
    assert frozenset({ExecutionStatus.CREATED, ExecutionStatus.RUNNING}) == ACTIVE_EXECUTION_STATUSES
    with pytest.raises(IllegalTransition):
        execution_after(ExecutionStatus.CREATED, ExecutionEvent.COMPLETE)  # it never ran
    with pytest.raises(IllegalTransition):
        execution_after(ExecutionStatus.CANCELLED, ExecutionEvent.START)
    finals = {status for status, moves in EXECUTION_TRANSITIONS.items() if not moves}
    assert finals == set(EXECUTION_TRANSITIONS[ExecutionStatus.RUNNING].values()) - {ExecutionStatus.RUNNING}


def _timer_write(state: str) -> tuple[str, str]:
    """The status a timer state's UpdateItem requires, and the one it writes."""
    machine: dict[str, Any] = json.loads((ROOT / "statemachine" / "timer.asl.json").read_text(encoding="utf-8"))
    parameters = machine["States"][state]["Parameters"]
    values = parameters["ExpressionAttributeValues"]
    required = re.search(r"#status = (:\w+)", parameters["ConditionExpression"])
    written = re.search(r"SET #status = (:\w+)", parameters["UpdateExpression"])
    assert required and written
    return values[required.group(1)]["S"], values[written.group(1)]["S"]


@pytest.mark.parametrize(
    ("state", "event"),
    [("Redispatch", RunEvent.REDISPATCH), ("Expire", RunEvent.REDISPATCH), ("Reclaim", RunEvent.RECLAIM)],
)
def test_the_timers_run_writes_are_moves_of_the_table(state: str, event: RunEvent) -> None:
    required, written = _timer_write(state)
    assert (required,) == run_sources(event)
    assert run_after(required, event) == written


def test_the_timers_timeout_marks_an_execution_the_table_lets_time_out_and_writes_no_status() -> None:
    """The timer only marks the execution overdue; the runner's stop makes the move (flowcore.domain.deadlines)."""
    machine: dict[str, Any] = json.loads((ROOT / "statemachine" / "timer.asl.json").read_text(encoding="utf-8"))
    parameters = machine["States"]["TimeOut"]["Parameters"]
    required = re.search(r"#status = (:\w+)", parameters["ConditionExpression"])
    assert required is not None
    assert (parameters["ExpressionAttributeValues"][required.group(1)]["S"],) == execution_sources(
        ExecutionEvent.TIME_OUT
    )
    assert parameters["UpdateExpression"] == "SET #due = :reason"
    assert parameters["ExpressionAttributeNames"]["#due"] == "timeout_due"
