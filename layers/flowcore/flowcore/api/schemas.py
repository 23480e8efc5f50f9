"""The documents the API answers with, as JSON Schema for the OpenAPI document (and only for it).

The routes build their answers as plain dicts (`flowcore.api.views`, `history`, `seed`); these models say
what those dicts hold, field by field, and a test validates real answers against the schemas generated from
them. Nothing imports this module on a request's path: `flowcore.api.openapi` loads it when the document is
generated, so the handler's cold start does not pay for the models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flowcore.domain.statuses import ExecutionStatus, TaskStatus


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class ErrorDetail(_Document):
    field: str = Field(description="The field the problem is about, as a path: `tasks[2].parameters.seconds`")
    message: str


class ErrorBody(_Document):
    code: str = Field(description="bad_request, not_found, method_not_allowed, conflict, payload_too_large, ...")
    message: str
    details: list[ErrorDetail] = Field(description="One entry per problem (validation errors); else empty")


class ErrorResponse(_Document):
    """Every 4xx and 5xx the function answers."""

    error: ErrorBody


class GatewayMessage(_Document):
    """What API Gateway itself answers, before the function runs (throttling, a body over 10 MB)."""

    message: str


class Root(_Document):
    message: str


class Health(_Document):
    status: str
    timestamp: str = Field(description="ISO 8601, UTC")


class Message(_Document):
    message: str


class SeedCreated(_Document):
    execution_id: str
    flow_name: str
    status: str = Field(description="`created` (the original's word; the status document says CREATED)")
    message: str
    flow_id: str
    flow_version: int


class PayloadReference(_Document):
    """A value kept in the payload store (over 32,000 bytes as JSON), shown instead of the value itself."""

    ref: str = Field(description="The route that downloads it: `/executions/{execution_id}/payloads/{sha256}`")
    size: int = Field(description="Bytes of the value as compact JSON")
    sha256: str = Field(description="SHA-256 of those bytes, hex", pattern="^[0-9a-f]{64}$")


class PayloadLink(_Document):
    """Where a stored value downloads from, for a while (the `Location` the route redirects to)."""

    url: str = Field(description="A presigned link: a GET on it answers the value as JSON, with no other credentials")
    expires_in: int = Field(description="Seconds the link works for, at most")
    size: int = Field(description="Bytes of the value as compact JSON")
    sha256: str = Field(description="SHA-256 of those bytes, hex", pattern="^[0-9a-f]{64}$")


class CallbackTicket(_Document):
    token: str = Field(description="Completes this attempt of the run once; useless after it moved on")
    url: str = Field(description="`POST` it with the outcome, relative to the API's base URL")


class CallbackAnswer(_Document):
    """The completion that holds: the first one (the same one again is answered alike)."""

    execution_id: str
    task_name: str
    attempt: int
    outcome: Literal["success", "failure"]
    output: Any = Field(description="The run's output (a success's)")
    error: str | None = Field(description="A failure's error")
    completed_at: str | None


class HeartbeatAnswer(_Document):
    execution_id: str
    task_name: str
    attempt: int
    deadline: str | None = Field(description="When the run fails unless completed or heartbeated again")


class TaskResult(_Document):
    task_name: str
    status: TaskStatus
    message: str | None
    data: Any = Field(description="The task's output (the original's name for it)")
    output: Any = Field(
        description="The task's output: an object for the built-ins, any JSON from an `output` template"
    )
    output_omitted: bool = Field(description="True when the output and input did not fit the document: see the history")
    output_ref: PayloadReference | None = Field(
        description="Set when the output is kept in the payload store; `data` and `output` are then null"
    )
    input: Any = Field(description="The input the task received, its `input` template resolved (null without one)")
    input_ref: PayloadReference | None = Field(
        description="Set when that input is kept in the payload store; `input` is then null"
    )
    timestamp: str | None = Field(description="When the result was recorded")
    error: str | None
    attempts: int
    execution_time: float | None = Field(description="Seconds")
    started_at: str | None
    ended_at: str | None
    arrived: list[str] = Field(description="A join's run: the runs that reached the join (the first 32), as step#task")
    arrived_count: int = Field(description="A join's run: how many branches it merged; 0 for any other run")
    callback: CallbackTicket | None = Field(
        description="A run that waits for its callback: the token that completes it (null for any other run)"
    )
    child_execution_id: str | None = Field(description="A subflow task's run: the child execution it started")


class ExecutionLinks(_Document):
    flow: str = Field(description="The flow version the execution ran")
    history: str = Field(description="Every attempt of every task run")


class ParentExecution(_Document):
    execution_id: str = Field(description="The parent execution")
    task_name: str = Field(description="Its subflow task that started this child")
    depth: int = Field(description="How deep this child is nested (1: started by a top-level execution)")


class StatusDocument(_Document):
    """An execution and the latest run of each of its tasks, within a bound (README, "Status document")."""

    execution_id: str
    flow_id: str
    flow_version: int
    flow_name: str
    status: ExecutionStatus
    current_task: str | None
    completed_tasks: list[str] = Field(description="Each task that succeeded, once, in the order it first did")
    path: list[str] = Field(description="The last 100 steps, oldest first")
    path_total: int = Field(description="How many steps the whole path has")
    run_counts: dict[str, int] = Field(description="Task runs per status")
    created_at: str
    started_at: str | None
    ended_at: str | None
    error: str | None
    input: dict[str, Any] | None = Field(description="The execution's input; null when `input_ref` is set")
    input_ref: PayloadReference | None = Field(
        description="Set when the input is kept in the payload store (over 32,000 bytes as JSON)"
    )
    task_results: dict[str, TaskResult]
    parent: ParentExecution | None = Field(description="A child execution (of a subflow task): who started it")
    links: ExecutionLinks


class ExecutionSummary(_Document):
    execution_id: str
    flow_id: str
    flow_version: int
    flow_name: str
    status: ExecutionStatus
    created_at: str
    started_at: str | None
    ended_at: str | None
    error: str | None


class ExecutionPage(_Document):
    executions: list[ExecutionSummary]
    next_cursor: str | None


class ExecutionDeleted(_Document):
    message: str
    execution_id: str
    items_deleted: int
    payloads_deleted: int = Field(description="Values of the execution that were kept in the payload store")


class HistoryEvent(_Document):
    """One attempt of one task run."""

    seq: int = Field(description="The run's step along the path")
    task_name: str
    attempt: int
    status: TaskStatus
    started_at: str | None
    ended_at: str | None
    duration_ms: int | None
    message: str | None
    error: str | None
    output: Any = Field(description="The run's output, on its latest attempt")
    output_ref: PayloadReference | None = Field(
        description="On its latest attempt, when the output is kept in the payload store (`output` is then null)"
    )
    input: Any = Field(description="The run's resolved input (its `input` template), on its latest attempt")
    input_ref: PayloadReference | None = Field(
        description="On its latest attempt, when that input is kept in the payload store (`input` is then null)"
    )


class HistoryPage(_Document):
    execution_id: str
    status: ExecutionStatus
    events: list[HistoryEvent]
    next_cursor: str | None


class FlowSummary(_Document):
    flow_id: str
    version: int
    name: str
    created_at: str


class FlowStored(FlowSummary):
    created: bool = Field(description="False when the definition is the latest version's already")


class FlowVersion(FlowSummary):
    definition: dict[str, Any] = Field(description="The definition as stored (a FlowDefinition)")


class FlowListed(_Document):
    flow_id: str
    name: str
    latest_version: int
    created_at: str
    updated_at: str


class FlowPage(_Document):
    flows: list[FlowListed]
    next_cursor: str | None


class FlowDeleted(_Document):
    message: str
    flow_id: str


DOCUMENTS: tuple[type[BaseModel], ...] = (
    ErrorResponse,
    GatewayMessage,
    Root,
    Health,
    Message,
    SeedCreated,
    StatusDocument,
    ExecutionSummary,
    ExecutionPage,
    ExecutionDeleted,
    HistoryPage,
    PayloadLink,
    FlowStored,
    FlowVersion,
    FlowPage,
    FlowDeleted,
    CallbackAnswer,
    HeartbeatAnswer,
)
