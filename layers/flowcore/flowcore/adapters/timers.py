"""Timers on the state machine of statemachine/timer.asl.json: wait, then one conditional write.

Each timer's execution name is derived from what it is for, so scheduling the same timer twice (after
a redelivered record) starts one execution, not two.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from flowcore.adapters.dynamodb import keys
from flowcore.domain.records import RunRef

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

MAX_TIMER_SECONDS = 31_536_000  # a Standard state machine runs for a year at most


class TimerUnavailable(RuntimeError):
    pass


def timer_name(action: str, *parts: object) -> str:
    digest = hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()[:48]
    return f"{action}-{digest}"


class StepFunctionsTimers:
    def __init__(self, client: SFNClient | None, state_machine_arn: str | None) -> None:
        self._sfn = client
        self._arn = state_machine_arn

    def redispatch(self, ref: RunRef, attempt: int, delay_seconds: float, next_attempt: int | None = None) -> None:
        following = attempt + 1 if next_attempt is None else next_attempt
        sort_key = keys.run_sk_of(ref)
        self._start(
            timer_name("redispatch", ref.execution_id, sort_key, attempt, following),
            {
                "action": "redispatch",
                "pk": keys.execution_pk(ref.execution_id),
                "sk": sort_key,
                "attempt": str(attempt),
                "next_attempt": str(following),
            },
            delay_seconds,
        )

    def reclaim(self, ref: RunRef, attempt: int, claim: str, delay_seconds: float) -> None:
        sort_key = keys.run_sk_of(ref)
        self._start(
            timer_name("reclaim", ref.execution_id, sort_key, attempt, claim),
            {
                "action": "reclaim",
                "pk": keys.execution_pk(ref.execution_id),
                "sk": sort_key,
                "attempt": str(attempt),
                "claim": claim,
            },
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

    def _start(self, name: str, payload: dict[str, Any], delay_seconds: float) -> None:
        if self._sfn is None or not self._arn:
            raise TimerUnavailable("no timer state machine is configured (TIMER_STATE_MACHINE_ARN)")
        payload["seconds"] = min(MAX_TIMER_SECONDS, max(0, math.ceil(delay_seconds)))
        try:
            self._sfn.start_execution(stateMachineArn=self._arn, name=name, input=json.dumps(payload))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
