"""A flow as a graph of tasks: where each task can route to, which tasks can still reach a given one, and
which tasks can never end. Pure set arithmetic on the definition; the compiled flow keeps what routing reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flowcore.domain.flow import FlowSpec, is_end


def successors(spec: FlowSpec) -> dict[str, frozenset[str]]:
    """Every task the routing rules may lead each task to, whatever its outcome: the targets of its conditions,
    or, in a flow without conditions, the next task in list order."""
    names = [task.name for task in spec.tasks]
    if not spec.conditions:
        return {name: frozenset(names[index + 1 : index + 2]) for index, name in enumerate(names)}
    leads: dict[str, set[str]] = {name: set() for name in names}
    for condition in spec.conditions:
        for target in (condition.target_task_success, condition.target_task_failure):
            if not is_end(target) and condition.source_task in leads:
                leads[condition.source_task].add(str(target))
    return {name: frozenset(targets) for name, targets in leads.items()}


def ending(spec: FlowSpec) -> frozenset[str]:
    """Tasks after which a branch can end: a target of `end`, a task with no conditions in a flow that has
    some, and in a flow without conditions every task (a failure stops it)."""
    if not spec.conditions:
        return frozenset(task.name for task in spec.tasks)
    sources = {condition.source_task for condition in spec.conditions}
    ends = {task.name for task in spec.tasks if task.name not in sources}
    for condition in spec.conditions:
        if is_end(condition.target_task_success) or is_end(condition.target_task_failure):
            ends.add(condition.source_task)
    return frozenset(ends)


def reaching(leads: Mapping[str, Iterable[str]], targets: Iterable[str]) -> frozenset[str]:
    """The tasks from which some path leads to one of `targets` (the targets included)."""
    backwards: dict[str, set[str]] = {}
    for source, following in leads.items():
        for target in following:
            backwards.setdefault(target, set()).add(source)
    found = set(targets)
    frontier = list(found)
    while frontier:
        for source in backwards.get(frontier.pop(), ()):
            if source not in found:
                found.add(source)
                frontier.append(source)
    return frozenset(found)


def endless(spec: FlowSpec) -> list[str]:
    """Tasks from which no path leads to an end: each is in, or leads only into, a cycle with no exit."""
    can_end = reaching(successors(spec), ending(spec))
    return sorted(task.name for task in spec.tasks if task.name not in can_end)
