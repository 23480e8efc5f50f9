"""Cursors are bound to the query they came from, and name a position it can reach, or they are refused."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from flowcore.adapters.dynamodb.paging import KeyShape, decode_cursor, encode_cursor
from flowcore.domain.errors import BadRequest

SHAPE = KeyShape(("pk", "sk"))
KEY = {"pk": {"S": "p-1"}, "sk": {"S": "s-1"}}


def anywhere(position: dict[str, str]) -> bool:
    return True


def forged(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def test_a_cursor_reads_back_as_the_key_it_was_made_from() -> None:
    cursor = encode_cursor(KEY, "listing:a")
    assert cursor is not None
    assert decode_cursor(cursor, "listing:a", SHAPE, anywhere) == KEY


def test_no_key_is_no_cursor_and_no_cursor_is_the_first_page() -> None:
    assert encode_cursor(None, "listing:a") is None
    assert decode_cursor(None, "listing:a", SHAPE, anywhere) is None
    assert decode_cursor("", "listing:a", SHAPE, anywhere) is None


def test_a_cursor_of_another_query_is_refused() -> None:
    cursor = encode_cursor(KEY, "listing:a")
    with pytest.raises(BadRequest, match="another query"):
        decode_cursor(cursor, "listing:b", SHAPE, anywhere)


def test_a_position_the_query_cannot_reach_is_refused() -> None:
    cursor = encode_cursor(KEY, "listing:a")
    with pytest.raises(BadRequest, match="position"):
        decode_cursor(cursor, "listing:a", SHAPE, lambda position: position["pk"] == "p-2")


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        "not base64 at all!",
        "0" * 2000,
        "é",
        forged([1, 2]),
        forged("text"),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_what_is_not_a_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(BadRequest, match=r"not one this service issued|another query"):
        decode_cursor(cursor, "listing:a", SHAPE, anywhere)


@pytest.mark.parametrize(
    "position",
    [
        {"pk": "p-1"},
        {"pk": "p-1", "sk": "s-1", "extra": "x"},
        {"pk": "p-1", "sk": 5},
        {"pk": "p-1", "sk": {"S": "s-1"}},
        {"pk": "p-1", "sk": ""},
        {"pk": "p-1", "sk": "\ud800"},
        {"pk": "p-1", "sk": "x" * 1025},
        ["pk", "sk"],
    ],
)
def test_a_forged_position_of_the_wrong_shape_is_refused(position: Any) -> None:
    from flowcore.adapters.dynamodb import paging

    cursor = forged({"q": paging._tag("listing:a"), "p": position})
    with pytest.raises(BadRequest, match="position"):
        decode_cursor(cursor, "listing:a", SHAPE, anywhere)
