"""`when` rules: declarative lookups and comparisons on a task's output, JMESPath `expr` rules over the context
document, and `all` / `any` / `not` of them."""

from __future__ import annotations

from typing import Any

import pytest

from flowcore.domain.conditions import resolve_path, rule_holds, when_depth, when_expressions, when_holds
from flowcore.domain.expressions import ExpressionError
from flowcore.domain.flow import AllOf, AnyOf, ExprRule, NotRule, When, WhenRule, parse_when

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


# `when` forms: expr rules, all / any / not, and the context they read

CONTEXT: dict[str, Any] = {
    "input": {"limit": 4, "mode": "fast"},
    "execution": {"id": "e-1", "flow_id": "f", "flow_version": 1, "started_at": "2026-01-02T00:00:00Z"},
    "tasks": {"fetch": {"status": "SUCCESS", "output": {"rows": [1, 2]}, "error": None, "attempts": 1}},
    "previous": {"status": "SUCCESS", "output": {"rows": [1, 2]}, "error": None, "attempts": 1},
}
YES = ExprRule("`true`")
NO = ExprRule("`false`")
BOOM = ExprRule("length(output.nothing)")


def when(rule: When, output: Any = OUTPUT, context: dict[str, Any] | None = None) -> bool:
    return when_holds(rule, output, CONTEXT if context is None else context)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("output.count > input.limit", True),
        ("output.count > `5`", False),
        ("output.status == 'ok' && input.mode == 'fast'", True),
        ("contains(output.tags, 'red')", True),
        ("length(tasks.fetch.output.rows) == `2`", True),
        ("previous.status == 'SUCCESS'", True),
        ("execution.flow_version == `1`", True),
        ("output.nothing", False),
        ("output.flag", False),
        ("output.missing.deeper", False),
        ("tasks.never.output", False),
        ("output.items", True),
        ("output.count", True),
        ("`0`", True),
        ("''", False),
        ("`[]`", False),
        ("`{}`", False),
    ],
)
def test_an_expr_rule_holds_when_its_value_is_truthy(expr: str, expected: bool) -> None:
    # Given an expression over the output and the context document
    # When evaluating the rule / Then it holds exactly when the value is truthy in JMESPath's sense
    assert when(ExprRule(expr)) is expected


def test_an_expr_rule_sees_output_even_when_the_context_is_empty() -> None:
    assert when(ExprRule("output.count == `5`"), context={}) is True
    assert when(ExprRule("input.limit"), context={}) is False


@pytest.mark.parametrize("output", [None, {}, [], 0, "text"])
def test_an_expr_rule_on_a_missing_or_odd_output_reads_null(output: Any) -> None:
    assert when(ExprRule("output.count"), output=output) is False


def test_a_failing_expr_rule_raises_an_expression_error_naming_it() -> None:
    with pytest.raises(ExpressionError) as caught:
        when(BOOM)
    assert str(caught.value).startswith("expression 'length(output.nothing)' failed: invalid type for value: None")


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (AllOf((YES, YES)), True),
        (AllOf((YES, NO)), False),
        (AllOf((YES,)), True),
        (AnyOf((NO, YES)), True),
        (AnyOf((NO, NO)), False),
        (AnyOf((NO,)), False),
        (NotRule(NO), True),
        (NotRule(YES), False),
        (NotRule(NotRule(YES)), True),
        (AllOf((WhenRule("count", "gte", 5), ExprRule("output.status == 'ok'"))), True),
        (AnyOf((WhenRule("missing", "exists"), NotRule(WhenRule("tags", "contains", "green")))), True),
        (AllOf((AnyOf((NO, AllOf((YES, NotRule(NO))))), WhenRule("meta.owner", "eq", "ana"))), True),
    ],
)
def test_all_any_and_not_combine_rules(rule: When, expected: bool) -> None:
    assert when(rule) is expected


def test_all_and_any_stop_at_the_first_rule_that_decides() -> None:
    # Given a failing expression after a rule that decides already
    # When evaluating / Then it is never evaluated
    assert when(AllOf((NO, BOOM))) is False
    assert when(AnyOf((YES, BOOM))) is True
    with pytest.raises(ExpressionError):
        when(AllOf((YES, BOOM)))


def test_path_rules_inside_combinators_behave_as_before() -> None:
    # Given today's path rules, alone and wrapped
    for path, op, value in [("count", "eq", 5), ("missing", "not_exists", None), ("status", "gt", 3)]:
        plain = rule_holds(WhenRule(path, op, value), OUTPUT)
        # Then wrapping them changes nothing, and when_holds is rule_holds for them
        assert when(WhenRule(path, op, value)) is plain
        assert when(AllOf((WhenRule(path, op, value),))) is plain
        assert when(NotRule(WhenRule(path, op, value))) is not plain


def test_when_depth_counts_the_levels() -> None:
    assert when_depth(YES) == 1
    assert when_depth(WhenRule("a", "exists")) == 1
    assert when_depth(NotRule(YES)) == 2
    assert when_depth(AllOf((YES, AnyOf((NotRule(YES),))))) == 4
    assert when_depth(AllOf(())) == 1


def test_when_expressions_give_each_expr_with_its_field_path() -> None:
    rule = AllOf((WhenRule("a", "exists"), ExprRule("x"), AnyOf((NotRule(ExprRule("y")),)), NotRule(ExprRule("z"))))
    assert when_expressions(rule, "conditions[1].when") == [
        ("conditions[1].when.all[1].expr", "x"),
        ("conditions[1].when.all[2].any[0].not.expr", "y"),
        ("conditions[1].when.all[3].not.expr", "z"),
    ]
    assert when_expressions(WhenRule("a", "exists")) == []


def test_a_stored_when_is_read_back_as_the_domain_rules() -> None:
    document = {
        "all": [
            {"path": "count", "op": "gt", "value": 1},
            {"expr": "output.ok"},
            {"any": [{"not": {"path": "x", "op": "exists"}}]},
        ]
    }
    assert parse_when(document) == AllOf(
        (WhenRule("count", "gt", 1), ExprRule("output.ok"), AnyOf((NotRule(WhenRule("x", "exists")),)))
    )
    assert parse_when({"path": "x", "op": "exists"}) == WhenRule("x", "exists", None)
