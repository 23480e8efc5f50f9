"""The task runner's composition root: the runner on the repositories and the timer state machine, fed by
the table's stream."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from flowcore.adapters import clients
from flowcore.adapters.http import Urllib3Transport
from flowcore.adapters.integrations import AwsMessaging, LambdaFunctions
from flowcore.adapters.payloads import S3PayloadStore
from flowcore.adapters.secrets import SecretsManagerSecrets
from flowcore.adapters.stream import StreamConsumer
from flowcore.adapters.timers import StepFunctionsTimers
from flowcore.domain.flow import MAX_TRANSITIONS_LIMIT
from flowcore.runner.children import Children
from flowcore.runner.dispatch import TaskRunner
from flowcore.settings import http_task_policy, settings
from flowcore.tasks import default_registry
from flowcore.wiring.shared import Repositories, callback_keys, per_container, repositories

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


def new_task_runner(
    stored: Repositories,
    stepfunctions: Callable[[], SFNClient] | None,
    timer_arn: str | None,
    lease_seconds: int = 60,
    chain_tasks: int = 100,
    max_transitions_ceiling: int = MAX_TRANSITIONS_LIMIT,
    payload_bucket: str | None = None,
    callback_key_secret: str | None = None,
) -> TaskRunner:
    """A runner as a new container builds it (the fault suite and the bench build more than one). Without a
    payload bucket, a value over the inline limit fails its task."""
    timers = StepFunctionsTimers(stepfunctions, timer_arn)
    # Builds its client on first use: most invocations never store or read a large value.
    payloads = S3PayloadStore(clients.s3, payload_bucket) if payload_bucket else None
    return TaskRunner(
        stored.runs,
        stored.executions,
        stored.flows,
        default_registry(
            functions=LambdaFunctions(clients.lambda_),
            messaging=AwsMessaging(clients.sqs, clients.sns, clients.events),
            http_transport=Urllib3Transport(),
            secrets=SecretsManagerSecrets(clients.secretsmanager),
            http_policy=http_task_policy(),
            children=Children(stored.executions, stored.flows, stored.runs, payloads),
        ),
        timers,
        lease_seconds,
        chain_tasks,
        max_transitions_ceiling=max_transitions_ceiling,
        results=stored.results,
        payloads=payloads,
        callback_keys=callback_keys(callback_key_secret),
        completions=stored.completions,
    )


@per_container
def task_runner() -> TaskRunner:
    config = settings()
    return new_task_runner(
        repositories(),
        clients.stepfunctions,
        config.timer_state_machine_arn,
        config.lease_seconds,
        config.chain_tasks,
        config.max_transitions_ceiling,
        config.payload_bucket,
        config.callback_key_secret,
    )


@per_container
def stream_consumer() -> StreamConsumer:
    return StreamConsumer(task_runner())
