"""A condition's `when`: declarative `{path, op, value}` rules on the source task's output (looked up and
compared), JMESPath `{expr}` rules (the value's truth), and `all` / `any` / `not` of those."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flowcore.domain.flow import AllOf, AnyOf, ExprRule, NotRule, When, WhenRule

_MISSING = object()
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def resolve_path(document: Any, path: str) -> Any:
    """Follow `a.b[0].c` through dicts and lists; `_MISSING` when any step is absent."""
    current = document
    for name, index in _SEGMENT.findall(path):
        if name:
            if not isinstance(current, dict) or name not in current:
                return _MISSING
            current = current[name]
        else:
            position = int(index)
            if not isinstance(current, list) or position >= len(current):
                return _MISSING
            current = current[position]
    return current


def _compare(op: str, actual: Any, expected: Any) -> bool:
    try:
        if op == "gt":
            return bool(actual > expected)
        if op == "gte":
            return bool(actual >= expected)
        if op == "lt":
            return bool(actual < expected)
        return bool(actual <= expected)
    except TypeError:
        return False


def rule_holds(rule: WhenRule, output: Any) -> bool:
    """Paths are read from the task's output; a leading `output.` is accepted and means the same."""
    path = rule.path.removeprefix("output.") if rule.path != "output" else ""
    actual = resolve_path(output or {}, path) if path else (output or {})
    if rule.op == "exists":
        return actual is not _MISSING
    if rule.op == "not_exists":
        return actual is _MISSING
    if actual is _MISSING:
        return False
    if rule.op == "eq":
        return bool(actual == rule.value)
    if rule.op == "ne":
        return bool(actual != rule.value)
    if rule.op == "in":
        return isinstance(rule.value, list) and actual in rule.value
    if rule.op == "contains":
        return _contains(actual, rule.value)
    return _compare(rule.op, actual, rule.value)


def _contains(container: Any, value: Any) -> bool:
    if isinstance(container, str):
        return isinstance(value, str) and value in container
    if isinstance(container, list):
        return value in container
    if isinstance(container, dict):
        return isinstance(value, str) and value in container
    return False


def when_holds(when: When, output: Any, context: Mapping[str, Any]) -> bool:
    """Whether `when` holds for a task that ended with `output`. Path rules read `output` exactly as
    `rule_holds` does; `expr` rules read the context document with `output` bound to it. `all` and `any` stop
    at the first rule that decides them. Raises `ExpressionError` when an expression fails."""
    if isinstance(when, WhenRule):
        return rule_holds(when, output)
    if isinstance(when, ExprRule):
        # Loaded here: a flow without `expr` rules does not load the expression module in the runner.
        from flowcore.domain.expressions import OUTPUT, compile_expression, is_truthy

        return is_truthy(compile_expression(when.expr).evaluate({**context, OUTPUT: output}))
    if isinstance(when, AllOf):
        return all(when_holds(rule, output, context) for rule in when.rules)
    if isinstance(when, AnyOf):
        return any(when_holds(rule, output, context) for rule in when.rules)
    return not when_holds(when.rule, output, context)


def when_depth(when: When) -> int:
    """Levels of `when`: a path or expr rule is 1, each `all`, `any` or `not` around rules one more."""
    if isinstance(when, AllOf | AnyOf):
        return 1 + max((when_depth(rule) for rule in when.rules), default=0)
    if isinstance(when, NotRule):
        return 1 + when_depth(when.rule)
    return 1


def when_expressions(when: When, where: str = "when") -> list[tuple[str, str]]:
    """Every `expr` in `when` as (field path, expression): `("when.all[0].expr", "output.n > `3`")`."""
    if isinstance(when, ExprRule):
        return [(f"{where}.expr", when.expr)]
    if isinstance(when, AllOf | AnyOf):
        key = "all" if isinstance(when, AllOf) else "any"
        return [
            found
            for index, rule in enumerate(when.rules)
            for found in when_expressions(rule, f"{where}.{key}[{index}]")
        ]
    if isinstance(when, NotRule):
        return when_expressions(when.rule, f"{where}.not")
    return []
