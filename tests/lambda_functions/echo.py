"""Returns its event and what the context says."""

import os
from typing import Any


def handler(event: Any, context: Any) -> dict[str, Any]:
    print("echo was called")
    return {
        "event": event,
        "function_name": context.function_name,
        "aws_request_id": context.aws_request_id,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
    }
