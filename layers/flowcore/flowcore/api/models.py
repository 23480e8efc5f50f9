"""What callers send, as pydantic models: every field checked and reported. The class names are the schema
names of the OpenAPI document.

The defaults are the domain's (`flowcore.domain.flow`), read from its classes; a checked definition becomes
the domain's `FlowSpec` through its stored form (`FlowDefinition.document`), which the runner reads back.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from flowcore.domain import flow as domain
from flowcore.domain.flow import FLOW_ID_PATTERN, MAX_CONDITIONS, MAX_TASKS, MAX_TRANSITIONS_LIMIT, NAME_PATTERN
from flowcore.domain.statuses import ExecutionStatus

__all__ = ["FLOW_ID_PATTERN", "ExecuteRequest", "ExecutionStatus", "FlowDefinition", "StartRequest"]

_RETRY = domain.defaults(domain.RetryPolicy)
_TASK = domain.defaults(domain.TaskSpec)
_CONDITION = domain.defaults(domain.Condition)
_FLOW = domain.defaults(domain.FlowSpec)

Name = Annotated[str, Field(pattern=NAME_PATTERN, description="Letters, digits and _ . : - (1-80 characters)")]
Description = Annotated[str, Field(max_length=500)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, defer_build=True)


class RetryPolicy(_Strict):
    """How often a failed task is tried again, and how long to wait between tries."""

    max_attempts: Annotated[int, Field(ge=1, le=25)] = _RETRY["max_attempts"]
    interval_seconds: Annotated[float, Field(ge=0, le=86_400)] = _RETRY["interval_seconds"]
    backoff_rate: Annotated[float, Field(ge=1, le=10)] = _RETRY["backoff_rate"]
    max_delay_seconds: Annotated[float, Field(ge=0, le=86_400)] = _RETRY["max_delay_seconds"]
    jitter: bool = _RETRY["jitter"]


class WhenRule(_Strict):
    """A declarative test on the source task's output; see `flowcore.domain.conditions`."""

    path: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-\[\]]+$")]
    op: Literal["eq", "ne", "gt", "gte", "lt", "lte", "exists", "not_exists", "in", "contains"]
    value: Any = None


class TaskDefinition(_Strict):
    name: Name
    description: Description | None = None
    type: str = Field(
        default=_TASK["type"],
        validation_alias=AliasChoices("type", "task_type"),
        max_length=64,
        description="Task type (alias: task_type); absent means `pass`",
    )
    parameters: dict[str, Any] = Field(default_factory=dict)
    retry: RetryPolicy | None = None
    timeout_seconds: Annotated[int, Field(ge=1, le=900)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_type_field(cls, data: Any) -> Any:
        if isinstance(data, dict) and "type" in data and "task_type" in data and data["type"] != data["task_type"]:
            raise ValueError("give either 'type' or 'task_type', not two different values")
        if isinstance(data, dict) and "task_type" in data and "type" in data:
            data = {k: v for k, v in data.items() if k != "task_type"}
        return data


class Condition(_Strict):
    name: Name | None = None
    description: Description | None = None
    source_task: Name
    outcome: str = Field(default=_CONDITION["outcome"], description="`success` or `failure` (any case)")
    target_task_success: str | None = Field(default=None, max_length=80)
    target_task_failure: str | None = Field(default=None, max_length=80)
    when: WhenRule | None = None


class FlowDefinition(_Strict):
    """A flow as users write it, flat or wrapped as {"flow": {...}}."""

    id: Annotated[str, Field(pattern=FLOW_ID_PATTERN)] | None = None
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Description | None = None
    start_task: Annotated[str, Field(min_length=1, max_length=80)]
    tasks: Annotated[list[TaskDefinition], Field(min_length=1, max_length=MAX_TASKS)]
    conditions: Annotated[list[Condition], Field(max_length=MAX_CONDITIONS)] = Field(default_factory=list)
    max_transitions: Annotated[int, Field(ge=1, le=MAX_TRANSITIONS_LIMIT)] = _FLOW["max_transitions"]
    timeout_seconds: Annotated[int, Field(ge=1, le=31_536_000)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, data: Any) -> Any:
        if isinstance(data, dict) and set(data) == {"flow"} and isinstance(data["flow"], dict):
            return data["flow"]
        return data

    def document(self) -> dict[str, Any]:
        """The definition as it is stored and shown: JSON values, absent fields left out."""
        return self.model_dump(mode="json", exclude_none=True)

    def spec(self) -> domain.FlowSpec:
        """The plain form the runner and the engine read (the same values, as stored)."""
        return domain.FlowSpec.from_document(self.document())


class ExecuteRequest(BaseModel):
    """Seed route: start a CREATED execution by `execution_id`, or run a stored flow by `flow_id`."""

    model_config = ConfigDict(extra="forbid")

    execution_id: str | None = Field(default=None, max_length=64)
    flow_id: str | None = Field(default=None, pattern=FLOW_ID_PATTERN)
    input: dict[str, Any] | None = None


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] | None = None
