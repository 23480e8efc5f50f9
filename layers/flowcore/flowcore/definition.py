"""Flow definitions as users write them: pydantic models, so that every field is checked and reported.

Only the API parses with these. A stored definition was checked when it was saved, so the runner reads it
back as the plain values of `flowcore.model` (`FlowSpec`) and never imports pydantic: that is a third of
its cold start. The class names here are the schema names in the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from flowcore.model import (
    DEFAULT_MAX_TRANSITIONS,
    FLOW_ID_PATTERN,
    MAX_CONDITIONS,
    MAX_TASKS,
    MAX_TRANSITIONS_LIMIT,
    NAME_PATTERN,
    FlowSpec,
)

Name = Annotated[str, Field(pattern=NAME_PATTERN, description="Letters, digits and _ . : - (1-80 characters)")]
Description = Annotated[str, Field(max_length=500)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, defer_build=True)


class RetryPolicy(_Strict):
    """How often a failed task is tried again, and how long to wait between tries."""

    max_attempts: Annotated[int, Field(ge=1, le=25)] = 3
    interval_seconds: Annotated[float, Field(ge=0, le=86_400)] = 1.0
    backoff_rate: Annotated[float, Field(ge=1, le=10)] = 2.0
    max_delay_seconds: Annotated[float, Field(ge=0, le=86_400)] = 300.0
    jitter: bool = False


class WhenRule(_Strict):
    """A declarative test on the source task's output; see `conditions.py`."""

    path: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-\[\]]+$")]
    op: Literal["eq", "ne", "gt", "gte", "lt", "lte", "exists", "not_exists", "in", "contains"]
    value: Any = None


class TaskDefinition(_Strict):
    name: Name
    description: Description | None = None
    type: str = Field(
        default="pass",
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
    outcome: str = Field(default="success", description="`success` or `failure` (any case)")
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
    max_transitions: Annotated[int, Field(ge=1, le=MAX_TRANSITIONS_LIMIT)] = DEFAULT_MAX_TRANSITIONS
    timeout_seconds: Annotated[int, Field(ge=1, le=31_536_000)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, data: Any) -> Any:
        if isinstance(data, dict) and set(data) == {"flow"} and isinstance(data["flow"], dict):
            return data["flow"]
        return data

    def spec(self) -> FlowSpec:
        """The plain form the runner and the engine read (the same values, as stored)."""
        return FlowSpec.from_document(self.model_dump(mode="json", exclude_none=True))
