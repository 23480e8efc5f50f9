"""Declarative `when` rules: lookups and comparisons on a task's output, never evaluation."""

from __future__ import annotations

from typing import Any

import pytest

from flowcore.domain.conditions import resolve_path, rule_holds
from flowcore.domain.flow import WhenRule

OUTPUT: dict[str, Any] = {
    "count": 5,
    "status": "ok",
    "tags": ["red", "blue"],
    "text": "hello world",
    "meta": {"owner": "ana", "limits": {"max": 10}},
    "items": [{"id": 1, "c": "first"}, {"id": 2, "c": "second"}],
    "a": {"b": [{"c": "deep"}]},
    "nothing": None,
    "flag": False,
}


def holds(path: str, op: str, value: Any = None, output: dict[str, Any] | None = OUTPUT) -> bool:
    return rule_holds(WhenRule(path=path, op=op, value=value), output)


# resolve_path


def test_resolve_path_follows_dicts_and_lists() -> None:
    # Given a nested document
    # When following `a.b[0].c`
    found = resolve_path(OUTPUT, "a.b[0].c")
    # Then the leaf is returned
    assert found == "deep"


def test_resolve_path_indexes_lists() -> None:
    # Given a list of objects
    # When following indexed paths
    # Then each element is reached
    assert resolve_path(OUTPUT, "items[1].id") == 2
    assert resolve_path(OUTPUT, "tags[0]") == "red"
    assert resolve_path(OUTPUT, "meta.limits.max") == 10


def test_resolve_path_returns_a_falsy_value_as_found() -> None:
    # Given keys holding None and False
    # When following them
    # Then the stored values are returned, not treated as missing
    assert resolve_path(OUTPUT, "nothing") is None
    assert resolve_path(OUTPUT, "flag") is False


@pytest.mark.parametrize("path", ["missing", "meta.missing", "items[5].id", "count.deeper", "tags.name", "meta[0]"])
def test_resolve_path_missing_steps_are_not_found(path: str) -> None:
    # Given a path one of whose steps does not exist (or has the wrong kind)
    # When following it
    found = resolve_path(OUTPUT, path)
    # Then the result is neither a value nor None, and a rule sees it as absent
    assert found is not None
    assert found not in OUTPUT.values()
    assert holds(path, "exists") is False
    assert holds(path, "not_exists") is True


# Each operator


@pytest.mark.parametrize(
    ("path", "op", "value", "expected"),
    [
        ("status", "eq", "ok", True),
        ("status", "eq", "OK", False),
        ("count", "eq", 5, True),
        ("count", "eq", 5.0, True),
        ("meta", "eq", {"owner": "ana", "limits": {"max": 10}}, True),
        ("nothing", "eq", None, True),
        ("status", "ne", "failed", True),
        ("status", "ne", "ok", False),
        ("count", "gt", 4, True),
        ("count", "gt", 5, False),
        ("count", "gte", 5, True),
        ("count", "gte", 6, False),
        ("count", "lt", 6, True),
        ("count", "lt", 5, False),
        ("count", "lte", 5, True),
        ("count", "lte", 4, False),
        ("status", "gt", "a", True),
        ("count", "exists", None, True),
        ("nothing", "exists", None, True),
        ("missing", "exists", None, False),
        ("missing", "not_exists", None, True),
        ("count", "not_exists", None, False),
        ("status", "in", ["ok", "done"], True),
        ("status", "in", ["failed"], False),
        ("count", "in", [1, 5], True),
        ("tags", "contains", "red", True),
        ("tags", "contains", "green", False),
        ("text", "contains", "world", True),
        ("text", "contains", "mars", False),
        ("meta", "contains", "owner", True),
        ("meta", "contains", "colour", False),
    ],
)
def test_each_operator(path: str, op: str, value: Any, expected: bool) -> None:
    # Given a rule on the sample output
    # When evaluating it
    result = holds(path, op, value)
    # Then it holds exactly when the comparison is true
    assert result is expected


