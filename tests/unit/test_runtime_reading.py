"""What the runner reads without pydantic or boto3 matches what those would have given."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from flowcore.adapters.dynamodb.values import plain
from flowcore.api.models import FlowDefinition
from flowcore.api.parameters import parameter_problems, parameters_model
from flowcore.domain.compiled import CompiledFlow
from flowcore.domain.errors import FlowError
from flowcore.domain.flow import AllOf, AnyOf, ExprRule, FlowSpec, NotRule, WhenRule
from flowcore.tasks import default_registry
from flowcore.tasks.base import Parameters

DEFINITION: dict[str, Any] = {
    "id": "f1",
    "name": "flow",
    "start_task": "a",
    "tasks": [
        {"name": "a", "task_type": "fetch_data", "parameters": {"records": 2}, "retry": {"max_attempts": 2}},
        {"name": "b", "type": "wait", "parameters": {"seconds": 1}, "timeout_seconds": 5},
    ],
    "conditions": [
        {"source_task": "a", "outcome": "SUCCESS", "target_task_success": "b", "when": {"path": "x", "op": "exists"}}
    ],
    "timeout_seconds": 60,
}


def test_a_stored_definition_reads_back_as_the_model_checked_it() -> None:
    # Given a definition checked by the pydantic model, and its JSON form as stored
    model = FlowDefinition.model_validate(DEFINITION)
    stored = model.model_dump_json(exclude_none=True)
    # When the runner reads the stored form back
    spec = FlowSpec.from_json(stored)
    # Then every value routing reads is the model's, and the document is what the API returned before
    assert spec.document == model.model_dump(mode="json", exclude_none=True)
    assert (spec.name, spec.start_task, spec.max_transitions, spec.timeout_seconds) == ("flow", "a", 10_000, 60)
    for task, checked in zip(spec.tasks, model.tasks, strict=True):
        assert (task.name, task.type, task.parameters, task.timeout_seconds) == (
            checked.name,
            checked.type,
            checked.parameters,
            checked.timeout_seconds,
        )
        assert (task.retry is None) == (checked.retry is None)
        if task.retry and checked.retry:
            assert vars(checked.retry) == {name: getattr(task.retry, name) for name in vars(checked.retry)}
    condition, checked_condition = spec.conditions[0], model.conditions[0]
    assert condition.when is not None and checked_condition.when is not None
    assert (condition.when.path, condition.when.op, condition.when.value) == ("x", "exists", None)
    assert (condition.outcome, condition.target_task_success) == ("SUCCESS", "b")
    assert CompiledFlow.build("f1", 1, model.spec()) == CompiledFlow.build("f1", 1, spec)


def test_templates_and_every_when_form_read_back_as_the_domain_has_them() -> None:
    # Given a definition with input and output templates and nested when forms, as the model stores it
    when = {"all": [{"expr": "output.n > `1`"}, {"any": [{"not": {"path": "x", "op": "exists"}}, {"expr": "`true`"}]}]}
    document = {
        "name": "flow",
        "start_task": "a",
        "tasks": [
            {"name": "a", "input": {"rows": "${input.rows}", "nothing": None}, "output": "${result.rows}"},
            {"name": "b", "input": None},
        ],
        "conditions": [{"source_task": "a", "target_task_success": "b", "when": when}],
    }
    stored = FlowDefinition.model_validate(document).model_dump_json(exclude_none=True)
    # When the runner reads it back
    spec = FlowSpec.from_json(stored)
    # Then the templates are as written (null inside kept, a null template absent) and the when is the domain's
    assert (spec.tasks[0].input, spec.tasks[0].output) == ({"rows": "${input.rows}", "nothing": None}, "${result.rows}")
    assert (spec.tasks[1].input, spec.tasks[1].output) == (None, None)
    assert spec.conditions[0].when == AllOf(
        (ExprRule("output.n > `1`"), AnyOf((NotRule(WhenRule("x", "exists")), ExprRule("`true`"))))
    )
    assert spec.document["conditions"][0]["when"] == when


def test_a_stored_definition_that_does_not_parse_is_a_flow_error() -> None:
    # The failure handler treats a FlowError from get_flow as "the flow version is unreadable"
    with pytest.raises(FlowError):
        FlowSpec.from_json("{not json")
    with pytest.raises(FlowError):
        FlowSpec.from_json('{"name": "x"}')


@pytest.mark.parametrize(
    ("type_name", "given"),
    [
        ("fetch_data", {"records": 7, "data_source": "s3", "fail_times": 1, "source": "kept"}),
        ("wait", {"seconds": 3, "failure_rate": 0}),
        ("wait", {}),
        ("print", {"message": "hi", "extra": [1]}),
        ("pass", {"a": {"b": 1}}),
    ],
)
def test_parameters_read_as_pydantic_converted_them(type_name: str, given: dict[str, Any]) -> None:
    # Given parameters the API accepted
    task_type = default_registry().get(type_name)
    assert task_type is not None
    checked = parameters_model(task_type.parameters).model_validate(given)
    # When the runner reads them
    read = Parameters(task_type.parameters, given)
    # Then declared values have the same value and type, and the rest is kept as given
    for param in task_type.parameters:
        assert getattr(read, param.name) == getattr(checked, param.name)
        assert type(getattr(read, param.name)) is type(getattr(checked, param.name))
    assert read.extra == (checked.model_extra or {})


def test_parameter_problems_keep_pydantic_messages() -> None:
    problems = parameter_problems(default_registry(), "wait", {"seconds": -1, "fail_times": 101}, "tasks[0]")
    assert [(problem.field, problem.message) for problem in problems] == [
        ("tasks[0].parameters.fail_times", "Input should be less than or equal to 100"),
        ("tasks[0].parameters.seconds", "Input should be greater than or equal to 0"),
    ]
    assert parameter_problems(default_registry(), "wait", {"seconds": "1"}, "tasks[0]")[0].message == (
        "Input should be a valid number"
    )


def test_plain_matches_boto3s_deserializer() -> None:
    item = {
        "s": {"S": "x"},
        "n": {"N": "12.50"},
        "b": {"BOOL": False},
        "z": {"NULL": True},
        "m": {"M": {"l": {"L": [{"N": "1"}, {"S": "q"}, {"M": {}}]}}},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2.0"]},
    }
    deserializer = TypeDeserializer()
    expected = {key: deserializer.deserialize(value) for key, value in item.items()}
    assert plain(item) == expected
    assert type(plain(item)["n"]) is type(expected["n"])


def test_the_runner_imports_neither_pydantic_nor_boto3() -> None:
    code = "import sys, functions.task_runner.app; print(sorted({'pydantic', 'boto3'} & set(sys.modules)))"
    root = Path(__file__).resolve().parents[2]
    path = os.pathsep.join([str(root), str(root / "layers" / "flowcore")])
    environment = {**os.environ, "PYTHONPATH": path}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment)
    assert out.stdout.strip() == "[]"
