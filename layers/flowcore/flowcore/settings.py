"""Environment read and checked once per container, at cold start."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from flowcore.domain.egress import EgressPolicy
from flowcore.domain.flow import MAX_TRANSITIONS_LIMIT


class SettingsError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Settings:
    table_name: str
    timer_state_machine_arn: str | None
    retention_days: int
    lease_seconds: int
    chain_tasks: int  # the most tasks the runner runs in a row for one dispatch (1: one task per invocation)
    max_transitions_ceiling: int  # the highest `max_transitions` a flow may have in this deployment
    payload_bucket: str | None = None  # where values too large for an item live (the functions that use them)
    callback_key_secret: str | None = None  # the Secrets Manager secret callback tokens are signed with
    running_quota: int = 0  # running executions per tenant (0: no limit)
    starts_quota: int = 0  # starts per second per tenant (0: no limit)

    @classmethod
    def from_env(cls) -> Settings:
        table_name = os.environ.get("TABLE_NAME", "").strip()
        if not table_name:
            raise SettingsError("TABLE_NAME is not set")
        return cls(
            table_name=table_name,
            timer_state_machine_arn=os.environ.get("TIMER_STATE_MACHINE_ARN") or None,
            retention_days=_positive_int("RETENTION_DAYS", 30),
            lease_seconds=_positive_int("LEASE_SECONDS", 60),
            chain_tasks=_positive_int("CHAIN_TASKS", 100),
            max_transitions_ceiling=_positive_int("MAX_TRANSITIONS_CEILING", MAX_TRANSITIONS_LIMIT),
            payload_bucket=os.environ.get("PAYLOAD_BUCKET", "").strip() or None,
            callback_key_secret=os.environ.get("CALLBACK_KEY_SECRET_ARN", "").strip() or None,
            running_quota=_count("QUOTA_RUNNING_EXECUTIONS"),
            starts_quota=_count("QUOTA_STARTS_PER_SECOND"),
        )


def http_task_policy() -> EgressPolicy:
    """Where http tasks may connect: `HTTP_TASK_ALLOW` (comma-separated `host:port`; empty: http tasks are off),
    `HTTP_TASK_ALLOW_HTTP` (plain http to those hosts), `HTTP_TASK_LOCAL_LOOPBACK` (set by the local stack only:
    its `localhost`, `127.0.0.1` and `[::1]` entries may reach loopback, over plain http too)."""
    entries = [entry for entry in os.environ.get("HTTP_TASK_ALLOW", "").split(",") if entry.strip()]
    try:
        return EgressPolicy.of(
            entries, allow_http=_flag("HTTP_TASK_ALLOW_HTTP"), local_loopback=_flag("HTTP_TASK_LOCAL_LOOPBACK")
        )
    except ValueError as error:
        raise SettingsError(f"HTTP_TASK_ALLOW has an entry that is not host:port: {error}") from error


def _flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw not in ("", "true", "false"):
        raise SettingsError(f"{name} must be true or false, got {raw!r}")
    return raw == "true"


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from error
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {value}")
    return value


def _count(name: str) -> int:
    """A quota: a whole number, 0 (or unset) for no limit."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError as error:
        raise SettingsError(f"{name} must be a whole number (0: no limit), got {raw!r}") from error
    if value < 0:
        raise SettingsError(f"{name} must be 0 (no limit) or more, got {value}")
    return value


@cache
def settings() -> Settings:
    return Settings.from_env()


@cache
def tenant_claim() -> str:
    """The JWT claim that names a caller's tenant (`TENANT_CLAIM`, `sub` by default): read apart from `settings`,
    so that a request is told who it is (or refused) before anything else is configured."""
    return os.environ.get("TENANT_CLAIM", "").strip() or "sub"
