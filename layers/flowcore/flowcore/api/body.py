"""A request body read as strict JSON, before any model sees it.

`json.loads` alone takes what JSON does not allow (NaN and Infinity, which no JSON reader can read back from
a stored execution) and silently keeps the last of two equal keys; and a document nested deep enough can
no longer be written back out (an input 255 levels deep was stored, and its status answered 500 for good).
Here: a body that is not JSON is 415, JSON that is malformed is 400, and nesting beyond MAX_BODY_DEPTH is
422; values users nest freely (`input`, `parameters`, `when` values) are held to MAX_VALUE_DEPTH by the
request models (`flowcore.api.models`), so that whatever is stored reads back.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from flowcore.api.errors import UnsupportedMediaType
from flowcore.domain.errors import BadRequest, Problem, ValidationFailed

#: How deep a user's own value (an execution input, task parameters, a `when` value) may nest.
MAX_VALUE_DEPTH = 32
#: How deep a whole body may nest: a flow definition holds such values a few levels down.
MAX_BODY_DEPTH = 40

JSON_MEDIA_TYPE = "application/json"


def is_json(content_type: str | None) -> bool:
    """`application/json`, with or without parameters (`; charset=utf-8`)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == JSON_MEDIA_TYPE


def require_json(content_type: str | None) -> None:
    """A body is read only as JSON, and only when the request says it is JSON."""
    if is_json(content_type):
        return
    given = f"'{content_type}'" if content_type else "no content-type"
    raise UnsupportedMediaType(
        f"the body must be JSON sent with content-type: {JSON_MEDIA_TYPE} (the request has {given})"
    )


def depth(value: Any) -> int:
    """How deep `value` nests: 0 for a scalar, 1 for a flat object or array. Iterative: it measures values
    too deep for recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
        else:
            continue
        deepest = max(deepest, level + 1)
    return deepest


def loads(text: str | bytes) -> Any:
    """Parse a body as strict JSON (RFC 8259: no NaN or Infinity, no duplicate keys), at most MAX_BODY_DEPTH deep."""
    try:
        document = json.loads(text, parse_constant=_not_a_number, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as error:
        raise BadRequest(
            f"the body is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from error
    except RecursionError as error:
        _too_deep(error)
    if depth(document) > MAX_BODY_DEPTH:
        _too_deep()
    return document


def read_object(text: str | bytes) -> dict[str, Any] | None:
    """A request body: a JSON object, or `null` for none (as no body at all). Anything else is a 422 here, before
    the framework would take the first element of an array for the object it wanted."""
    document = loads(text)
    if document is not None and not isinstance(document, dict):
        kind = "an array" if isinstance(document, list) else f"a {type(document).__name__}"
        raise ValidationFailed([Problem("body", f"the body must be a JSON object, not {kind}")])
    return document


def _too_deep(cause: BaseException | None = None) -> NoReturn:
    problem = Problem("body", f"the body nests deeper than {MAX_BODY_DEPTH} levels")
    raise ValidationFailed([problem]) from cause


def _not_a_number(constant: str) -> NoReturn:
    raise BadRequest(f"the body is not valid JSON: {constant} is not a JSON number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise BadRequest(f"the body is not valid JSON for this API: the key '{key}' appears twice in one object")
        document[key] = value
    return document
