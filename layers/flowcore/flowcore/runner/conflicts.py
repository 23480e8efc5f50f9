"""A conditional write found the run changed under the runner: what, if anything, is left to do.

Another delivery of the same dispatch acted on it (a duplicate), or the run holds a committed result whose
follow-ups may be missing (recovery walks on). A run the walk finds held gets its timer again: the crash
that left it may have come before its timer was started, and starting one twice is harmless.
"""

from __future__ import annotations

from collections.abc import Callable

from flowcore.domain.compiled import CompiledFlow
from flowcore.domain.conflicts import RunConflict
from flowcore.domain.records import Dispatch, RunRecord, RunRef
from flowcore.domain.routing import retry_delay
from flowcore.domain.statuses import TaskStatus
from flowcore.ports import RunRepository, Timers
from flowcore.runner.commit import MIN_TIMER_DELAY_SECONDS
from flowcore.runner.outcome import Outcome
from flowcore.runner.recovery import Recovery


class Conflicts:
    def __init__(
        self,
        runs: RunRepository,
        recovery: Recovery,
        timers: Timers,
        rand: Callable[[], float],
        clock: Callable[[], float],
    ) -> None:
        self._runs = runs
        self._recovery = recovery
        self._timers = timers
        self._rand = rand
        self._clock = clock

    def resolve(self, flow: CompiledFlow, ref: RunRef, dispatch: Dispatch, current: RunRecord | None) -> Outcome:
        """`current` is the run as it stood when the write was refused (None: gone)."""
        if current is None or current.attempt != dispatch.attempt:
            return Outcome.DUPLICATE  # deleted, re-dispatched at a later attempt, or an older record
        stopped = self._recovery.walk(flow, ref, current)
        if isinstance(stopped, Outcome):
            return stopped
        if stopped.status is TaskStatus.RUNNING:
            return self._reclaim_later(stopped.ref, stopped)
        return self._rearm(flow, stopped.ref, stopped)

    def _rearm(self, flow: CompiledFlow, ref: RunRef, current: RunRecord) -> Outcome:
        """Parked for a wait, a completion or a retry: its timer again."""
        if current.awaited is not None and current.wait_until is not None:
            remaining = current.wait_until - self._clock()
            self._timers.expire(ref, current.attempt, current.wait_until, max(0.0, remaining))
        elif current.wait_until is not None:
            remaining = current.wait_until - self._clock()
            self._timers.redispatch(ref, current.attempt, max(0.0, remaining), next_attempt=current.attempt)
        else:
            task = flow.tasks[ref.task_name]
            delay = retry_delay(task.retry, current.attempt, self._rand) if task.retry else 0.0
            self._timers.redispatch(ref, current.attempt, max(delay, MIN_TIMER_DELAY_SECONDS))
        return Outcome.RECOVERED

    def _reclaim_later(self, ref: RunRef, current: RunRecord) -> Outcome:
        """A run claimed by a runner that may have died: re-dispatch it once its lease has run out, never before."""
        remaining = (current.lease_until or 0) - self._clock()
        if current.claim is None:
            return Outcome.DUPLICATE
        if remaining <= 0:
            try:
                self._runs.reclaim(ref, current.attempt, current.claim)
            except RunConflict:
                return Outcome.DUPLICATE
            return Outcome.RECLAIMED
        self._timers.reclaim(ref, current.attempt, current.claim, remaining)
        return Outcome.RECLAIM_SCHEDULED
