"""A tenant's quotas, as conditional counters in the tenant's own `QUOTA` partition (no other service).

- Running executions: `RUNNING.running` goes up by one in the same transaction that makes an execution
  RUNNING (refused at the limit), and down by one in the same transaction that ends it. The execution item
  says it was counted (`counted`), so only counted executions give their place back: the count is exact.
- Starts per second: `RATE#<epoch second>.starts` goes up by one per start, refused at the limit; each such
  item expires a minute later (TTL).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from flowcore.adapters.dynamodb import keys
from flowcore.adapters.dynamodb.table import Refused, Table, Update, key
from flowcore.adapters.dynamodb.values import n
from flowcore.domain import tenancy
from flowcore.domain.errors import TooManyRequests

#: How long a caller refused at the running-executions limit is told to wait before trying again.
RUNNING_RETRY_SECONDS: Final = 5
_RATE_ITEM_SECONDS: Final = 60


def running_change(execution_id: str, delta: int, limit: int = 0) -> Update:
    """Move the running count of the execution's tenant by `delta`; a rise is refused at `limit` (0: none)."""
    update = Update(
        key=key(keys.quota_pk(tenancy.tenant_of(execution_id)), keys.RUNNING_SK),
        expression="ADD #running :delta",
        names={"#running": "running"},
        values={":delta": n(delta)},
    )
    if delta > 0 and limit > 0:
        values = {**update.values, ":limit": n(limit)}
        condition = "attribute_not_exists(#running) OR #running < :limit"
        return Update(update.key, update.expression, update.names, values, condition)
    return update


def running_refused(execution_id: str, limit: int) -> TooManyRequests:
    return TooManyRequests(
        f"tenant '{tenancy.tenant_of(execution_id)}' has {limit} running executions, its quota; "
        "start more when some have ended",
        RUNNING_RETRY_SECONDS,
    )


class DynamoStartRate:
    """Starts per second per tenant (`limit` 0: no limit)."""

    def __init__(self, table: Table, limit: int, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._limit = limit
        self._clock = clock

    def admit(self, tenant: str) -> None:
        """Count one start of `tenant` in this second; `TooManyRequests` when the second's quota is used up."""
        if self._limit <= 0:
            return
        second = int(self._clock())
        count = Update(
            key=key(keys.quota_pk(tenant), keys.rate_sk(second)),
            expression="ADD #starts :one SET #expires = :expires",
            names={"#starts": "starts", "#expires": "expires_at"},
            values={":one": n(1), ":limit": n(self._limit), ":expires": n(second + _RATE_ITEM_SECONDS)},
            condition="attribute_not_exists(#starts) OR #starts < :limit",
        )
        try:
            self._table.update(count)
        except Refused as refused:
            raise TooManyRequests(
                f"tenant '{tenant}' started {self._limit} executions this second, its quota; try again in a second",
                1,
            ) from refused
