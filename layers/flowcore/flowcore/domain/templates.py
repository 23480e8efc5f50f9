"""Templates: JSON values whose strings may hold `${<expression>}` placeholders (DESIGN §4).

- A string that is exactly one placeholder, `"${tasks.a.output.rows}"`, becomes the expression's value, of
  whatever JSON type it is (null when absent).
- A placeholder inside a longer string is replaced by its text: a string as it is, any other value as its
  compact JSON (`null`, `3`, `true`, `{"a":1}`).
- `$${` is a literal `${` (as in Terraform): `"$${input.day}"` is the text `${input.day}`. Only that
  sequence is an escape; any other `$` is itself. Write `${'$'}` for a `$` right before a placeholder.
- The placeholder ends at the `}` that balances its braces, outside quoted text, so an expression may hold a
  multi-select hash (`"${ {day: input.day} }"`) or a literal with braces.
- Keys are taken as written; only values are templates. Values other than strings are kept as they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from flowcore.domain.expressions import ExpressionSyntaxError, compile_expression

OPEN = "${"
ESCAPED_OPEN = "$${"
_QUOTES = frozenset("'\"`")


@dataclass(frozen=True, slots=True)
class _Placeholder:
    expression: str


type _Part = str | _Placeholder


def is_template(value: Any) -> bool:
    """Whether `value` is a string that is exactly one placeholder, `"${...}"`, so it resolves to any JSON."""
    if not isinstance(value, str) or not value.startswith(OPEN):
        return False
    try:
        parts = _split(value)
    except ExpressionSyntaxError:
        return False
    return len(parts) == 1 and isinstance(parts[0], _Placeholder)


def is_plain(template: Any) -> bool:
    """Whether no string in `template` holds a placeholder or an escape, so `resolve` would return it as it is
    (a flow without templates then costs what it did before)."""
    return all(OPEN not in text for _, text in texts_in(template))


def texts_in(template: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every string of `template` with its field path below `where` (`input.items[2]`), in document order."""
    if isinstance(template, str):
        yield where, template
    elif isinstance(template, dict):
        for key, value in template.items():
            yield from texts_in(value, f"{where}.{key}" if where else str(key))
    elif isinstance(template, list):
        for index, value in enumerate(template):
            yield from texts_in(value, f"{where}[{index}]")


def placeholders(text: str) -> list[str]:
    """The expressions of the placeholders in `text`, in order. Raises `ExpressionSyntaxError` for a `${`
    with no closing `}`."""
    return [part.expression for part in _split(text) if isinstance(part, _Placeholder)]


def expressions_in(template: Any, where: str = "") -> list[tuple[str, str]]:
    """Every placeholder's expression in `template` as (field path, expression), the path below `where`:
    `expressions_in({"rows": "${x}"}, "input")` is `[("input.rows", "x")]`. Raises `ExpressionSyntaxError` for
    a `${` with no closing `}`."""
    return [(path, expression) for path, text in texts_in(template, where) for expression in placeholders(text)]


def resolve(template: Any, context: Mapping[str, Any]) -> Any:
    """`template` with every placeholder replaced, evaluated against `context`. Raises `ExpressionError` (an
    `ExpressionSyntaxError` for one that does not compile) naming the expression that failed."""
    if isinstance(template, str):
        return _resolve_text(template, context)
    if isinstance(template, dict):
        return {key: resolve(value, context) for key, value in template.items()}
    if isinstance(template, list):
        return [resolve(value, context) for value in template]
    return template


def _resolve_text(text: str, context: Mapping[str, Any]) -> Any:
    if OPEN not in text:
        return text
    parts = _split(text)
    if len(parts) == 1 and isinstance(parts[0], _Placeholder):
        return compile_expression(parts[0].expression).evaluate(context)
    return "".join(
        part if isinstance(part, str) else as_text(compile_expression(part.expression).evaluate(context))
        for part in parts
    )


def as_text(value: Any) -> str:
    """A value as a placeholder inside text shows it: a string as it is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@lru_cache(maxsize=4096)
def _split(text: str) -> tuple[_Part, ...]:
    """`text` as literal text and placeholders, escapes applied; adjacent text joined."""
    parts: list[_Part] = []
    literal: list[str] = []
    index = 0
    while (dollar := text.find("$", index)) != -1:
        literal.append(text[index:dollar])
        if text.startswith(ESCAPED_OPEN, dollar):
            literal.append(OPEN)
            index = dollar + len(ESCAPED_OPEN)
        elif text.startswith(OPEN, dollar):
            start = dollar + len(OPEN)
            end = _closing_brace(text, start)
            if end < 0:
                raise ExpressionSyntaxError(text[start:], "the '${' has no closing '}'", len(text) - start)
            if before := "".join(literal):
                parts.append(before)
            literal = []
            parts.append(_Placeholder(text[start:end]))
            index = end + 1
        else:
            literal.append("$")
            index = dollar + 1
    literal.append(text[index:])
    tail = "".join(literal)
    if tail or not parts:
        parts.append(tail)
    return tuple(parts)


def _closing_brace(text: str, start: int) -> int:
    """Where the `}` that ends a placeholder opened before `start` is: the first one that balances the braces
    opened after `start`, outside quoted text ('raw', "identifier", `literal`); -1 when there is none."""
    depth = 0
    index = start
    while index < len(text):
        char = text[index]
        if char in _QUOTES:
            index = _after_quoted(text, index)
            continue
        if char == "}":
            if depth == 0:
                return index
            depth -= 1
        elif char == "{":
            depth += 1
        index += 1
    return -1


def _after_quoted(text: str, start: int) -> int:
    quote = text[start]
    index = start + 1
    while index < len(text):
        if text[index] == "\\":
            index += 2
        elif text[index] == quote:
            return index + 1
        else:
            index += 1
    return len(text)
