"""Pretends to send a notification: waits `delay_seconds` (2 by default), logs the message, returns a receipt.

Up to 10 s, so a flow can invoke it with `InvocationType: Event` or show a timeout with a longer delay.
"""

import time
from typing import Any

TIMEOUT = 10


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    time.sleep(float(event.get("delay_seconds", 2)))
    message = event.get("message", "done")
    print(f"notify: {message}")
    return {"notified": message, "request_id": context.aws_request_id}
