"""A request body is strict JSON: RFC 8259 numbers, one value per key, bounded nesting, and an object."""

from __future__ import annotations

from typing import Any

import pytest

from flowcore.api.body import MAX_BODY_DEPTH, depth, is_json, loads, read_object, require_json
from flowcore.api.errors import UnsupportedMediaType
from flowcore.domain.errors import BadRequest, ValidationFailed


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 0), ("x", 0), (None, 0), ({}, 1), ([], 1), ({"a": [1, {"b": 2}]}, 3), ([[[[]]]], 4)],
)
def test_depth_counts_levels_of_objects_and_arrays(value: Any, expected: int) -> None:
    assert depth(value) == expected


def test_depth_measures_what_recursion_could_not() -> None:
    value: Any = 0
    for _ in range(50_000):
        value = [value]
    assert depth(value) == 50_000


@pytest.mark.parametrize("text", ["NaN", '{"a": Infinity}', "[-Infinity]", '{"a": 1, "a": 1}', '{"a": ', "\x00"])
def test_what_json_does_not_allow_is_a_bad_request(text: str) -> None:
    with pytest.raises(BadRequest):
        loads(text)


@pytest.mark.parametrize("levels", [MAX_BODY_DEPTH + 1, 100_000])
def test_nesting_past_the_limit_is_a_validation_problem_at_body(levels: int) -> None:
    with pytest.raises(ValidationFailed) as caught:
        loads("[" * levels + "]" * levels)
    assert [problem.field for problem in caught.value.problems] == ["body"]


def test_nesting_at_the_limit_is_read() -> None:
    assert depth(loads("[" * MAX_BODY_DEPTH + "]" * MAX_BODY_DEPTH)) == MAX_BODY_DEPTH


@pytest.mark.parametrize("text", ["[]", '"x"', "3", "true"])
def test_a_body_is_an_object_or_null(text: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        read_object(text)
    assert "must be a JSON object" in caught.value.problems[0].message
    assert read_object("null") is None
    assert read_object('{"a": [1.5, null]}') == {"a": [1.5, None]}


@pytest.mark.parametrize(
    ("content_type", "json"),
    [
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("application/jsonx", False),
        ("application/x-www-form-urlencoded", False),
        ("", False),
        (None, False),
    ],
)
def test_only_application_json_is_json(content_type: str | None, json: bool) -> None:
    assert is_json(content_type) is json
    if not json:
        with pytest.raises(UnsupportedMediaType, match="content-type: application/json"):
            require_json(content_type)
