"""Domain errors as HTTP answers: one status and one code per error, and the one error body of every 4xx."""

from __future__ import annotations

import json
from typing import Any

from flowcore.domain.errors import (
    BadRequest,
    CallbacksUnavailable,
    Conflict,
    FlowError,
    Forbidden,
    NotFound,
    StoreUnavailable,
    TooManyRequests,
    Unauthenticated,
    ValidationFailed,
)

__all__ = [
    "BadRequest",
    "FlowError",
    "Forbidden",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "TooManyRequests",
    "Unauthenticated",
    "UnsupportedMediaType",
    "error_answer",
    "error_body",
    "http_status",
]


class PayloadTooLarge(FlowError):
    """A request body over the API's limit; refused before it is parsed."""


class UnsupportedMediaType(FlowError):
    """A body that is not sent as JSON (a form, multipart, text): the API reads JSON only."""


class MethodNotAllowed(FlowError):
    """The path is a route, but not for this method; `allow` lists the methods it has."""

    def __init__(self, method: str, path: str, allow: list[str]) -> None:
        super().__init__(f"{method} is not allowed on {path}; allowed: {', '.join(allow)}")
        self.allow = allow


#: Most specific first: the first class an error is an instance of gives its status and code.
_HTTP: tuple[tuple[type[FlowError], int, str], ...] = (
    (Unauthenticated, 401, "unauthorized"),
    (Forbidden, 403, "forbidden"),
    (TooManyRequests, 429, "too_many_requests"),
    (ValidationFailed, 422, "validation_error"),
    (BadRequest, 400, "bad_request"),
    (PayloadTooLarge, 413, "payload_too_large"),
    (UnsupportedMediaType, 415, "unsupported_media_type"),
    (MethodNotAllowed, 405, "method_not_allowed"),
    (NotFound, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (StoreUnavailable, 503, "service_unavailable"),
    (CallbacksUnavailable, 503, "service_unavailable"),
)
_INTERNAL = (500, "internal_error")


def http_status(error: FlowError) -> tuple[int, str]:
    """The HTTP status and error code `error` is answered with."""
    return next(((status, code) for kind, status, code in _HTTP if isinstance(error, kind)), _INTERNAL)


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> str:
    return json.dumps({"error": {"code": code, "message": message, "details": details or []}})


def error_answer(error: FlowError) -> tuple[int, str]:
    """The status and body that answer `error`."""
    status, code = http_status(error)
    return status, error_body(code, error.message, error.details)
