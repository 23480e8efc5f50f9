"""Refused conditional writes, as the runner meets them: each carries what it needs to decide what is left.

The DynamoDB adapter raises these from the one place that reads a refusal (`adapters.dynamodb.table`).
"""

from __future__ import annotations

from flowcore.domain.records import RunRecord, RunRef


class RunConflict(Exception):
    """A conditional write on a task run failed; `current` is the run as it now stands (None: gone)."""

    def __init__(self, current: RunRecord | None) -> None:
        super().__init__("task run changed under us")
        self.current = current


class ExecutionConflict(Exception):
    """The execution item did not match what the runner read (branches moved, or it stopped running)."""


class SuccessorsExist(Exception):
    """Some successors of a commit exist already: a sibling branch reached the same task at the same step."""

    def __init__(self, refs: tuple[RunRef, ...]) -> None:
        super().__init__("successors exist already")
        self.refs = refs
