"""An execution's deadline (`timeout_seconds`): its timer marks the execution overdue, and the runner ends it.

The timer state machine does not end the execution itself: it sets `timeout_due` on a RUNNING execution (one
conditional write), and the stream brings that change to the runner as an `Overdue`, which ends the execution
TIMED_OUT through the same repository write as every other end (so a counted execution gives its place among its
tenant's running ones back in that write: `flowcore.adapters.dynamodb.quotas`).
"""

from __future__ import annotations

from dataclasses import dataclass

from flowcore.domain.records import Dispatch
from flowcore.domain.subflows import ChildEnded


@dataclass(frozen=True, slots=True)
class Overdue:
    """A RUNNING execution whose deadline passed; `reason` is what its error will say."""

    execution_id: str
    reason: str


#: What one stream record asks of the runner: a run to dispatch, a child's end, or an execution's deadline.
type StreamWork = Dispatch | ChildEnded | Overdue
