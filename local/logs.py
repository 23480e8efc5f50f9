"""Console logging for the local stack: one short line per event instead of Lambda's JSON documents."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

#: Keys Lambda and powertools add to every line; on a console they only hide what happened.
_NOISE = frozenset(
    {
        "level",
        "location",
        "message",
        "timestamp",
        "service",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "correlation_id",
        "xray_trace_id",
        "sampling_rate",
        "exception",
        "exception_name",
        "exception_notes",
        "stack_trace",
    }
)
_TIME_FORMAT = "%H:%M:%S"


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, separators=(",", ":"))
    return json.dumps(text) if not text or any(char.isspace() for char in text) else text


class ConsoleFormatter(LambdaPowertoolsFormatter):
    """Renders the handlers' structured records as `time LEVEL message key=value ...`.

    A subclass rather than a plain `logging.Formatter`: the handlers call `logger.append_keys`, which needs
    a powertools formatter to hold the keys.
    """

    def __init__(self) -> None:
        super().__init__(datefmt=f"{_TIME_FORMAT}.%F")

    def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
        fields = " ".join(
            f"{key}={_value(value)}" for key, value in log.items() if key not in _NOISE and value is not None
        )
        line = f"{log.get('timestamp', '')} {log.get('level', '')!s:<5} {log.get('message', '')}"
        line = f"{line}  {fields}" if fields else line
        exception = log.get("exception")
        return f"{line}\n{exception}" if exception else line


def configure_local(level: str = "INFO") -> None:
    """The local stack's own lines (requests, poller) on stdout."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(levelname)-5s %(message)s", _TIME_FORMAT))
    local_logger = logging.getLogger("local")
    local_logger.handlers[:] = [handler]
    local_logger.setLevel(level)
    local_logger.propagate = False
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every AWS call otherwise


def use_console_format(level: str = "INFO") -> None:
    """The handlers' powertools lines in the same format as the local stack's own.

    Called once the environment is set: importing flowcore builds its logger from POWERTOOLS_* variables.
    """
    from flowcore.observability import logger as service_logger

    service_logger.setLevel(level)
    service_logger.registered_handler.setFormatter(ConsoleFormatter())
