"""Graph checks of DESIGN §3.5, run after pydantic has checked each field's shape.

Every problem is reported, not just the first, each naming the field it is about.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from flowcore.api.expression_checks import expression_problems
from flowcore.api.models import MAX_RUN_SECONDS, FlowDefinition, TaskDefinition
from flowcore.api.parameters import parameter_problems
from flowcore.domain.errors import Problem, ValidationFailed
from flowcore.domain.flow import MAX_TRANSITIONS_LIMIT, OUTCOMES, is_end, normalise_outcome
from flowcore.domain.graph import endless
from flowcore.tasks import TaskType, TaskTypeRegistry

MAX_DEFINITION_BYTES = 300_000
MAX_CONDITIONS_PER_TASK = 50


def field_path(loc: tuple[str | int, ...]) -> str:
    """('tasks', 0, 'name') -> 'tasks[0].name'."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def problems_from_pydantic(error: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[Problem]:
    return [
        Problem(field_path(prefix + tuple(issue["loc"])), issue["msg"]) for issue in error.errors(include_url=False)
    ]


def parse_definition(document: Any) -> FlowDefinition:
    """Parse and fully check a flow definition, or raise `ValidationFailed` listing every problem."""
    if not isinstance(document, dict):
        raise ValidationFailed([Problem("body", "a flow definition must be a JSON object")])
    try:
        definition = FlowDefinition.model_validate(document)
    except ValidationError as error:
        wrapped = set(document) == {"flow"}
        raise ValidationFailed(problems_from_pydantic(error, ("flow",) if wrapped else ())) from error
    return definition


def graph_problems(
    definition: FlowDefinition, registry: TaskTypeRegistry, ceiling: int = MAX_TRANSITIONS_LIMIT
) -> list[Problem]:
    """Every problem of the graph: names, references, types and parameters, the limit, expressions (they
    compile, read what their place has, name tasks that can run before them; the limits of templates and `when`),
    cycles that never end. `ceiling` is the deployment's highest `max_transitions`."""
    first_index: dict[str, int] = {}
    problems = _task_problems(definition, registry, first_index)
    if definition.start_task not in first_index:
        problems.append(Problem("start_task", f"start_task '{definition.start_task}' is not a task of this flow"))
    problems += _condition_problems(definition, first_index)
    problems += expression_problems(definition.spec())
    if definition.max_transitions > ceiling:
        message = f"max_transitions {definition.max_transitions} is above this deployment's ceiling of {ceiling}"
        problems.append(Problem("max_transitions", message))
    if not problems:
        problems += _endless_problems(definition)
    size = len(json.dumps(definition.document(), separators=(",", ":")))
    if size > MAX_DEFINITION_BYTES:
        problems.append(Problem("body", f"the definition is {size} bytes once stored; at most {MAX_DEFINITION_BYTES}"))
    return problems


def _task_problems(
    definition: FlowDefinition, registry: TaskTypeRegistry, first_index: dict[str, int]
) -> list[Problem]:
    """Duplicate names, unknown types, bad parameters; fills `first_index` with each name's first position."""
    problems: list[Problem] = []
    for index, task in enumerate(definition.tasks):
        if task.name in first_index:
            first = first_index[task.name]
            problems.append(
                Problem(f"tasks[{index}].name", f"duplicate task name '{task.name}' (first at tasks[{first}])")
            )
        else:
            first_index[task.name] = index
        problems.extend(parameter_problems(registry, task.type, task.parameters, f"tasks[{index}]"))
        problems.extend(_waiting_problems(task, registry.get(task.type), f"tasks[{index}]"))
    return problems


def _waiting_problems(task: TaskDefinition, task_type: TaskType | None, where: str) -> list[Problem]:
    """A task that awaits a completion from outside may wait up to a year and take heartbeats; any other task
    runs inside the runner's invocation, so its timeout is bounded by Lambda's."""
    if task_type is None:
        return []  # its unknown type is reported already
    problems = []
    if task.wait_for_callback and not task_type.can_wait_for_callback:
        problems.append(
            Problem(f"{where}.wait_for_callback", f"task type '{task.type}' cannot hand off a callback token")
        )
    awaits = task_type.awaits or (task.wait_for_callback and task_type.can_wait_for_callback)
    if not awaits and task.timeout_seconds is not None and task.timeout_seconds > MAX_RUN_SECONDS:
        problems.append(
            Problem(
                f"{where}.timeout_seconds",
                f"at most {MAX_RUN_SECONDS} for a task that runs in the runner; only a task that awaits a "
                "completion (callback, subflow, wait_for_callback) may wait longer",
            )
        )
    if not awaits and task.heartbeat_seconds is not None:
        problems.append(
            Problem(
                f"{where}.heartbeat_seconds",
                "only a task that awaits a completion (callback, subflow, wait_for_callback) takes heartbeats",
            )
        )
    return problems


def _condition_problems(definition: FlowDefinition, tasks: dict[str, int]) -> list[Problem]:
    problems: list[Problem] = []
    per_source: dict[str, int] = {}
    names: dict[str, int] = {}
    for index, condition in enumerate(definition.conditions):
        where = f"conditions[{index}]"
        if condition.name is not None and condition.name in names:
            first = names[condition.name]
            message = f"duplicate condition name '{condition.name}' (first at conditions[{first}])"
            problems.append(Problem(f"{where}.name", message))
        elif condition.name is not None:
            names[condition.name] = index
        if condition.source_task not in tasks:
            message = f"source_task '{condition.source_task}' is not a task of this flow"
            problems.append(Problem(f"{where}.source_task", message))
        if normalise_outcome(condition.outcome) not in OUTCOMES:
            problems.append(
                Problem(f"{where}.outcome", f"outcome '{condition.outcome}' must be 'success' or 'failure'")
            )
        for target_field in ("target_task_success", "target_task_failure"):
            target = getattr(condition, target_field)
            if not is_end(target) and target not in tasks:
                message = f"target '{target}' is not a task of this flow (use 'end' to stop)"
                problems.append(Problem(f"{where}.{target_field}", message))
        per_source[condition.source_task] = per_source.get(condition.source_task, 0) + 1
    for source, count in per_source.items():
        if count > MAX_CONDITIONS_PER_TASK:
            message = f"task '{source}' is the source of {count} conditions; at most {MAX_CONDITIONS_PER_TASK}"
            problems.append(Problem("conditions", message))
    return problems


def _endless_problems(definition: FlowDefinition) -> list[Problem]:
    """Loops are allowed when they can exit; tasks from which no path leads to an end would run forever."""
    stuck = endless(definition.spec())
    if not stuck:
        return []
    names = ", ".join(f"'{name}'" for name in stuck)
    message = f"tasks {names} can never end: no path from them leads to 'end' or to a task that ends its branch"
    return [Problem("conditions", message)]


def validate_definition(document: Any, registry: TaskTypeRegistry) -> FlowDefinition:
    definition = parse_definition(document)
    problems = graph_problems(definition, registry)
    if problems:
        raise ValidationFailed(problems)
    return definition
