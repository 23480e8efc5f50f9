"""Sleeps `event["seconds"]`, noting when it started and ended in a file of `event["folder"]`."""

import json
import time
from pathlib import Path
from typing import Any

TIMEOUT = 5


def handler(event: dict[str, Any], context: Any) -> None:
    started = time.time()
    time.sleep(event["seconds"])
    note = {"started": started, "ended": time.time()}
    (Path(event["folder"]) / f"{context.aws_request_id}.json").write_text(json.dumps(note))
