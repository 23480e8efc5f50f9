"""What the runner and the API need from the outside world, named after intent.

The DynamoDB and Step Functions adapters (`flowcore.adapters`) implement these; the runner's unit tests use
an in-memory fake (`tests/fakes.py`). A refused conditional write raises the domain conflict its method
names (`flowcore.domain.conflicts`); how it is written (a plain write or a transaction) is the adapter's
choice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from flowcore.domain.branches import NewRun
from flowcore.domain.callbacks import Completion
from flowcore.domain.deadlines import StreamWork
from flowcore.domain.payloads import PayloadRef
from flowcore.domain.records import (
    BranchChange,
    DispatchGuard,
    EndedAttempt,
    ExecutionRecord,
    FlowHead,
    FlowRecord,
    LatestResult,
    RunRecord,
    RunRef,
)
from flowcore.domain.statuses import ExecutionEvent, ExecutionStatus

type Page[T] = tuple[list[T], str | None]  # the items and the cursor of the next page (None: the last)


class FlowRepository(Protocol):
    def save(self, flow_id: str, document: dict[str, Any], content_hash: str) -> tuple[FlowRecord, bool]:
        """Store `document` as the flow's next version, unless the latest has the same content; whether it was new."""
        ...

    def get(self, flow_id: str, version: int | None = None) -> FlowRecord:
        """A version (the latest of a live flow when None); `NotFound` when there is none. A given version is
        found while it is kept, also after its flow was deleted: executions read the version they run."""
        ...

    def head(self, flow_id: str) -> FlowHead | None:
        """The flow's head, a deleted flow's too (`deleted_at`); None when the id was never used."""
        ...

    def list_heads(self, tenant: str, limit: int, cursor: str | None) -> Page[FlowHead]:
        """The tenant's live flows, by id."""
        ...

    def delete(self, flow_id: str) -> None:
        """Delete a live flow; its version numbers stay taken. `NotFound` when there is none."""
        ...


class ExecutionRepository(Protocol):
    def create(self, record: ExecutionRecord) -> ExecutionRecord:
        """Write a new execution; the one its idempotency key started already in its flow is returned instead.
        A RUNNING one takes a place among its tenant's running executions (`TooManyRequests` at the quota)."""
        ...

    def find_started(self, flow_id: str, idempotency_key: str) -> ExecutionRecord | None:
        """The execution this Idempotency-Key started in this flow, while it lives."""
        ...

    def start(self, execution_id: str) -> ExecutionRecord:
        """CREATED -> RUNNING; `NotFound`, or `Conflict` when it is not CREATED."""
        ...

    def get(self, execution_id: str) -> ExecutionRecord | None:
        """Strongly consistent: a runner must see a cancel."""
        ...

    def list_of_flow(
        self, flow_id: str, status: ExecutionStatus | None, limit: int, cursor: str | None
    ) -> Page[ExecutionRecord]:
        """A flow's executions, newest first."""
        ...

    def has_active(self, flow_id: str) -> bool: ...

    def delete(self, execution_id: str) -> int:
        """Delete the execution and every run; how many items went. `NotFound` when there was none."""
        ...

    def stop(self, execution_id: str, event: ExecutionEvent, reason: str | None) -> bool:
        """End it whatever its branches are doing (cancel, fail, limit); False when the table forbids `event` now."""
        ...

    def move_branches(self, execution_id: str, change: BranchChange) -> bool:
        """Apply `change` if the count is still the one read; False when it moved or the execution stopped."""
        ...


class StartQuota(Protocol):
    def admit(self, tenant: str) -> None:
        """Count one start of `tenant`; `TooManyRequests` when its starts per second are used up."""
        ...


