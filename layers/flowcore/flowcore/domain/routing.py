"""The routing rules of DESIGN §3 as pure functions: no I/O, no clock, no AWS.

The runner calls `decide` after a task attempt ends and performs whatever the returned `Decision` implies.
Because the decision depends only on the flow version and the committed result, a runner that finds a
result already committed can call `decide` again and reach the same successors: that is what makes
recovery after a crash safe.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from flowcore.domain.compiled import CompiledFlow
from flowcore.domain.conditions import when_holds
from flowcore.domain.flow import Condition, RetryPolicy, is_end, normalise_outcome
from flowcore.domain.records import BranchChange, ExecutionRecord, RunRef, TaskResult
from flowcore.domain.statuses import ExecutionStatus, TaskStatus


@dataclass(frozen=True, slots=True)
class Decision:
    """What the engine decided after a task ended: all the I/O it implies is the caller's job."""

    successors: tuple[RunRef, ...] = ()
    retry_delay_seconds: float | None = None
    unhandled_failure: bool = False
    limit_exceeded: bool = False
    reason: str | None = None

    @property
    def ends_branch(self) -> bool:
        return self.retry_delay_seconds is None and not self.successors


def retry_delay(policy: RetryPolicy, attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before attempt `attempt + 1`; with jitter, a uniform draw below the capped delay."""
    delay = min(policy.interval_seconds * policy.backoff_rate ** (attempt - 1), policy.max_delay_seconds)
    return delay * rand() if policy.jitter else delay


#: The context document of a decision made without one: `when` expressions then read only `output`.
EMPTY_CONTEXT: Mapping[str, Any] = MappingProxyType({})


def _pick_target(condition: Condition, result: TaskResult, context: Mapping[str, Any]) -> str | None:
    matched = normalise_outcome(condition.outcome) == ("success" if result.succeeded else "failure")
    if matched and condition.when is not None:
        matched = when_holds(condition.when, result.output, context)
    return condition.target_task_success if matched else condition.target_task_failure


def next_tasks(
    flow: CompiledFlow, task_name: str, result: TaskResult, context: Mapping[str, Any] = EMPTY_CONTEXT
) -> tuple[str, ...]:
    """Names of the tasks that follow `task_name`, in condition order, without repeats. `context` is the context
    document `when` expressions read (DESIGN §4), without `output`: the result's output is bound to it."""
    conditions = flow.conditions_by_source.get(task_name)
    if conditions:
        targets = (_pick_target(condition, result, context) for condition in conditions)
        return tuple(dict.fromkeys(target for target in targets if target is not None and not is_end(target)))
    if flow.has_conditions or not result.succeeded:
        return ()
    following = flow.next_in_order(task_name)
    return (following,) if following is not None else ()


def decide(
    flow: CompiledFlow,
    run: RunRef,
    attempt: int,
    result: TaskResult,
    retry_delay_seconds: float = 0.0,
    *,
    context: Mapping[str, Any] = EMPTY_CONTEXT,
    routed: tuple[str, ...] | None = None,
) -> Decision:
    """Route one ended attempt.

    `retry_delay_seconds` is the delay the caller drew for this attempt (see `retry_delay`); it is passed in
    so that the decision stays deterministic for a given result. `context` is the context document `when`
    expressions read (see `next_tasks`); a `when` expression that fails raises `ExpressionError`. `routed` is
    what the task's conditions chose when they read more than its output (`expr` rules): the runner evaluates
    those once, with the run's data, and records the choice with the result, so that deciding again (recovery)
    reaches the same successors without the data.
    """
    task = flow.tasks[run.task_name]
    if not result.succeeded and task.retry is not None and attempt < task.retry.max_attempts:
        return Decision(retry_delay_seconds=retry_delay_seconds)

    names = routed if routed is not None else next_tasks(flow, run.task_name, result, context)
    if not names:
        failed = result.status is TaskStatus.FAILURE
        reason = f"task '{run.task_name}' failed: {result.error or 'no error message'}" if failed else None
        return Decision(unhandled_failure=failed, reason=reason)

    next_seq = run.seq + 1
    limit = flow.definition.max_transitions
    if next_seq > limit:
        return Decision(limit_exceeded=True, reason=f"transition limit of {limit} reached after task '{run.task_name}'")
    return Decision(successors=tuple(RunRef(run.execution_id, next_seq, name) for name in names))


def branch_change(execution: ExecutionRecord, decision: Decision, delta: int) -> BranchChange:
    """How the open-branch count moves when a branch forks into `delta + 1` successors; at zero the execution
    ends, FAILED when any branch ended right after an unhandled failure."""
    remaining = execution.open_branches + delta
    failed = execution.failed or decision.unhandled_failure
    final = None
    if remaining == 0:
        final = ExecutionStatus.FAILED if failed else ExecutionStatus.COMPLETED
    return BranchChange(
        expected_open=execution.open_branches,
        open_branches=remaining,
        final=final,
        error=decision.reason if decision.unhandled_failure else None,
        failed=failed,
        release=execution.counted,
    )
