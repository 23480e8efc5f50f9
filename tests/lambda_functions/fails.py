from typing import Any


def handler(event: Any, context: Any) -> None:
    raise ValueError(f"bad input: {event!r}")
