"""The task runner against in-memory ports (tests/fakes.py): dispatch, commit, chain, recovery, joins and the
failure queue, each case in a few milliseconds. The moto suites drive the same code through the real table."""

from __future__ import annotations

from collections import Counter

import pytest

from flowcore.domain.records import Dispatch, RunRef
from flowcore.domain.statuses import ExecutionEvent, ExecutionStatus, TaskStatus
from flowcore.runner.commit import FollowUps
from flowcore.runner.failures import FailedBatchHandler
from flowcore.runner.flows import FlowCache
from flowcore.runner.outcome import Outcome
from flowcore.runner.recovery import Recovery
from flowcore.tasks import TaskContext
from tests.fakes import FakeBatches, FakeRuns
from tests.rig import EXECUTION, T0, Killed, Rig, Scripted, fan_out_to_join, fresh_script, sequence


@pytest.fixture(autouse=True)
def _fresh_script() -> None:
    fresh_script()


DONE = (TaskStatus.SUCCESS, 1)
START = Dispatch(EXECUTION, 1, None, 1)


# -- dispatch ------------------------------------------------------------------------------------


def test_a_started_execution_runs_its_path_in_one_dispatch() -> None:
    rig = Rig()
    rig.start(sequence("t1", "t2", "t3"))
    assert rig.drain() == [Outcome.COMMITTED]
    assert rig.statuses() == {"t1": DONE, "t2": DONE, "t3": DONE}
    assert (rig.execution.status, rig.execution.open_branches) == (ExecutionStatus.COMPLETED, 0)
    assert rig.store.calls == ["commit", "commit", "commit", "move_branches"]  # plain writes, no transaction


def test_without_chaining_each_task_is_handed_to_the_stream() -> None:
    rig = Rig(chain_tasks=1)
    rig.start(sequence("t1", "t2", "t3"))
    assert rig.drain() == [Outcome.COMMITTED] * 3
    assert rig.store.calls == ["commit", "hand_off", "commit", "hand_off", "commit", "move_branches"]
    assert rig.execution.status is ExecutionStatus.COMPLETED


def test_a_second_delivery_of_a_dispatch_commits_nothing() -> None:
    rig = Rig(chain_tasks=1)
    rig.start(sequence("t1", "t2"))
    rig.drain()
    again = Dispatch(EXECUTION, 2, "t2", 1)
    assert rig.runner.process(again) is Outcome.DUPLICATE
    assert rig.statuses() == {"t1": DONE, "t2": DONE}


def test_a_run_of_a_deleted_execution_is_removed() -> None:
    rig = Rig()
    rig.runs.hand_off(RunRef("gone", 2, "t2"))
    assert rig.runner.process(Dispatch("gone", 2, "t2", 1)) is Outcome.GONE
    assert rig.store.runs == {}


def test_runs_of_a_stopped_execution_are_skipped() -> None:
    rig = Rig(chain_tasks=1)
    rig.start(sequence("t1", "t2"))
    rig.runner.process(rig.store.stream.popleft())
    rig.executions.stop(EXECUTION, ExecutionEvent.CANCEL, "cancelled by request")
    assert rig.drain() == [Outcome.SKIPPED]
    assert rig.statuses()["t2"] == (TaskStatus.SKIPPED, 1)
    assert rig.runner.process(START) is Outcome.SKIPPED  # a start record after the stop writes nothing


# -- commit --------------------------------------------------------------------------------------


def test_a_short_retry_is_dispatched_again_at_once() -> None:
    rig = Rig()
    flaky = {"name": "t1", "type": "pass", "parameters": {"fail_times": 1}, "retry": {"interval_seconds": 0.1}}
    rig.start({"name": "retry", "start_task": "t1", "tasks": [flaky]})
    assert rig.drain() == [Outcome.RETRYING, Outcome.COMMITTED]
    assert rig.statuses() == {"t1": (TaskStatus.SUCCESS, 2)}


def test_a_longer_retry_waits_for_its_timer() -> None:
    rig = Rig()
    flaky = {"name": "t1", "type": "pass", "parameters": {"fail_times": 1}, "retry": {"interval_seconds": 5}}
    rig.start({"name": "retry", "start_task": "t1", "tasks": [flaky]})
    assert rig.drain() == [Outcome.RETRY_SCHEDULED]
    assert rig.statuses() == {"t1": (TaskStatus.WAITING, 1)}
    assert [(t.action, t.delay_seconds, t.next_attempt) for t in rig.timers.scheduled.values()] == [
        ("redispatch", 5.0, 2)
    ]
    assert rig.timers.fire_redispatches() == 1
    assert rig.drain() == [Outcome.COMMITTED]
    assert rig.statuses() == {"t1": (TaskStatus.SUCCESS, 2)}


