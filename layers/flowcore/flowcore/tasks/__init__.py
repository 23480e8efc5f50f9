"""Task types: the registry and the built-ins."""

from flowcore.tasks.base import TaskContext, TaskType, TaskTypeRegistry
from flowcore.tasks.builtins import builtin_types


def default_registry() -> TaskTypeRegistry:
    return TaskTypeRegistry(builtin_types())


__all__ = ["TaskContext", "TaskType", "TaskTypeRegistry", "default_registry"]
