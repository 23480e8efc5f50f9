"""Runs that await a completion, on the in-memory ports: the park before the hand-off, one completion, the
timer's expiry, a hand-off that fails, and the claim an awaiting task does not take."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from flowcore.domain.callbacks import Completion
from flowcore.domain.records import RunRef, TaskResult
from flowcore.domain.statuses import TaskStatus
from flowcore.domain.tokens import read_token
from flowcore.tasks.base import Parameters, TaskContext, TaskType
from tests.fakes import FakeCompletions, StaticKeys
from tests.rig import EXECUTION, Rig


class Handing(TaskType):
    """Awaits; its hand-off records what the run looked like when it was sent, or raises."""

    name = "handing"
    description = "test task that hands its ticket off"
    awaits: ClassVar[bool] = True
    seen: ClassVar[list[Any]] = []
    fail: ClassVar[bool] = False

    def __init__(self, rig: Rig) -> None:
        self._rig = rig

    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult:
        assert ctx.callback is not None

        def deliver() -> None:
            Handing.seen.append((self._rig.statuses()[ctx.task_name], ctx.callback))
            if Handing.fail:
                raise RuntimeError("the queue is gone")

        return TaskResult.awaiting(ctx.task_name, deliver)


@pytest.fixture
def rig() -> Rig:
    made = Rig()
    made.runner._step._attempts._registry.register(Handing(made))
    Handing.seen.clear()
    Handing.fail = False
    return made


def _flow(**task: Any) -> dict[str, Any]:
    return {
        "name": "awaits",
        "start_task": "ask",
        "tasks": [{"name": "ask", "type": "handing", **task}, {"name": "after"}, {"name": "otherwise"}],
        "conditions": [
            {
                "source_task": "ask",
                "outcome": "success",
                "target_task_success": "after",
                "target_task_failure": "otherwise",
            }
        ],
    }


def _parked(rig: Rig) -> Any:
    (run,) = [run for run in rig.store.runs_of(EXECUTION) if run.ref.task_name == "ask"]
    return run


def test_the_ticket_is_handed_off_once_the_run_is_parked_and_names_that_attempt(rig: Rig) -> None:
    rig.start(_flow(timeout_seconds=600, heartbeat_seconds=60))
    rig.drain()

    ((status_when_sent, ticket),) = Handing.seen
    assert status_when_sent == (TaskStatus.WAITING, 1)
    run = _parked(rig)
    claims = read_token(StaticKeys().key(), ticket.token)
    assert claims is not None
    assert (claims.ref, claims.attempt, claims.nonce) == (run.ref, 1, run.awaited.nonce)
    assert run.wait_until == int(rig.now[0]) + 60  # the heartbeat deadline comes first
    assert "claim" not in rig.store.calls  # an awaiting task takes no claim, whatever its timeout


def test_one_completion_wins_and_the_resumed_run_takes_it_as_its_result(rig: Rig) -> None:
    rig.start(_flow())
    rig.drain()
    run = _parked(rig)
    completions = FakeCompletions(rig.store)

    assert completions.complete(run.ref, 1, run.awaited.nonce, Completion(True, output={"ok": 1}))
    assert not completions.complete(run.ref, 1, run.awaited.nonce, Completion(False, error="late"))
    assert rig.timers.fire_expiries() == 0  # the deadline's timer finds the run moved on
    rig.drain()

    assert rig.statuses() == {"ask": (TaskStatus.SUCCESS, 1), "after": (TaskStatus.SUCCESS, 1)}
    assert _parked(rig).output == {"ok": 1}


def test_the_timer_fails_a_run_whose_deadline_passes_first(rig: Rig) -> None:
    rig.start(_flow(timeout_seconds=5))
    rig.drain()
    run = _parked(rig)

    assert rig.timers.fire_expiries() == 1
    assert not FakeCompletions(rig.store).complete(run.ref, 1, run.awaited.nonce, Completion(True))
    rig.drain()

    ended = _parked(rig)
    assert (ended.status, ended.error) == (
        TaskStatus.FAILURE,
        "timed out: no completion arrived within the task's timeout_seconds",
    )
    assert rig.statuses()["otherwise"] == (TaskStatus.SUCCESS, 1)


def test_a_hand_off_that_raises_fails_the_attempt_at_once(rig: Rig) -> None:
    Handing.fail = True
    rig.start(_flow(retry={"max_attempts": 2, "interval_seconds": 0}))
    rig.drain()

    run = _parked(rig)
    error = "the task could not hand off its work: the queue is gone"
    assert (run.status, run.attempt, run.error) == (TaskStatus.FAILURE, 2, error)  # retried once, then handled
    assert [attempt.error for attempt in run.attempts] == [error]
    assert len({ticket.token for _, ticket in Handing.seen}) == 2  # each attempt its own token
    assert rig.statuses()["otherwise"] == (TaskStatus.SUCCESS, 1)


def test_a_redelivered_record_finds_the_run_parked_and_hands_nothing_off(rig: Rig) -> None:
    rig.start(_flow())
    first = list(rig.store.stream)
    rig.drain()
    for dispatch in first:
        rig.runner.process(dispatch)
    assert len(Handing.seen) == 1
    assert _parked(rig).ref == RunRef(EXECUTION, 1, "ask")