def test_a_long_wait_parks_its_run_until_the_timer_resumes_it() -> None:
    rig = Rig()
    rig.start(
        {"name": "w", "start_task": "nap", "tasks": [{"name": "nap", "type": "wait", "parameters": {"seconds": 60}}]}
    )
    assert rig.drain() == [Outcome.WAITING]
    parked = rig.store.run(RunRef(EXECUTION, 1, "nap"))
    assert parked is not None and (parked.status, parked.wait_until) == (TaskStatus.WAITING, int(T0) + 60)
    rig.timers.fire_redispatches()
    assert rig.drain() == [Outcome.COMMITTED]
    done = rig.store.run(RunRef(EXECUTION, 1, "nap"))
    assert done is not None and (done.status, done.output) == (TaskStatus.SUCCESS, {"waited_seconds": 60.0})


def test_the_transition_limit_fails_the_execution_cleanly() -> None:
    rig = Rig()
    rig.start(sequence("t1", "t2", "t3", max_transitions=2))
    rig.drain()
    assert rig.statuses() == {"t1": DONE, "t2": DONE}
    assert rig.execution.status is ExecutionStatus.FAILED
    assert rig.execution.error == "transition limit of 2 reached after task 't2'"


def test_an_unhandled_failure_ends_the_branch_and_fails_the_execution() -> None:
    rig = Rig()
    failing = {"name": "t1", "type": "pass", "parameters": {"fail_times": 1}}
    rig.start({"name": "f", "start_task": "t1", "tasks": [failing, {"name": "t2"}]})
    rig.drain()
    assert rig.statuses() == {"t1": (TaskStatus.FAILURE, 1)}
    assert (rig.execution.status, rig.execution.failed) == (ExecutionStatus.FAILED, True)
    assert rig.execution.error == "task 't1' failed: forced failure 1 of 1 (fail_times)"


# -- joins ---------------------------------------------------------------------------------------


def test_branches_commit_atomically_and_meet_in_one_join_run() -> None:
    rig = Rig()
    rig.start(fan_out_to_join())
    rig.drain()
    assert rig.statuses() == {"start": DONE, "a": DONE, "b": DONE, "join": DONE}
    assert Scripted.ran["join"] == 1
    assert (rig.execution.status, rig.execution.open_branches) == (ExecutionStatus.COMPLETED, 0)
    # The fork, the first branch to wait, and the join's end write the execution; the last branch to arrive
    # becomes the join's run without writing it
    assert rig.store.calls == [
        "commit_atomic+execution",
        "commit_atomic+execution",
        "commit_atomic",
        "commit_atomic+execution",
    ]
    join = rig.store.run(RunRef(EXECUTION, 3, "join"))
    assert join is not None and join.arrived == ("000002#a", "000002#b")
    assert rig.execution.joins == {}


# -- chain ---------------------------------------------------------------------------------------


def test_a_chain_hands_off_before_a_task_that_might_not_end_in_time() -> None:
    rig = Rig()
    rig.start(sequence("t1", "t2"))
    assert rig.runner.process(rig.store.stream.popleft(), remaining_ms=lambda: 9_000) is Outcome.COMMITTED
    assert rig.statuses() == {"t1": DONE, "t2": (TaskStatus.PENDING, 1)}
    assert list(rig.store.stream) == [Dispatch(EXECUTION, 2, "t2", 1)]


def test_a_cancel_during_a_chain_skips_the_next_task() -> None:
    rig = Rig()
    rig.start(sequence("t1", "t2"))
    Scripted.actions["t1"] = lambda ctx: rig.executions.stop(EXECUTION, ExecutionEvent.CANCEL, "cancelled by request")
    assert rig.drain() == [Outcome.SKIPPED]
    assert rig.statuses() == {"t1": DONE, "t2": (TaskStatus.SKIPPED, 1)}
    assert Scripted.ran["t2"] == 0


def test_a_delete_during_a_chain_leaves_no_run_behind() -> None:
    rig = Rig()
    rig.start(sequence("t1", "t2"))
    Scripted.actions["t1"] = lambda ctx: rig.executions.delete(EXECUTION)
    assert rig.drain() == [Outcome.GONE]
    assert rig.store.runs == {}


