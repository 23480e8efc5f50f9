"""One attempt of a task: claimed first when it may run for a while, then run, contained and timed.

A task's own exception is that task's failure, never the runner's; so is running past its timeout, an
expression of its templates that fails, and an output larger than the payload store keeps.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from flowcore.domain.clock import iso, utc_now
from flowcore.domain.compiled import CompiledFlow
from flowcore.domain.errors import CallbacksUnavailable
from flowcore.domain.flow import TaskSpec
from flowcore.domain.payloads import PayloadRef
from flowcore.domain.records import Dispatch, DispatchGuard, EndedAttempt, ExecutionRecord, RunRef, TaskResult
from flowcore.domain.routing import next_tasks
from flowcore.domain.statuses import TaskStatus
from flowcore.observability import logger
from flowcore.ports import RunRepository
from flowcore.runner.awaiting import Awaiting, awaits
from flowcore.runner.data import Contexts, Memory, Offload
from flowcore.tasks import TaskContext, TaskTypeRegistry
from flowcore.tasks.base import ParameterError, TaskType

if TYPE_CHECKING:
    from flowcore.runner.templating import Templating

#: A claim outlives the task's own timeout by this much, so a slow commit is not mistaken for a death.
LEASE_MARGIN_SECONDS = 30


class Attempts:
    def __init__(
        self,
        runs: RunRepository,
        registry: TaskTypeRegistry,
        lease_seconds: int,
        rand: Callable[[], float],
        clock: Callable[[], float],
        contexts: Contexts,
        offload: Offload,
        awaiting: Awaiting,
    ) -> None:
        self._runs = runs
        self._registry = registry
        self._lease_seconds = lease_seconds
        self._rand = rand
        self._clock = clock
        self._contexts = contexts
        self._offload = offload
        self._awaiting = awaiting

    def run(
        self, flow: CompiledFlow, execution: ExecutionRecord, ref: RunRef, dispatch: Dispatch, memory: Memory
    ) -> tuple[EndedAttempt, DispatchGuard]:
        """Run the task once; the guard its result must be committed under (claimed, when it was). The ended
        attempt holds the whole output, also one kept by reference (`output_ref`)."""
        task = flow.tasks[ref.task_name]
        task_type = self._registry.get(task.type)
        guard = dispatch.guard
        # A task that awaits ends its attempt at once (its `timeout_seconds` bounds the wait, through the timer).
        if task_type is not None and not awaits(task, task_type) and (task_type.needs_claim or task.timeout_seconds):
            token = uuid.uuid4().hex
            lease_until = int(self._clock()) + (task.timeout_seconds or self._lease_seconds) + LEASE_MARGIN_SECONDS
            self._runs.claim(ref, guard, token, lease_until)
            guard = guard.claimed(token)

        started = utc_now()
        tick = time.perf_counter()
        templating = None
        if ref.task_name in flow.needs:  # only flows that pass data load the templates (and jmespath)
            from flowcore.runner.templating import Templating

            templating = Templating(flow, ref, self._contexts.build(flow, execution, ref, dispatch, memory))
        if dispatch.awaited is not None and awaits(task, task_type):
            result, task_input, input_ref = self._resume(ref, dispatch, execution, task, task_type, templating)
        else:
            result, task_input, input_ref = self._attempt(ref, dispatch, execution, task, task_type, templating)
        output_ref = None
        if result.output is not None:
            output_ref, problem = self._offload.store(ref.execution_id, result.output, "the task's output")
            result = TaskResult.failure(ref.task_name, problem) if problem else result
        duration_ms = max(1, round((time.perf_counter() - tick) * 1000))
        ended = EndedAttempt(dispatch.attempt, result, iso(started), iso(utc_now()), duration_ms, output_ref=output_ref)
        if result.status is TaskStatus.WAITING and result.awaited is not None:
            ended = replace(ended, awaited=result.awaited)
        if templating is not None:
            ended = templating.record(ended, None if input_ref else task_input, input_ref)
        if flow.reads_previous:
            ended = replace(ended, predecessor=_predecessor(dispatch, memory))
        return _routed_if_kept_aside(flow, ref, ended), guard

    def _attempt(
        self,
        ref: RunRef,
        dispatch: Dispatch,
        execution: ExecutionRecord,
        task: TaskSpec,
        task_type: TaskType | None,
        templating: Templating | None,
    ) -> tuple[TaskResult, Any, PayloadRef | None]:
        """The task's result (its output shaped by its template), with its resolved input and where that went."""
        if templating is None:
            return self._execute(ref, dispatch, execution, task, task_type, task.parameters, None), None, None
        task_input, parameters, failure = templating.inputs()
        if failure is not None:
            return failure, task_input, None
        input_ref = None
        if task_input is not None:
            input_ref, problem = self._offload.store(ref.execution_id, task_input, "the task's input")
            if problem is not None:
                return TaskResult.failure(ref.task_name, problem), None, None
        result = self._execute(ref, dispatch, execution, task, task_type, parameters, task_input)
        return templating.output(result), task_input, input_ref

    def _execute(
        self,
        ref: RunRef,
        dispatch: Dispatch,
        execution: ExecutionRecord,
        task: TaskSpec,
        task_type: TaskType | None,
        parameters: dict[str, Any],
        task_input: Any,
    ) -> TaskResult:
        if task_type is None:  # validation keeps this out; a type removed since the flow was stored lands here
            return TaskResult.failure(ref.task_name, f"unknown task type '{task.type}'")
        awaited, ticket = None, None
        if awaits(task, task_type):
            try:
                awaited, ticket = self._awaiting.ticket(task, ref, dispatch.attempt)
            except CallbacksUnavailable as error:
                return TaskResult.failure(ref.task_name, error.message)
        context = TaskContext(
            ref.execution_id,
            ref.seq,
            ref.task_name,
            dispatch.attempt,
            parameters,
            execution.input,
            self._rand,
            resumed=dispatch.wait_until is not None,
            input=task_input,
            callback=ticket,
        )
        if ticket is not None:  # the attempt hands out its ticket and ends; the deadline is the wait's, not its
            result = _contained(task_type.execute, context)
            return replace(result, awaited=awaited) if result.status is TaskStatus.WAITING else result
        return _guarded(task_type.execute, context, task.timeout_seconds)

    def _resume(
        self,
        ref: RunRef,
        dispatch: Dispatch,
        execution: ExecutionRecord,
        task: TaskSpec,
        task_type: TaskType | None,
        templating: Templating | None,
    ) -> tuple[TaskResult, Any, PayloadRef | None]:
        """A run that awaited a completion, resumed: the completion is its result (shaped by its output
        template). Its input was resolved, and recorded, by the attempt that parked it."""
        assert task_type is not None
        completion = self._awaiting.completion(dispatch)
        if completion.output_ref is not None:
            completion = replace(completion, output=self._contexts.load(ref.execution_id, completion.output_ref))
        context = TaskContext(
            ref.execution_id,
            ref.seq,
            ref.task_name,
            dispatch.attempt,
            task.parameters,
            execution.input,
            self._rand,
            resumed=True,
            completion=completion,
        )
        result = _contained(task_type.resume, context)
        return (templating.output(result) if templating is not None else result), None, None


