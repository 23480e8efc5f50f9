"""What became of a dispatch: logged with every run, and what the failure handler acts on."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    COMMITTED = "committed"  # the result, and what follows it, are written
    COMMITTED_AFTER_STOP = "committed after stop"  # the execution stopped meanwhile: the result, nothing after
    RETRYING = "retrying"  # the failed attempt is written; the next one is dispatched at once
    RETRY_SCHEDULED = "retry scheduled"  # ... and a timer dispatches the next one after the delay
    WAITING = "waiting"  # a long wait: the run is parked and a timer resumes it
    SKIPPED = "skipped"  # the execution had stopped: the run did not start
    GONE = "gone"  # the execution was deleted
    DUPLICATE = "duplicate"  # another delivery of a dispatch already acted on: nothing left to do
    RECOVERED = "recovered"  # a delivery found the path stopped after a commit and moved it on
    RECLAIMED = "reclaimed"  # a claim whose lease had run out is handed back to the stream
    RECLAIM_SCHEDULED = "reclaim scheduled"  # a live claim: a timer hands it back if its lease runs out
    OPEN = "open"  # (failure queue) the run is still open: its own record or timer carries it
    ATOMIC = "atomic"  # (failure queue) a flow that commits results with their successors: nothing can be missing
    ENDED = "ended"  # (failure queue) the execution has ended, or is gone
