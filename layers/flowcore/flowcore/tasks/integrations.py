"""Task types that call other AWS services: `lambda` here; `sqs`, `sns` and `eventbridge` in `messaging.py`.

They see AWS only through the small ports declared beside them (`Functions` here, `Messaging` there), which
`flowcore.adapters.integrations` implements with botocore. An AWS error reaches a type as an `IntegrationError`
and ends the attempt as a FAILURE that names its code, so the task's retry policy decides whether to try again
(throttling and service errors are worth it). A type built without its port (the API builds the registry only
to check parameters) fails any attempt it is asked to run, saying so.

With the task field `wait_for_callback: true` the runner gives the attempt `ctx.callback`: the type does not
call out itself but returns `TaskResult.awaiting(...)` with a `deliver` that sends the ticket's token, which
the runner calls once the run is parked WAITING (so a fast callback always finds it waiting). The token goes
in the payload or message as `task_token`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from flowcore.domain.records import TaskResult
from flowcore.domain.statuses import TaskStatus
from flowcore.tasks.base import FORCED_OUTCOME, Param, Parameters, TaskContext, TaskType

#: Where a callback token travels in a payload, a message or an event's detail.
TOKEN_FIELD = "task_token"  # noqa: S105 - the name of a field, not a secret

#: A function's name, partial ARN or ARN, optionally with `:qualifier` (Lambda's Invoke `FunctionName`).
FUNCTION_PATTERN = (
    r"^(arn:aws[a-zA-Z-]*:lambda:)?([a-z]{2}(-gov)?-[a-z]+-[0-9]:)?([0-9]{12}:)?(function:)?"
    r"[a-zA-Z0-9_-]+(:(\$LATEST|[a-zA-Z0-9_-]+))?$"
)
QUALIFIER_PATTERN = r"^(\$LATEST|[a-zA-Z0-9_-]+)$"


class IntegrationError(Exception):
    """An AWS service refused or failed a call (`code` is its error code, or the SDK's exception name)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Invocation:
    """What a synchronous invoke answered: the function's response, and Lambda's `FunctionError` when it raised."""

    payload: bytes
    function_error: str | None = None


class Functions(Protocol):
    """Lambda, as the `lambda` type uses it. Both raise `IntegrationError` when Lambda refuses or fails."""

    def invoke(self, function: str, payload: bytes, qualifier: str | None) -> Invocation:
        """Invoke synchronously (RequestResponse) and return the function's answer."""

    def invoke_async(self, function: str, payload: bytes, qualifier: str | None) -> None:
        """Queue an asynchronous invoke (Event); Lambda accepted it when this returns."""


def compact(value: Any) -> str:
    """`value` as compact JSON text, the form every integration sends a non-string value in."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def unconfigured(ctx: TaskContext, type_name: str, port: str) -> TaskResult:
    return TaskResult.failure(ctx.task_name, f"task type '{type_name}' cannot run here: no {port} is configured")


def failed_call(ctx: TaskContext, action: str, error: IntegrationError) -> TaskResult:
    return TaskResult.failure(ctx.task_name, f"{action} failed: {error.code}: {error.message}")


class LambdaTask(TaskType):
    """Invokes a function synchronously, or, with `wait_for_callback`, asynchronously with the token in its
    payload, the run then waiting for `POST /callbacks/{token}`."""

    name = "lambda"
    description = (
        "Invokes `function` (name or ARN, optional `qualifier`) with `payload` (default: the task's input, else {}) "
        "and succeeds with what it returns. With wait_for_callback it is invoked asynchronously with the token as "
        "`task_token` in its payload (a payload that is not an object is sent as {input, task_token})."
    )
    parameters = (
        *FORCED_OUTCOME,
        Param("function", str, max_length=170, pattern=FUNCTION_PATTERN, description="name or ARN of the function"),
        Param("payload", object, None, description="the event it is invoked with (default: the task's input)"),
        Param("qualifier", str, None, max_length=128, pattern=QUALIFIER_PATTERN, description="version or alias"),
    )
    can_wait_for_callback: ClassVar[bool] = True

    def __init__(self, functions: Functions | None = None) -> None:
        self._functions = functions

    def run(self, ctx: TaskContext, params: Parameters) -> TaskResult:
        functions = self._functions
        if functions is None:
            return unconfigured(ctx, self.name, "Lambda client")
        function, qualifier = params.function, params.qualifier
        payload = params.payload if params.payload is not None else ctx.input if ctx.input is not None else {}
        if ctx.callback is not None:
            body = compact(with_token(payload, ctx.callback.token)).encode()

            def deliver() -> None:  # raising IntegrationError fails the attempt (the runner's rule)
                functions.invoke_async(function, body, qualifier)

            return TaskResult.awaiting(ctx.task_name, deliver)
        try:
            answer = functions.invoke(function, compact(payload).encode(), qualifier)
        except IntegrationError as error:
            return failed_call(ctx, f"invoking function '{function}'", error)
        return function_result(ctx, answer)


def with_token(payload: Any, token: str) -> dict[str, Any]:
    """The payload of an invoke that awaits: an object gains `task_token`; any other value is wrapped."""
    if isinstance(payload, dict):
        return {**payload, TOKEN_FIELD: token}
    return {"input": payload, TOKEN_FIELD: token}


def function_result(ctx: TaskContext, answer: Invocation) -> TaskResult:
    """SUCCESS with the JSON the function returned, or FAILURE with its `errorType` and `errorMessage`."""
    try:
        value = json.loads(answer.payload) if answer.payload else None
    except ValueError:
        if answer.function_error is None:
            return TaskResult.failure(ctx.task_name, f"the function answered {len(answer.payload)} bytes of non-JSON")
        value = answer.payload.decode(errors="replace")
    if answer.function_error is None:
        return TaskResult.success(ctx.task_name, value)
    error_type, error_message = _described(value, answer.function_error)
    return TaskResult(
        TaskStatus.FAILURE,
        output={"errorType": error_type, "errorMessage": error_message},
        message=f"Task {ctx.task_name} failed",
        error=f"{error_type}: {error_message}",
    )


def _described(value: Any, function_error: str) -> tuple[str, str]:
    """The error a function raised, as its runtime reports it (`{"errorType", "errorMessage", ...}`); Lambda's
    own `FunctionError` ("Unhandled") stands in for a type the answer does not give."""
    if isinstance(value, dict):
        error_type = value.get("errorType")
        error_message = value.get("errorMessage")
        return (
            error_type if isinstance(error_type, str) else function_error,
            error_message if isinstance(error_message, str) else compact(value),
        )
    return function_error, value if isinstance(value, str) else compact(value)
