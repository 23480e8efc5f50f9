"""What callers send, as pydantic models: every field checked and reported. The class names are the schema
names of the OpenAPI document.

Strict: a value must already have its field's JSON type (`"5"` is not a number, `1` is not a boolean); a
whole number written as `5.0` is an integer, as JSON Schema counts it. Values users nest freely (`input`,
`parameters`, a `when` value) nest at most MAX_VALUE_DEPTH levels (`flowcore.api.body`).

The defaults are the domain's (`flowcore.domain.flow`), read from its classes; a checked definition becomes
the domain's `FlowSpec` through its stored form (`FlowDefinition.document`), which the runner reads back.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from flowcore.api.body import MAX_VALUE_DEPTH, depth
from flowcore.domain import flow as domain
from flowcore.domain.callbacks import MAX_AWAIT_SECONDS
from flowcore.domain.expressions import MAX_EXPRESSION_LENGTH, MAX_WHEN_RULES
from flowcore.domain.flow import FLOW_ID_PATTERN, MAX_CONDITIONS, MAX_TASKS, MAX_TRANSITIONS_LIMIT, NAME_PATTERN
from flowcore.domain.statuses import ExecutionStatus

__all__ = [
    "EXECUTION_ID_PATTERN",
    "FLOW_ID_PATTERN",
    "ExecuteRequest",
    "ExecutionStatus",
    "FlowDefinition",
    "StartRequest",
]

#: Execution ids are UUIDs; any id this service gives matches, and nothing a path would have to escape does.
EXECUTION_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

_RETRY = domain.defaults(domain.RetryPolicy)
_TASK = domain.defaults(domain.TaskSpec)
_CONDITION = domain.defaults(domain.Condition)
_FLOW = domain.defaults(domain.FlowSpec)

Name = Annotated[str, Field(pattern=NAME_PATTERN, description="Letters, digits and _ . : - (1-80 characters)")]
Description = Annotated[str, Field(max_length=500)]


def _whole(value: Any) -> Any:
    """5.0 is the integer 5 (JSON Schema says so); 5.5, "5" and true are left for the strict check to refuse."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _shallow[T](value: T) -> T:
    found = depth(value)
    if found > MAX_VALUE_DEPTH:
        raise ValueError(f"nests {found} levels deep; at most {MAX_VALUE_DEPTH}")
    return value


Integer = Annotated[int, BeforeValidator(_whole)]
#: A value of the user's own: any JSON, nested at most MAX_VALUE_DEPTH levels.
UserValue = Annotated[Any, AfterValidator(_shallow)]
UserObject = Annotated[dict[str, Any], AfterValidator(_shallow)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, defer_build=True, strict=True)


class RetryPolicy(_Strict):
    """How often a failed task is tried again, and how long to wait between tries."""

    max_attempts: Annotated[Integer, Field(ge=1, le=25)] = _RETRY["max_attempts"]
    interval_seconds: Annotated[float, Field(ge=0, le=86_400)] = _RETRY["interval_seconds"]
    backoff_rate: Annotated[float, Field(ge=1, le=10)] = _RETRY["backoff_rate"]
    max_delay_seconds: Annotated[float, Field(ge=0, le=86_400)] = _RETRY["max_delay_seconds"]
    jitter: bool = _RETRY["jitter"]


#: The keys that tell a `when`'s form; `value` goes with `path` and `op`.
_WHEN_FORMS = {"path": "path", "op": "path", "value": "path", "expr": "expr", "all": "all", "any": "any", "not_": "not"}
_WHEN_SHAPES = "{path, op, value}, {expr}, {all: [...]}, {any: [...]} or {not: {...}}"
#: Field names that are not the key users write (`not` is a Python keyword).
_WHEN_KEYS = {"not_": "not"}
Rules = Annotated[list["When"], Field(min_length=1, max_length=MAX_WHEN_RULES)]


def _five_forms(schema: dict[str, Any]) -> None:
    """`When`'s JSON Schema as its five forms: exactly the objects the model takes (keys as users write them)."""
    properties = schema.pop("properties")
    schema.pop("required", None)
    schema.pop("additionalProperties", None)

    def given(name: str) -> Any:
        found = {key: value for key, value in properties[name].items() if key != "default"}
        members = found.pop("anyOf", None)
        return {**found, **members[0]} if members else found

    def form(required: tuple[str, ...], *optional: str) -> dict[str, Any]:
        keys = {name: given(name) for name in (*required, *optional)}
        return {"type": "object", "properties": keys, "required": list(required), "additionalProperties": False}

    schema["oneOf"] = [form(("path", "op"), "value"), form(("expr",)), form(("all",)), form(("any",)), form(("not",))]


