"""A fix for moto's Step Functions, applied wherever the project runs moto (the local stack and the tests).

moto runs each state machine execution on a thread of its own, which sets up the execution's environment
only after parsing the definition; `StopExecution` arriving before that (a timer stopped right after it
started: an execution that ends at once, or is cancelled) raises AttributeError on `None.set_stop`, and the
caller gets a 500. The fix waits, briefly, for the environment. (Worth reporting upstream: `ExecutionWorker.stop`
in moto/stepfunctions/parser/backend/execution_worker.py reads `self.env` before the worker thread has set it.)
"""

from __future__ import annotations

import time
from typing import Any

from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

_SETUP_SECONDS = 5.0
_original_stop = ExecutionWorker.stop


def _stop_once_ready(self: Any, *args: Any, **kwargs: Any) -> Any:
    deadline = time.monotonic() + _SETUP_SECONDS
    while getattr(self, "env", None) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return _original_stop(self, *args, **kwargs)


def apply() -> None:
    """Idempotent: patching twice keeps one wrapper."""
    if ExecutionWorker.stop is not _stop_once_ready:
        ExecutionWorker.stop = _stop_once_ready  # type: ignore[method-assign]