def _routed_if_kept_aside(flow: CompiledFlow, ref: RunRef, ended: EndedAttempt) -> EndedAttempt:
    """A run whose output is kept aside holds no output for `when` rules to read again (recovery, the status
    document): the successors they choose now are recorded with it, as for `expr` rules."""
    if ended.output_ref is None or ended.routed is not None or ended.result.status is TaskStatus.WAITING:
        return ended
    conditions = flow.conditions_by_source.get(ref.task_name, ())
    if not any(condition.when is not None for condition in conditions):
        return ended
    return replace(ended, routed=next_tasks(flow, ref.task_name, ended.result))


def _predecessor(dispatch: Dispatch, memory: Memory) -> str | None:
    """The run that led to this one, by label: the dispatch names it, or, in a chain, it is the one before."""
    if dispatch.chained and memory.previous is not None:
        return memory.previous.ref.label
    return dispatch.predecessor


def _guarded(run: Callable[[TaskContext], TaskResult], context: TaskContext, timeout_seconds: int | None) -> TaskResult:
    if not timeout_seconds:
        return _contained(run, context)
    outcome: list[TaskResult] = []
    worker = threading.Thread(target=lambda: outcome.append(_contained(run, context)), daemon=True)
    worker.start()
    worker.join(timeout_seconds)
    if not outcome:
        return TaskResult.failure(context.task_name, f"timed out after {timeout_seconds} seconds")
    return outcome[0]


def _contained(run: Callable[[TaskContext], TaskResult], context: TaskContext) -> TaskResult:
    try:
        return run(context)
    except ParameterError as error:  # a templated parameter resolved to a value its type does not take
        return TaskResult.failure(context.task_name, str(error))
    except Exception as error:  # noqa: BLE001 - any error raised by task code is reported as the task's failure
        logger.warning("task raised", extra={"error": repr(error)})
        return TaskResult.failure(context.task_name, f"{type(error).__name__}: {error}")
