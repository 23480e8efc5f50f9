"""Completing awaited runs from outside: `POST /callbacks/{token}` and its heartbeat.

A token names one attempt of one run and the nonce it was parked with (`flowcore.domain.tokens`); a token that
does not verify is answered as one that names nothing (404), so that it tells nothing. The completion is one
conditional write (`RunRepository.complete`): the first one wins; the same completion again is answered as
the first was, a different one is a conflict, and so is any completion once the run has moved on (its
deadline passed, it was cancelled, or it is tried again under a new token).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flowcore.api.models import UserValue
from flowcore.domain.callbacks import Awaited, Completion
from flowcore.domain.clock import iso, utc_now
from flowcore.domain.errors import CallbacksUnavailable, Conflict, NotFound
from flowcore.domain.payloads import INLINE_LIMIT, PayloadRef, encoded
from flowcore.domain.records import RunRecord
from flowcore.domain.statuses import TaskStatus
from flowcore.domain.tenancy import belongs_to, shown
from flowcore.domain.tokens import TokenClaims, callback_url, issue_token, read_token
from flowcore.ports import CallbackKeys, Completions, PayloadStore, RunRepository, Timers

#: What a callback's `error` keeps.
MAX_CALLBACK_ERROR = 2_000


class CallbackRequest(BaseModel):
    """How the holder of a callback token completes the run: `success` with an optional `output` (the run's
    output), or `failure` with an optional `error`."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "anyOf": [
                {"properties": {"outcome": {"const": "success"}, "error": {"type": "null"}}},
                {"properties": {"outcome": {"const": "failure"}, "output": {"type": "null"}}},
            ]
        },
    )

    outcome: Literal["success", "failure"]
    output: UserValue = Field(default=None, description="The run's output on success (any JSON)")
    error: Annotated[str, Field(max_length=MAX_CALLBACK_ERROR)] | None = Field(
        default=None, description="Why it failed (with outcome `failure`)"
    )

    @model_validator(mode="after")
    def _output_only_on_success(self) -> CallbackRequest:
        if self.outcome == "failure" and self.output is not None:
            raise ValueError("a failure carries an `error`, not an `output`")
        if self.outcome == "success" and self.error is not None:
            raise ValueError("a success carries an `output`, not an `error`")
        return self


