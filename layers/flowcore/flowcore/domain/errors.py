"""Errors the service reports to a caller. Adapters translate AWS errors into these; `flowcore.api.errors`
maps each to one HTTP status and code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class FlowError(Exception):
    """Base of every error the service reports to a caller."""

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


@dataclass(frozen=True, slots=True)
class Problem:
    """One precise validation problem: which field, what is wrong."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class ValidationFailed(FlowError):
    def __init__(self, problems: list[Problem], message: str | None = None) -> None:
        count = len(problems)
        super().__init__(
            message or f"the request has {count} problem{'s' if count != 1 else ''}",
            [problem.as_dict() for problem in problems],
        )
        self.problems = problems


class BadRequest(FlowError):
    """The request cannot be understood (malformed, or contradicting itself)."""


class NotFound(FlowError):
    pass


class Conflict(FlowError):
    """The request does not fit the resource as it stands."""


class UnreadableItem(FlowError):
    """A stored item that does not parse (a stored flow version's definition, say); the service's fault."""


class StoreUnavailable(FlowError):
    """DynamoDB kept refusing (throttling, service errors) after the SDK's own retries."""


class TooManyRequests(FlowError):
    """A tenant's quota is used up for now; `retry_after` says in how many seconds to try again."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unauthenticated(FlowError):
    """The request names no caller the service can trust (no identity, or one without a tenant)."""


class Forbidden(FlowError):
    """The caller is known but may not do this (a scope it lacks)."""


class CallbacksUnavailable(FlowError):
    """The deployment keeps no key to sign callback tokens with, or it could not be read."""
