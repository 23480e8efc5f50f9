"""Domain errors as HTTP answers: one status and one code per error, and the one error body of every 4xx."""

from __future__ import annotations

import json
from typing import Any

from flowcore.domain.errors import (
    BadRequest,
    Conflict,
    FlowError,
    NotFound,
    StoreUnavailable,
    ValidationFailed,
)

__all__ = ["BadRequest", "FlowError", "PayloadTooLarge", "error_answer", "error_body", "http_status"]


class PayloadTooLarge(FlowError):
    """A request body over the API's limit; refused before it is parsed."""


#: Most specific first: the first class an error is an instance of gives its status and code.
_HTTP: tuple[tuple[type[FlowError], int, str], ...] = (
    (ValidationFailed, 422, "validation_error"),
    (BadRequest, 400, "bad_request"),
    (PayloadTooLarge, 413, "payload_too_large"),
    (NotFound, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (StoreUnavailable, 503, "service_unavailable"),
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
