"""The handlers cache clients, settings and their wiring per process, as a warm Lambda container does."""

from __future__ import annotations


def reset_containers() -> None:
    """Forget every cached client, setting and handler state: the next call starts cold, from the environment."""
    from flowcore import aws
    from flowcore.settings import settings
    from functions.api import app as api_app
    from functions.failure_handler import app as failure_app
    from functions.task_runner import app as runner_app

    aws.reset()
    settings.cache_clear()
    api_app.reset()
    runner_app.reset()
    failure_app.reset()