class RunRepository(Protocol):
    def get(self, ref: RunRef) -> RunRecord | None:
        """Strongly consistent."""
        ...

    def list_runs(self, execution_id: str) -> list[RunRecord]:
        """Every run of the execution, in path order."""
        ...

    def runs_page(self, execution_id: str, limit: int, cursor: str | None) -> Page[RunRecord]:
        """Up to `limit` runs of the execution in path order, from `cursor` (None: the first);
        `BadRequest` for a cursor that is not a position among its runs."""
        ...

    def hand_off(self, ref: RunRef, predecessor: str | None = None) -> bool:
        """Write the run PENDING for the stream to dispatch, unless it exists; whether this call wrote it.
        `predecessor` (the label of the run that led to it) is kept when the flow reads `previous`."""
        ...

    def skip_ahead(self, ref: RunRef) -> bool:
        """Write a run that will not start (its execution stopped) as SKIPPED, unless it exists."""
        ...

    def claim(self, ref: RunRef, guard: DispatchGuard, token: str, lease_until: int) -> None:
        """RUNNING under `token` until `lease_until`; `RunConflict` when the run is no longer as `guard` says."""
        ...

    def commit_result(
        self,
        ref: RunRef,
        ended: EndedAttempt,
        guard: DispatchGuard,
        successors: tuple[NewRun, ...] = (),
        branches: BranchChange | None = None,
        remember: LatestResult | None = None,
    ) -> None:
        """Record the attempt's result, and with it, all or nothing, the successors (PENDING), the branch change
        and the task's latest result (`ResultRepository`).

        `RunConflict` when the run changed, `SuccessorsExist` when a sibling wrote some successors first,
        `ExecutionConflict` when the execution no longer matches `branches`.
        """
        ...

    def park(self, ref: RunRef, ended: EndedAttempt, guard: DispatchGuard, wait_until: int | None = None) -> None:
        """WAITING for a timer: a retry after a delay, or a long wait (until `wait_until`)."""
        ...

    def retry_now(self, ref: RunRef, ended: EndedAttempt, guard: DispatchGuard) -> None:
        """Record the failed attempt and make the run PENDING again at the next attempt."""
        ...

    def skip(self, ref: RunRef, guard: DispatchGuard) -> None:
        """SKIPPED: its execution stopped before it ran. `RunConflict` as for `claim`."""
        ...

    def reclaim(self, ref: RunRef, attempt: int, claim: str) -> None:
        """Back to PENDING if still RUNNING under `claim` (its runner died); `RunConflict` otherwise."""
        ...

    def fail_dispatch(self, ref: RunRef, attempt: int | None, reason: str) -> bool:
        """FAILURE for a dispatch the stream gave up on, if it is still PENDING at `attempt` (None: a start
        dispatch, not written yet); False when it moved on."""
        ...

    def cancel_open(self, execution_id: str) -> int:
        """SKIPPED for every PENDING or WAITING run; how many."""
        ...

    def delete(self, ref: RunRef) -> None: ...


class Completions(Protocol):
    """Runs parked for a completion from outside (`flowcore.domain.callbacks`): what completes them, once."""

    def complete(self, ref: RunRef, attempt: int, nonce: str, completion: Completion) -> bool:
        """WAITING -> PENDING with `completion`, if the run still awaits the token with `nonce` at `attempt` and
        holds no completion yet; whether this call completed it."""
        ...

    def heartbeat(self, ref: RunRef, attempt: int, nonce: str, wait_until: int) -> bool:
        """Move an awaited run's deadline to `wait_until`, on the same conditions as `complete`."""
        ...


class ResultRepository(Protocol):
    """The latest ended run of each task that some template reads as `tasks.<name>`, per execution."""

    def remember(self, execution_id: str, result: LatestResult) -> None:
        """Keep `result` as its task's latest, unless a later run of the task (a higher `seq`) is kept."""
        ...

    def latest(self, execution_id: str, names: Iterable[str]) -> dict[str, LatestResult]:
        """The latest results of those of `names` that have ended (strongly consistent)."""
        ...


class Timers(Protocol):
    def redispatch(self, ref: RunRef, attempt: int, delay_seconds: float, next_attempt: int | None = None) -> None:
        """After the delay, a WAITING run at `attempt` becomes PENDING at `next_attempt` (default: the next one)."""
        ...

    def reclaim(self, ref: RunRef, attempt: int, claim: str, delay_seconds: float) -> None:
        """After the delay, a run still RUNNING under `claim` goes back to PENDING."""
        ...

    def timeout(self, execution_id: str, seconds: int) -> None:
        """After `seconds`, a still RUNNING execution becomes TIMED_OUT."""
        ...

    def expire(self, ref: RunRef, attempt: int, wait_until: int, delay_seconds: float) -> None:
        """After the delay, a run still WAITING at `attempt` with this deadline becomes PENDING (it missed it)."""
        ...

    def cancel(self, execution_id: str, runs: Iterable[RunRecord]) -> int:
        """Stop the timers of an execution that ended: its timeout, and those its runs (as they stood) started."""
        ...


class PayloadStore(Protocol):
    """Large values of an execution (`flowcore.domain.payloads`), kept outside its items."""

    def put(self, execution_id: str, value: Any) -> PayloadRef:
        """Store `value` (as compact JSON) under the execution; the same value twice is one object."""
        ...

    def get(self, ref: PayloadRef) -> Any:
        """The value as it was stored."""
        ...

    def url(self, ref: PayloadRef, expires_seconds: int = 900) -> str:
        """A link that downloads the value for a while, with no other credentials."""
        ...

    def delete_all(self, execution_id: str) -> int:
        """Remove every value stored under the execution; how many."""
        ...


class PayloadDownloads(PayloadStore, Protocol):
    """The payload store as the API uses it: its download route finds a value by the hash its reference shows."""

    def find(self, execution_id: str, sha256: str) -> PayloadRef | None:
        """The value stored under the execution with this SHA-256 (its reference), or None when it has none."""
        ...


class FailedBatches(Protocol):
    def dispatches(self, batch: Mapping[str, Any]) -> Iterator[StreamWork]:
        """The dispatches of a stream batch the runner gave up on, read again from the stream."""
        ...


class CallbackKeys(Protocol):
    """The key callback tokens are signed with (`flowcore.domain.tokens`), kept by the deployment."""

    def key(self) -> bytes:
        """The signing key; `CallbacksUnavailable` when the deployment has none."""
        ...
