"""Task types: the registry, the built-ins and the integrations."""

from flowcore.tasks.base import TaskContext, TaskType, TaskTypeRegistry
from flowcore.tasks.builtins import builtin_types
from flowcore.tasks.integrations import Functions, LambdaTask
from flowcore.tasks.messaging import Messaging, messaging_types


def default_registry(*, functions: Functions | None = None, messaging: Messaging | None = None) -> TaskTypeRegistry:
    """Every type. The runner gives the integrations their ports; the API, which only checks parameters, does not."""
    return TaskTypeRegistry([*builtin_types(), LambdaTask(functions), *messaging_types(messaging)])


__all__ = ["TaskContext", "TaskType", "TaskTypeRegistry", "default_registry"]
