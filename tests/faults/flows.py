"""The flows the faults are injected into: small, deterministic (`fail_times`, never `failure_rate`), and
together covering a linear chain, parallel branches, a join, an inline retry and an unhandled failure."""

from __future__ import annotations

import copy
from typing import Any

from tests.harness import example


def _edge(source: str, target: str, on_failure: str = "end") -> dict[str, Any]:
    return {
        "source_task": source,
        "outcome": "success",
        "target_task_success": target,
        "target_task_failure": on_failure,
    }


def sample() -> dict[str, Any]:
    """The canonical three-task sample of the brief."""
    definition: dict[str, Any] = copy.deepcopy(example("data_processing")["flow"])
    return definition


def fan_out() -> dict[str, Any]:
    """split -> (left, right) -> join; `left` fails once and is retried at once (no timer)."""
    return {
        "id": "fan-out",
        "name": "fan-out with a retry and a join",
        "start_task": "split",
        "tasks": [
            {"name": "split"},
            {"name": "left", "parameters": {"fail_times": 1}, "retry": {"max_attempts": 2, "interval_seconds": 0}},
            {"name": "right", "type": "process_data"},
            {"name": "join"},
        ],
        "conditions": [
            _edge("split", "left"),
            _edge("split", "right"),
            _edge("left", "join"),
            _edge("right", "join"),
        ],
    }


def late_join() -> dict[str, Any]:
    """split -> (fast, slow) -> join, where `slow` is listed second but fails once: `fast` creates `join`, which
    runs and ends before `slow`'s retry reaches it."""
    return {
        "id": "late-join",
        "name": "a slower branch reaches the join after it ran",
        "start_task": "split",
        "tasks": [
            {"name": "split"},
            {"name": "fast"},
            {"name": "slow", "parameters": {"fail_times": 1}, "retry": {"max_attempts": 2, "interval_seconds": 0}},
            {"name": "join"},
        ],
        "conditions": [_edge("split", "fast"), _edge("split", "slow"), _edge("fast", "join"), _edge("slow", "join")],
    }


def failing_branch() -> dict[str, Any]:
    """Two branches; one fails unhandled, the other keeps going: FAILED once both have ended."""
    return {
        "id": "failing-branch",
        "name": "one branch fails",
        "start_task": "split",
        "tasks": [
            {"name": "split"},
            {"name": "bad", "parameters": {"fail_times": 5}},
            {"name": "good"},
            {"name": "good_2", "type": "print", "parameters": {"message": "still running"}},
        ],
        "conditions": [_edge("split", "bad"), _edge("split", "good"), _edge("good", "good_2")],
    }


def join_race() -> dict[str, Any]:
    """split -> (a, b); both route to `join`, which both reach at the same step."""
    return {
        "id": "join-race",
        "name": "two branches race for one join",
        "start_task": "split",
        "tasks": [{"name": "split"}, {"name": "a"}, {"name": "b"}, {"name": "join"}],
        "conditions": [_edge("split", "a"), _edge("split", "b"), _edge("a", "join"), _edge("b", "join")],
    }


def unequal_join() -> dict[str, Any]:
    """split -> a -> join beside split -> b1 -> b2 -> b3 -> join, then join -> after: the join must wait for the
    longer branch, whose b2 fails once and is retried at once, and run once."""
    return {
        "id": "unequal-join",
        "name": "branches of one and three tasks meet",
        "start_task": "split",
        "tasks": [
            {"name": "split"},
            {"name": "a"},
            {"name": "b1"},
            {"name": "b2", "parameters": {"fail_times": 1}, "retry": {"max_attempts": 2, "interval_seconds": 0}},
            {"name": "b3"},
            {"name": "join"},
            {"name": "after"},
        ],
        "conditions": [
            _edge("split", "a"),
            _edge("split", "b1"),
            _edge("a", "join"),
            _edge("b1", "b2"),
            _edge("b2", "b3"),
            _edge("b3", "join"),
            _edge("join", "after"),
        ],
    }


def nested_forks() -> dict[str, Any]:
    """split -> (a, b); a -> (a1, a2); a1 and a2 -> a3 -> join; b -> join: forks within a fork, all meeting once."""
    return {
        "id": "nested-forks",
        "name": "a fork inside a branch",
        "start_task": "split",
        "tasks": [{"name": name} for name in ("split", "a", "b", "a1", "a2", "a3", "join")],
        "conditions": [
            _edge("split", "a"),
            _edge("split", "b"),
            _edge("a", "a1"),
            _edge("a", "a2"),
            _edge("a1", "join"),
            _edge("a2", "a3"),
            _edge("a3", "join"),
            _edge("b", "join"),
        ],
    }


def oversized_output(parameter_bytes: int = 100_000) -> dict[str, Any]:
    """A `pass` task echoes its parameters: a ~100 KB parameter makes an output too large for an item."""
    return {
        "id": "oversized-output",
        "name": "an output too large to store",
        "start_task": "before",
        "tasks": [
            {"name": "before"},
            {"name": "big", "parameters": {"blob": "x" * parameter_bytes}},
            {"name": "after"},
        ],
    }


#: The input `over_payload_limit` repeats twelve times: 10.8 MB, over the payload store's 10 MiB.
BLOCK = {"block": "z" * 900_000}


def over_payload_limit() -> dict[str, Any]:
    """A `pass` task whose input template repeats the execution's 900 KB input twelve times."""
    blocks = ", ".join(["input.block"] * 12)
    return {
        "id": "over-payload-limit",
        "name": "a value too large to keep",
        "start_task": "before",
        "tasks": [{"name": "before"}, {"name": "huge", "input": {"blocks": f"${{[{blocks}]}}"}}, {"name": "after"}],
    }


FLOWS = {
    "sample": sample,
    "fan-out": fan_out,
    "failing-branch": failing_branch,
    "unequal-join": unequal_join,
    "nested-forks": nested_forks,
}


def approval(timeout_seconds: int = 600) -> dict[str, Any]:
    """A callback task: approved -> `done`, failed (rejected, or its deadline passed) -> `rejected`."""
    return {
        "id": "approval",
        "name": "a callback that races its deadline",
        "start_task": "approve",
        "tasks": [
            {"name": "approve", "type": "callback", "timeout_seconds": timeout_seconds},
            {"name": "done"},
            {"name": "rejected"},
        ],
        "conditions": [_edge("approve", "done", on_failure="rejected")],
    }


def queued_callback(queue_url: str) -> dict[str, Any]:
    """An sqs task that hands its callback token off in the message, then waits for it."""
    return {
        "id": "queued-callback",
        "name": "an sqs task waiting for its callback",
        "start_task": "ask",
        "tasks": [
            {
                "name": "ask",
                "type": "sqs",
                "wait_for_callback": True,
                "parameters": {"queue_url": queue_url, "message": {"order": "A-1"}},
            },
            {"name": "done"},
        ],
        "conditions": [_edge("ask", "done")],
    }


def parent_of(child_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A child of two tasks, and a parent whose subflow task runs it."""
    child = {
        "id": child_id,
        "name": "child",
        "start_task": "one",
        "tasks": [{"name": "one", "type": "pass", "input": {"n": "${input.n}"}}, {"name": "two"}],
        "conditions": [_edge("one", "two")],
    }
    parent = {
        "id": f"{child_id}-parent",
        "name": "parent",
        "start_task": "call",
        "tasks": [
            {"name": "call", "type": "subflow", "parameters": {"flow_id": child_id}, "input": {"n": "${input.n}"}},
            {"name": "after"},
        ],
        "conditions": [_edge("call", "after")],
    }
    return child, parent
