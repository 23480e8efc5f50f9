"""Task parameters checked when a flow is stored, with a pydantic model built from each type's `Param`s.

A declared parameter may be a template (`"records": "${previous.output.records_processed}"`): written as the
whole value, it passes here whatever its type, and the runner checks the value it resolves to. Inside a longer
string it resolves to text, which only a string parameter takes. (The expressions themselves are checked with
the task's other templates, `flowcore.api.expression_checks`.)
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from flowcore.domain.errors import Problem
from flowcore.domain.templates import OPEN, is_template
from flowcore.tasks import TaskTypeRegistry
from flowcore.tasks.base import Param


@cache
def parameters_model(declared: tuple[Param, ...]) -> type[BaseModel]:
    """The pydantic model that checks `declared`; parameters it does not declare are kept.

    Strict: a declared parameter must already have its type (`"5"` is not a number of seconds, `true` is not a
    failure rate); an int is a float, as JSON has one kind of number."""
    fields: dict[str, Any] = {
        param.name: (
            _PYDANTIC_KINDS.get(param.kind, param.kind),
            Field(
                default=param.default,
                ge=param.ge,
                le=param.le,
                max_length=param.max_length,
                pattern=param.pattern,
                description=param.description,
                strict=None if param.kind is object else True,  # pydantic refuses `strict` on Any
            ),
        )
        for param in declared
    }
    model: type[BaseModel] = create_model("Parameters", __config__=ConfigDict(extra="allow"), **fields)
    return model


def parameter_problems(
    registry: TaskTypeRegistry, type_name: str, parameters: dict[str, Any], where: str
) -> list[Problem]:
    """Problems with a task's type and parameters; `where` is the task's field path, e.g. `tasks[2]`."""
    task_type = registry.get(type_name)
    if task_type is None:
        known = ", ".join(registry.names())
        return [Problem(f"{where}.type", f"unknown task type '{type_name}'; known types: {known}")]
    kinds = {param.name: param.kind for param in task_type.parameters}
    templated = {name for name, value in parameters.items() if name in kinds and is_template(value)}
    in_text = {
        name
        for name, value in parameters.items()
        if kinds.get(name, str) not in (str, object)
        and name not in templated
        and isinstance(value, str)
        and OPEN in value
    }
    problems = [Problem(f"{where}.parameters.{name}", _IN_TEXT) for name in sorted(in_text)]
    try:
        parameters_model(task_type.parameters).model_validate(parameters)
    except ValidationError as error:
        problems += [
            Problem(f"{where}.parameters" + "".join(_loc_part(part) for part in issue["loc"]), issue["msg"])
            for issue in error.errors(include_url=False)
            if not issue["loc"] or issue["loc"][0] not in templated | in_text
        ]
    given = {name: value for name, value in parameters.items() if name not in templated | in_text}
    problems += [
        Problem(f"{where}.parameters.{name}", message) for name, message in task_type.parameter_problems(given)
    ]
    return problems


#: How pydantic spells the kinds a `Param` has that are not its own types.
_PYDANTIC_KINDS: dict[type, Any] = {dict: dict[str, Any], object: Any}

_IN_TEXT = (
    'a number parameter takes a number, or an expression as the whole value ("${...}"); '
    "an expression inside text resolves to text"
)


def _loc_part(part: str | int) -> str:
    return f"[{part}]" if isinstance(part, int) else f".{part}"
