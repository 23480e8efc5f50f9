"""Writes `event["text"]` to the file `event["path"]`: an Event invocation's visible effect."""

from pathlib import Path
from typing import Any


def handler(event: dict[str, str], context: Any) -> None:
    Path(event["path"]).write_text(event["text"])
