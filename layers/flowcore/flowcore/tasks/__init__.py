"""Task types: the registry, the built-ins and the integrations (given their ports by the composition root)."""

from flowcore.domain.egress import EgressPolicy
from flowcore.tasks.base import TaskContext, TaskType, TaskTypeRegistry
from flowcore.tasks.builtins import builtin_types
from flowcore.tasks.http import HttpTask, HttpTransport, Secrets


def default_registry(
    http_transport: HttpTransport | None = None, secrets: Secrets | None = None, http_policy: EgressPolicy | None = None
) -> TaskTypeRegistry:
    """Every type. Built without ports (the API checks parameters only), the integrations fail when run."""
    return TaskTypeRegistry([*builtin_types(), HttpTask(http_transport, secrets, http_policy)])


__all__ = ["TaskContext", "TaskType", "TaskTypeRegistry", "default_registry"]
