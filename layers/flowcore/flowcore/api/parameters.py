"""Task parameters checked when a flow is stored, with a pydantic model built from each type's `Param`s."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from flowcore.domain.errors import Problem
from flowcore.tasks import TaskTypeRegistry
from flowcore.tasks.base import Param


@cache
def parameters_model(declared: tuple[Param, ...]) -> type[BaseModel]:
    """The pydantic model that checks `declared`; parameters it does not declare are kept.

    Strict: a declared parameter must already have its type (`"5"` is not a number of seconds, `true` is not a
    failure rate); an int is a float, as JSON has one kind of number."""
    fields: dict[str, Any] = {
        param.name: (
            param.kind,
            Field(
                default=param.default,
                ge=param.ge,
                le=param.le,
                max_length=param.max_length,
                description=param.description,
                strict=True,
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
    try:
        parameters_model(task_type.parameters).model_validate(parameters)
    except ValidationError as error:
        return [
            Problem(f"{where}.parameters" + "".join(_loc_part(part) for part in issue["loc"]), issue["msg"])
            for issue in error.errors(include_url=False)
        ]
    return []


def _loc_part(part: str | int) -> str:
    return f"[{part}]" if isinstance(part, int) else f".{part}"
