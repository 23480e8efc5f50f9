"""The failure queue consumer's composition root. It fails or resumes what a failed batch dispatched and
starts no timer, so it has no state machine."""

from __future__ import annotations

from flowcore.adapters import clients
from flowcore.adapters.stream import StreamArchive
from flowcore.runner.commit import FollowUps
from flowcore.runner.failures import FailedBatchHandler
from flowcore.runner.flows import FlowCache
from flowcore.runner.recovery import Recovery
from flowcore.wiring.shared import per_container, repositories


@per_container
def failed_batch_handler() -> FailedBatchHandler:
    stored = repositories()
    recovery = Recovery(
        stored.runs, stored.executions, FlowCache(stored.flows), FollowUps(stored.runs, stored.executions)
    )
    return FailedBatchHandler(stored.runs, stored.executions, stored.flows, StreamArchive(clients.streams()), recovery)