# -- recovery ------------------------------------------------------------------------------------


def die(ctx: TaskContext) -> None:
    raise Killed


def test_a_crash_mid_chain_is_resumed_where_the_chain_stopped() -> None:
    # Given a chain that died in t3, after t1 and t2 committed
    rig = Rig()
    rig.start(sequence("t1", "t2", "t3"))
    Scripted.actions["t3"] = die
    with pytest.raises(Killed):
        rig.drain()
    assert rig.statuses() == {"t1": DONE, "t2": DONE}
    # When the start record is delivered again
    assert rig.runner.process(START) is Outcome.RECOVERED
    rig.drain()
    # Then t1 ran again but committed once, t2 did not run again, and the path went on at t3
    assert rig.statuses() == {"t1": DONE, "t2": DONE, "t3": DONE}
    assert Scripted.ran == Counter({"t1": 2, "t2": 1, "t3": 2})
    assert rig.execution.status is ExecutionStatus.COMPLETED


def test_a_crash_between_a_commit_and_its_hand_off_is_repaired(monkeypatch: pytest.MonkeyPatch) -> None:
    rig = Rig(chain_tasks=1)
    rig.start(sequence("t1", "t2"))
    real_hand_off = FakeRuns.hand_off

    def die_once(self: FakeRuns, ref: RunRef, predecessor: str | None = None) -> bool:
        monkeypatch.setattr(FakeRuns, "hand_off", real_hand_off)
        raise Killed

    monkeypatch.setattr(FakeRuns, "hand_off", die_once)
    with pytest.raises(Killed):
        rig.drain()
    assert rig.statuses() == {"t1": DONE}
    assert rig.runner.process(START) is Outcome.RECOVERED
    assert rig.drain() == [Outcome.COMMITTED]
    assert rig.execution.status is ExecutionStatus.COMPLETED


def test_a_live_claim_is_reclaimed_only_after_its_lease() -> None:
    # Given a runner that died after claiming its run
    rig = Rig()
    rig.start(sequence("t1", task_type="scripted_claimed"))
    Scripted.actions["t1"] = die
    with pytest.raises(Killed):
        rig.drain()
    claimed = rig.store.run(RunRef(EXECUTION, 1, "t1"))
    assert claimed is not None and claimed.status is TaskStatus.RUNNING
    # When the record comes again while the lease holds / Then a timer is set for the lease's end
    assert rig.runner.process(START) is Outcome.RECLAIM_SCHEDULED
    assert [(t.action, t.delay_seconds) for t in rig.timers.scheduled.values()] == [("reclaim", 90.0)]
    # When it comes again after the lease ran out / Then the run goes back to the stream, and completes
    rig.now[0] = T0 + 91
    assert rig.runner.process(START) is Outcome.RECLAIMED
    assert rig.drain() == [Outcome.COMMITTED]
    assert rig.statuses() == {"t1": DONE}


def test_a_parked_run_found_again_gets_its_timer_again() -> None:
    rig = Rig()
    rig.start(
        {"name": "w", "start_task": "nap", "tasks": [{"name": "nap", "type": "wait", "parameters": {"seconds": 60}}]}
    )
    rig.drain()
    rig.timers.scheduled.clear()  # the crash came before the timer started
    rig.now[0] = T0 + 20
    assert rig.runner.process(START) is Outcome.RECOVERED
    assert [(t.action, t.delay_seconds, t.next_attempt) for t in rig.timers.scheduled.values()] == [
        ("redispatch", 40.0, 1)
    ]


def recovery(rig: Rig) -> Recovery:
    """The failure handler's recovery: no timers."""
    return Recovery(rig.runs, rig.executions, FlowCache(rig.flows), FollowUps(rig.runs, rig.executions, rig.results))


def test_resume_moves_on_a_path_that_stopped_after_a_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    rig = Rig(chain_tasks=1)
    rig.start(sequence("t1", "t2"))
    monkeypatch.setattr(
        FakeRuns, "hand_off", lambda self, ref, predecessor=None: False
    )  # the next run's write never landed
    rig.drain()
    monkeypatch.undo()
    assert recovery(rig).resume(START) is Outcome.RECOVERED
    assert rig.statuses()["t2"] == (TaskStatus.PENDING, 1)


