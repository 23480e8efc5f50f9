"""Timers on the state machine of statemachine/timer.asl.json: wait, then one conditional write.

Each timer's execution name is derived from what it is for, so scheduling the same timer twice (after
a redelivered record) starts one execution, not two, and the timers a stopped execution left behind can be
found again by name and stopped: none outlives its execution.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from flowcore.adapters.dynamodb import keys
from flowcore.domain.records import RunRecord, RunRef
from flowcore.domain.statuses import TaskStatus

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

MAX_TIMER_SECONDS = 31_536_000  # a Standard state machine runs for a year at most


class TimerUnavailable(RuntimeError):
    pass


def timer_name(action: str, *parts: object) -> str:
    digest = hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()[:48]
    return f"{action}-{digest}"


class StepFunctionsTimers:
    """`client` builds the Step Functions client on first use: most API calls never need one."""

    def __init__(self, client: Callable[[], SFNClient] | None, state_machine_arn: str | None) -> None:
        self._client = client
        self._arn = state_machine_arn

    def redispatch(self, ref: RunRef, attempt: int, delay_seconds: float, next_attempt: int | None = None) -> None:
        following = attempt + 1 if next_attempt is None else next_attempt
        self._run_timer("redispatch", ref, attempt, {"next_attempt": str(following)}, delay_seconds)

    def expire(self, ref: RunRef, attempt: int, wait_until: int, delay_seconds: float) -> None:
        self._run_timer("expire", ref, attempt, {"wait_until": str(wait_until)}, delay_seconds)

    def reclaim(self, ref: RunRef, attempt: int, claim: str, delay_seconds: float) -> None:
        self._run_timer("reclaim", ref, attempt, {"claim": claim}, delay_seconds)

    def _run_timer(self, action: str, ref: RunRef, attempt: int, detail: dict[str, str], delay_seconds: float) -> None:
        """A timer whose write is conditional on the run at `attempt` (and `detail`), named after all of them."""
        sort_key = keys.run_sk_of(ref)
        self._start(
            timer_name(action, ref.execution_id, sort_key, attempt, *detail.values()),
            {"action": action, "pk": keys.execution_pk(ref.execution_id), "sk": sort_key, "attempt": str(attempt)}
            | detail,
            delay_seconds,
        )

    def timeout(self, execution_id: str, seconds: int) -> None:
        self._start(
            timer_name("timeout", execution_id, keys.META),
            {
                "action": "timeout",
                "pk": keys.execution_pk(execution_id),
                "reason": f"the execution did not end within {seconds} seconds",
            },
            seconds,
        )

    def cancel(self, execution_id: str, runs: Iterable[RunRecord]) -> int:
        """Stop the execution's timeout timer and the timers its runs, as they stood, may have started: a
        parked run's re-dispatch or deadline, a claimed run's reclaim. Returns how many were still running."""
        names = [timer_name("timeout", execution_id, keys.META)]
        for run in runs:
            sort_key = keys.run_sk_of(run.ref)
            if run.status is TaskStatus.WAITING and run.awaited is not None and run.wait_until is not None:
                names.append(timer_name("expire", execution_id, sort_key, run.attempt, run.wait_until))
            elif run.status is TaskStatus.WAITING:
                following = run.attempt if run.wait_until is not None else run.attempt + 1
                names.append(timer_name("redispatch", execution_id, sort_key, run.attempt, following))
            elif run.status is TaskStatus.RUNNING and run.claim is not None:
                names.append(timer_name("reclaim", execution_id, sort_key, run.attempt, run.claim))
        return sum(self._stop(name) for name in names)

    def _stop(self, name: str) -> bool:
        sfn, arn = self._machine()
        try:
            sfn.stop_execution(executionArn=f"{arn.replace(':stateMachine:', ':execution:', 1)}:{name}")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return False  # never started, or fired and gone
            raise
        return True

    def _machine(self) -> tuple[SFNClient, str]:
        if self._client is None or not self._arn:
            raise TimerUnavailable("no timer state machine is configured (TIMER_STATE_MACHINE_ARN)")
        return self._client(), self._arn

    def _start(self, name: str, payload: dict[str, Any], delay_seconds: float) -> None:
        sfn, arn = self._machine()
        payload["seconds"] = min(MAX_TIMER_SECONDS, max(0, math.ceil(delay_seconds)))
        try:
            sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
