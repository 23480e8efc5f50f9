"""Runs that await a completion from outside: the ticket an attempt hands out, its park, and its resumption.

An attempt of a task that awaits is given a ticket (a token signed for this run, attempt and a fresh nonce).
The run is parked WAITING with the nonce and its deadline before the ticket is sent (`TaskResult.deliver`),
so a completion that comes back at once always finds it waiting. The first of a completion (`POST
/callbacks/{token}`, the end of a child execution) and the timer at the deadline makes it PENDING again, and
the stream dispatches it to be resumed: its result is the completion's.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from flowcore.domain.callbacks import Awaited, Completion
from flowcore.domain.clock import iso, utc_now
from flowcore.domain.errors import CallbacksUnavailable
from flowcore.domain.flow import TaskSpec
from flowcore.domain.records import Dispatch, DispatchGuard, EndedAttempt, RunRef
from flowcore.domain.tokens import callback_url, issue_token
from flowcore.observability import logger
from flowcore.ports import CallbackKeys, Completions, RunRepository, Timers
from flowcore.tasks.base import CallbackTicket, TaskType


def awaits(task: TaskSpec, task_type: TaskType | None) -> bool:
    """Whether an attempt of `task` ends by a completion from outside."""
    if task_type is None:
        return False
    return task_type.awaits or (task.wait_for_callback and task_type.can_wait_for_callback)


class Awaiting:
    def __init__(
        self,
        runs: RunRepository,
        completions: Completions | None,
        timers: Timers,
        keys: CallbackKeys | None,
        clock: Callable[[], float],
    ) -> None:
        self._runs = runs
        self._completions = completions
        self._timers = timers
        self._keys = keys
        self._clock = clock

    def ticket(self, task: TaskSpec, ref: RunRef, attempt: int) -> tuple[Awaited, CallbackTicket]:
        """A fresh nonce and deadlines for the attempt, and the ticket that carries them;
        `CallbacksUnavailable` when the deployment keeps no signing key."""
        if self._keys is None:
            raise CallbacksUnavailable("callbacks are not configured in this deployment (no signing key)")
        nonce = secrets.token_urlsafe(18)
        token = issue_token(self._keys.key(), ref, attempt, nonce)
        timeout_at = int(self._clock()) + task.timeout_seconds if task.timeout_seconds else None
        return Awaited(nonce, timeout_at, task.heartbeat_seconds), CallbackTicket(token, callback_url(token), nonce)

    @staticmethod
    def completion(dispatch: Dispatch) -> Completion:
        """How a resumed run was completed: the completion it holds, or its missed deadline."""
        awaited = dispatch.awaited
        assert awaited is not None and dispatch.wait_until is not None
        return awaited.completion or awaited.missed(dispatch.wait_until)

    def park(self, ref: RunRef, ended: EndedAttempt, guard: DispatchGuard) -> None:
        """Park the run until its deadline, then send its ticket; a ticket that cannot be sent completes the
        run as failed at once (the task's retry policy then applies)."""
        awaited = ended.awaited
        assert awaited is not None
        now = self._clock()
        wait_until = awaited.deadline(now)
        self._runs.park(ref, ended, guard, wait_until=wait_until)
        self._timers.expire(ref, ended.attempt, wait_until, max(0.0, wait_until - now))
        deliver = ended.result.deliver
        if deliver is None:
            return
        try:
            deliver()
        except Exception as error:  # noqa: BLE001 - whatever the integration raised is the attempt's failure
            logger.warning("callback delivery failed", extra={"error": repr(error)})
            failed = Completion(False, error=f"the task could not hand off its work: {error}", at=iso(utc_now()))
            if self._completions is not None:  # without, the run fails at its deadline
                self._completions.complete(ref, ended.attempt, awaited.nonce, failed)
