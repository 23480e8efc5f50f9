"""The failure queue consumer's composition root. It fails or resumes what a failed batch dispatched; it starts
no timer, and stops those of the executions it fails."""

from __future__ import annotations

from flowcore.adapters import clients
from flowcore.adapters.stream import StreamArchive
from flowcore.adapters.timers import StepFunctionsTimers
from flowcore.runner.children import Children
from flowcore.runner.commit import FollowUps
from flowcore.runner.failures import FailedBatchHandler
from flowcore.runner.flows import FlowCache
from flowcore.runner.recovery import Recovery
from flowcore.settings import settings
from flowcore.wiring.shared import per_container, repositories


@per_container
def failed_batch_handler() -> FailedBatchHandler:
    stored = repositories()
    follow_ups = FollowUps(stored.runs, stored.executions, stored.results)
    recovery = Recovery(stored.runs, stored.executions, FlowCache(stored.flows), follow_ups)
    timers = StepFunctionsTimers(clients.stepfunctions, settings().timer_state_machine_arn)
    batches = StreamArchive(clients.streams())
    # Without the payload store: a child's output too large for its parent's run item fails that write.
    children = Children(stored.executions, stored.flows, stored.runs, None, stored.completions)
    return FailedBatchHandler(stored.runs, stored.executions, stored.flows, batches, recovery, timers, children)
