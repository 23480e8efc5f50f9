"""A flow version indexed for routing: built once per version, then only read."""

from __future__ import annotations

from dataclasses import dataclass

from flowcore.domain.flow import Condition, FlowSpec, TaskSpec, is_end
from flowcore.domain.graph import reaching, successors


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
        return cls(
            flow_id=flow_id,
            version=version,
            definition=definition,
            tasks={task.name: task for task in definition.tasks},
            task_order=tuple(task.name for task in definition.tasks),
            conditions_by_source={name: tuple(conds) for name, conds in by_source.items()},
            join_points=join_points,
            joins_ahead=_joins_ahead(definition, join_points),
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
