"""Templates: exact placeholders become any JSON, embedded ones text, `$${` is a literal `${`, and every
placeholder is found with the field path where it sits."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowcore.domain.expressions import ExpressionError, ExpressionSyntaxError
from flowcore.domain.templates import (
    as_text,
    expressions_in,
    is_plain,
    is_template,
    placeholders,
    resolve,
    texts_in,
)

CONTEXT: dict[str, Any] = {
    "input": {
        "day": "2026-01-02",
        "n": 3,
        "ratio": 0.5,
        "ok": True,
        "off": False,
        "nothing": None,
        "rows": [1, 2],
        "obj": {"a": 1, "b": "é"},
        "empty": "",
    },
    "tasks": {"process": {"status": "SUCCESS", "output": {"records_processed": 7}}},
}


# -- exact placeholders: any JSON ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "value"),
    [
        ("${input.day}", "2026-01-02"),
        ("${input.n}", 3),
        ("${input.ratio}", 0.5),
        ("${input.ok}", True),
        ("${input.off}", False),
        ("${input.nothing}", None),
        ("${input.rows}", [1, 2]),
        ("${input.obj}", {"a": 1, "b": "é"}),
        ("${input.empty}", ""),
        ("${input.missing}", None),
        ("${tasks.never.output.records}", None),
        ("${ input.n }", 3),
        ("${ {day: input.day, n: input.n} }", {"day": "2026-01-02", "n": 3}),
        ('${`{"literal": "}"}`}', {"literal": "}"}),
    ],
)
def test_a_string_that_is_exactly_a_placeholder_becomes_its_value(template: str, value: Any) -> None:
    assert is_template(template) is True
    assert resolve(template, CONTEXT) == value


# -- placeholders inside text: their text -------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "text"),
    [
        ("day ${input.day}", "day 2026-01-02"),
        ("n=${input.n}", "n=3"),
        ("r=${input.ratio}", "r=0.5"),
        ("${input.ok}!", "true!"),
        ("${input.off} ", "false "),
        ("[${input.nothing}]", "[null]"),
        ("[${input.missing}]", "[null]"),
        ("rows ${input.rows}", "rows [1,2]"),
        ("obj ${input.obj}", 'obj {"a":1,"b":"é"}'),
        ("'${input.empty}'", "''"),
        ("${input.day}${input.n}", "2026-01-023"),
        ("${input.n}-${input.n}", "3-3"),
    ],
)
def test_a_placeholder_inside_text_is_replaced_by_its_text(template: str, text: str) -> None:
    assert is_template(template) is False
    assert resolve(template, CONTEXT) == text


def test_as_text_is_a_string_as_it_is_and_anything_else_compact_json() -> None:
    assert as_text("a b") == "a b"
    assert as_text({"a": [1, None]}) == '{"a":[1,null]}'
    assert as_text(None) == "null"


# -- escaping -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "text"),
    [
        ("$${input.day}", "${input.day}"),
        ("cost: $$${input.n}", "cost: $${input.n}"),
        ("price $5, $$5 and $", "price $5, $$5 and $"),
        ("$${a} and ${input.n}", "${a} and 3"),
        ("${'$'}${input.n}", "$3"),
        ("no placeholder }", "no placeholder }"),
    ],
)
def test_double_dollar_brace_is_a_literal(template: str, text: str) -> None:
    assert is_template(template) is False
    assert resolve(template, CONTEXT) == text


# -- nested structures --------------------------------------------------------------------------------


def test_a_nested_template_resolves_every_string_and_keeps_everything_else() -> None:
    # Given a template of objects and arrays, with numbers, nulls and literal text among the placeholders
    template = {
        "rows": "${tasks.process.output.records_processed}",
        "day": "${input.day}",
        "items": [1, None, "${input.rows}", {"label": "day ${input.day}", "raw": "$${x}"}],
        "keep": {"n": 1.5, "flag": False, "nothing": None, "${input.day}": "keys are not templates"},
    }
    # When resolving it
    resolved = resolve(template, CONTEXT)
    # Then the values are replaced where the placeholders were
    assert resolved == {
        "rows": 7,
        "day": "2026-01-02",
        "items": [1, None, [1, 2], {"label": "day 2026-01-02", "raw": "${x}"}],
        "keep": {"n": 1.5, "flag": False, "nothing": None, "${input.day}": "keys are not templates"},
    }


@pytest.mark.parametrize("value", [None, 3, 2.5, True, [], {}, "plain"])
def test_a_template_without_placeholders_is_itself(value: Any) -> None:
    assert resolve(value, CONTEXT) == value
    assert is_plain(value) is True


def test_is_plain_sees_placeholders_and_escapes_anywhere() -> None:
    assert is_plain({"a": [{"b": "${x}"}]}) is False
    assert is_plain(["$${x}"]) is False
    assert is_plain({"a": ["$5", {"b": "}"}]}) is True


# -- failures -----------------------------------------------------------------------------------------


def test_a_failing_expression_names_itself() -> None:
    with pytest.raises(ExpressionError) as caught:
        resolve({"n": ["${length(input.nothing)}"]}, CONTEXT)
    assert caught.value.expression == "length(input.nothing)"
    assert str(caught.value).startswith("expression 'length(input.nothing)' failed: invalid type for value: None")


def test_a_failing_expression_inside_text_names_itself() -> None:
    with pytest.raises(ExpressionError) as caught:
        resolve("n is ${abs(input.day)}", CONTEXT)
    assert caught.value.expression == "abs(input.day)"


@pytest.mark.parametrize(
    ("template", "expression", "position"),
    [("${input.day", "input.day", 9), ("a ${ {x: b} ", " {x: b} ", 8), ("${'}", "'}", 2)],
)
def test_a_placeholder_without_its_closing_brace_does_not_parse(template: str, expression: str, position: int) -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        resolve(template, CONTEXT)
    assert (caught.value.expression, caught.value.position) == (expression, position)
    assert caught.value.reason == "the '${' has no closing '}'"
    assert is_template(template) is False


def test_a_placeholder_that_does_not_compile_fails_when_resolved() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        resolve("${input.[}", CONTEXT)
    assert caught.value.expression == "input.["


# -- finding placeholders -----------------------------------------------------------------------------


def test_expressions_in_gives_each_placeholder_with_its_field_path() -> None:
    template = {"rows": "${a}", "items": [0, 1, "${b} and ${c}"], "deep": {"x": [{"y": "${d}"}]}, "raw": "$${e}"}
    assert expressions_in(template, "input") == [
        ("input.rows", "a"),
        ("input.items[2]", "b"),
        ("input.items[2]", "c"),
        ("input.deep.x[0].y", "d"),
    ]
    assert expressions_in(template)[0] == ("rows", "a")
    assert expressions_in("${z}", "output") == [("output", "z")]
    assert expressions_in(["${z}"]) == [("[0]", "z")]


def test_texts_in_walks_every_string_in_document_order() -> None:
    assert list(texts_in({"a": "x", "b": [1, "y"], "c": {"d": "z"}}, "input")) == [
        ("input.a", "x"),
        ("input.b[1]", "y"),
        ("input.c.d", "z"),
    ]


def test_placeholders_are_in_order() -> None:
    assert placeholders("${a} $${b} ${ {c: d} } $") == ["a", " {c: d} "]


@pytest.mark.parametrize("value", ["${a}x", "x${a}", "${a}${b}", "$${a}", "${a", "plain", 3, None, ["${a}"]])
def test_is_template_is_only_a_whole_string_placeholder(value: Any) -> None:
    assert is_template(value) is False


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("$${}ab.'\"` \\")), max_size=30))
def test_any_text_splits_or_says_which_placeholder_is_open(text: str) -> None:
    # Whatever a user writes, it is text and placeholders, or a syntax error naming the open one: never a 500
    try:
        found = placeholders(text)
    except ExpressionSyntaxError as error:
        assert error.reason == "the '${' has no closing '}'"
        return
    if not found:
        # Then only the escapes change it
        assert resolve(text, CONTEXT) == text.replace("$${", "${")
