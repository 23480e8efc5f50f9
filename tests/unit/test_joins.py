"""Joins that wait for their branches (synchronizing merge, WCP-7), and every run counted against the
flow's limit, on the in-memory ports. Each case is also delivered in shuffled orders: the outcome is decided
by the flow's reachability, never by which branch's record comes first."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from flowcore.domain.statuses import ExecutionStatus, TaskStatus
from tests.rig import EXECUTION, Rig, Scripted, fresh_script

SEEDS = range(8)


@pytest.fixture(autouse=True)
def _fresh_script() -> None:
    fresh_script()


def graph(edges: dict[str, list[str]], start: str = "split", **extra: Any) -> dict[str, Any]:
    """A flow whose every task is scripted; `edges` route each success onward (a failure ends the branch)."""
    names = list(dict.fromkeys([start, *edges, *(target for targets in edges.values() for target in targets)]))
    conditions = [
        {"source_task": source, "outcome": "success", "target_task_success": target, "target_task_failure": "end"}
        for source, targets in edges.items()
        for target in targets
    ]
    tasks = [{"name": name, "type": "scripted"} for name in names]
    return {"name": "joins", "start_task": start, "tasks": tasks, "conditions": conditions, **extra}


def run_shuffled(definition: dict[str, Any], seed: int | None) -> Rig:
    """Deliver every dispatch, in the stream's order (seed None) or in a random order of the pending ones."""
    fresh_script()
    rig = Rig()
    rig.start(definition)
    order = random.Random(seed)
    for _ in range(1000):
        if not rig.store.stream:
            break
        if seed is not None:
            rig.store.stream.rotate(-order.randrange(len(rig.store.stream)))
        rig.runner.process(rig.store.stream.popleft())
    assert not rig.store.stream
    return rig


def runs_of(rig: Rig, task: str) -> list[Any]:
    return [run for run in rig.store.runs_of(EXECUTION) if run.ref.task_name == task]


UNEQUAL = graph(
    {
        "split": ["a", "b1", "c1"],
        "a": ["join"],
        "b1": ["b2"],
        "b2": ["b3"],
        "b3": ["join"],
        "c1": ["c2"],
        "c2": ["c3"],
        "c3": ["c4"],
        "c4": ["c5"],
        "c5": ["join"],
        "join": ["after"],
    }
)


@pytest.mark.parametrize("seed", [None, *SEEDS])
def test_a_join_waits_for_branches_of_unequal_length(seed: int | None) -> None:
    # Given branches of 1, 3 and 5 tasks that meet at `join`
    rig = run_shuffled(UNEQUAL, seed)
    # Then the join ran once, after all three, and what follows it once
    (join,) = runs_of(rig, "join")
    assert sorted(join.arrived) == ["000002#a", "000004#b3", "000006#c5"]
    assert join.ref.seq == 7
    assert Scripted.ran["join"] == Scripted.ran["after"] == 1
    assert (rig.execution.status, rig.execution.open_branches, rig.execution.joins) == (
        ExecutionStatus.COMPLETED,
        0,
        {},
    )
    # And every run was counted against the limit, and given back when its branch ended
    assert rig.execution.runs_left == 10_000 - len(rig.store.runs_of(EXECUTION))


def test_a_branch_that_routes_away_no_longer_holds_the_join() -> None:
    # Given `b`, which could reach the join, but whose output sends it to `x` instead
    definition = graph({"split": ["a", "b"], "a": ["join"], "x": []})
    definition["conditions"].append(
        {
            "source_task": "b",
            "outcome": "success",
            "when": {"path": "task", "op": "eq", "value": "never"},
            "target_task_success": "join",
            "target_task_failure": "x",
        }
    )
    for seed in [None, *SEEDS]:
        rig = run_shuffled(definition, seed)
        (join,) = runs_of(rig, "join")
        assert join.arrived == ("000002#a",)
        assert Scripted.ran == Counter({"split": 1, "a": 1, "b": 1, "x": 1, "join": 1})
        assert rig.execution.status is ExecutionStatus.COMPLETED


@pytest.mark.parametrize("seed", [None, *SEEDS])
def test_a_join_does_not_run_after_a_branch_that_could_reach_it_failed(seed: int | None) -> None:
    # Given `b`, on its way to the join, failing with nothing to handle it
    definition = graph({"split": ["a", "b"], "a": ["join"], "b": ["b2"], "b2": ["join"], "join": ["after"]})
    definition["tasks"][definition["tasks"].index({"name": "b", "type": "scripted"})] = {
        "name": "b",
        "type": "pass",
        "parameters": {"fail_times": 1},
    }
    rig = run_shuffled(definition, seed)
    # Then the join and what follows never run, and the execution fails once `a` has ended
    assert runs_of(rig, "join") == [] and Scripted.ran["after"] == 0
    assert (rig.execution.status, rig.execution.open_branches) == (ExecutionStatus.FAILED, 0)
    assert rig.execution.error == "task 'b' failed: forced failure 1 of 1 (fail_times)"


