"""Every key of the single table, built and parsed here and nowhere else.

| item          | pk                     | sk                          | gsi1pk / gsi1sk                          |
|---------------|------------------------|-----------------------------|------------------------------------------|
| flow head     | T#<t>#FLOW#<flow_id>   | HEAD                        | T#<t>#FLOWS / <flow_id>                  |
| flow version  | T#<t>#FLOW#<flow_id>   | V#<version, 6 digits>       |                                          |
| execution     | T#<t>#EXEC#<id>        | META                        | T#<t>#FLOW#<flow_id> / <created>#<id>    |
| task run      | T#<t>#EXEC#<id>        | RUN#<seq, 6 digits>#<task>  |                                          |
| latest result | T#<t>#EXEC#<id>        | RESULT#<task>               |                                          |
| idempotency   | T#<t>#FLOW#<flow_id>   | IDEM#<key's SHA-256>        |                                          |
| quota counter | T#<t>#QUOTA            | RUNNING, or RATE#<epoch s>  |                                          |

`<t>` is the tenant, percent-encoded (`flowcore.domain.tenancy`): every key starts with its tenant, so one
tenant's request cannot name another's items, and a role could be limited to a tenant's items with
`dynamodb:LeadingKeys` (`T#<t>#*`). Flow and execution ids inside the service are scoped ids
(`<t>/<id>`); the functions below turn them into keys and back.

A task run has one item per visit of its task; its attempts update it. A latest result holds the last
ended run of a task that some template reads as `tasks.<name>`. `tests/unit/test_keys.py` fails when
one of these prefixes is written anywhere else in the service.
"""

from __future__ import annotations

import re
from typing import Final

from flowcore.domain import tenancy
from flowcore.domain.records import RunRef

TENANT_PREFIX: Final = "T#"
EXECUTION_PREFIX: Final = "EXEC#"
FLOW_PREFIX: Final = "FLOW#"
RUN_PREFIX: Final = "RUN#"
RESULT_PREFIX: Final = "RESULT#"
VERSION_PREFIX: Final = "V#"
META: Final = "META"  # the execution item's sort key
HEAD: Final = "HEAD"  # the flow head's sort key
FLOWS_INDEX: Final = "FLOWS"  # GSI1 partition listing a tenant's flows
QUOTA: Final = "QUOTA"  # the partition of a tenant's quota counters
RUNNING_SK: Final = "RUNNING"  # its running executions
RATE_PREFIX: Final = "RATE#"  # its starts in one second
IDEMPOTENCY_PREFIX: Final = "IDEM#"  # in a flow's partition: the execution an Idempotency-Key started
GSI1: Final = "gsi1"

SEQ_WIDTH: Final = 6
_RUN_SK = re.compile(rf"^{RUN_PREFIX}(\d{{{SEQ_WIDTH}}})#(.+)$")
_EXECUTION_PK = re.compile(rf"^{TENANT_PREFIX}([^#/]+)#{EXECUTION_PREFIX}(.+)$")


def _tenant_key(encoded_tenant: str, rest: str) -> str:
    return f"{TENANT_PREFIX}{encoded_tenant}#{rest}"


def _scoped_key(scoped_id: str, prefix: str) -> str:
    """`<t>/<id>` -> `T#<t>#<prefix><id>`; `ValueError` for an id without its tenant."""
    tenant, local_id = tenancy.split(scoped_id)
    return _tenant_key(tenant, f"{prefix}{local_id}")


def execution_pk(execution_id: str) -> str:
    return _scoped_key(execution_id, EXECUTION_PREFIX)


def execution_id_of(pk: str) -> str:
    """The scoped execution id an execution partition's key names; `ValueError` for any other key."""
    match = _EXECUTION_PK.match(pk)
    if match is None:
        raise ValueError(f"not an execution key: {pk!r}")
    return f"{match.group(1)}/{match.group(2)}"


def is_execution_pk(pk: str) -> bool:
    """Whether the key is an execution's partition (its item, runs and results), of whichever tenant."""
    return _EXECUTION_PK.match(pk) is not None


def flow_pk(flow_id: str) -> str:
    return _scoped_key(flow_id, FLOW_PREFIX)


def flows_index_pk(tenant: str) -> str:
    """GSI1's partition of `tenant`'s live flows."""
    return _tenant_key(tenancy.encoded(tenant), FLOWS_INDEX)


def quota_pk(tenant: str) -> str:
    return _tenant_key(tenancy.encoded(tenant), QUOTA)


def rate_sk(epoch_second: int) -> str:
    return f"{RATE_PREFIX}{epoch_second}"


def idempotency_sk(key_digest: str) -> str:
    """The sort key of an Idempotency-Key's record in its flow's partition (the key as its SHA-256)."""
    return f"{IDEMPOTENCY_PREFIX}{key_digest}"


def version_sk(version: int) -> str:
    return f"{VERSION_PREFIX}{version:0{SEQ_WIDTH}d}"


def run_sk(seq: int, task_name: str) -> str:
    return f"{RUN_PREFIX}{seq:0{SEQ_WIDTH}d}#{task_name}"


def run_sk_of(ref: RunRef) -> str:
    return run_sk(ref.seq, ref.task_name)


def parse_run_sk(sort_key: str) -> tuple[int, str]:
    """`RUN#000002#task2` -> (2, "task2"); `ValueError` for any other sort key."""
    match = _RUN_SK.match(sort_key)
    if match is None:
        raise ValueError(f"not a task run key: {sort_key!r}")
    return int(match.group(1)), match.group(2)


def run_ref_of(pk: str, sk: str) -> RunRef:
    seq, task_name = parse_run_sk(sk)
    return RunRef(execution_id_of(pk), seq, task_name)


def result_sk(task_name: str) -> str:
    return f"{RESULT_PREFIX}{task_name}"


def is_run_sk(sort_key: str) -> bool:
    return sort_key.startswith(RUN_PREFIX)


def executions_of_flow_sk(created_at: str, execution_id: str) -> str:
    """GSI1's sort key for a flow's executions: newest first when read backwards."""
    return f"{created_at}#{execution_id}"


def item_kind(sort_key: str) -> str:
    """Which kind of item a sort key belongs to (for reports that name items)."""
    if sort_key == META:
        return "execution"
    if sort_key == HEAD:
        return "flow head"
    if is_run_sk(sort_key):
        return "task run"
    if sort_key.startswith(VERSION_PREFIX):
        return "flow version"
    if sort_key.startswith(RESULT_PREFIX):
        return "latest result"
    if sort_key.startswith(IDEMPOTENCY_PREFIX):
        return "idempotency key"
    return "item"
