"""When an item is written, and when DynamoDB's TTL removes it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flowcore.domain.clock import iso, utc_now

DAY_SECONDS = 86_400


class Stamps:
    def __init__(self, retention_days: int = 30, clock: Callable[[], datetime] = utc_now) -> None:
        self.retention_days = retention_days
        self.clock = clock

    def now(self) -> str:
        return iso(self.clock())

    def expires_at(self) -> int:
        """Retention counts from creation: writes keep the first `expires_at` (`if_not_exists`)."""
        return int(self.clock().timestamp()) + self.retention_days * DAY_SECONDS
