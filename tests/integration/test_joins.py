"""Joins that wait for their branches and executions whose every run counts, end to end against moto: the
API, the table, its stream and the runner."""

from __future__ import annotations

import pytest

from tests.conftest import Harness, example
from tests.definitions import edge


def test_a_join_runs_once_after_the_longer_branch(harness: Harness) -> None:
    # Given the example whose branches of one and three tasks meet at `store`
    execution_id = harness.start(example("unequal_branches"))
    harness.drain()
    # Then `store` and `report` ran once, `store` after the last task of the longer branch
    document = harness.status(execution_id)
    assert document["status"] == "COMPLETED"
    assert document["path"] == ["fetch", "deep_clean", "quick_check", "deep_enrich", "deep_verify", "store", "report"]
    runs = {item["sk"]: item for item in harness.items(execution_id) if item["sk"] != "META"}
    store = runs["RUN#000005#store"]
    assert sorted(store["arrived"]) == ["000002#quick_check", "000004#deep_verify"]
    shown = document["task_results"]["store"]
    assert (shown["arrived"], shown["arrived_count"]) == (["000002#quick_check", "000004#deep_verify"], 2)
    assert document["task_results"]["report"]["arrived_count"] == 0
    assert store["started_at"] >= runs["RUN#000004#deep_verify"]["ended_at"]
    meta = next(item for item in harness.items(execution_id) if item["sk"] == "META")
    assert (meta["open_branches"], meta.get("joins")) == (0, None)
    assert meta["runs_left"] == 10_000 - len(runs)


def test_a_flow_linked_all_to_all_stops_at_max_transitions(harness: Harness) -> None:
    # Given ten tasks, each linked to all ten, allowed 100 runs
    names = [f"t{number}" for number in range(10)]
    definition = {
        "name": "all to all",
        "start_task": "t0",
        "tasks": [{"name": name} for name in names],
        "conditions": [edge(source, target) for source in names for target in names],
        "max_transitions": 100,
    }
    execution_id = harness.start(definition)
    harness.drain()
    # Then it failed cleanly at the limit, having started no more than 100 runs
    document = harness.status(execution_id)
    runs = [item for item in harness.items(execution_id) if item["sk"] != "META"]
    assert document["status"] == "FAILED"
    assert "transition limit of 100 reached" in document["error"]
    assert len(runs) <= 100


def test_a_cycle_that_never_ends_is_refused_when_stored(harness: Harness) -> None:
    definition = {
        "name": "stuck",
        "start_task": "a",
        "tasks": [{"name": "a"}, {"name": "b"}],
        "conditions": [
            {"source_task": "a", "outcome": "success", "target_task_success": "b", "target_task_failure": "b"},
            {"source_task": "b", "outcome": "success", "target_task_success": "a", "target_task_failure": "a"},
        ],
    }
    answer = harness.request("POST", "/flows", definition)
    assert answer.status == 422
    (problem,) = answer.json()["error"]["details"]
    assert problem["field"] == "conditions"
    assert problem["message"].startswith("tasks 'a', 'b' can never end: no path from them leads to 'end'")


def test_the_deployment_ceiling_bounds_max_transitions(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from local.containers import reset_containers

    monkeypatch.setenv("MAX_TRANSITIONS_CEILING", "500")
    reset_containers()
    over = {**example("data_processing")["flow"], "id": "over", "max_transitions": 501}
    answer = harness.request("POST", "/flows", over)
    assert answer.status == 422
    assert answer.json()["error"]["details"] == [
        {"field": "max_transitions", "message": "max_transitions 501 is above this deployment's ceiling of 500"}
    ]
    assert harness.request("POST", "/flows", {**over, "max_transitions": 500}).status == 201
