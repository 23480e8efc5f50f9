"""Save-time checks of the expressions in a flow (DESIGN §4): every one compiles, reads only what its place in
the flow has, and names tasks that can run before it; templates and `when`s are within their limits.

Where an expression sits decides what it may read. Every one reads `input`, `execution`, `tasks.<name>` and
`previous`; an `output` template also reads `result` (the raw output), and a condition's `when` reads
`output` (its source task's). The start task has no `previous` (no run leads to it). `tasks.<name>` must name
a task that can run before the one reading it: one from which some path of the flow leads to it, in one step
or more (so a task in a loop may read its own earlier run). A condition's `when` is read when its source task
has ended, so it may also read that task itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flowcore.api.body import depth
from flowcore.domain.conditions import when_depth, when_expressions
from flowcore.domain.errors import Problem
from flowcore.domain.expressions import (
    CONTEXT_NAMES,
    MAX_TEMPLATE_BYTES,
    MAX_TEMPLATE_DEPTH,
    MAX_WHEN_DEPTH,
    OUTPUT,
    RESULT,
    ExpressionSyntaxError,
    compile_expression,
)
from flowcore.domain.flow import FlowSpec
from flowcore.domain.graph import reaching, successors
from flowcore.domain.templates import placeholders, texts_in

#: Why a name is not there, for the names that exist elsewhere.
_ONLY_IN = {
    RESULT: "only an output template has (the task's raw output)",
    OUTPUT: "only a condition's when has (an output template reads the raw output as result)",
}


@dataclass(frozen=True, slots=True)
class _Place:
    """Where expressions sit: the task that reads them, what they may read, and which tasks they may name."""

    task: str
    names: frozenset[str]
    tasks: frozenset[str]
    is_start: bool
    flow_tasks: frozenset[str]


def expression_problems(spec: FlowSpec) -> list[Problem]:
    """Every problem of the expressions, templates and `when`s of `spec` (a definition pydantic has checked)."""
    places = _Places(spec)
    problems: list[Problem] = []
    for index, task in enumerate(spec.tasks):
        where = f"tasks[{index}]"
        for name, template in (("input", task.input), ("output", task.output)):
            problems += _template_limits(template, f"{where}.{name}")
        problems += _template_problems(task.parameters, f"{where}.parameters", places.of(task.name))
        problems += _template_problems(task.input, f"{where}.input", places.of(task.name))
        problems += _template_problems(task.output, f"{where}.output", places.of(task.name, RESULT))
    for index, condition in enumerate(spec.conditions):
        if condition.when is None:
            continue
        where = f"conditions[{index}].when"
        levels = when_depth(condition.when)
        if levels > MAX_WHEN_DEPTH:
            problems.append(Problem(where, f"the when nests {levels} levels deep; at most {MAX_WHEN_DEPTH}"))
        place = places.of(condition.source_task, OUTPUT, itself=True)
        for path, text in when_expressions(condition.when, where):
            problems += _expression_problems(text, path, place)
    return problems


class _Places:
    """The places of one flow: which tasks can run before each (from the flow's graph, as routing follows it)."""

    def __init__(self, spec: FlowSpec) -> None:
        self._start = spec.start_task
        self._names = frozenset(task.name for task in spec.tasks)
        self._leads = successors(spec)
        self._sources: dict[str, set[str]] = {}
        for source, targets in self._leads.items():
            for target in targets:
                self._sources.setdefault(target, set()).add(source)
        self._before: dict[str, frozenset[str]] = {}

    def of(self, task: str, *extra: str, itself: bool = False) -> _Place:
        """The place of an expression read by `task`. Of a task the flow does not have (a condition's unknown
        source, reported as such), every task may be named: nothing more is known to report."""
        if task not in self._names:
            return _Place(task, CONTEXT_NAMES | set(extra), self._names, False, self._names)
        if task not in self._before:
            self._before[task] = reaching(self._leads, self._sources.get(task, ()))
        before = self._before[task] | ({task} if itself else set())
        return _Place(task, CONTEXT_NAMES | set(extra), before & self._names, task == self._start, self._names)


def _template_limits(template: Any, where: str) -> list[Problem]:
    if template is None:
        return []
    problems = []
    levels = depth(template)
    if levels > MAX_TEMPLATE_DEPTH:
        problems.append(Problem(where, f"the template nests {levels} levels deep; at most {MAX_TEMPLATE_DEPTH}"))
    size = len(json.dumps(template, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_TEMPLATE_BYTES:
        message = f"the template is {size} bytes as compact JSON; at most {MAX_TEMPLATE_BYTES}"
        problems.append(Problem(where, message))
    return problems


def _template_problems(template: Any, where: str, place: _Place) -> list[Problem]:
    problems: list[Problem] = []
    for path, text in texts_in(template, where):
        try:
            found = placeholders(text)
        except ExpressionSyntaxError as error:
            problems.append(Problem(path, str(error)))
            continue
        for expression in found:
            problems += _expression_problems(expression, path, place)
    return problems


def _expression_problems(text: str, where: str, place: _Place) -> list[Problem]:
    try:
        expression = compile_expression(text)
    except ExpressionSyntaxError as error:
        return [Problem(where, str(error))]
    quoted = f"expression '{text}' reads"
    problems = [Problem(where, f"{quoted} {message}") for message in _name_problems(expression.roots, place)]
    if place.is_start and expression.uses_previous:
        message = f"previous, which the start task '{place.task}' does not have: read tasks.<name> instead"
        problems.append(Problem(where, f"{quoted} {message}"))
    for name in sorted(expression.tasks - place.tasks):
        problems.append(Problem(where, f"{quoted} tasks.{name}, {_why_not(name, place)}"))
    return problems


def _why_not(name: str, place: _Place) -> str:
    if name not in place.flow_tasks:
        return "which is not a task of this flow"
    return f"which cannot run before '{place.task}': no path of the flow leads from '{name}' to '{place.task}'"


def _name_problems(roots: Iterable[str], place: _Place) -> list[str]:
    problems = []
    for name in sorted(set(roots) - place.names):
        if name in _ONLY_IN:
            problems.append(f"{name}, which {_ONLY_IN[name]}")
        else:
            readable = ", ".join(sorted(place.names))
            problems.append(f"'{name}', which is not in the context document ({readable})")
    return problems
