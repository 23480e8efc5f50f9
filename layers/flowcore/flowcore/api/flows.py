"""Use cases for flows: store a version, read one, list, delete."""

from __future__ import annotations

import uuid

from flowcore.api.digest import digest
from flowcore.api.models import FlowDefinition
from flowcore.api.validation import graph_problems
from flowcore.domain.errors import Conflict, NotFound, Problem, ValidationFailed
from flowcore.domain.flow import MAX_TRANSITIONS_LIMIT
from flowcore.domain.records import FlowHead, FlowRecord
from flowcore.domain.tenancy import scoped, shown
from flowcore.ports import ExecutionRepository, FlowRepository
from flowcore.tasks import TaskTypeRegistry


class FlowService:
    def __init__(
        self,
        flows: FlowRepository,
        executions: ExecutionRepository,
        registry: TaskTypeRegistry,
        max_transitions_ceiling: int = MAX_TRANSITIONS_LIMIT,
    ) -> None:
        self._flows = flows
        self._executions = executions
        self._registry = registry
        self._ceiling = max_transitions_ceiling

    def save(self, tenant: str, definition: FlowDefinition) -> tuple[FlowRecord, bool]:
        """Store the definition as the tenant's flow's next version (not again when the latest is the same);
        whether new."""
        local_id = definition.id or f"flow-{uuid.uuid4().hex[:12]}"
        problems = graph_problems(definition, self._registry, self._ceiling) + _starts_itself(local_id, definition)
        if problems:
            raise ValidationFailed(problems)
        document = definition.document()
        return self._flows.save(scoped(tenant, local_id), document, digest(document))

    def get(self, flow_id: str, version: int | None = None) -> FlowRecord:
        """A live flow's version (the latest when None). A deleted flow is 404 here, whatever the version:
        the versions an execution ran are read through that execution (`ExecutionService.flow_of`)."""
        head = self.live(flow_id)
        return self._flows.get(flow_id, version or head.latest_version)

    def live(self, flow_id: str) -> FlowHead:
        head = self._flows.head(flow_id)
        if head is None:
            raise NotFound(f"flow '{shown(flow_id)}' does not exist")
        if head.deleted_at is not None:
            raise NotFound(f"flow '{shown(flow_id)}' was deleted at {head.deleted_at}")
        return head

    def list_flows(self, tenant: str, limit: int, cursor: str | None) -> tuple[list[FlowHead], str | None]:
        return self._flows.list_heads(tenant, limit, cursor)

    def delete(self, flow_id: str) -> None:
        self.live(flow_id)
        if self._executions.has_active(flow_id):
            raise Conflict(
                f"flow '{shown(flow_id)}' has executions that are CREATED or RUNNING; cancel or delete them first"
            )
        self._flows.delete(flow_id)


def _starts_itself(local_id: str, definition: FlowDefinition) -> list[Problem]:
    """A subflow task that runs its own flow's latest version starts a child that reaches the same task, and so
    on without end (the nesting limit would fail it, deep down): refused. Calls through other flows (a -> b -> a)
    cannot be seen here; the nesting limit ends those (`flowcore.domain.subflows`)."""
    return [
        Problem(
            f"tasks[{index}].parameters.flow_id",
            f"the flow would start itself without end: this subflow task runs flow '{local_id}' (its own latest "
            "version); pin `version` to an earlier one, or run another flow",
        )
        for index, task in enumerate(definition.tasks)
        if task.type == "subflow" and task.parameters.get("flow_id") == local_id and "version" not in task.parameters
    ]
