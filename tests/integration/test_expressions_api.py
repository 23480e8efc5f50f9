"""Templates, expressions and `when` forms through the API: a flow that uses them is stored and read back as
written; each save-time problem is one 422 detail naming its field, on both routes that store a flow."""

from __future__ import annotations

import copy
from typing import Any

from tests.conftest import Harness

FLOW: dict[str, Any] = {
    "id": "etl",
    "name": "etl",
    "start_task": "fetch",
    "tasks": [
        {"name": "fetch", "type": "fetch_data", "parameters": {"records": "${input.records}"}},
        {"name": "process", "type": "process_data", "parameters": {"records": "${previous.output.records_fetched}"}},
        {
            "name": "store",
            "type": "store_data",
            "input": {"rows": "${tasks.process.output.records_processed}", "day": "${input.day}"},
            "output": {"stored": "${result.records_stored}", "note": "stored on ${input.day}, $${not} a template"},
        },
    ],
    "conditions": [
        {"source_task": "fetch", "target_task_success": "process", "target_task_failure": "end"},
        {
            "source_task": "process",
            "target_task_success": "store",
            "target_task_failure": "end",
            "when": {
                "all": [
                    {"expr": "output.records_processed > `0`"},
                    {"any": [{"path": "method", "op": "exists"}, {"not": {"expr": "tasks.fetch.error"}}]},
                ]
            },
        },
    ],
}


def flow() -> dict[str, Any]:
    return copy.deepcopy(FLOW)


def details(response: Any) -> list[tuple[str, str]]:
    body = response.json()
    assert response.status == 422, body
    assert body["error"]["code"] == "validation_error"
    return [(detail["field"], detail["message"]) for detail in body["error"]["details"]]


def test_a_flow_with_templates_and_when_forms_is_stored_as_written(harness: Harness) -> None:
    # Given a flow using input, output and parameter templates and nested when forms
    # When storing it, flat and through the seed route
    created = harness.request("POST", "/flows", flow())
    seeded = harness.request("POST", "/flow/create", {"flow": {**flow(), "id": "etl-seed"}})
    # Then both are accepted, and the definition reads back as written
    assert created.status == 201, created.json()
    assert seeded.status == 200, seeded.json()
    stored = harness.request("GET", "/flows/etl").json()["definition"]
    assert stored["tasks"][2]["input"] == FLOW["tasks"][2]["input"]
    assert stored["tasks"][2]["output"] == FLOW["tasks"][2]["output"]
    assert stored["tasks"][0]["parameters"] == {"records": "${input.records}"}
    assert stored["conditions"][1]["when"] == FLOW["conditions"][1]["when"]


def test_every_expression_problem_is_one_detail_naming_its_field(harness: Harness) -> None:
    # Given a flow with one problem of each kind
    definition = flow()
    definition["tasks"][0]["input"] = {"items": [0, 1, "${previous.output}"]}
    definition["tasks"][1]["parameters"] = {"records": "n=${input.n}"}
    definition["tasks"][2]["input"] = {"rows": "${tasks.process.output[}", "bad": "${tasks.ghost.output}"}
    definition["tasks"][2]["output"] = "${output.records_stored}"
    definition["conditions"][1]["when"] = {"all": [{"expr": "tasks.store.status"}, {"not": {"expr": "result"}}]}
    # When storing it
    found = details(harness.request("POST", "/flows", definition))
    # Then each problem is reported once, at its field, with its reason
    assert found == [
        (
            "tasks[1].parameters.records",
            'a number parameter takes a number, or an expression as the whole value ("${...}"); '
            "an expression inside text resolves to text",
        ),
        (
            "tasks[0].input.items[2]",
            "expression 'previous.output' reads previous, which the start task 'fetch' does not have: "
            "read tasks.<name> instead",
        ),
        (
            "tasks[2].input.rows",
            "expression 'tasks.process.output[' does not parse at position 21: incomplete expression",
        ),
        ("tasks[2].input.bad", "expression 'tasks.ghost.output' reads tasks.ghost, which is not a task of this flow"),
        (
            "tasks[2].output",
            "expression 'output.records_stored' reads output, which only a condition's when has "
            "(an output template reads the raw output as result)",
        ),
        (
            "conditions[1].when.all[0].expr",
            "expression 'tasks.store.status' reads tasks.store, which cannot run before 'process': "
            "no path of the flow leads from 'store' to 'process'",
        ),
        (
            "conditions[1].when.all[1].not.expr",
            "expression 'result' reads result, which only an output template has (the task's raw output)",
        ),
    ]
    # And the seed route refuses it the same way
    assert details(harness.request("POST", "/flow/create", definition)) == found


def test_a_when_of_the_wrong_shape_is_refused_where_it_is(harness: Harness) -> None:
    for when, field in [
        ({"expr": "output.n", "path": "n", "op": "exists"}, "conditions[0].when"),
        ({"all": [{"expr": 3}]}, "conditions[0].when.all[0].expr"),
        ({"any": []}, "conditions[0].when.any"),
        ({"not": {"path": "n"}}, "conditions[0].when.not"),
    ]:
        definition = flow()
        definition["conditions"][0]["when"] = when
        assert [detail[0] for detail in details(harness.request("POST", "/flows", definition))] == [field], when
