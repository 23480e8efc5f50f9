"""The HTTP API's composition root: its use cases on the DynamoDB repositories and the payload bucket."""

from __future__ import annotations

from flowcore.adapters import clients
from flowcore.adapters.dynamodb.quotas import DynamoStartRate
from flowcore.adapters.payloads import S3PayloadStore
from flowcore.adapters.timers import StepFunctionsTimers
from flowcore.api.callbacks import CallbackService
from flowcore.api.executions import ExecutionService
from flowcore.api.flows import FlowService
from flowcore.settings import settings
from flowcore.settings import tenant_claim as configured_tenant_claim
from flowcore.tasks import default_registry
from flowcore.wiring.shared import callback_keys, per_container, repositories


@per_container
def flows() -> FlowService:
    stored = repositories()
    return FlowService(stored.flows, stored.executions, default_registry(), settings().max_transitions_ceiling)


@per_container
def executions() -> ExecutionService:
    stored = repositories()
    config = settings()
    timers = StepFunctionsTimers(clients.stepfunctions, config.timer_state_machine_arn)
    # Builds its client on first use: a large input, a download, or a delete (which lists the execution's prefix).
    payloads = S3PayloadStore(clients.s3, config.payload_bucket)
    starts = DynamoStartRate(stored.table, config.starts_quota)
    return ExecutionService(
        stored.executions, stored.runs, stored.flows, timers, payloads, tickets=callbacks().ticket, starts=starts
    )


@per_container
def callbacks() -> CallbackService:
    stored = repositories()
    config = settings()
    timers = StepFunctionsTimers(clients.stepfunctions, config.timer_state_machine_arn)
    payloads = S3PayloadStore(clients.s3, config.payload_bucket) if config.payload_bucket else None
    return CallbackService(stored.runs, stored.completions, timers, callback_keys(config.callback_key_secret), payloads)


def tenant_claim() -> str:
    """The JWT claim that names a caller's tenant (TENANT_CLAIM)."""
    return configured_tenant_claim()
