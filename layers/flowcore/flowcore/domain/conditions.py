"""Declarative `when` rules on a task's output. Rules are data, looked up and compared; nothing is evaluated."""

from __future__ import annotations

import re
from typing import Any

from flowcore.domain.flow import WhenRule

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


def rule_holds(rule: WhenRule, output: dict[str, Any] | None) -> bool:
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
