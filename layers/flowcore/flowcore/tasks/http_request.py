"""The parts of an http task's request and response that need no network: the method, `success_status`, headers
(secret references resolved through the `Secrets` port), the query, the body both ways.

Each check raises `ParameterError` with a message naming the parameter; `problems` runs the same checks on a
stored flow's parameters, so that most mistakes are refused when the flow is saved rather than when it runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from flowcore.tasks.base import ParameterError

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
DEFAULT_SUCCESS_STATUS = "200-299"
MAX_REQUEST_BODY_BYTES = 262_144
MAX_RESPONSE_BODY_BYTES = 1_048_576
MAX_STATUS_ENTRIES = 20
#: Headers the task sets itself from the URL and the body.
RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")
_RANGE = re.compile(r"^\s*([1-5]\d\d)\s*(?:-\s*([1-5]\d\d)\s*)?$")

#: Reads a secret: (secret id, JSON key or None) -> its value.
type SecretReader = Callable[[str, str | None], str]


def method(value: str) -> str:
    upper = value.upper()
    if upper not in METHODS:
        raise ParameterError(f"parameter 'method' is '{value[:20]}', not one of {', '.join(METHODS)}")
    return upper


def success_status(value: Any) -> tuple[tuple[int, int], ...]:
    """The status ranges `success_status` allows: a code (`204`), a range as text (`"200-299"`), or a list of
    those (`[200, "300-399"]`)."""
    entries = value if isinstance(value, list) else [value]
    if not entries or len(entries) > MAX_STATUS_ENTRIES:
        raise ParameterError(f"parameter 'success_status' must list from 1 to {MAX_STATUS_ENTRIES} codes or ranges")
    return tuple(_status_range(entry) for entry in entries)


def _status_range(entry: Any) -> tuple[int, int]:
    matched = _RANGE.match(str(entry)) if isinstance(entry, int | str) and not isinstance(entry, bool) else None
    low, high = (int(matched[1]), int(matched[2] or matched[1])) if matched else (0, -1)
    if low > high:
        shown = json.dumps(entry, default=str)[:40]
        raise ParameterError(
            f"parameter 'success_status' has {shown}: give status codes (100-599) or ranges such as \"200-299\""
        )
    return low, high


def header_entries(headers: Mapping[str, Any]) -> list[tuple[str, str | dict[str, Any]]]:
    """`headers` checked: names are HTTP tokens and not ones the task sets; a value is text without line breaks
    or a secret reference `{"secret": "<arn or name>", "key"?: "<JSON key>"}`."""
    entries: list[tuple[str, str | dict[str, Any]]] = []
    for name, value in headers.items():
        where = f"parameter 'headers' has '{name[:60]}'"
        if not _TOKEN.match(name):
            raise ParameterError(f"{where}, which is not a valid header name")
        if name.lower() in RESERVED_HEADERS:
            raise ParameterError(f"{where}, which the task sets itself")
        if isinstance(value, str):
            if "\r" in value or "\n" in value:
                raise ParameterError(f"{where} with a line break in its value")
        elif not _is_secret_reference(value):
            raise ParameterError(f'{where}: a value is text or {{"secret": "<arn>", "key"?: "<json key>"}}')
        entries.append((name, value))
    return entries


def _is_secret_reference(value: Any) -> bool:
    if not isinstance(value, dict) or set(value) - {"secret", "key"} or not isinstance(value.get("secret"), str):
        return False
    return bool(value["secret"]) and isinstance(value.get("key", ""), str)


def resolved_headers(
    entries: list[tuple[str, str | dict[str, Any]]], read: SecretReader
) -> tuple[dict[str, str], list[str]]:
    """The headers with their secrets read, and the secret values (which must not show in what the task reports)."""
    headers: dict[str, str] = {}
    secrets: list[str] = []
    for name, value in entries:
        if isinstance(value, str):
            headers[name] = value
            continue
        secret = read(value["secret"], value.get("key"))
        if "\r" in secret or "\n" in secret:
            raise ParameterError(f"header '{name}': its secret has a line break in its value")
        headers[name] = secret
        secrets.append(secret)
    return headers, secrets


def with_query(url: str, query: Mapping[str, Any] | None) -> str:
    """`url` with `query` appended (values as text; a list repeats its name)."""
    if not query:
        return url
    pairs = []
    for name, value in query.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict | list) or item is None:
                raise ParameterError(f"parameter 'query' has '{name[:60]}' with a value that is not text or a number")
            pairs.append((name, json.dumps(item) if isinstance(item, bool) else str(item)))
    base = url.partition("#")[0]  # a fragment is never sent
    return f"{base}{'&' if '?' in base else '?'}{urlencode(pairs)}"


def encoded_body(body: Any) -> tuple[bytes | None, str | None]:
    """The request body and its content type: text as UTF-8 text, any other JSON value as JSON."""
    if body is None:
        return None, None
    data, kind = (
        (body.encode(), "text/plain; charset=utf-8")
        if isinstance(body, str)
        else (json.dumps(body, separators=(",", ":")).encode(), "application/json")
    )
    if len(data) > MAX_REQUEST_BODY_BYTES:
        raise ParameterError(f"parameter 'body' is larger than {MAX_REQUEST_BODY_BYTES:,} bytes")
    return data, kind


def decoded_body(body: bytes, content_type: str) -> Any:
    """The response body: parsed when it is JSON (by its content type), else text."""
    text = body.decode("utf-8", errors="replace")
    media = content_type.split(";", 1)[0].strip().lower()
    if text.strip() and (media == "application/json" or media.endswith("+json")):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def redacted(value: Any, secrets: list[str]) -> Any:
    """`value` with every secret value in its text replaced: a server may echo the headers it was sent."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "[secret]") if secret else value
        return value
    if isinstance(value, dict):
        return {redacted(key, secrets): redacted(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted(item, secrets) for item in value]
    return value


def problems(parameters: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(parameter, message) for the values a stored flow gives that the task would refuse when it runs."""
    checks: dict[str, Callable[[Any], object]] = {
        "method": lambda value: method(value) if isinstance(value, str) else None,
        "success_status": success_status,
        "headers": lambda value: header_entries(value) if isinstance(value, dict) else None,
        "query": lambda value: with_query("/", value) if isinstance(value, dict) else None,
        "body": encoded_body,
    }
    found = []
    for name, check in checks.items():
        if name in parameters:
            try:
                check(parameters[name])
            except ParameterError as error:
                found.append((name, str(error)))
    return found
