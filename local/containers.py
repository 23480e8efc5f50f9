"""The handlers cache clients, settings and their wiring per process, as a warm Lambda container does."""

from __future__ import annotations


def reset_containers() -> None:
    """Forget every cached client, setting and handler state: the next call starts cold, from the environment."""
    from flowcore.wiring.shared import reset

    reset()