def test_resume_leaves_paths_that_are_carried_or_over_alone() -> None:
    # A PENDING run: its own record carries it
    rig = Rig(chain_tasks=1)
    rig.start(sequence("t1", "t2"))
    rig.runner.process(rig.store.stream.popleft())
    assert recovery(rig).resume(Dispatch(EXECUTION, 2, "t2", 1)) is Outcome.DUPLICATE
    # An execution that ended
    rig.drain()
    assert recovery(rig).resume(START) is Outcome.ENDED
    # A run a timer holds
    parked = Rig()
    parked.start(
        {"name": "w", "start_task": "nap", "tasks": [{"name": "nap", "type": "wait", "parameters": {"seconds": 60}}]}
    )
    parked.drain()
    assert recovery(parked).resume(START) is Outcome.OPEN
    # A flow that commits each result with its successors
    branching = Rig()
    branching.start(fan_out_to_join())
    assert recovery(branching).resume(START) is Outcome.ATOMIC


# -- the failure queue ---------------------------------------------------------------------------


def handler(rig: Rig, *dispatches: Dispatch) -> FailedBatchHandler:
    return FailedBatchHandler(
        rig.runs, rig.executions, rig.flows, FakeBatches(list(dispatches)), recovery(rig), rig.timers
    )


MESSAGE = {
    "DDBStreamBatchInfo": {},
    "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 6},
}


def test_a_dispatch_the_stream_gave_up_on_fails_its_run_and_execution() -> None:
    rig = Rig(chain_tasks=1)
    rig.start(sequence("t1", "t2"))
    rig.runner.process(rig.store.stream.popleft())
    assert handler(rig, Dispatch(EXECUTION, 2, "t2", 1)).handle(MESSAGE) == 1
    assert rig.statuses() == {"t1": DONE, "t2": (TaskStatus.FAILURE, 1)}
    assert rig.execution.status is ExecutionStatus.FAILED
    assert rig.execution.error == "the runner gave up on task run 000002#t2 after 6 attempts (RetryAttemptsExhausted)"


def test_a_start_the_stream_gave_up_on_fails_the_start_task() -> None:
    rig = Rig()
    rig.start(sequence("t1", "t2"))
    assert handler(rig, START).handle(MESSAGE) == 1
    assert rig.statuses() == {"t1": (TaskStatus.FAILURE, 1)}
    assert rig.execution.error == "the runner gave up on its start after 6 attempts"


def test_a_dispatch_that_had_moved_on_is_resumed_not_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    rig = Rig(chain_tasks=1)
    rig.start(sequence("t1", "t2"))
    monkeypatch.setattr(FakeRuns, "hand_off", lambda self, ref, predecessor=None: False)
    rig.drain()
    monkeypatch.undo()
    assert handler(rig, START).handle(MESSAGE) == 0
    assert rig.drain() == [Outcome.COMMITTED]
    assert rig.execution.status is ExecutionStatus.COMPLETED


def test_each_attempt_that_is_tried_again_is_kept_on_the_run() -> None:
    rig = Rig()
    flaky = {"name": "t1", "type": "pass", "parameters": {"fail_times": 2}, "retry": {"interval_seconds": 0}}
    rig.start({"name": "retry", "start_task": "t1", "tasks": [flaky]})
    assert rig.drain() == [Outcome.RETRYING, Outcome.RETRYING, Outcome.COMMITTED]
    run = rig.store.run(RunRef(EXECUTION, 1, "t1"))
    assert run is not None and (run.status, run.attempt) == (TaskStatus.SUCCESS, 3)
    assert [(tried.attempt, tried.status, tried.error) for tried in run.attempts] == [
        (1, TaskStatus.FAILURE, "forced failure 1 of 2 (fail_times)"),
        (2, TaskStatus.FAILURE, "forced failure 2 of 2 (fail_times)"),
    ]


def test_an_execution_with_a_timeout_stops_its_timer_when_it_ends() -> None:
    rig = Rig()
    rig.start(sequence("t1", "t2", timeout_seconds=3600))
    rig.drain()
    assert rig.execution.status is ExecutionStatus.COMPLETED
    assert rig.timers.cancelled == [EXECUTION]
    assert rig.timers.scheduled == {}


def test_the_failure_queue_stops_the_timers_of_what_it_fails() -> None:
    rig = Rig(chain_tasks=1)
    rig.start(sequence("t1", "t2", timeout_seconds=3600))
    rig.runner.process(rig.store.stream.popleft())
    assert handler(rig, Dispatch(EXECUTION, 2, "t2", 1)).handle(MESSAGE) == 1
    assert rig.timers.cancelled == [EXECUTION]