@pytest.mark.parametrize("seed", [None, *SEEDS])
def test_nested_forks_meet_once(seed: int | None) -> None:
    # Given `a` forking again into a short and a long branch, beside `b`, all three meeting at `join`
    definition = graph(
        {"split": ["a", "b"], "a": ["a1", "a2"], "a1": ["join"], "a2": ["a3"], "a3": ["join"], "b": ["join"]}
    )
    rig = run_shuffled(definition, seed)
    (join,) = runs_of(rig, "join")
    assert sorted(join.arrived) == ["000002#b", "000003#a1", "000004#a3"]
    assert rig.execution.status is ExecutionStatus.COMPLETED
    assert rig.execution.runs_left == 10_000 - len(rig.store.runs_of(EXECUTION))


@pytest.mark.parametrize("seed", [None, *SEEDS])
def test_a_loop_through_a_join_point_passes_straight_through_once_alone(seed: int | None) -> None:
    # Given a loop l1 -> join -> l2 -> l1, run three times, whose first pass meets `x` at the join
    definition = graph({"split": ["x", "l1"], "x": ["join"], "l1": ["join"], "join": ["l2"]})
    definition["conditions"].append(
        {
            "source_task": "l2",
            "outcome": "success",
            "when": {"path": "run", "op": "lt", "value": 3},
            "target_task_success": "l1",
            "target_task_failure": "end",
        }
    )
    rig = run_shuffled(definition, seed)
    joins = sorted(runs_of(rig, "join"), key=lambda run: run.ref.seq)
    # Then the join ran once per pass: the first merged x and l1, the later ones let the lone branch through
    assert [len(join.arrived) for join in joins] == [2, 1, 1]
    assert Scripted.ran == Counter({"split": 1, "x": 1, "l1": 3, "join": 3, "l2": 3})
    assert rig.execution.status is ExecutionStatus.COMPLETED


def test_a_flow_linked_all_to_all_stops_at_its_limit() -> None:
    # Given ten tasks each linked to all ten, limited to 200 runs
    names = [f"t{number}" for number in range(10)]
    definition = graph({name: names for name in names}, start="t0", max_transitions=200)
    rig = run_shuffled(definition, None)
    # Then no more than 200 runs were started, and the execution failed cleanly at the limit
    assert len(rig.store.runs_of(EXECUTION)) <= 200
    assert rig.execution.status is ExecutionStatus.FAILED
    assert rig.execution.error is not None and "transition limit of 200 reached" in rig.execution.error
    assert all(run.status is not TaskStatus.RUNNING for run in rig.store.runs_of(EXECUTION))


def test_a_fork_past_the_limit_fails_cleanly() -> None:
    # Given a fork into three, with only two runs left after it
    rig = run_shuffled(graph({"split": ["a", "b", "c"]}, max_transitions=3), None)
    assert [run.ref.task_name for run in rig.store.runs_of(EXECUTION)] == ["split"]
    assert rig.execution.status is ExecutionStatus.FAILED
    assert rig.execution.error == "transition limit of 3 reached after task 'split'"


def test_only_forks_waits_ends_and_joins_write_the_execution() -> None:
    rig = run_shuffled(UNEQUAL, None)
    written = [call == "commit_atomic+execution" for call in rig.store.calls]
    # split forks; a and b3 wait; the steps of b and c do not write it, nor does c5, the last to arrive, which
    # becomes the join's run; the join clears its waiting list as it goes on to `after`, which ends
    order = ["split", "a", "b1", "c1", "b2", "c2", "b3", "c3", "c4", "c5", "join", "after"]
    assert dict(zip(order, written, strict=True)) == {
        "split": True,
        "a": True,
        "b1": False,
        "c1": False,
        "b2": False,
        "c2": False,
        "b3": True,
        "c3": False,
        "c4": False,
        "c5": False,
        "join": True,
        "after": True,
    }


def test_a_wide_join_lists_its_first_32_arrivals_and_counts_the_rest() -> None:
    # Given 120 branches meeting at one join
    branches = [f"b{number:03d}" for number in range(120)]
    rig = run_shuffled(graph({"split": branches, **{name: ["join"] for name in branches}}), None)
    # Then the join ran once, listing the first 32 that arrived (the execution item stays small), and the count
    (join,) = runs_of(rig, "join")
    assert len(join.arrived) == 32 and join.arrived_total == 120
    assert rig.execution.status is ExecutionStatus.COMPLETED
