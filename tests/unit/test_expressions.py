"""JMESPath expressions: compiling (with the parse error's position), what an expression refers to (read from its
syntax tree), evaluating (absent is null), and the messages of the errors a user sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowcore.domain.expressions import (
    MAX_EXPRESSION_DEPTH,
    MAX_EXPRESSION_LENGTH,
    MAX_TEMPLATE_BYTES,
    MAX_TEMPLATE_DEPTH,
    MAX_WHEN_DEPTH,
    MAX_WHEN_RULES,
    ExpressionError,
    ExpressionSyntaxError,
    compile_expression,
    is_truthy,
    reads_result,
    referenced_tasks,
    root_names,
    uses_previous,
)

CONTEXT: dict[str, Any] = {
    "input": {"day": "2026-01-02", "rows": [1, 2, 3], "nothing": None},
    "execution": {"id": "e-1", "flow_id": "f", "flow_version": 2, "started_at": "2026-01-02T00:00:00Z"},
    "tasks": {
        "process": {"status": "SUCCESS", "output": {"records_processed": 7}, "error": None, "attempts": 1},
        "fail-one": {"status": "FAILURE", "output": None, "error": "boom", "attempts": 3},
    },
    "previous": {"status": "SUCCESS", "output": {"n": 1}, "error": None, "attempts": 1},
}


# -- compiling ----------------------------------------------------------------------------------------


def test_compiling_is_cached() -> None:
    # Given the same text twice / When compiled / Then one object serves both
    assert compile_expression("input.day") is compile_expression("input.day")


@pytest.mark.parametrize(
    ("text", "position", "reason"),
    [
        ("tasks.a.output[", 15, "incomplete expression"),
        ("a.]", 2, "Expecting: ['quoted_identifier', 'unquoted_identifier', 'lbracket', 'lbrace'], got: rbracket"),
        ("a | | b", 4, "invalid token '|'"),
        ("a.b c", 4, "Unexpected token: c"),
        ("$.x", 0, "Unknown token $"),
        ("`{bad", 0, "Unclosed ` delimiter"),
        ("", 0, "the expression is empty"),
        ("lenght(input.rows)", 0, "unknown function lenght()"),
        ("input || length(a, b)", 9, "length() takes 1 argument, 2 given"),
        ("not_null()", 0, "not_null() takes at least 1 argument, 0 given"),
    ],
)
def test_an_expression_that_does_not_compile_says_where_and_why(text: str, position: int, reason: str) -> None:
    # Given an expression jmespath cannot parse, or that calls a function wrongly
    # When compiling it
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(text)
    # Then the error carries the expression, the position and jmespath's reason, all in its message
    error = caught.value
    assert (error.expression, error.position, error.reason) == (text, position, reason)
    assert str(error) == f"expression '{text}' does not parse at position {position}: {reason}"


def test_the_message_of_the_issue() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression("tasks.a.output[")
    assert str(caught.value) == "expression 'tasks.a.output[' does not parse at position 15: incomplete expression"


def test_a_syntax_error_is_an_expression_error_and_a_value_error() -> None:
    # A definition stored before it was checked fails its task at run time like any failing expression.
    with pytest.raises(ExpressionError):
        compile_expression("a[")
    assert issubclass(ExpressionSyntaxError, ValueError)


def test_an_expression_over_the_length_limit_is_refused() -> None:
    text = "a" * (MAX_EXPRESSION_LENGTH + 1)
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(text)
    assert caught.value.position is None
    assert caught.value.reason == f"it is {MAX_EXPRESSION_LENGTH + 1} characters long; at most {MAX_EXPRESSION_LENGTH}"
    assert str(caught.value).startswith("expression 'aaaa")
    assert "...' does not parse: it is 1001 characters long; at most 1000" in str(caught.value)
    assert compile_expression("a" * MAX_EXPRESSION_LENGTH).roots == {"a" * MAX_EXPRESSION_LENGTH}


def test_an_expression_that_nests_too_deep_is_refused() -> None:
    # Given alternatives nested one level each, one past the limit
    text = " || ".join(["a"] * (MAX_EXPRESSION_DEPTH + 1))
    # When compiling / Then the depth is refused, and one level less passes
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(text)
    assert caught.value.reason == f"it nests more than {MAX_EXPRESSION_DEPTH} levels deep"
    assert compile_expression(" || ".join(["a"] * MAX_EXPRESSION_DEPTH)).roots == {"a"}


def test_brackets_nested_past_what_the_parser_can_follow_are_refused() -> None:
    with pytest.raises(ExpressionSyntaxError):
        compile_expression("[" * 400 + "a" + "]" * 400)


# -- what an expression refers to ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tasks"),
    [
        ("tasks.a.output", {"a"}),
        ('tasks."quoted-name".output[0]', {"quoted-name"}),
        ("@.tasks.b.status", {"b"}),
        ("tasks | c", {"c"}),
        ("tasks.[d, e]", {"d", "e"}),
        ("tasks.{x: f.output}", {"f"}),
        ("{x: tasks.g.output, y: tasks.h}", {"g", "h"}),
        ("length(tasks.i.output.rows) > `3` && !(tasks.j)", {"i", "j"}),
        ("!tasks.j", set()),  # (!tasks).j, as JMESPath binds it
        ("tasks.k.output.rows[?x > `1`].y | [0]", {"k"}),
        ("tasks", set()),
        ("tasks.*.output", set()),
        ("input.rows[?tasks.not_a_task]", set()),  # a field of each row
        ("sort_by(input.rows, &tasks.nor_this)", set()),  # a field of each element
        ("input.tasks.neither", set()),
        ('`{"tasks": 1}`', set()),
    ],
)
def test_referenced_tasks_are_read_from_the_syntax_tree(text: str, tasks: set[str]) -> None:
    assert referenced_tasks(text) == tasks


@pytest.mark.parametrize(
    ("text", "roots"),
    [
        ("input.day", {"input"}),
        ("previous.output || input", {"previous", "input"}),
        ("[execution.id, result.x]", {"execution", "result"}),
        ("output.n > `3`", {"output"}),
        ("input.rows[*].previous", {"input"}),
        ("`1`", set()),
        ("@", set()),
    ],
)
def test_root_names_are_what_is_read_at_the_root(text: str, roots: set[str]) -> None:
    assert root_names(text) == roots


def test_previous_and_result_are_told_apart() -> None:
    assert uses_previous("previous.output.n") is True
    assert uses_previous("input.previous") is False
    assert reads_result("result.rows") is True
    assert reads_result("input.result") is False


# -- evaluating ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("input.day", "2026-01-02"),
        ("input.rows", [1, 2, 3]),
        ("length(input.rows)", 3),
        ("tasks.process.output.records_processed", 7),
        ('tasks."fail-one".error', "boom"),
        ("tasks.process.status == 'SUCCESS'", True),
        ("previous.output", {"n": 1}),
        ("execution.flow_version", 2),
        ("input.nothing", None),
        ("input.missing.deeper[3]", None),
        ("tasks.never_ran.output", None),
        ("{n: previous.output.n, day: input.day}", {"n": 1, "day": "2026-01-02"}),
    ],
)
def test_evaluating_reads_the_context_and_absent_is_null(text: str, value: Any) -> None:
    assert compile_expression(text).evaluate(CONTEXT) == value


def test_a_type_error_says_which_expression_and_why() -> None:
    # Given a function applied to null (the rows are absent)
    expression = compile_expression("length(input.rows)")
    # When evaluating it on a context without rows
    with pytest.raises(ExpressionError) as caught:
        expression.evaluate({"input": {}})
    # Then the message names the expression, the value and the types the function takes
    assert caught.value.expression == "length(input.rows)"
    assert str(caught.value) == (
        "expression 'length(input.rows)' failed: invalid type for value: None, expected one of: "
        "['string', 'array', 'object'], received: \"null\" (in function length())"
    )


def test_a_long_value_in_a_type_error_is_cut() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression("abs(input.text)").evaluate({"input": {"text": "x" * 5_000}})
    assert len(str(caught.value)) < 300
    assert "xxx..." in str(caught.value)


def test_a_type_error_inside_an_element_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression("sum(input.rows)").evaluate({"input": {"rows": [1, "two"]}})
    assert str(caught.value).startswith("expression 'sum(input.rows)' failed: invalid type for value: ")


@pytest.mark.parametrize(
    ("value", "truth"),
    [
        (None, False),
        (False, False),
        ("", False),
        ([], False),
        ({}, False),
        (True, True),
        (0, True),
        (0.0, True),
        ("false", True),
        ([0], True),
        ({"a": None}, True),
    ],
)
def test_truth_is_jmespaths(value: Any, truth: bool) -> None:
    assert is_truthy(value) is truth


def test_the_readme_states_the_limits_as_they_are() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Data between tasks", 1)[1].split("\n## ", 1)[0]
    for stated in [
        f"{MAX_EXPRESSION_LENGTH:,} characters",
        f"{MAX_EXPRESSION_DEPTH} levels of its syntax tree",
        f"{MAX_TEMPLATE_DEPTH} levels deep",
        f"{MAX_TEMPLATE_BYTES:,} bytes as compact JSON",
        f"a `when` | {MAX_WHEN_DEPTH} levels",
        f"nested at most {MAX_WHEN_DEPTH} levels",
        f"{MAX_WHEN_RULES} rules in one `all` or `any`",
        f"1 to {MAX_WHEN_RULES} rules",
    ]:
        assert stated in section, stated


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789abc.[]{}()|&!@*?:,'\"`$<>=-_ \\")), max_size=40))
def test_any_text_compiles_or_is_a_syntax_error(text: str) -> None:
    # Whatever a user writes, compiling it either works or says why: never another exception (a 500)
    try:
        compile_expression(text)
    except ExpressionSyntaxError as error:
        assert str(error).startswith(f"expression '{text}' does not parse")


def test_a_number_where_an_expression_should_start_is_a_syntax_error() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression("0000")
    assert str(caught.value) == "expression '0000' does not parse at position 0: invalid token '0'"
