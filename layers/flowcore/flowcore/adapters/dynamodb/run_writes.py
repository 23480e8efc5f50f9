"""The conditional writes on task runs, each condition named after what it protects.

The statuses a condition accepts, and the one a write sets, come from the domain's transition tables
(`flowcore.domain.statuses`), so that a write can only make a move the tables allow.
"""

from __future__ import annotations

from flowcore.adapters.dynamodb import keys
from flowcore.adapters.dynamodb.codec import attempt_item
from flowcore.adapters.dynamodb.expressions import ABSENT_ITEM, run_key, status_in
from flowcore.adapters.dynamodb.table import Update
from flowcore.adapters.dynamodb.values import Item, compact, n, output_json, ref_item, s
from flowcore.adapters.dynamodb.waits import awaited_item, completion_item
from flowcore.domain.branches import NewRun
from flowcore.domain.callbacks import Completion
from flowcore.domain.records import DispatchGuard, EndedAttempt, RunRef
from flowcore.domain.statuses import ABSENT, RunEvent, TaskStatus, run_after, run_sources

#: Ends of an attempt after which the run is tried again (a wait task's park is not one: it resumes).
_RETRIED = frozenset({RunEvent.RETRY_NOW, RunEvent.PARK})


def new_run_item(ref: RunRef, event: RunEvent, now: str, expires_at: int, run: NewRun | None = None) -> Item:
    """A run written before it is dispatched: PENDING for the stream, or SKIPPED when it will never start;
    `run` adds a branch's budget and, for a join's run, what it merged."""
    status = run_after(ABSENT, event)
    item: Item = {
        "pk": s(keys.execution_pk(ref.execution_id)),
        "sk": s(keys.run_sk_of(ref)),
        "status": s(status),
        "attempt": n(1),
        "expires_at": n(expires_at),
    }
    if status is TaskStatus.SKIPPED:
        item["ended_at"] = s(now)
    if run is not None and run.budget is not None:
        item["budget"] = n(run.budget)
    if run is not None and run.arrived:
        item["arrived"] = {"L": [s(label) for label in run.arrived]}
    if run is not None and run.merged:
        item["merged"] = n(run.merged)
    if run is not None and run.arrived_total is not None:
        item["arrived_total"] = n(run.arrived_total)
    if run is not None and run.predecessor is not None:
        item["from"] = s(run.predecessor)
    return item


def dispatched(guard: DispatchGuard) -> tuple[str, Item]:
    """The run is still the one dispatched: absent for a start or chained dispatch, RUNNING under this runner's
    claim once it claimed it, else PENDING at this attempt, resumed from a wait exactly when the dispatch
    says so (a stale record from before the wait is not)."""
    if guard.claim is not None:
        return "#status = :running_status AND claim = :claim AND attempt = :attempt", {
            ":running_status": s(TaskStatus.RUNNING),
            ":claim": s(guard.claim),
            ":attempt": n(guard.attempt),
        }
    if guard.absent:
        return ABSENT_ITEM, {}
    condition = "#status = :pending AND attempt = :attempt"
    values: Item = {":pending": s(TaskStatus.PENDING), ":attempt": n(guard.attempt)}
    if guard.wait_until is None:
        condition += " AND attribute_not_exists(wait_until)"
    else:
        condition += " AND wait_until = :wait_until"
        values[":wait_until"] = n(guard.wait_until)
    return condition, values


def claim(ref: RunRef, guard: DispatchGuard, token: str, lease_until: int, now: str, expires_at: int) -> Update:
    condition, values = dispatched(guard)
    return Update(
        key=run_key(ref),
        expression="SET #status = :running, attempt = :attempt, claim = :token, lease_until = :lease, "
        "started_at = :now, expires_at = if_not_exists(expires_at, :expires)",
        names={"#status": "status"},
        values={
            **values,
            ":attempt": n(guard.attempt),
            ":running": s(run_after(TaskStatus.PENDING, RunEvent.CLAIM)),
            ":token": s(token),
            ":lease": n(lease_until),
            ":now": s(now),
            ":expires": n(expires_at),
        },
        condition=condition,
    )


