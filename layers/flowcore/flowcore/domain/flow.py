"""A flow definition as the engine reads it: plain frozen dataclasses, and the only place its defaults live.

The API checks what users send with pydantic models (`flowcore.api.models`) whose defaults are read from
these classes, and stores the checked definition as JSON; `FlowSpec.from_json` reads it back without
checking it again. The stream consumers never import pydantic: it was a third of their cold start.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from flowcore.domain.errors import UnreadableItem

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$"
FLOW_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
END_TARGET = "end"
OUTCOMES = ("success", "failure")

MAX_TASKS = 1000
MAX_CONDITIONS = 2000
DEFAULT_MAX_TRANSITIONS = 10_000
MAX_TRANSITIONS_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    interval_seconds: float = 1.0
    backoff_rate: float = 2.0
    max_delay_seconds: float = 300.0
    jitter: bool = False


@dataclass(frozen=True, slots=True)
class WhenRule:
    """A declarative test on the source task's output (`flowcore.domain.conditions`)."""

    path: str
    op: str
    value: Any = None


@dataclass(frozen=True, slots=True)
class ExprRule:
    """Holds when the JMESPath expression's value is truthy; it reads `output` and the context document."""

    expr: str


@dataclass(frozen=True, slots=True)
class AllOf:
    rules: tuple[When, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    rules: tuple[When, ...]


@dataclass(frozen=True, slots=True)
class NotRule:
    rule: When


#: A condition's `when`, as stored: `{path, op, value}`, `{expr}`, `{all: [...]}`, `{any: [...]}`, `{not: {...}}`.
type When = WhenRule | ExprRule | AllOf | AnyOf | NotRule


@dataclass(frozen=True, slots=True)
class Condition:
    source_task: str
    name: str | None = None
    outcome: str = "success"
    target_task_success: str | None = None
    target_task_failure: str | None = None
    when: When | None = None


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """`input` and `output` are templates (`flowcore.domain.templates`); None (or JSON null) is none: the task
    type receives no input, and the task's output is its raw output."""

    name: str
    type: str = "pass"
    parameters: dict[str, Any] = field(default_factory=dict)
    retry: RetryPolicy | None = None
    timeout_seconds: int | None = None
    input: Any = None
    output: Any = None
    #: A task that awaits a completion from outside fails without a heartbeat for this long.
    heartbeat_seconds: int | None = None
    #: An integration that can hand off a callback token does, and its run waits for the callback.
    wait_for_callback: bool = False


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """A definition the API checked, as routing reads it. `document` is its JSON form as stored."""

    name: str
    start_task: str
    tasks: tuple[TaskSpec, ...]
    conditions: tuple[Condition, ...] = ()
    max_transitions: int = DEFAULT_MAX_TRANSITIONS
    timeout_seconds: int | None = None
    document: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str) -> FlowSpec:
        """Parse a stored definition; one that does not parse raises `UnreadableItem`."""
        try:
            return cls.from_document(json.loads(text))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise UnreadableItem(f"a stored flow definition does not parse: {error}") from error

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> FlowSpec:
        """Fields the document leaves out take the defaults above."""
        return _build(
            cls,
            document,
            tasks=tuple(_task(task) for task in document["tasks"]),
            conditions=tuple(_condition(condition) for condition in document.get("conditions", ())),
            document=document,
        )


def defaults[T: DataclassInstance](cls: type[T]) -> dict[str, Any]:
    """The default of every field of `cls` that has a plain one (the API's models take theirs from here)."""
    return {item.name: item.default for item in fields(cls) if item.default is not MISSING}


def _build[T: DataclassInstance](cls: type[T], source: Mapping[str, Any], **converted: Any) -> T:
    names = {item.name for item in fields(cls)}
    given = {name: value for name, value in source.items() if name in names}
    return cls(**{**given, **converted})


def _task(document: dict[str, Any]) -> TaskSpec:
    retry = document.get("retry")
    return _build(TaskSpec, document, retry=_build(RetryPolicy, retry) if retry is not None else None)


def _condition(document: dict[str, Any]) -> Condition:
    when = document.get("when")
    return _build(Condition, document, when=parse_when(when) if when is not None else None)


def parse_when(document: Mapping[str, Any]) -> When:
    """A `when` as stored; the form is told by its key (`expr`, `all`, `any`, `not`), else a path rule."""
    if "expr" in document:
        return ExprRule(document["expr"])
    if "all" in document:
        return AllOf(tuple(parse_when(rule) for rule in document["all"]))
    if "any" in document:
        return AnyOf(tuple(parse_when(rule) for rule in document["any"]))
    if "not" in document:
        return NotRule(parse_when(document["not"]))
    return _build(WhenRule, document)


def is_end(target: str | None) -> bool:
    return target is None or target.strip().lower() == END_TARGET


def normalise_outcome(outcome: str) -> str:
    return outcome.strip().lower()