class CallbackService:
    def __init__(
        self,
        runs: RunRepository,
        completions: Completions,
        timers: Timers,
        keys: CallbackKeys | None,
        payloads: PayloadStore | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._runs = runs
        self._completions = completions
        self._timers = timers
        self._keys = keys
        self._payloads = payloads
        self._clock = clock

    def ticket(self, run: RunRecord) -> dict[str, str] | None:
        """The `{token, url}` of a run that waits for its callback (None for any other run, or without a key)."""
        awaited = run.awaited
        if run.status is not TaskStatus.WAITING or awaited is None or awaited.completion is not None:
            return None
        if self._keys is None:
            return None
        try:
            token = issue_token(self._keys.key(), run.ref, run.attempt, awaited.nonce)
        except CallbacksUnavailable:
            return None
        return {"token": token, "url": callback_url(token)}

    def complete(self, tenant: str, token: str, succeeded: bool, output: Any, error: str | None) -> dict[str, Any]:
        """Complete the run the token names (a run of `tenant`'s); the answer shows the completion that holds
        (the first one)."""
        claims, _ = self._waiting_run(tenant, token)
        completion = Completion(
            succeeded,
            output=output if succeeded else None,
            error=None if succeeded else (error or "completed with outcome failure")[:MAX_CALLBACK_ERROR],
            at=iso(utc_now()),
        )
        stored = self._kept(claims, completion)
        if self._completions.complete(claims.ref, claims.attempt, claims.nonce, stored):
            return _answer(claims, completion)
        now = self._runs.get(claims.ref)
        first = _same_token(now, claims)
        if first is None or first.completion is None:
            raise Conflict(_moved_on(now, claims))
        earlier = first.completion
        if earlier.succeeded == completion.succeeded and _same_content(earlier, stored):
            return _answer(claims, earlier if earlier.output_ref is None else completion)
        outcome = "success" if earlier.succeeded else "failure"
        raise Conflict(f"the task run was already completed, with outcome {outcome} at {earlier.at}")

    def heartbeat(self, tenant: str, token: str) -> dict[str, Any]:
        """The holder is still at work: the run's heartbeat deadline moves on (never past its timeout)."""
        claims, run = self._waiting_run(tenant, token)
        awaited = run.awaited
        assert awaited is not None
        if run.status is not TaskStatus.WAITING or awaited.completion is not None:
            raise Conflict(_moved_on(run, claims))
        now = self._clock()
        deadline = run.wait_until
        if awaited.heartbeat_seconds is not None:
            deadline = awaited.deadline(now)
            if not self._completions.heartbeat(claims.ref, claims.attempt, claims.nonce, deadline):
                raise Conflict(_moved_on(self._runs.get(claims.ref), claims))
            self._timers.expire(claims.ref, claims.attempt, deadline, max(0.0, deadline - now))
        return {
            "execution_id": shown(claims.ref.execution_id),
            "task_name": claims.ref.task_name,
            "attempt": claims.attempt,
            "deadline": iso(datetime.fromtimestamp(deadline, UTC)) if deadline is not None else None,
        }

    def _waiting_run(self, tenant: str, token: str) -> tuple[TokenClaims, RunRecord]:
        """The claims of a token this deployment signed for a run of `tenant`, and the run they name; 404 for
        anything else (another tenant's token included: it is not told apart from one that never was)."""
        if self._keys is None:
            raise CallbacksUnavailable("callbacks are not configured in this deployment (no signing key)")
        claims = read_token(self._keys.key(), token)
        if claims is not None and not belongs_to(claims.ref.execution_id, tenant):
            claims = None
        run = self._runs.get(claims.ref) if claims is not None else None
        if claims is None or run is None:
            raise NotFound("no task run waits for this callback token")
        if _same_token(run, claims) is None:  # a token this deployment issued, for an attempt that is over
            raise Conflict(_moved_on(run, claims))
        return claims, run

    def _kept(self, claims: TokenClaims, completion: Completion) -> Completion:
        """The completion as the run item holds it: an output too large for the item goes to the payload store."""
        if completion.output is None or len(encoded(completion.output)) <= INLINE_LIMIT:
            return completion
        if self._payloads is None:
            raise CallbacksUnavailable("the callback's output is too large to keep: no payload store is configured")
        ref: PayloadRef = self._payloads.put(claims.ref.execution_id, completion.output)
        return Completion(completion.succeeded, error=completion.error, at=completion.at, output_ref=ref)


def _same_token(run: RunRecord | None, claims: TokenClaims) -> Awaited | None:
    """The run's awaited state, when it is still the one the token was issued for."""
    if run is None or run.awaited is None or run.attempt != claims.attempt or run.awaited.nonce != claims.nonce:
        return None
    return run.awaited


def _same_content(earlier: Completion, stored: Completion) -> bool:
    if earlier.output_ref is not None or stored.output_ref is not None:
        hashes = [ref.sha256 if ref is not None else None for ref in (earlier.output_ref, stored.output_ref)]
        return hashes[0] == hashes[1]
    return encoded(earlier.output) == encoded(stored.output) and earlier.error == stored.error


def _moved_on(run: RunRecord | None, claims: TokenClaims) -> str:
    if run is None:
        return "the task run this token was issued for is gone"
    if run.attempt != claims.attempt:
        return f"the task run moved on to attempt {run.attempt}; this token was issued for attempt {claims.attempt}"
    detail = f": {run.error}" if run.error else ""
    return f"the task run no longer waits for this token (it is {run.status}{detail})"


def _answer(claims: TokenClaims, completion: Completion) -> dict[str, Any]:
    return {
        "execution_id": shown(claims.ref.execution_id),
        "task_name": claims.ref.task_name,
        "attempt": claims.attempt,
        "outcome": "success" if completion.succeeded else "failure",
        "output": completion.output,
        "error": completion.error,
        "completed_at": completion.at,
    }
