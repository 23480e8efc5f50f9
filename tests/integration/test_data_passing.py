"""Data passed between tasks, end to end against moto: templates resolved by the runner through the stream,
conditions on computed values, expressions that fail, and outputs too large for an item."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness, example
from tests.definitions import edge
from tests.harness import documented_data


def outputs(document: dict[str, Any]) -> dict[str, Any]:
    return {name: shown["output"] for name, shown in document["task_results"].items()}


def test_a_pipeline_computes_its_last_output_from_the_first_two(harness: Harness) -> None:
    # Given fetch -> process -> store, each reading what came before
    definition = {
        "name": "pipeline",
        "start_task": "fetch",
        "tasks": [
            {"name": "fetch", "type": "fetch_data", "parameters": {"records": "${input.records}"}},
            {
                "name": "process",
                "type": "process_data",
                "parameters": {"records": "${previous.output.records_fetched}"},
            },
            {
                "name": "summary",
                "type": "pass",
                "input": {
                    "fetched": "${tasks.fetch.output.records_fetched}",
                    "processed": "${tasks.process.output.records_processed}",
                    "label": "${input.day}: ${tasks.fetch.output.records_fetched} rows",
                },
                "output": {"total": "${sum([result.fetched, result.processed])}", "label": "${result.label}"},
            },
        ],
        "conditions": [edge("fetch", "process"), edge("process", "summary")],
    }
    document = harness.run_flow(definition, {"records": 250, "day": "2026-11-30"})
    # Then each task saw the values before it, and the last output was computed from the first two
    assert document["status"] == "COMPLETED"
    shown = outputs(document)
    assert shown["fetch"]["records_fetched"] == 250
    assert shown["process"]["records_processed"] == 250
    assert shown["summary"] == {"total": 500, "label": "2026-11-30: 250 rows"}
    assert document["task_results"]["summary"]["input"] == {
        "fetched": 250,
        "processed": 250,
        "label": "2026-11-30: 250 rows",
    }


def test_a_condition_routes_on_a_computed_value(harness: Harness) -> None:
    # Given a choice on fetched records times a factor from the input
    definition = {
        "name": "computed branch",
        "start_task": "fetch",
        "tasks": [
            {"name": "fetch", "type": "fetch_data", "parameters": {"records": 40}},
            {"name": "batch", "type": "pass"},
            {"name": "single", "type": "pass"},
        ],
        "conditions": [
            edge(
                "fetch",
                "batch",
                failure="single",
                when={
                    "all": [
                        {"expr": "sum([output.records_fetched, input.extra]) > input.threshold"},
                        {"not": {"path": "records_fetched", "op": "eq", "value": 0}},
                    ]
                },
            ),
        ],
    }
    high = harness.run_flow(definition, {"extra": 80, "threshold": 100})
    low = harness.run_flow(definition, {"extra": 10, "threshold": 100})
    assert (high["status"], high["path"]) == ("COMPLETED", ["fetch", "batch"])
    assert (low["status"], low["path"]) == ("COMPLETED", ["fetch", "single"])


def test_a_failing_expression_fails_its_task_and_is_routed_to_recovery(harness: Harness) -> None:
    # Given a task whose input applies a function to a value of the wrong type
    definition = {
        "name": "bad expression",
        "start_task": "fetch",
        "tasks": [
            {"name": "fetch", "type": "fetch_data", "parameters": {"records": 5}},
            {"name": "count", "type": "pass", "input": {"n": "${length(tasks.fetch.output.records_fetched)}"}},
            {"name": "recover", "type": "pass", "parameters": {"note": "fell back"}},
        ],
        "conditions": [
            edge("fetch", "count"),
            {
                "source_task": "count",
                "outcome": "failure",
                "target_task_success": "recover",
                "target_task_failure": "end",
            },
        ],
    }
    document = harness.run_flow(definition)
    # Then `count` failed with an error naming the expression and why, and `recover` ran
    assert document["status"] == "COMPLETED"
    assert document["path"] == ["fetch", "count", "recover"]
    error = document["task_results"]["count"]["error"]
    assert error.startswith("input: expression 'length(tasks.fetch.output.records_fetched)' failed")
    assert "length()" in error and "number" in error


def test_a_one_megabyte_output_is_kept_aside_and_consumed_by_the_next_task(harness: Harness) -> None:
    # Given a task that outputs about 1 MB, and one that reads it
    definition = {
        "name": "large output",
        "start_task": "make",
        "tasks": [
            {"name": "make", "type": "pass", "input": {"rows": "${input.rows}", "note": "x"}},
            {
                "name": "measure",
                "type": "pass",
                "input": {"count": "${length(previous.output.rows)}", "first": "${previous.output.rows[0]}"},
            },
        ],
        "conditions": [edge("make", "measure")],
    }
    rows = [f"row-{number:07d}-" + "x" * 80 for number in range(10_500)]
    document = harness.run_flow(definition, {"rows": rows})
    # Then the next task read the whole value, and the status document shows the large one by reference
    assert document["status"] == "COMPLETED"
    assert document["task_results"]["measure"]["output"] == {"count": 10_500, "first": rows[0]}
    shown = document["task_results"]["make"]
    assert shown["output"] is None
    assert shown["output_ref"]["size"] > 990_000
    run = next(item for item in harness.items(document["execution_id"]) if item["sk"].endswith("#make"))
    assert run["output"] == "null" and run["output_ref"]["size"] == shown["output_ref"]["size"]


def test_a_value_over_ten_megabytes_fails_its_task_with_the_size(harness: Harness) -> None:
    # Given a task whose input repeats a 900 KB input twelve times
    repeated = ", ".join(["input.block"] * 12)
    definition = {
        "name": "too large",
        "start_task": "grow",
        "tasks": [{"name": "grow", "type": "pass", "input": {"blocks": f"${{[{repeated}]}}"}}],
    }
    document = harness.run_flow(definition, {"block": "y" * 900_000})
    # Then it failed, its error giving the size and the limit
    assert document["status"] == "FAILED"
    error = document["task_results"]["grow"]["error"]
    assert error == "the task's input is 10,800,048 bytes; at most 10,485,760 bytes can be kept"


def test_a_loop_reads_the_previous_iterations_output(harness: Harness) -> None:
    # Given a counter that adds one to what its previous iteration output, until it reaches 4
    definition = {
        "name": "counter",
        "start_task": "begin",
        "tasks": [
            {"name": "begin", "type": "pass", "input": {"n": 0}},
            {"name": "step", "type": "pass", "input": {"n": "${sum([previous.output.n, `1`])}"}},
        ],
        "conditions": [
            edge("begin", "step"),
            edge("step", "step", failure="end", when={"expr": "output.n < `4`"}),
        ],
    }
    document = harness.run_flow(definition)
    # Then it ran four iterations, each reading the one before
    assert document["status"] == "COMPLETED"
    assert document["path"] == ["begin", "step", "step", "step", "step"]
    assert document["task_results"]["step"]["output"] == {"n": 4}
    runs = sorted(
        (item for item in harness.items(document["execution_id"]) if item["sk"].startswith("RUN#")),
        key=lambda item: item["sk"],
    )
    assert [item.get("from") for item in runs] == [None, "000001#begin", "000002#step", "000003#step", "000004#step"]


#: The task types this in-process account runs by itself (the others need the local stack's Lambda endpoint, a
#: queue or a callback: tests/e2e/test_integration_examples.py runs those examples).
BUILT_INS = frozenset({"pass", "fetch_data", "process_data", "store_data", "print", "wait"})


def test_the_data_examples_end_with_their_documented_outputs(harness: Harness) -> None:
    ran = []
    for file, (given, last, output) in documented_data().items():
        definition = example(file.removesuffix(".json"))
        if {task.get("type", "pass") for task in definition.get("flow", definition)["tasks"]} - BUILT_INS:
            continue
        document = harness.run_flow(definition, given)
        assert document["status"] == "COMPLETED", (file, document)
        assert document["task_results"][last]["output"] == output, file
        ran.append(file)
    assert {"data_pipeline.json", "branch_on_computed_value.json", "branch_on_output.json"} <= set(ran), ran
