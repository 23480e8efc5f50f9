"""The seed routes' answers, word for word as the original FastAPI service gives them (SEED.md).

Its own integration test reads these texts, so they live here once; the resource routes answer in their own
REST shapes (`flowcore.api.views`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flowcore.domain.clock import iso, utc_now
from flowcore.domain.errors import NotFound
from flowcore.domain.records import ExecutionRecord, FlowRecord
from flowcore.domain.tenancy import shown

ROOT_MESSAGE = "Flow Manager API is running"
#: The status the original's create answer names; the status document keeps the upper-case statuses.
CREATED = "created"


def root() -> dict[str, Any]:
    return {"message": ROOT_MESSAGE}


def health() -> dict[str, Any]:
    return {"status": "healthy", "timestamp": iso(utc_now())}


def created(execution: ExecutionRecord, flow: FlowRecord) -> dict[str, Any]:
    """The original's four fields first; the flow's id and version follow (extra fields a client may use)."""
    return {
        "execution_id": shown(execution.execution_id),
        "flow_name": flow.name,
        "status": CREATED,
        "message": "Flow created successfully",
        "flow_id": shown(flow.flow_id),
        "flow_version": flow.version,
    }


def deleted(execution_id: str) -> dict[str, Any]:
    return {"message": f"Flow execution {execution_id} deleted successfully"}


@contextmanager
def execution_named(execution_id: str) -> Iterator[None]:
    """An unknown execution, reported in the original's words (`Flow execution <id> not found`)."""
    try:
        yield
    except NotFound as error:
        raise NotFound(f"Flow execution {execution_id} not found") from error