def test_nested_path_in_a_rule() -> None:
    # Given a rule on a nested, indexed path
    # When evaluating it
    # Then the nested value is compared
    assert holds("a.b[0].c", "eq", "deep") is True
    assert holds("items[0].c", "eq", "first") is True
    assert holds("items[1].c", "eq", "first") is False


# The `output.` prefix


@pytest.mark.parametrize(
    ("path", "op", "value"),
    [("count", "eq", 5), ("meta.limits.max", "gte", 10), ("a.b[0].c", "eq", "deep"), ("status", "exists", None)],
)
def test_output_prefix_means_the_same(path: str, op: str, value: Any) -> None:
    # Given the same rule with and without the `output.` prefix
    # When evaluating both
    plain = holds(path, op, value)
    prefixed = holds(f"output.{path}", op, value)
    # Then both hold
    assert plain is True
    assert prefixed is True


def test_bare_output_path_is_the_whole_output() -> None:
    # Given a rule on `output` itself
    # When evaluating exists / contains on it
    # Then it refers to the output document
    assert holds("output", "exists") is True
    assert holds("output", "contains", "count") is True
    assert holds("output", "eq", {"x": 1}, output={"x": 1}) is True


# Missing paths and missing output


@pytest.mark.parametrize("op", ["eq", "ne", "gt", "gte", "lt", "lte", "in", "contains"])
def test_missing_path_never_holds_for_comparisons(op: str) -> None:
    # Given a path that is not in the output
    # When comparing it, even against None or with ne
    result = holds("no.such[3].path", op, [None])
    # Then the rule does not hold
    assert result is False


@pytest.mark.parametrize("output", [None, {}])
def test_missing_output_is_treated_as_empty(output: dict[str, Any] | None) -> None:
    # Given a task that produced no output
    # When evaluating rules on it
    # Then nothing exists and comparisons do not hold
    assert holds("count", "exists", output=output) is False
    assert holds("count", "not_exists", output=output) is True
    assert holds("count", "eq", None, output=output) is False
    assert holds("count", "ne", 1, output=output) is False


# Type mismatches


@pytest.mark.parametrize(
    ("path", "op", "value"),
    [
        ("status", "gt", 3),
        ("count", "gte", "3"),
        ("count", "lt", None),
        ("tags", "lte", {"a": 1}),
        ("nothing", "gt", 0),
        ("meta", "lt", 1),
    ],
)
def test_ordering_type_mismatch_is_false_not_an_error(path: str, op: str, value: Any) -> None:
    # Given an ordering comparison between incompatible types
    # When evaluating it
    result = holds(path, op, value)
    # Then it does not hold, and nothing is raised
    assert result is False


@pytest.mark.parametrize(
    ("path", "value"),
    [("count", 5), ("nothing", "x"), ("flag", False)],
)
def test_contains_on_a_non_container_is_false(path: str, value: Any) -> None:
    # Given `contains` on a number, None or a boolean
    # When evaluating it
    result = holds(path, "contains", value)
    # Then it does not hold
    assert result is False


@pytest.mark.parametrize(
    ("path", "value"),
    [("text", 5), ("text", None), ("text", ["hello"]), ("meta", ["owner"]), ("meta", {"owner": "ana"})],
)
def test_contains_with_a_mismatched_value_is_false_not_an_error(path: str, value: Any) -> None:
    # Given `contains` whose value cannot be looked up in the actual container (an int in a string,
    # an unhashable list or dict as a key of a dict)
    # When evaluating it
    result = holds(path, "contains", value)
    # Then it does not hold, and nothing is raised
    assert result is False


@pytest.mark.parametrize("value", ["ok", 5, {"ok": True}, None])
def test_in_with_a_non_list_value_is_false(value: Any) -> None:
    # Given `in` whose value is not a list
    # When evaluating it
    result = holds("status", "in", value)
    # Then it does not hold
    assert result is False


def test_eq_across_types_is_false() -> None:
    # Given values of different types
    # When comparing them for equality
    # Then they are not equal, and ne holds
    assert holds("count", "eq", "5") is False
    assert holds("count", "ne", "5") is True
