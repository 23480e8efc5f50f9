"""Runs that wait for a completion from outside; their tokens are `flowcore.domain.tokens`.

A task that awaits (a `callback` task, a `subflow`, an integration with `wait_for_callback`) parks its run
WAITING with a random nonce and a deadline. Whoever holds the run's token completes it, once; a child
execution completes its parent's run when it ends; the timer fails it when the deadline passes first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowcore.domain.payloads import PayloadRef

#: What a completion may carry inline on its run, as compact JSON; a larger output goes to the payload store.
MAX_INLINE_COMPLETION_BYTES = 32_000
#: A run that names no deadline still ends within the timer's reach (a Standard state machine's year).
MAX_AWAIT_SECONDS = 31_536_000


@dataclass(frozen=True, slots=True)
class Completion:
    """How an awaited run was completed: a callback's outcome, a child execution's end, or its deadline."""

    succeeded: bool
    output: Any = None
    error: str | None = None
    at: str | None = None  # when it was recorded
    output_ref: PayloadRef | None = None  # set instead of `output` when that was too large to sit on the run


@dataclass(frozen=True, slots=True)
class Awaited:
    """What a run parked for a completion keeps: the nonce its token carries, its deadlines, and the
    completion once one arrived (a run that ended keeps it, so the same callback again is answered alike)."""

    nonce: str
    timeout_at: int | None = None  # epoch seconds: no completion by then fails it (the task's timeout_seconds)
    heartbeat_seconds: int | None = None  # without a heartbeat for this long, it fails
    completion: Completion | None = None

    def deadline(self, now: float) -> int:
        """When the run fails unless completed or heartbeated, from `now` (parked, or the last heartbeat)."""
        limits = [int(now) + MAX_AWAIT_SECONDS]
        if self.timeout_at is not None:
            limits.append(self.timeout_at)
        if self.heartbeat_seconds is not None:
            limits.append(int(now) + self.heartbeat_seconds)
        return min(limits)

    def missed(self, deadline: int) -> Completion:
        """The completion of a run whose `deadline` passed first."""
        if self.timeout_at is not None and deadline >= self.timeout_at:
            return Completion(False, error="timed out: no completion arrived within the task's timeout_seconds")
        if self.heartbeat_seconds is not None:
            return Completion(False, error=f"timed out: no heartbeat within {self.heartbeat_seconds} seconds")
        return Completion(False, error=f"timed out: no completion arrived within {MAX_AWAIT_SECONDS} seconds")
