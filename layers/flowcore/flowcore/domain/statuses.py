"""The statuses of task runs and executions, and every transition between them, as tables.

Each table maps a status to the events it accepts and the status each event leads to; a status with no
events is final. The DynamoDB adapter builds the status part of every conditional write from these
tables (`run_sources`, `execution_sources`), the API asks them whether an action applies, and
`tests/unit/test_statuses.py` reads them row by row. The timer state machine makes three of these moves
by itself (`REDISPATCH`, also when an awaited run misses its deadline, `RECLAIM`, `TIME_OUT`); a test holds
its conditions to the same tables.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class TaskStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    SKIPPED = "SKIPPED"


class ExecutionStatus(StrEnum):
    CREATED = "CREATED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"


#: A run before its item is written: the start task, and a task a chain runs ahead, are written when they end.
ABSENT: Final = "ABSENT"
type RunState = TaskStatus | str


class RunEvent(StrEnum):
    HAND_OFF = "hand_off"  # written PENDING for the stream to dispatch
    CLAIM = "claim"  # taken by one runner, with a lease, before a long task starts
    SUCCEED = "succeed"
    FAIL = "fail"
    PARK = "park"  # waiting for a timer: a long wait, or a retry after a delay
    RETRY_NOW = "retry_now"  # a retry shorter than the timer's resolution: PENDING again at the next attempt
    SKIP = "skip"  # its execution stopped before it ran
    CANCEL = "cancel"  # its execution was cancelled while it waited
    RECLAIM = "reclaim"  # its runner's lease ran out (timer)
    REDISPATCH = "redispatch"  # its wait or retry delay is over (timer)
    GIVE_UP = "give_up"  # the stream gave up on its dispatch (failure queue)
    COMPLETE = "complete"  # a callback, or the end of its child execution, completed the run it awaited
    HEARTBEAT = "heartbeat"  # an awaited run's holder says it is still at work: its deadline moves on


class ExecutionEvent(StrEnum):
    START = "start"
    BRANCH = "branch"  # branches open or end while it runs
    COMPLETE = "complete"
    FAIL = "fail"
    CANCEL = "cancel"
    TIME_OUT = "time_out"


#: How an attempt can end: a result, a wait for a timer, or straight back to the stream for the next attempt.
_ATTEMPT_ENDS = {
    RunEvent.SUCCEED: TaskStatus.SUCCESS,
    RunEvent.FAIL: TaskStatus.FAILURE,
    RunEvent.PARK: TaskStatus.WAITING,
    RunEvent.RETRY_NOW: TaskStatus.PENDING,
}

RUN_TRANSITIONS: Final[dict[RunState, dict[RunEvent, TaskStatus]]] = {
    ABSENT: {
        RunEvent.HAND_OFF: TaskStatus.PENDING,
        RunEvent.CLAIM: TaskStatus.RUNNING,
        **_ATTEMPT_ENDS,
        RunEvent.SKIP: TaskStatus.SKIPPED,
        RunEvent.GIVE_UP: TaskStatus.FAILURE,
    },
    TaskStatus.PENDING: {
        RunEvent.CLAIM: TaskStatus.RUNNING,
        **_ATTEMPT_ENDS,
        RunEvent.SKIP: TaskStatus.SKIPPED,
        RunEvent.CANCEL: TaskStatus.SKIPPED,
        RunEvent.GIVE_UP: TaskStatus.FAILURE,
    },
    TaskStatus.RUNNING: {**_ATTEMPT_ENDS, RunEvent.RECLAIM: TaskStatus.PENDING},
    TaskStatus.WAITING: {
        RunEvent.REDISPATCH: TaskStatus.PENDING,
        RunEvent.COMPLETE: TaskStatus.PENDING,
        RunEvent.HEARTBEAT: TaskStatus.WAITING,
        RunEvent.CANCEL: TaskStatus.SKIPPED,
    },
    TaskStatus.SUCCESS: {},
    TaskStatus.FAILURE: {},
    TaskStatus.SKIPPED: {},
}

EXECUTION_TRANSITIONS: Final[dict[ExecutionStatus, dict[ExecutionEvent, ExecutionStatus]]] = {
    ExecutionStatus.CREATED: {
        ExecutionEvent.START: ExecutionStatus.RUNNING,
        ExecutionEvent.CANCEL: ExecutionStatus.CANCELLED,
    },
    ExecutionStatus.RUNNING: {
        ExecutionEvent.BRANCH: ExecutionStatus.RUNNING,
        ExecutionEvent.COMPLETE: ExecutionStatus.COMPLETED,
        ExecutionEvent.FAIL: ExecutionStatus.FAILED,
        ExecutionEvent.CANCEL: ExecutionStatus.CANCELLED,
        ExecutionEvent.TIME_OUT: ExecutionStatus.TIMED_OUT,
    },
    ExecutionStatus.COMPLETED: {},
    ExecutionStatus.FAILED: {},
    ExecutionStatus.CANCELLED: {},
    ExecutionStatus.TIMED_OUT: {},
}


class IllegalTransition(ValueError):
    """An event that the table does not allow from the current status."""


def run_after(state: RunState, event: RunEvent) -> TaskStatus:
    """The status a run in `state` has after `event`; `IllegalTransition` when the table has no such move."""
    try:
        return RUN_TRANSITIONS[state][event]
    except KeyError:
        raise IllegalTransition(f"a task run in {state} cannot {event}") from None


def run_sources(event: RunEvent) -> tuple[RunState, ...]:
    """The states `event` may happen in, in table order (the written ones make a write's condition)."""
    return tuple(state for state, moves in RUN_TRANSITIONS.items() if event in moves)


def execution_after(status: ExecutionStatus, event: ExecutionEvent) -> ExecutionStatus:
    try:
        return EXECUTION_TRANSITIONS[status][event]
    except KeyError:
        raise IllegalTransition(f"an execution in {status} cannot {event}") from None


def execution_sources(event: ExecutionEvent) -> tuple[ExecutionStatus, ...]:
    return tuple(status for status, moves in EXECUTION_TRANSITIONS.items() if event in moves)


def is_open(state: RunState) -> bool:
    """A run that can still change: it is pending, running or waiting."""
    return state != ABSENT and bool(RUN_TRANSITIONS[state])


#: Executions that can still be cancelled, and so still hold their flow.
ACTIVE_EXECUTION_STATUSES: Final = frozenset(execution_sources(ExecutionEvent.CANCEL))
#: Runs a status document reports as not yet ended.
OPEN_RUN_STATUSES: Final = frozenset(status for status in TaskStatus if is_open(status))
