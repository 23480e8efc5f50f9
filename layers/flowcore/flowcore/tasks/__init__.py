"""Task types: the registry, the built-ins and the integrations (given their ports by the composition root)."""

from flowcore.domain.egress import EgressPolicy
from flowcore.tasks.base import TaskContext, TaskType, TaskTypeRegistry
from flowcore.tasks.builtins import builtin_types
from flowcore.tasks.http import HttpTask, HttpTransport, Secrets
from flowcore.tasks.integrations import Functions, LambdaTask
from flowcore.tasks.messaging import Messaging, messaging_types
from flowcore.tasks.subflow import ChildStarter, SubflowTask


def default_registry(
    *,
    functions: Functions | None = None,
    messaging: Messaging | None = None,
    http_transport: HttpTransport | None = None,
    secrets: Secrets | None = None,
    http_policy: EgressPolicy | None = None,
    children: ChildStarter | None = None,
) -> TaskTypeRegistry:
    """Every type. Built without ports (the API checks parameters only), the integrations fail when run."""
    integrations = [LambdaTask(functions), *messaging_types(messaging), HttpTask(http_transport, secrets, http_policy)]
    return TaskTypeRegistry([*builtin_types(), *integrations, SubflowTask(children)])


__all__ = ["TaskContext", "TaskType", "TaskTypeRegistry", "default_registry"]
