"""Returns its event with two fields added: who enriched it and when (a `lambda` task's output)."""

from datetime import UTC, datetime
from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {**event, "enriched_by": context.function_name, "enriched_at": datetime.now(UTC).isoformat()}
