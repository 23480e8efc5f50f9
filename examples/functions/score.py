"""Scores an order: `{"amount": 120, "items": 3}` -> `{"score": 46.0}`.

Raises a ValueError on an event without a positive number `amount`, so a flow can show a function error.
"""

from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, float]:
    amount = event.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int | float) or amount <= 0:
        raise ValueError(f"amount must be a positive number, not {amount!r}")
    items = event.get("items", 1)
    return {"score": round(amount / 3 + 2 * items, 2)}
