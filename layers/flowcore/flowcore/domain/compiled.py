"""A flow version indexed for routing: built once per version, then only read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowcore.domain.flow import Condition, FlowSpec, TaskSpec, WhenRule, is_end
from flowcore.domain.graph import reaching, successors


@dataclass(frozen=True, slots=True)
class DataNeeds:
    """What a task's templates and `expr` conditions read, so that a run builds only the context it needs."""

    tasks: frozenset[str] = frozenset()  # read as `tasks.<name>`
    previous: bool = False
    parameters: bool = False  # some parameter is templated
    routes: bool = False  # some condition from the task has an `expr` rule


@dataclass(frozen=True, slots=True)
class CompiledFlow:
    flow_id: str
    version: int
    definition: FlowSpec
    tasks: dict[str, TaskSpec]
    task_order: tuple[str, ...]
    conditions_by_source: dict[str, tuple[Condition, ...]]
    #: Tasks that conditions of more than one task lead to: where parallel branches can meet.
    join_points: frozenset[str]
    #: For each task, the join points some path from it leads to (itself included, when it is one).
    joins_ahead: dict[str, frozenset[str]]
    #: The tasks that have templates or `expr` conditions, and what they read (a task not here reads nothing).
    needs: dict[str, DataNeeds] = field(default_factory=dict)
    #: Tasks some template reads as `tasks.<name>`: their latest result is kept per execution.
    remembered: frozenset[str] = frozenset()
    #: Whether some template reads `previous`: runs then record the run that led to them.
    reads_previous: bool = False

    @classmethod
    def build(cls, flow_id: str, version: int, definition: FlowSpec) -> CompiledFlow:
        by_source: dict[str, list[Condition]] = {}
        sources_by_target: dict[str, set[str]] = {}
        for condition in definition.conditions:
            by_source.setdefault(condition.source_task, []).append(condition)
            for target in (condition.target_task_success, condition.target_task_failure):
                if not is_end(target):
                    sources_by_target.setdefault(str(target), set()).add(condition.source_task)
        join_points = frozenset(task for task, sources in sources_by_target.items() if len(sources) > 1)
        needs = data_needs(definition) if _has_data(definition) else {}
        return cls(
            flow_id=flow_id,
            version=version,
            definition=definition,
            tasks={task.name: task for task in definition.tasks},
            task_order=tuple(task.name for task in definition.tasks),
            conditions_by_source={name: tuple(conds) for name, conds in by_source.items()},
            join_points=join_points,
            joins_ahead=_joins_ahead(definition, join_points),
            needs=needs,
            remembered=frozenset(name for need in needs.values() for name in need.tasks),
            reads_previous=any(need.previous for need in needs.values()),
        )

    @property
    def has_conditions(self) -> bool:
        return bool(self.definition.conditions)

    @property
    def may_branch(self) -> bool:
        """Whether some task has several conditions, so that branches can run in parallel and join."""
        return any(len(conditions) > 1 for conditions in self.conditions_by_source.values())

    def next_in_order(self, task_name: str) -> str | None:
        index = self.task_order.index(task_name)
        return self.task_order[index + 1] if index + 1 < len(self.task_order) else None


def _joins_ahead(definition: FlowSpec, join_points: frozenset[str]) -> dict[str, frozenset[str]]:
    if not join_points:
        return {}
    leads = successors(definition)
    ahead: dict[str, set[str]] = {task.name: set() for task in definition.tasks}
    for join in join_points:
        for task in reaching(leads, (join,)):
            ahead.setdefault(task, set()).add(join)
    return {task: frozenset(joins) for task, joins in ahead.items() if joins}


def _has_data(definition: FlowSpec) -> bool:
    """Whether any task has a template or an `expr` condition: a flow without either does not load the
    expression modules (nor jmespath), so its runner starts as fast as before."""
    templated = any(
        task.input is not None or task.output is not None or _has_placeholder(task.parameters)
        for task in definition.tasks
    )
    return templated or any(
        condition.when is not None and not isinstance(condition.when, WhenRule) for condition in definition.conditions
    )


def _has_placeholder(value: Any) -> bool:
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(_has_placeholder(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_placeholder(item) for item in value)
    return False


def data_needs(definition: FlowSpec) -> dict[str, DataNeeds]:
    """For each task with templates or `expr` conditions, what they read. The flow was validated when saved,
    so every expression compiles."""
    from flowcore.domain.conditions import when_expressions  # only flows that pass data load it (and jmespath)
    from flowcore.domain.expressions import compile_expression
    from flowcore.domain.templates import expressions_in

    conditions: dict[str, list[str]] = {}
    for condition in definition.conditions:
        if condition.when is not None:
            found = [text for _, text in when_expressions(condition.when)]
            conditions.setdefault(condition.source_task, []).extend(found)
    needs: dict[str, DataNeeds] = {}
    for task in definition.tasks:
        templated = [text for _, text in expressions_in(task.parameters, "parameters")]
        texts = [text for part in (task.input, task.output) for _, text in expressions_in(part)]
        routes = conditions.get(task.name, [])
        if task.input is None and task.output is None and not templated and not routes:
            continue
        compiled = [compile_expression(text) for text in (*texts, *templated, *routes)]
        needs[task.name] = DataNeeds(
            tasks=frozenset(name for expression in compiled for name in expression.tasks),
            previous=any(expression.uses_previous for expression in compiled),
            parameters=bool(templated),
            routes=bool(routes),
        )
    return needs