def reclaim(ref: RunRef, attempt: int, claim_token: str) -> Update:
    """RUNNING under `claim_token` -> PENDING: the run goes back to the stream."""
    (running,) = run_sources(RunEvent.RECLAIM)
    return Update(
        key=run_key(ref),
        expression="SET #status = :pending REMOVE claim, lease_until",
        names={"#status": "status"},
        values={
            ":pending": s(run_after(running, RunEvent.RECLAIM)),
            ":running": s(running),
            ":claim": s(claim_token),
            ":attempt": n(attempt),
        },
        condition="#status = :running AND claim = :claim AND attempt = :attempt",
    )


def attempt_end(
    ref: RunRef,
    ended: EndedAttempt,
    guard: DispatchGuard,
    event: RunEvent,
    expires_at: int,
    atomic: bool = False,
    wait_until: int | None = None,
) -> Update:
    """The write that ends an attempt. Its condition is what makes a result commit at most once."""
    condition, values = dispatched(guard)
    values.update(_ended(ended, event, expires_at, atomic))
    sets = ""
    if wait_until is not None:
        values[":park"] = n(wait_until)
        sets += ", wait_until = :park"
    sets += _data(ended, values)
    removes = ["claim", "lease_until"] + ([] if wait_until is not None else ["wait_until"])
    if ended.awaited is not None:
        values[":callback"] = awaited_item(ended.awaited)
        sets += ", callback = :callback"
    if ended.result.child is not None:
        values[":child"] = s(ended.result.child)
        sets += ", child = :child"
    if event in _RETRIED and ended.result.status is TaskStatus.FAILURE:
        # The attempt is tried again: the history keeps it, and the token it may have awaited with is spent.
        values.update({":tried": {"L": [attempt_item(ended)]}, ":none": {"L": []}})
        sets += ", attempts = list_append(if_not_exists(attempts, :none), :tried)"
        removes.append("callback")
    return Update(
        key=run_key(ref),
        expression="SET #status = :status, attempt = :set_attempt, started_at = :started, ended_at = :ended, "
        "duration_ms = :duration, message = :message, #output = :output, #error = :error, #atomic = :atomic, "
        "expires_at = if_not_exists(expires_at, :expires)" + sets + " REMOVE " + ", ".join(removes),
        names={"#status": "status", "#output": "output", "#error": "error", "#atomic": "atomic"}
        | ({"#input": "input"} if ended.input is not None else {})
        | ({"#from": "from"} if ended.predecessor is not None else {}),
        values=values,
        condition=condition,
    )


def _data(ended: EndedAttempt, values: Item) -> str:
    """What an attempt of a task that reads or writes data adds: its resolved input, where its large values
    went, the successors its conditions chose and the run that led to it. A flow without templates writes
    none of them."""
    sets = ""
    if ended.input is not None:
        values[":input"] = s(compact(ended.input))
        sets += ", #input = :input"
    if ended.input_ref is not None:
        values[":input_ref"] = ref_item(ended.input_ref)
        sets += ", input_ref = :input_ref"
    if ended.output_ref is not None:
        values[":output_ref"] = ref_item(ended.output_ref)
        sets += ", output_ref = :output_ref"
    if ended.routed is not None:
        values[":routed"] = {"L": [s(name) for name in ended.routed]}
        sets += ", routed = :routed"
    if ended.predecessor is not None:
        values[":from"] = s(ended.predecessor)
        sets += ", #from = :from"
    return sets


def _ended(ended: EndedAttempt, event: RunEvent, expires_at: int, atomic: bool) -> Item:
    """What the end of an attempt writes: the status `event` leads to, the attempt's result and times."""
    result = ended.result
    return {
        ":status": s(run_after(TaskStatus.PENDING, event)),
        ":set_attempt": n(ended.attempt + 1 if event is RunEvent.RETRY_NOW else ended.attempt),
        ":atomic": {"BOOL": atomic},
        ":started": s(ended.started_at),
        ":ended": s(ended.ended_at),
        ":duration": n(ended.duration_ms),
        ":message": s(result.message or ""),
        ":output": s(output_json(None if ended.output_ref is not None else result.output)),
        ":error": s(result.error or ""),
        ":expires": n(expires_at),
    }


