"""The create-time checks of DESIGN §3.5: every problem reported, each naming its field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from flowcore.api.errors import http_status
from flowcore.api.models import FlowDefinition
from flowcore.api.validation import (
    MAX_CONDITIONS_PER_TASK,
    MAX_DEFINITION_BYTES,
    graph_problems,
    parse_definition,
    validate_definition,
)
from flowcore.domain.errors import Problem, ValidationFailed
from flowcore.domain.flow import MAX_TASKS
from flowcore.tasks import TaskTypeRegistry, default_registry


@pytest.fixture
def registry() -> TaskTypeRegistry:
    return default_registry()


def valid_document() -> dict[str, Any]:
    return {
        "id": "flow123",
        "name": "Data processing flow",
        "start_task": "task1",
        "tasks": [
            {"name": "task1", "description": "Fetch data", "type": "fetch_data", "parameters": {}},
            {"name": "task2", "description": "Process data", "type": "process_data", "parameters": {}},
            {"name": "task3", "description": "Store data", "type": "store_data", "parameters": {}},
        ],
        "conditions": [
            {
                "name": "c1",
                "source_task": "task1",
                "outcome": "success",
                "target_task_success": "task2",
                "target_task_failure": "end",
            },
            {
                "name": "c2",
                "source_task": "task2",
                "outcome": "success",
                "target_task_success": "task3",
                "target_task_failure": "end",
            },
        ],
    }


def problems_of(document: Any, registry: TaskTypeRegistry) -> list[Problem]:
    with pytest.raises(ValidationFailed) as caught:
        validate_definition(document, registry)
    return caught.value.problems


def only_problem(document: Any, registry: TaskTypeRegistry) -> Problem:
    problems = problems_of(document, registry)
    assert len(problems) == 1, problems
    return problems[0]


def fields_of(problems: list[Problem]) -> list[str]:
    return [problem.field for problem in problems]


def test_a_valid_definition_passes(registry: TaskTypeRegistry) -> None:
    # Given the seed's example flow
    document = valid_document()
    # When validating it
    definition = validate_definition(document, registry)
    # Then it parses with every task and condition
    assert definition.start_task == "task1"
    assert [task.name for task in definition.tasks] == ["task1", "task2", "task3"]
    assert [task.type for task in definition.tasks] == ["fetch_data", "process_data", "store_data"]
    assert len(definition.conditions) == 2


def test_problems_are_listed_in_the_error_details(registry: TaskTypeRegistry) -> None:
    # Given a definition with an unknown start task
    document = valid_document()
    document["start_task"] = "nope"
    # When validating it
    with pytest.raises(ValidationFailed) as caught:
        validate_definition(document, registry)
    # Then the error is a 422 whose details carry the problem
    assert http_status(caught.value) == (422, "validation_error")
    assert caught.value.details == [{"field": "start_task", "message": "start_task 'nope' is not a task of this flow"}]


# Graph rules


def test_start_task_must_exist(registry: TaskTypeRegistry) -> None:
    # Given a start task that is not a task
    document = valid_document()
    document["start_task"] = "missing"
    # When validating
    problem = only_problem(document, registry)
    # Then start_task is reported
    assert problem.field == "start_task"
    assert "'missing'" in problem.message
    assert "not a task" in problem.message


def test_task_names_must_be_unique(registry: TaskTypeRegistry) -> None:
    # Given two tasks named task1
    document = valid_document()
    document["tasks"][1]["name"] = "task1"
    document["conditions"] = []
    # When validating
    problem = only_problem(document, registry)
    # Then the second occurrence is reported, pointing to the first
    assert problem.field == "tasks[1].name"
    assert "duplicate task name 'task1'" in problem.message
    assert "tasks[0]" in problem.message


def test_condition_source_must_exist(registry: TaskTypeRegistry) -> None:
    # Given a condition whose source is not a task
    document = valid_document()
    document["conditions"][0]["source_task"] = "ghost"
    # When validating
    problem = only_problem(document, registry)
    # Then the source is reported
    assert problem.field == "conditions[0].source_task"
    assert "'ghost'" in problem.message


@pytest.mark.parametrize("target_field", ["target_task_success", "target_task_failure"])
def test_condition_targets_must_exist(registry: TaskTypeRegistry, target_field: str) -> None:
    # Given a condition whose target is not a task
    document = valid_document()
    document["conditions"][0][target_field] = "ghost"
    # When validating
    problem = only_problem(document, registry)
    # Then the target is reported, with the hint about `end`
    assert problem.field == f"conditions[0].{target_field}"
    assert "'ghost'" in problem.message
    assert "end" in problem.message


@pytest.mark.parametrize("target", ["end", "END", "End", " end ", None])
def test_end_targets_are_accepted(registry: TaskTypeRegistry, target: str | None) -> None:
    # Given conditions whose targets are end markers
    document = valid_document()
    document["conditions"][0]["target_task_success"] = target
    document["conditions"][0]["target_task_failure"] = target
    # When validating
    definition = validate_definition(document, registry)
    # Then it passes
    assert definition.conditions[0].target_task_success == target


def test_outcome_must_be_success_or_failure(registry: TaskTypeRegistry) -> None:
    # Given an outcome that is neither
    document = valid_document()
    document["conditions"][0]["outcome"] = "maybe"
    # When validating
    problem = only_problem(document, registry)
    # Then the outcome is reported
    assert problem.field == "conditions[0].outcome"
    assert "'maybe'" in problem.message
    assert "success" in problem.message
    assert "failure" in problem.message


@pytest.mark.parametrize("outcome", ["SUCCESS", "Failure", "failure"])
def test_outcome_is_accepted_in_any_case(registry: TaskTypeRegistry, outcome: str) -> None:
    # Given an outcome written in another case
    document = valid_document()
    document["conditions"][0]["outcome"] = outcome
    # When validating
    definition = validate_definition(document, registry)
    # Then it passes
    assert definition.conditions[0].outcome == outcome


def test_unknown_task_type_lists_the_known_types(registry: TaskTypeRegistry) -> None:
    # Given a task of an unknown type
    document = valid_document()
    document["tasks"][0]["type"] = "teleport"
    # When validating
    problem = only_problem(document, registry)
    # Then the type is reported with every known type
    assert problem.field == "tasks[0].type"
    assert "'teleport'" in problem.message
    for known in ("fetch_data", "process_data", "store_data", "print", "wait", "pass"):
        assert known in problem.message


def test_absent_type_means_pass(registry: TaskTypeRegistry) -> None:
    # Given a task with no type
    document = {"name": "f", "start_task": "a", "tasks": [{"name": "a"}]}
    # When validating
    definition = validate_definition(document, registry)
    # Then it is a `pass` task
    assert definition.tasks[0].type == "pass"


@pytest.mark.parametrize("rate", [2, -0.1, "often"])
def test_failure_rate_outside_zero_to_one_is_rejected(registry: TaskTypeRegistry, rate: Any) -> None:
    # Given a failure_rate that is not in 0..1
    document = valid_document()
    document["tasks"][0]["parameters"] = {"failure_rate": rate}
    # When validating
    problem = only_problem(document, registry)
    # Then the parameter is reported by its path
    assert problem.field == "tasks[0].parameters.failure_rate"
    assert problem.message


def test_negative_fail_times_is_rejected(registry: TaskTypeRegistry) -> None:
    # Given fail_times below zero
    document = valid_document()
    document["tasks"][2]["parameters"] = {"fail_times": -1}
    # When validating
    problem = only_problem(document, registry)
    # Then the parameter is reported by its path
    assert problem.field == "tasks[2].parameters.fail_times"
    assert "greater than or equal to 0" in problem.message


def test_wait_seconds_above_a_year_are_rejected(registry: TaskTypeRegistry) -> None:
    # Given a wait task longer than a Standard state machine may run
    document = {
        "name": "f",
        "start_task": "w",
        "tasks": [{"name": "w", "type": "wait", "parameters": {"seconds": 40_000_000}}],
    }
    # When validating
    problem = only_problem(document, registry)
    # Then seconds is reported
    assert problem.field == "tasks[0].parameters.seconds"
    assert "less than or equal to 31536000" in problem.message


def test_wait_without_seconds_is_valid_and_waits_the_originals_default(registry: TaskTypeRegistry) -> None:
    # Given a wait task without seconds (the original waits 1 second then)
    document = {"name": "f", "start_task": "w", "tasks": [{"name": "w", "type": "wait"}]}
    # When validating
    definition = validate_definition(document, registry)
    # Then it is accepted as it is written
    assert definition.tasks[0].parameters == {}


def test_wait_seconds_must_be_a_number_not_text(registry: TaskTypeRegistry) -> None:
    # Given a wait task whose seconds is the text "5"
    wait = {"name": "w", "type": "wait", "parameters": {"seconds": "5"}}
    document = {"name": "f", "start_task": "w", "tasks": [wait]}
    # When validating
    problem = only_problem(document, registry)
    # Then the field is reported
    assert problem.field == "tasks[0].parameters.seconds"


def test_print_message_must_be_a_string(registry: TaskTypeRegistry) -> None:
    # Given a print task whose message is a number
    document = {
        "name": "f",
        "start_task": "p",
        "tasks": [{"name": "p", "type": "print", "parameters": {"message": 42}}],
    }
    # When validating
    problem = only_problem(document, registry)
    # Then the message parameter is reported
    assert problem.field == "tasks[0].parameters.message"
    assert "string" in problem.message.lower()


def test_valid_parameters_for_each_builtin_pass(registry: TaskTypeRegistry) -> None:
    # Given one task of every built-in type with valid parameters
    document = {
        "name": "f",
        "start_task": "p",
        "tasks": [
            {"name": "p", "type": "print", "parameters": {"message": "hi"}},
            {"name": "w", "type": "wait", "parameters": {"seconds": 5}},
            {"name": "fd", "type": "fetch_data", "parameters": {"records": 10, "data_source": "s3", "failure_rate": 1}},
            {"name": "pd", "type": "process_data", "parameters": {"fail_times": 2}},
            {"name": "sd", "type": "store_data", "parameters": {"storage_path": "db", "format": "csv"}},
            {"name": "x", "type": "pass", "parameters": {"anything": [1, 2]}},
        ],
    }
    # When validating
    definition = validate_definition(document, registry)
    # Then all tasks are kept
    assert len(definition.tasks) == 6


def test_too_many_conditions_on_one_source(registry: TaskTypeRegistry) -> None:
    # Given one more condition on task1 than allowed
    document = valid_document()
    document["conditions"] = [
        {"source_task": "task1", "target_task_success": "task2"} for _ in range(MAX_CONDITIONS_PER_TASK + 1)
    ]
    # When validating
    problem = only_problem(document, registry)
    # Then the limit is reported
    assert problem.field == "conditions"
    assert "'task1'" in problem.message
    assert f"at most {MAX_CONDITIONS_PER_TASK}" in problem.message


def test_conditions_at_the_per_source_limit_pass(registry: TaskTypeRegistry) -> None:
    # Given exactly the allowed number of conditions on task1
    document = valid_document()
    document["conditions"] = [
        {"source_task": "task1", "target_task_success": "task2"} for _ in range(MAX_CONDITIONS_PER_TASK)
    ]
    # When validating
    definition = validate_definition(document, registry)
    # Then it passes
    assert len(definition.conditions) == MAX_CONDITIONS_PER_TASK


def test_definition_size_limit(registry: TaskTypeRegistry) -> None:
    # Given a definition whose stored form exceeds the size limit
    description = "x" * 500
    document = {
        "name": "big",
        "start_task": "t0",
        "tasks": [{"name": f"t{i}", "description": description} for i in range(MAX_TASKS)],
    }
    # When validating
    problems = problems_of(document, registry)
    # Then the size is reported against the body
    assert fields_of(problems) == ["body"]
    assert f"at most {MAX_DEFINITION_BYTES}" in problems[0].message


def test_duplicate_condition_names_are_reported(registry: TaskTypeRegistry) -> None:
    # Given two conditions named c1
    document = valid_document()
    document["conditions"][1]["name"] = "c1"
    # When validating
    problem = only_problem(document, registry)
    # Then the second one is reported
    assert problem.field == "conditions[1].name"
    assert "duplicate condition name 'c1'" in problem.message


def test_several_problems_are_all_reported(registry: TaskTypeRegistry) -> None:
    # Given a definition with six distinct graph problems
    document = valid_document()
    document["start_task"] = "missing"
    document["tasks"].append({"name": "task1", "type": "fetch_data"})
    document["tasks"][2]["type"] = "teleport"
    document["tasks"][1]["parameters"] = {"failure_rate": 2}
    document["conditions"][0]["outcome"] = "sometimes"
    document["conditions"][1]["target_task_failure"] = "ghost"
    # When validating
    problems = problems_of(document, registry)
    # Then every one is reported, in document order
    assert fields_of(problems) == [
        "tasks[1].parameters.failure_rate",
        "tasks[2].type",
        "tasks[3].name",
        "start_task",
        "conditions[0].outcome",
        "conditions[1].target_task_failure",
    ]


def test_graph_problems_returns_an_empty_list_for_a_valid_definition(registry: TaskTypeRegistry) -> None:
    # Given a parsed valid definition
    definition = parse_definition(valid_document())
    # When checking its graph
    problems = graph_problems(definition, registry)
    # Then there is nothing to report
    assert problems == []


def test_graph_problems_uses_the_given_registry() -> None:
    # Given an empty registry
    definition = parse_definition(valid_document())
    # When checking the graph against it
    problems = graph_problems(definition, TaskTypeRegistry())
    # Then every task's type is unknown
    assert fields_of(problems) == ["tasks[0].type", "tasks[1].type", "tasks[2].type"]


# Pydantic-level problems


def test_non_object_body_is_rejected(registry: TaskTypeRegistry) -> None:
    # Given a JSON array instead of an object
    # When validating
    problem = only_problem([1, 2], registry)
    # Then the body is reported
    assert problem.field == "body"
    assert "JSON object" in problem.message


def test_missing_task_name_is_reported_by_path(registry: TaskTypeRegistry) -> None:
    # Given a task without a name
    document = valid_document()
    del document["tasks"][0]["name"]
    # When validating
    problem = only_problem(document, registry)
    # Then its path is given
    assert problem.field == "tasks[0].name"
    assert "required" in problem.message.lower()


def test_missing_flow_name_is_reported(registry: TaskTypeRegistry) -> None:
    # Given a flow without a name
    document = valid_document()
    del document["name"]
    # When validating
    problem = only_problem(document, registry)
    # Then the top-level field is given
    assert problem.field == "name"
    assert "required" in problem.message.lower()


@pytest.mark.parametrize("bad_name", ["has space", "-leading", "", "x" * 81, "semi;colon"])
def test_task_name_must_match_the_pattern(registry: TaskTypeRegistry, bad_name: str) -> None:
    # Given a task whose name breaks the name pattern
    document = valid_document()
    document["tasks"][1]["name"] = bad_name
    document["conditions"] = []
    # When validating
    problem = only_problem(document, registry)
    # Then its path is given
    assert problem.field == "tasks[1].name"
    assert "pattern" in problem.message


def test_too_many_tasks_is_rejected(registry: TaskTypeRegistry) -> None:
    # Given one task more than the limit
    document = {"name": "f", "start_task": "t0", "tasks": [{"name": f"t{i}"} for i in range(MAX_TASKS + 1)]}
    # When validating
    problem = only_problem(document, registry)
    # Then the task list is reported
    assert problem.field == "tasks"
    assert str(MAX_TASKS) in problem.message


def test_empty_task_list_is_rejected(registry: TaskTypeRegistry) -> None:
    # Given no tasks
    document = {"name": "f", "start_task": "a", "tasks": []}
    # When validating
    problem = only_problem(document, registry)
    # Then the task list is reported
    assert problem.field == "tasks"
    assert "at least 1" in problem.message


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(colour="blue"), "colour"),
        (lambda d: d["tasks"][0].update(colour="blue"), "tasks[0].colour"),
        (lambda d: d["conditions"][1].update(colour="blue"), "conditions[1].colour"),
    ],
)
def test_unknown_extra_fields_are_rejected(registry: TaskTypeRegistry, mutate: Any, field: str) -> None:
    # Given an unknown field somewhere in the definition
    document = valid_document()
    mutate(document)
    # When validating
    problem = only_problem(document, registry)
    # Then it is reported by path
    assert problem.field == field
    assert "not permitted" in problem.message


def test_invalid_retry_policy_is_reported_by_path(registry: TaskTypeRegistry) -> None:
    # Given a retry policy with zero attempts
    document = valid_document()
    document["tasks"][0]["retry"] = {"max_attempts": 0}
    # When validating
    problem = only_problem(document, registry)
    # Then the nested field is reported
    assert problem.field == "tasks[0].retry.max_attempts"


def test_several_pydantic_problems_are_all_reported(registry: TaskTypeRegistry) -> None:
    # Given three independent field errors
    document = valid_document()
    del document["tasks"][0]["name"]
    document["tasks"][2]["name"] = "bad name"
    document["max_transitions"] = 0
    # When validating
    problems = problems_of(document, registry)
    # Then all three are reported
    assert set(fields_of(problems)) == {"tasks[0].name", "tasks[2].name", "max_transitions"}


# Wrapped format


def test_wrapped_format_parses_the_same_as_flat(registry: TaskTypeRegistry) -> None:
    # Given the same definition flat and wrapped
    flat = valid_document()
    wrapped = {"flow": copy.deepcopy(flat)}
    # When validating both
    from_flat = validate_definition(flat, registry)
    from_wrapped = validate_definition(wrapped, registry)
    # Then they are equal
    assert from_flat == from_wrapped
    assert from_wrapped.name == "Data processing flow"


def test_wrapped_format_prefixes_pydantic_problems_with_flow(registry: TaskTypeRegistry) -> None:
    # Given a wrapped definition with a task missing its name and an unknown field
    document = valid_document()
    del document["tasks"][0]["name"]
    document["colour"] = "blue"
    # When validating
    problems = problems_of({"flow": document}, registry)
    # Then each path starts with `flow.`
    assert set(fields_of(problems)) == {"flow.tasks[0].name", "flow.colour"}


def test_wrapped_format_graph_problems_are_found(registry: TaskTypeRegistry) -> None:
    # Given a wrapped definition with an unknown start task
    document = valid_document()
    document["start_task"] = "missing"
    # When validating
    problems = problems_of({"flow": document}, registry)
    # Then the graph problem is reported, against the parsed flow's own field
    assert fields_of(problems) == ["start_task"]


# type / task_type aliases


def test_task_type_is_an_alias_of_type(registry: TaskTypeRegistry) -> None:
    # Given tasks naming their type through either key
    document = {
        "name": "f",
        "start_task": "a",
        "tasks": [
            {"name": "a", "task_type": "print", "parameters": {"message": "hi"}},
            {"name": "b", "type": "print", "parameters": {"message": "hi"}},
            {"name": "c", "type": "print", "task_type": "print", "parameters": {"message": "hi"}},
        ],
    }
    # When validating
    definition = validate_definition(document, registry)
    # Then each task has the type
    assert [task.type for task in definition.tasks] == ["print", "print", "print"]


def test_task_type_alias_is_checked_against_the_registry(registry: TaskTypeRegistry) -> None:
    # Given an unknown type given through task_type
    document = {"name": "f", "start_task": "a", "tasks": [{"name": "a", "task_type": "teleport"}]}
    # When validating
    problem = only_problem(document, registry)
    # Then it is reported as the task's type
    assert problem.field == "tasks[0].type"


def test_conflicting_type_and_task_type_is_an_error(registry: TaskTypeRegistry) -> None:
    # Given a task with two different types
    document = valid_document()
    document["tasks"][0]["task_type"] = "print"
    # When validating
    problem = only_problem(document, registry)
    # Then the task is reported
    assert problem.field.startswith("tasks[0]")
    assert "task_type" in problem.message


def test_parse_definition_does_not_check_the_graph() -> None:
    # Given a definition well-formed but with an unknown start task
    document = valid_document()
    document["start_task"] = "missing"
    # When only parsing it
    definition = parse_definition(document)
    # Then it parses
    assert isinstance(definition, FlowDefinition)
    assert definition.start_task == "missing"


# Bounded work


def looping(exit_target: str | None) -> dict[str, Any]:
    """a -> b -> c -> b: the loop between b and c exits to `exit_target` (None: it never exits)."""
    conditions = [
        {"source_task": "a", "outcome": "success", "target_task_success": "b", "target_task_failure": "end"},
        {"source_task": "b", "outcome": "success", "target_task_success": "c", "target_task_failure": "b"},
        {
            "source_task": "c",
            "outcome": "success",
            "target_task_success": "b",
            "target_task_failure": exit_target or "c",
        },
    ]
    return {"name": "loop", "start_task": "a", "tasks": [{"name": n} for n in "abc"], "conditions": conditions}


def test_a_cycle_that_can_never_end_is_refused_naming_its_tasks(registry: TaskTypeRegistry) -> None:
    problem = only_problem(looping(None), registry)
    assert problem.field == "conditions"
    assert problem.message == (
        "tasks 'b', 'c' can never end: no path from them leads to 'end' or to a task that ends its branch"
    )


def test_a_loop_with_an_exit_is_allowed(registry: TaskTypeRegistry) -> None:
    assert validate_definition(looping("end"), registry).name == "loop"


def test_max_transitions_above_the_deployment_ceiling_is_refused(registry: TaskTypeRegistry) -> None:
    definition = FlowDefinition.model_validate({**valid_document(), "max_transitions": 5_000})
    assert graph_problems(definition, registry, ceiling=5_000) == []
    problems = graph_problems(definition, registry, ceiling=4_999)
    assert [(p.field, p.message) for p in problems] == [
        ("max_transitions", "max_transitions 5000 is above this deployment's ceiling of 4999")
    ]
