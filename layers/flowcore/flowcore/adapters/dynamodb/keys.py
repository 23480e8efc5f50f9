"""Every key of the single table, built and parsed here and nowhere else.

| item          | pk                | sk                                      | gsi1pk / gsi1sk              |
|---------------|-------------------|-----------------------------------------|------------------------------|
| flow head     | FLOW#<flow_id>    | HEAD                                    | FLOWS / <flow_id>            |
| flow version  | FLOW#<flow_id>    | V#<version, 6 digits>                   |                              |
| execution     | EXEC#<id>         | META                                    | FLOW#<flow_id> / <created>#<id> |
| task run      | EXEC#<id>         | RUN#<seq, 6 digits>#<task>              |                              |
| latest result | EXEC#<id>         | RESULT#<task>                           |                              |

A task run has one item per visit of its task; its attempts update it. A latest result holds the last
ended run of a task that some template reads as `tasks.<name>`. `tests/unit/test_keys.py` fails when
one of these prefixes is written anywhere else in the service.
"""

from __future__ import annotations

import re
from typing import Final

from flowcore.domain.records import RunRef

EXECUTION_PREFIX: Final = "EXEC#"
FLOW_PREFIX: Final = "FLOW#"
RUN_PREFIX: Final = "RUN#"
RESULT_PREFIX: Final = "RESULT#"
VERSION_PREFIX: Final = "V#"
META: Final = "META"  # the execution item's sort key
HEAD: Final = "HEAD"  # the flow head's sort key
FLOWS_INDEX_PK: Final = "FLOWS"  # GSI1 partition listing every flow
GSI1: Final = "gsi1"

SEQ_WIDTH: Final = 6
_RUN_SK = re.compile(rf"^{RUN_PREFIX}(\d{{{SEQ_WIDTH}}})#(.+)$")


def execution_pk(execution_id: str) -> str:
    return f"{EXECUTION_PREFIX}{execution_id}"


def execution_id_of(pk: str) -> str:
    return pk.removeprefix(EXECUTION_PREFIX)


def flow_pk(flow_id: str) -> str:
    return f"{FLOW_PREFIX}{flow_id}"


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
    return "item"