def skip(ref: RunRef, guard: DispatchGuard, now: str, expires_at: int) -> Update:
    condition, values = dispatched(guard)
    return Update(
        key=run_key(ref),
        expression="SET #status = :skipped, attempt = :attempt, ended_at = :now, "
        "expires_at = if_not_exists(expires_at, :expires)",
        names={"#status": "status"},
        values={
            **values,
            ":attempt": n(guard.attempt),
            ":skipped": s(run_after(TaskStatus.PENDING, RunEvent.SKIP)),
            ":now": s(now),
            ":expires": n(expires_at),
        },
        condition=condition,
    )


def give_up(ref: RunRef, attempt: int | None, reason: str, now: str, expires_at: int) -> Update:
    """FAILURE for a dispatch the stream gave up on: absent (a start dispatch, `attempt` None), or PENDING at
    `attempt`. Records that follow a failed one in a batch were processed on every retry; their runs moved on."""
    values: Item = {
        ":failure": s(run_after(TaskStatus.PENDING, RunEvent.GIVE_UP)),
        ":reason": s(reason),
        ":now": s(now),
        ":expires": n(expires_at),
    }
    if attempt is None:
        condition = ABSENT_ITEM
        values[":attempt"] = n(1)
    else:
        condition = "#status = :pending AND attempt = :attempt"
        values.update({":pending": s(TaskStatus.PENDING), ":attempt": n(attempt)})
    return Update(
        key=run_key(ref),
        expression="SET #status = :failure, #error = :reason, ended_at = :now, attempt = :attempt, "
        "expires_at = if_not_exists(expires_at, :expires)",
        names={"#status": "status", "#error": "error"},
        values=values,
        condition=condition,
    )


def cancel(ref: RunRef, attempt: int, now: str) -> Update:
    """SKIPPED for a run that waits (PENDING or WAITING) at `attempt`; a claimed run finishes on its own."""
    waiting = tuple(str(state) for state in run_sources(RunEvent.CANCEL) if state != ABSENT)
    condition, values = status_in(waiting, "open")
    return Update(
        key=run_key(ref),
        expression="SET #status = :skipped, ended_at = :now",
        names={"#status": "status"},
        values={
            ":skipped": s(run_after(TaskStatus.PENDING, RunEvent.CANCEL)),
            ":now": s(now),
            **values,
            ":attempt": n(attempt),
        },
        condition=f"{condition} AND attempt = :attempt",
    )


def _awaiting(attempt: int, nonce: str) -> tuple[str, Item]:
    """The run still waits, at `attempt`, for the completion of the token with `nonce`, and has none yet."""
    (waiting,) = run_sources(RunEvent.COMPLETE)
    condition = "#status = :waiting AND attempt = :attempt AND callback.nonce = :nonce"
    values: Item = {":waiting": s(waiting), ":attempt": n(attempt), ":nonce": s(nonce)}
    return condition + " AND attribute_not_exists(callback.completion)", values


def complete(ref: RunRef, attempt: int, nonce: str, completion: Completion) -> Update:
    """WAITING -> PENDING with its completion, which the stream hands the runner: the first completion wins, a
    deadline that passed first (the timer's redispatch) leaves none to win."""
    condition, values = _awaiting(attempt, nonce)
    return Update(
        key=run_key(ref),
        expression="SET #status = :pending, callback.completion = :completion",
        names={"#status": "status"},
        values={
            **values,
            ":pending": s(run_after(TaskStatus.WAITING, RunEvent.COMPLETE)),
            ":completion": completion_item(completion),
        },
        condition=condition,
    )


def heartbeat(ref: RunRef, attempt: int, nonce: str, wait_until: int) -> Update:
    """Move an awaited run's deadline to `wait_until`: the timer set for the old one finds it changed."""
    condition, values = _awaiting(attempt, nonce)
    return Update(
        key=run_key(ref),
        expression="SET wait_until = :wait_until",
        names={"#status": "status"},
        values={**values, ":wait_until": n(wait_until)},
        condition=condition,
    )
