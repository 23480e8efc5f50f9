"""The save-time checks of templates, expressions and `when`s (DESIGN §4): each problem one detail, naming the
field where it is, with the message a user sees."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from flowcore.api.models import When
from flowcore.api.validation import validate_definition
from flowcore.domain.errors import ValidationFailed
from flowcore.domain.expressions import (
    MAX_EXPRESSION_LENGTH,
    MAX_TEMPLATE_BYTES,
    MAX_TEMPLATE_DEPTH,
    MAX_WHEN_DEPTH,
    MAX_WHEN_RULES,
)
from flowcore.tasks import TaskTypeRegistry, default_registry


@pytest.fixture
def registry() -> TaskTypeRegistry:
    return default_registry()


def pipeline() -> dict[str, Any]:
    """fetch -> process -> store, store's failure back to process (a loop), the issue's example on store."""
    return {
        "name": "pipeline",
        "start_task": "fetch",
        "tasks": [
            {"name": "fetch", "type": "fetch_data", "input": {"day": "${input.day}"}},
            {
                "name": "process",
                "type": "process_data",
                "parameters": {"records": "${previous.output.records_fetched}"},
            },
            {
                "name": "store",
                "type": "store_data",
                "input": {"rows": "${tasks.process.output.records_processed}", "day": "${input.day}"},
                "output": {"stored": "${result.records_stored}", "at": "${execution.started_at}"},
            },
        ],
        "conditions": [
            {"source_task": "fetch", "target_task_success": "process", "target_task_failure": "end"},
            {"source_task": "process", "target_task_success": "store", "target_task_failure": "end"},
            {"source_task": "store", "target_task_success": "end", "target_task_failure": "process"},
        ],
    }


def problems(document: dict[str, Any], registry: TaskTypeRegistry) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as caught:
        validate_definition(document, registry)
    return [(problem.field, problem.message) for problem in caught.value.problems]


def test_a_flow_using_every_kind_of_template_passes(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    document["conditions"][1]["when"] = {
        "all": [
            {"expr": "output.records_processed > `0`"},
            {"any": [{"expr": "tasks.fetch.status == 'SUCCESS'"}, {"not": {"path": "method", "op": "exists"}}]},
            {"expr": "tasks.process.attempts < `3` && previous.status == 'SUCCESS'"},
        ]
    }
    document["tasks"][2]["input"]["label"] = "day ${input.day}, $${literal}, ${tasks.store.output.stored}"
    definition = validate_definition(document, registry)
    assert definition.tasks[2].input == document["tasks"][2]["input"]


# -- every expression compiles ------------------------------------------------------------------------


def test_an_expression_that_does_not_parse_is_reported_with_its_position(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    document["tasks"][2]["input"]["rows"] = "${tasks.process.output[}"
    assert problems(document, registry) == [
        (
            "tasks[2].input.rows",
            "expression 'tasks.process.output[' does not parse at position 21: incomplete expression",
        )
    ]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "${lenght(input.rows)}",
            "expression 'lenght(input.rows)' does not parse at position 0: unknown function lenght()",
        ),
        (
            "n ${length(input.a, input.b)}",
            "expression 'length(input.a, input.b)' does not parse at position 0: length() takes 1 argument, 2 given",
        ),
        ("${input.day", "expression 'input.day' does not parse at position 9: the '${' has no closing '}'"),
        ("${}", "expression '' does not parse at position 0: the expression is empty"),
        ("${input.a b}", "expression 'input.a b' does not parse at position 8: Unexpected token: b"),
    ],
)
def test_each_compile_problem_has_its_message(registry: TaskTypeRegistry, template: str, message: str) -> None:
    document = pipeline()
    document["tasks"][0]["input"] = {"items": [1, {"x": template}]}
    assert problems(document, registry) == [("tasks[0].input.items[1].x", message)]


def test_an_expression_over_the_length_limit_is_refused(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    long = "input." + "a" * MAX_EXPRESSION_LENGTH
    document["tasks"][0]["input"] = "${" + long + "}"
    [(field, message)] = problems(document, registry)
    assert field == "tasks[0].input"
    assert message.endswith(f"does not parse: it is {len(long)} characters long; at most {MAX_EXPRESSION_LENGTH}")


def test_every_problem_is_reported_in_document_order(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    document["tasks"][0]["input"] = {"a": "${a[}", "b": ["${input.x} and ${b[}"]}
    document["tasks"][2]["output"] = "${c[}"
    document["conditions"][0]["when"] = {"any": [{"expr": "d["}]}
    assert [field for field, _ in problems(document, registry)] == [
        "tasks[0].input.a",
        "tasks[0].input.b[0]",
        "tasks[2].output",
        "conditions[0].when.any[0].expr",
    ]


# -- tasks.<name> names a task that can run before ----------------------------------------------------


def test_a_reference_to_a_task_that_is_not_in_the_flow(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    document["tasks"][2]["input"]["rows"] = '${tasks."no-such".output}'
    assert problems(document, registry) == [
        (
            "tasks[2].input.rows",
            "expression 'tasks.\"no-such\".output' reads tasks.no-such, which is not a task of this flow",
        )
    ]


def test_a_reference_to_a_task_that_only_runs_after(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    document["tasks"][0]["input"] = {"rows": "${tasks.store.output}"}
    assert problems(document, registry) == [
        (
            "tasks[0].input.rows",
            "expression 'tasks.store.output' reads tasks.store, which cannot run before 'fetch': "
            "no path of the flow leads from 'store' to 'fetch'",
        )
    ]


def test_a_reference_to_a_task_on_a_parallel_branch_is_refused(registry: TaskTypeRegistry) -> None:
    # Given a fork a -> (b, c): c cannot run before b on any path
    document = {
        "name": "fork",
        "start_task": "a",
        "tasks": [{"name": "a"}, {"name": "b", "input": "${tasks.c.output}"}, {"name": "c"}],
        "conditions": [
            {"source_task": "a", "target_task_success": "b"},
            {"source_task": "a", "target_task_success": "c"},
        ],
    }
    assert problems(document, registry) == [
        (
            "tasks[1].input",
            "expression 'tasks.c.output' reads tasks.c, which cannot run before 'b': "
            "no path of the flow leads from 'c' to 'b'",
        )
    ]


def test_references_to_tasks_before_on_some_path_pass(registry: TaskTypeRegistry) -> None:
    # Given store reading process (always before), itself (in the loop store -> process -> store) and fetch
    document = pipeline()
    document["tasks"][2]["input"] = {"all": "${[tasks.process, tasks.store, tasks.fetch]}"}
    # And process reading store, which runs before it when store fails and loops back
    document["tasks"][1]["input"] = "${tasks.store.output}"
    assert validate_definition(document, registry).tasks[1].input == "${tasks.store.output}"


def test_a_task_outside_a_loop_cannot_read_itself(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    document["tasks"][0]["input"] = "${tasks.fetch.output}"
    assert problems(document, registry) == [
        (
            "tasks[0].input",
            "expression 'tasks.fetch.output' reads tasks.fetch, which cannot run before 'fetch': "
            "no path of the flow leads from 'fetch' to 'fetch'",
        )
    ]


def test_a_flow_without_conditions_reads_the_tasks_before_in_list_order(registry: TaskTypeRegistry) -> None:
    document = {
        "name": "list",
        "start_task": "a",
        "tasks": [{"name": "a"}, {"name": "b", "input": "${tasks.a.output}"}, {"name": "c", "input": "${tasks.a}"}],
    }
    assert validate_definition(document, registry).tasks[2].input == "${tasks.a}"
    document["tasks"][0]["input"] = "${tasks.c}"
    assert [field for field, _ in problems(document, registry)] == ["tasks[0].input"]


def test_a_when_may_read_its_source_task_and_the_tasks_before_it(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    document["conditions"][1]["when"] = {"expr": "tasks.process.output.records_processed > tasks.fetch.attempts"}
    assert validate_definition(document, registry).conditions[1].when is not None
    document["conditions"][1]["when"] = {"not": {"expr": "tasks.store.status"}}  # store loops back to process
    assert validate_definition(document, registry).conditions[1].when is not None
    document["conditions"][0]["when"] = {"all": [{"expr": "tasks.fetch.status"}, {"expr": "tasks.store.status"}]}
    assert problems(document, registry) == [
        (
            "conditions[0].when.all[1].expr",
            "expression 'tasks.store.status' reads tasks.store, which cannot run before 'fetch': "
            "no path of the flow leads from 'store' to 'fetch'",
        )
    ]


# -- previous, result, output and other names ---------------------------------------------------------


def test_the_start_task_has_no_previous(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    document["tasks"][0]["input"] = {"n": "${previous.output.n}"}
    document["tasks"][0]["parameters"] = {"data_source": "from ${previous.output.source}"}
    document["tasks"][0]["output"] = "${previous}"
    document["conditions"][0]["when"] = {"expr": "previous.status == 'SUCCESS'"}
    message = "previous, which the start task 'fetch' does not have: read tasks.<name> instead"
    assert problems(document, registry) == [
        ("tasks[0].parameters.data_source", f"expression 'previous.output.source' reads {message}"),
        ("tasks[0].input.n", f"expression 'previous.output.n' reads {message}"),
        ("tasks[0].output", f"expression 'previous' reads {message}"),
        ("conditions[0].when.expr", f"expression 'previous.status == 'SUCCESS'' reads {message}"),
    ]


def test_result_is_only_in_output_templates(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    document["tasks"][1]["input"] = "${result.rows}"
    document["tasks"][1]["parameters"] = {"method": "${result.method}"}
    document["conditions"][0]["when"] = {"expr": "result"}
    message = "reads result, which only an output template has (the task's raw output)"
    assert problems(document, registry) == [
        ("tasks[1].parameters.method", f"expression 'result.method' {message}"),
        ("tasks[1].input", f"expression 'result.rows' {message}"),
        ("conditions[0].when.expr", f"expression 'result' {message}"),
    ]


def test_output_is_only_in_a_when(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    document["tasks"][2]["output"] = "${output.records_stored}"
    assert problems(document, registry) == [
        (
            "tasks[2].output",
            "expression 'output.records_stored' reads output, which only a condition's when has "
            "(an output template reads the raw output as result)",
        )
    ]


def test_a_name_the_context_document_does_not_have_is_refused(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    document["tasks"][2]["input"] = "${day}"
    document["tasks"][2]["output"] = "${inputs.day}"
    assert problems(document, registry) == [
        (
            "tasks[2].input",
            "expression 'day' reads 'day', which is not in the context document (execution, input, previous, tasks)",
        ),
        (
            "tasks[2].output",
            "expression 'inputs.day' reads 'inputs', which is not in the context document "
            "(execution, input, previous, result, tasks)",
        ),
    ]


def test_names_below_the_root_are_not_checked(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    document["tasks"][2]["input"] = "${input.rows[?previous && result].tasks.anything}"
    assert validate_definition(document, registry).tasks[2].input == document["tasks"][2]["input"]


# -- limits -------------------------------------------------------------------------------------------


def nested(levels: int) -> Any:
    value: Any = "${input.day}"
    for _ in range(levels):
        value = {"a": value}
    return value


def test_a_template_nested_past_the_limit_is_refused(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    document["tasks"][0]["input"] = nested(MAX_TEMPLATE_DEPTH)
    document["tasks"][2]["output"] = nested(MAX_TEMPLATE_DEPTH + 1)
    assert problems(document, registry) == [
        ("tasks[2].output", f"the template nests {MAX_TEMPLATE_DEPTH + 1} levels deep; at most {MAX_TEMPLATE_DEPTH}")
    ]


def test_a_template_over_the_size_limit_is_refused(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    filler = "é" * (MAX_TEMPLATE_BYTES // 2)  # two bytes each in UTF-8: over the limit, though fewer characters
    document["tasks"][0]["input"] = {"a": filler}
    [(field, message)] = problems(document, registry)
    assert field == "tasks[0].input"
    assert message == f"the template is {len(filler) * 2 + 8} bytes as compact JSON; at most {MAX_TEMPLATE_BYTES}"
    document["tasks"][0]["input"] = {"a": "x" * (MAX_TEMPLATE_BYTES - 8)}
    assert validate_definition(document, registry).name == "pipeline"


def deep_when(levels: int) -> dict[str, Any]:
    rule: dict[str, Any] = {"expr": "output"}
    for level in range(levels - 1):
        rule = {"not": rule} if level % 2 else {"all": [rule]}
    return rule


def test_a_when_nested_past_the_limit_is_refused(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    document["conditions"][0]["when"] = deep_when(MAX_WHEN_DEPTH)
    document["conditions"][1]["when"] = deep_when(MAX_WHEN_DEPTH + 1)
    assert problems(document, registry) == [
        ("conditions[1].when", f"the when nests {MAX_WHEN_DEPTH + 1} levels deep; at most {MAX_WHEN_DEPTH}")
    ]
    assert str(MAX_WHEN_DEPTH) in (When.__doc__ or "")


def test_an_all_or_any_holds_a_bounded_number_of_rules(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    document["conditions"][0]["when"] = {"any": [{"expr": "output"}] * (MAX_WHEN_RULES + 1)}
    assert problems(document, registry) == [
        ("conditions[0].when.any", f"List should have at most {MAX_WHEN_RULES} items after validation, not 51")
    ]


# -- the shape of a when ------------------------------------------------------------------------------

SHAPES = "{path, op, value}, {expr}, {all: [...]}, {any: [...]} or {not: {...}}"


@pytest.mark.parametrize(
    ("when", "field", "message"),
    [
        ({}, "conditions[0].when", f"a `when` is one of {SHAPES}"),
        (
            {"expr": "output", "value": 1},
            "conditions[0].when",
            f"a `when` has one form, of {SHAPES}; this one has 'expr', 'value'",
        ),
        (
            {"all": [{"expr": "output"}], "not": {"expr": "output"}},
            "conditions[0].when",
            f"a `when` has one form, of {SHAPES}; this one has 'all', 'not'",
        ),
        ({"path": "count"}, "conditions[0].when", "a path rule needs 'op'"),
        ({"value": 3}, "conditions[0].when", "a path rule needs 'path' and 'op'"),
        ({"expr": None}, "conditions[0].when.expr", "a `when` key is not null: leave it out"),
        ({"expr": ""}, "conditions[0].when.expr", "String should have at least 1 character"),
        ({"expr": 5}, "conditions[0].when.expr", "Input should be a valid string"),
        ({"all": []}, "conditions[0].when.all", "List should have at least 1 item after validation, not 0"),
        ({"any": {"expr": "x"}}, "conditions[0].when.any", "Input should be a valid list"),
        ({"not": [{"expr": "x"}]}, "conditions[0].when.not", "Input should be a valid dictionary or instance of When"),
        ({"all": [{"expr": "x", "colour": 1}]}, "conditions[0].when.all[0].colour", "Extra inputs are not permitted"),
        ({"not": {"path": "x", "op": "near"}}, "conditions[0].when.not.op", None),
        ({"not_": {"expr": "x"}}, "conditions[0].when.not_", "Extra inputs are not permitted"),
    ],
)
def test_a_when_of_no_form_or_several_is_refused_where_it_is(
    registry: TaskTypeRegistry, when: dict[str, Any], field: str, message: str | None
) -> None:
    document = pipeline()
    document["conditions"][0]["when"] = when
    [(found_field, found_message)] = problems(document, registry)
    assert found_field == field
    if message is not None:
        assert found_message == message


def test_a_wrapped_flow_reports_when_shape_problems_under_flow(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    document["conditions"][0]["when"] = {"all": [{"expr": 1}]}
    assert problems({"flow": document}, registry) == [
        ("flow.conditions[0].when.all[0].expr", "Input should be a valid string")
    ]


# -- templated parameters -----------------------------------------------------------------------------


def test_a_declared_parameter_may_be_a_whole_template_of_any_type(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    document["tasks"][1]["parameters"] = {
        "records": "${previous.output.records_fetched}",
        "failure_rate": "${input.rate}",
        "method": "${input.method}",
        "fail_times": "${ `1` }",
    }
    definition = validate_definition(document, registry)
    assert definition.tasks[1].parameters["records"] == "${previous.output.records_fetched}"


def test_a_number_parameter_with_an_expression_inside_text_is_refused(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    document["tasks"][1]["parameters"] = {"records": "${input.n}0", "method": "by ${input.method}"}
    assert problems(document, registry) == [
        (
            "tasks[1].parameters.records",
            'a number parameter takes a number, or an expression as the whole value ("${...}"); '
            "an expression inside text resolves to text",
        )
    ]


def test_a_templated_parameter_is_still_checked_as_an_expression(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    document["tasks"][1]["parameters"] = {"records": "${tasks.store.output[}", "extra": {"x": "${tasks.nope}"}}
    assert problems(document, registry) == [
        (
            "tasks[1].parameters.records",
            "expression 'tasks.store.output[' does not parse at position 19: incomplete expression",
        ),
        ("tasks[1].parameters.extra.x", "expression 'tasks.nope' reads tasks.nope, which is not a task of this flow"),
    ]


def test_a_parameter_that_is_not_a_template_is_checked_as_before(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    document["tasks"][1]["parameters"] = {"records": "12", "method": 3}
    assert [field for field, _ in problems(document, registry)] == [
        "tasks[1].parameters.method",
        "tasks[1].parameters.records",
    ]


def test_null_templates_are_no_templates(registry: TaskTypeRegistry) -> None:
    document = copy.deepcopy(pipeline())
    document["tasks"][0]["input"] = None
    document["tasks"][0]["output"] = None
    definition = validate_definition(document, registry)
    assert "input" not in definition.document()["tasks"][0]
    assert "output" not in definition.document()["tasks"][0]


def test_a_when_on_an_unknown_source_reports_the_source_only(registry: TaskTypeRegistry) -> None:
    document = pipeline()
    document["conditions"][0]["source_task"] = "ghost"
    document["conditions"][0]["when"] = {"all": [{"expr": "tasks.store.status"}, {"expr": "tasks.nope"}]}
    assert problems(document, registry) == [
        ("conditions[0].source_task", "source_task 'ghost' is not a task of this flow"),
        (
            "conditions[0].when.all[1].expr",
            "expression 'tasks.nope' reads tasks.nope, which is not a task of this flow",
        ),
    ]
