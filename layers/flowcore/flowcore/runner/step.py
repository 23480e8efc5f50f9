"""One task of a path: its attempt, then its commit."""

from __future__ import annotations

from flowcore.domain.compiled import CompiledFlow
from flowcore.domain.records import Dispatch, ExecutionRecord, RunRef
from flowcore.observability import logger
from flowcore.ports import Timers
from flowcore.runner.attempt import Attempts
from flowcore.runner.commit import Committer
from flowcore.runner.data import Memory, Seen
from flowcore.runner.outcome import Outcome


class Step:
    def __init__(self, attempts: Attempts, committer: Committer, timers: Timers) -> None:
        self._attempts = attempts
        self._committer = committer
        self._timers = timers

    def run(
        self, flow: CompiledFlow, execution: ExecutionRecord, ref: RunRef, dispatch: Dispatch, memory: Memory
    ) -> tuple[Outcome, RunRef | None]:
        """Run one task and commit it; also returns the next run when this invocation may run it ahead, and
        keeps what it ended with in `memory` for that run's templates.

        Raises `RunConflict` when the run is not what the dispatch saw (another delivery acted on it).
        """
        if dispatch.from_start and flow.definition.timeout_seconds:
            self._timers.timeout(ref.execution_id, flow.definition.timeout_seconds)
        ended, guard = self._attempts.run(flow, execution, ref, dispatch, memory)
        outcome, successor = self._committer.commit(flow, execution, ref, ended, guard, dispatch)
        result = ended.result
        if successor is not None and flow.needs:
            memory.keep(flow, Seen.of_ended(ref, ended))
        logger.info(
            "task run",
            extra={
                "outcome": outcome,
                "status": result.status,
                "duration_ms": ended.duration_ms,
                "error": result.error,
            },
        )
        return outcome, successor
