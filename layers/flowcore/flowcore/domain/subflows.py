"""Sub-flows: a task that runs another flow as a child execution and ends when the child does.

A child's id is derived from its parent's run, attempt and nonce, so the start of one attempt, repeated (a
redelivered record, a retried write), finds the child it started instead of starting another. Nesting is
bounded: a chain of flows that start each other (which saving cannot always see) ends at `MAX_SUBFLOW_DEPTH`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flowcore.domain.records import ParentLink
from flowcore.domain.statuses import ExecutionStatus
from flowcore.domain.tenancy import same_tenant

#: How deep children nest: an execution started by a flow's own execution is at depth 1.
MAX_SUBFLOW_DEPTH = 5


def child_execution_id(parent: ParentLink) -> str:
    """The scoped id of the child the parent's attempt starts, in the parent's tenant (its own part an execution
    id: `[A-Za-z0-9_-]{1,64}`)."""
    seed = f"{parent.execution_id}|{parent.seq}|{parent.task_name}|{parent.attempt}|{parent.nonce}"
    return same_tenant(parent.execution_id, "sub-" + hashlib.sha256(seed.encode()).hexdigest()[:40])


@dataclass(frozen=True, slots=True)
class ChildEnded:
    """A child execution that reached a final status, as the stream delivers it: its parent's run completes."""

    execution_id: str
    parent: ParentLink
    status: ExecutionStatus
    error: str | None = None
