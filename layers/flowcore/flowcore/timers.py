"""Starts the timer state machine, which waits and then re-dispatches a task run.

The execution name is derived from the run and attempt, so scheduling the same retry twice (after a
redelivered record) starts one timer, not two.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from flowcore.model import RunRef
from flowcore.store import exec_pk

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


class TimerUnavailable(RuntimeError):
    pass


def timer_name(ref: RunRef, attempt: int) -> str:
    digest = hashlib.sha256(f"{ref.execution_id}|{ref.sort_key}|{attempt}".encode()).hexdigest()[:40]
    return f"retry-{digest}"


class Timers:
    def __init__(self, client: SFNClient | None, state_machine_arn: str | None) -> None:
        self._sfn = client
        self._arn = state_machine_arn

    def schedule_redispatch(self, ref: RunRef, attempt: int, delay_seconds: float) -> None:
        """After `delay_seconds`, move the run from WAITING at `attempt` to PENDING at `attempt + 1`."""
        if self._sfn is None or not self._arn:
            raise TimerUnavailable("no timer state machine is configured (TIMER_STATE_MACHINE_ARN)")
        payload = {
            "pk": exec_pk(ref.execution_id),
            "sk": ref.sort_key,
            "attempt": str(attempt),
            "next_attempt": str(attempt + 1),
            "seconds": max(0, math.ceil(delay_seconds)),
        }
        try:
            self._sfn.start_execution(stateMachineArn=self._arn, name=timer_name(ref, attempt), input=json.dumps(payload))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