# One model with every key rather than a union of five: a problem is then reported at its own path
# (`when.all[0].expr`), where a union's would carry the name of the member tried. The OpenAPI document shows the
# five forms (`_five_forms`); `domain.parse_when` reads the stored form into the domain's rules.
class When(_Strict):
    """A test on the source task's result, in one of five forms: `{path, op, value}` compares a value of the
    output; `{expr}` holds when a JMESPath expression over `output` and the context document is truthy;
    `{all: [...]}`, `{any: [...]}` and `{not: {...}}` combine rules, nested at most 8 levels."""

    model_config = ConfigDict(validate_by_name=False, serialize_by_alias=True, json_schema_extra=_five_forms)

    path: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-\[\]]+$")] | None = Field(
        default=None, description="Where in the output: `count`, `a.b[0].c` (a leading `output.` is allowed)"
    )
    op: Literal["eq", "ne", "gt", "gte", "lt", "lte", "exists", "not_exists", "in", "contains"] | None = None
    value: UserValue = Field(default=None, description="What `op` compares with (a list for `in`)")
    expr: Annotated[str, Field(min_length=1, max_length=MAX_EXPRESSION_LENGTH)] | None = Field(
        default=None,
        description="JMESPath over `output` (the source task's output), `input`, `execution`, `tasks.<name>` and "
        "`previous`; holds when its value is truthy (not null, false, empty)",
    )
    all: Rules | None = Field(default=None, description="Holds when every rule holds")
    any: Rules | None = Field(default=None, description="Holds when some rule holds")
    not_: When | None = Field(default=None, alias="not", description="Holds when the rule does not")

    @field_validator("path", "op", "expr", "all", "any", "not_", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise _when_error("a `when` key is not null: leave it out")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> When:
        forms = sorted({_WHEN_FORMS[name] for name in self.model_fields_set})
        if not forms:
            raise _when_error(f"a `when` is one of {_WHEN_SHAPES}")
        if len(forms) > 1:
            given = ", ".join(f"'{_WHEN_KEYS.get(name, name)}'" for name in sorted(self.model_fields_set))
            raise _when_error(f"a `when` has one form, of {_WHEN_SHAPES}; this one has {given}")
        missing = [f"'{name}'" for name in ("path", "op") if getattr(self, name) is None]
        if forms == ["path"] and missing:
            raise _when_error(f"a path rule needs {' and '.join(missing)}")
        return self


def _when_error(message: str) -> PydanticCustomError:
    """An error whose message is `message` as it is (pydantic would read its braces as placeholders)."""
    return PydanticCustomError("when_form", "{message}", {"message": message})


#: The longest attempt the runner itself runs (a Lambda invocation's limit).
MAX_RUN_SECONDS = 900


class TaskDefinition(_Strict):
    name: Name
    description: Description | None = None
    type: str = Field(
        default=_TASK["type"],
        validation_alias=AliasChoices("type", "task_type"),
        max_length=64,
        description="Task type (alias: task_type); absent means `pass`",
    )
    parameters: UserObject = Field(
        default_factory=dict,
        description='The task type\'s parameters; a declared one may be a whole `"${expr}"` template, resolved and '
        "checked when the task runs",
    )
    retry: RetryPolicy | None = None
    timeout_seconds: Annotated[Integer, Field(ge=1, le=MAX_AWAIT_SECONDS)] | None = Field(
        default=None,
        description=f"How long one attempt may take: at most {MAX_RUN_SECONDS} s for a task the runner runs; a "
        "task that awaits a completion (callback, subflow, wait_for_callback) may wait up to a year",
    )
    heartbeat_seconds: Annotated[Integer, Field(ge=1, le=MAX_AWAIT_SECONDS)] | None = Field(
        default=None,
        description="A task that awaits a completion fails without a heartbeat "
        "(`POST /callbacks/{token}/heartbeat`) for this long",
    )
    wait_for_callback: bool = Field(
        default=_TASK["wait_for_callback"],
        description="An integration (lambda, sqs, sns, eventbridge) hands off a callback token (`task_token`) and "
        "the run waits for `POST /callbacks/{token}`",
    )
    input: UserValue = Field(
        default=_TASK["input"],
        description='A template (any JSON): a string that is exactly `"${expr}"` becomes the JMESPath '
        "expression's value, `${expr}` inside text its text, `$${` a literal `${`. Expressions read `input`, "
        "`execution`, `tasks.<name>` and `previous`. The resolved value is the task type's input",
    )
    output: UserValue = Field(
        default=_TASK["output"],
        description="A template as `input`, whose expressions also read `result` (the task's raw output); its value "
        "is stored as the task's output. Absent: the raw output",
    )

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
    when: When | None = None


class FlowDefinition(_Strict):
    """A flow as users write it, flat or wrapped as {"flow": {...}}."""

    id: Annotated[str, Field(pattern=FLOW_ID_PATTERN)] | None = None
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Description | None = None
    start_task: Annotated[str, Field(min_length=1, max_length=80)]
    tasks: Annotated[list[TaskDefinition], Field(min_length=1, max_length=MAX_TASKS)]
    conditions: Annotated[list[Condition], Field(max_length=MAX_CONDITIONS)] = Field(default_factory=list)
    max_transitions: Annotated[Integer, Field(ge=1, le=MAX_TRANSITIONS_LIMIT)] = _FLOW["max_transitions"]
    timeout_seconds: Annotated[Integer, Field(ge=1, le=31_536_000)] | None = None

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


_JSON_TYPES = {"execution_id": "string", "flow_id": "string", "input": "object"}


def _given(field: str, but_not: tuple[str, ...] = ("execution_id",)) -> dict[str, Any]:
    """JSON Schema for "`field` is given (not null), and none of `but_not` is"."""

    def present(name: str) -> dict[str, Any]:
        return {"required": [name], "properties": {name: {"type": _JSON_TYPES[name]}}}

    return {**present(field), "not": {"anyOf": [present(name) for name in but_not]}}


class ExecuteRequest(BaseModel):
    """Seed route: start a CREATED execution by `execution_id`, or run a stored flow by `flow_id` (with an
    optional `input`); exactly one of the two (400 otherwise, as the route has always answered)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"oneOf": [_given("execution_id", but_not=("flow_id", "input")), _given("flow_id")]},
    )

    execution_id: str | None = Field(default=None, pattern=EXECUTION_ID_PATTERN)
    flow_id: str | None = Field(default=None, pattern=FLOW_ID_PATTERN)
    input: UserObject | None = None


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    input: UserObject | None = None
