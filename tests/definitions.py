"""Pieces of flow definitions the tests build flows from."""

from __future__ import annotations

from typing import Any


def edge(source: str, target: str, failure: str = "end", **extra: Any) -> dict[str, Any]:
    """A condition from `source`: on success to `target` (or, with a `when` that does not hold, to `failure`)."""
    return {
        "source_task": source,
        "outcome": "success",
        "target_task_success": target,
        "target_task_failure": failure,
        **extra,
    }
