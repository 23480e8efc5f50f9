"""template.yaml: integration tasks and callbacks get least privilege. The task runner alone may invoke functions,
send, publish and put events, each on what its `Allowed*` Parameter lists (nothing by default: the statement is
dropped); the callback signing key is generated and readable by the API and the runner only; http tasks are off
until `HttpTaskAllow` lists hosts, and the template never opens loopback."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.template import ROOT, TEMPLATE, load, role_statements, stack_spec

DOCUMENT = load()
RESOURCES = DOCUMENT["Resources"]
PARAMETERS = DOCUMENT["Parameters"]
FUNCTIONS = sorted(name for name, resource in RESOURCES.items() if resource["Type"] == "AWS::Serverless::Function")
#: Each integration action, the Parameter that lists what it may reach, and the Condition that drops it when empty.
INTEGRATIONS = {
    "lambda:InvokeFunction": ("AllowedFunctionArns", "AllowsFunctions"),
    "sqs:SendMessage": ("AllowedQueueArns", "AllowsQueues"),
    "sns:Publish": ("AllowedTopicArns", "AllowsTopics"),
    "events:PutEvents": ("AllowedEventBusArns", "AllowsEventBuses"),
}
SECRET_READ = "secretsmanager:GetSecretValue"
CALLBACK_KEY = {"Ref": "CallbackKeySecret"}
GUARDED = {*INTEGRATIONS, SECRET_READ, "states:StartExecution", "states:StopExecution"}
TIMERS = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${TimerStateMachine.Name}:*"


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def statements(function: str) -> list[tuple[str | None, dict[str, Any]]]:
    """Each statement of `function`'s role, with the Condition its policy is granted under (if any)."""
    return role_statements(DOCUMENT, function)


def grants(action: str) -> dict[str, list[tuple[str | None, Any]]]:
    """Per function, the (condition, resource) pairs `action` is allowed on."""
    found: dict[str, list[tuple[str | None, Any]]] = {}
    for function in FUNCTIONS:
        for condition, statement in statements(function):
            assert statement["Effect"] == "Allow", function
            if action in _actions(statement):
                found.setdefault(function, []).append((condition, statement["Resource"]))
    return found


def variables(function: str) -> dict[str, Any]:
    variables: dict[str, Any] = RESOURCES[function]["Properties"].get("Environment", {}).get("Variables", {})
    return variables


def test_no_statement_grants_these_actions_on_every_resource_or_with_a_wildcard_action() -> None:
    for function in FUNCTIONS:
        for _, statement in statements(function):
            actions = set(_actions(statement))
            assert not {"*", "lambda:*", "sqs:*", "sns:*", "events:*", "secretsmanager:*", "states:*"} & actions
            if actions & GUARDED:
                resources = (
                    statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                )
                assert "*" not in resources, (function, actions)


@pytest.mark.parametrize("action", sorted(INTEGRATIONS))
def test_each_integration_action_is_granted_to_the_runner_only_on_its_parameter_and_only_when_it_lists_something(
    action: str,
) -> None:
    parameter, condition = INTEGRATIONS[action]
    found = grants(action)
    if action == "sqs:SendMessage":  # the stream event source's OnFailure destination, besides what tasks reach
        found["TaskRunnerFunction"].remove((None, {"Fn::GetAtt": ["RunnerFailureQueue", "Arn"]}))
    assert found == {"TaskRunnerFunction": [(condition, {"Ref": parameter})]}
    # An empty list (the default) makes the condition false, which drops the whole policy: IAM refuses a
    # statement without resources.
    assert DOCUMENT["Conditions"][condition] == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": parameter}]}, ""]}]
    }


@pytest.mark.parametrize("parameter", [*(spec[0] for spec in INTEGRATIONS.values()), "AllowedSecretArns"])
def test_each_allow_list_is_empty_by_default_documented_and_refuses_a_bare_wildcard(parameter: str) -> None:
    spec = PARAMETERS[parameter]
    assert spec["Type"] == "CommaDelimitedList"
    assert spec["Default"] == ""
    assert "Empty (the default)" in spec["Description"]
    assertions = DOCUMENT["Rules"]["NoWildcardIntegrations"]["Assertions"]
    assert {"Fn::Not": [{"Fn::Contains": [{"Ref": parameter}, "*"]}]} in [entry["Assert"] for entry in assertions]


def test_the_callback_key_is_generated_and_readable_by_the_api_and_the_runner_only() -> None:
    secret = RESOURCES["CallbackKeySecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] >= 64
    assert generated["ExcludePunctuation"] is True
    assert "SecretString" not in secret["Properties"]  # never a value written in the template
    readers = {
        function: [grant for grant in found if grant[1] == CALLBACK_KEY]
        for function, found in grants(SECRET_READ).items()
    }
    assert {function for function, found in readers.items() if found} == {"ApiFunction", "TaskRunnerFunction"}
    assert all(found == [(None, CALLBACK_KEY)] for found in readers.values() if found)
    for function in FUNCTIONS:
        told = variables(function).get("CALLBACK_KEY_SECRET_ARN")
        assert told == (CALLBACK_KEY if function in ("ApiFunction", "TaskRunnerFunction") else None), function


def test_only_the_runner_reads_the_secrets_http_tasks_name_and_only_when_listed() -> None:
    others = {
        function: [grant for grant in found if grant[1] != CALLBACK_KEY]
        for function, found in grants(SECRET_READ).items()
    }
    assert {function: found for function, found in others.items() if found} == {
        "TaskRunnerFunction": [("AllowsSecrets", {"Ref": "AllowedSecretArns"})]
    }


def test_http_tasks_are_off_by_default_and_the_template_never_opens_loopback() -> None:
    assert PARAMETERS["HttpTaskAllow"] == {**PARAMETERS["HttpTaskAllow"], "Type": "String", "Default": ""}
    assert PARAMETERS["HttpTaskAllowHttp"]["Default"] == "false"
    assert sorted(PARAMETERS["HttpTaskAllowHttp"]["AllowedValues"]) == ["false", "true"]
    runner = variables("TaskRunnerFunction")
    assert runner["HTTP_TASK_ALLOW"] == {"Ref": "HttpTaskAllow"}
    assert runner["HTTP_TASK_ALLOW_HTTP"] == {"Ref": "HttpTaskAllowHttp"}
    for function in FUNCTIONS:
        if function != "TaskRunnerFunction":
            assert not [name for name in variables(function) if name.startswith("HTTP_TASK_")], function
    assert "HTTP_TASK_LOCAL_LOOPBACK" not in TEMPLATE.read_text(encoding="utf-8")


def test_the_failure_handler_gets_no_integration_secret_or_http_access() -> None:
    granted = {action for _, statement in statements("FailureHandlerFunction") for action in _actions(statement)}
    assert not granted & {*INTEGRATIONS, SECRET_READ, "states:StartExecution"}
    assert not [name for name in variables("FailureHandlerFunction") if name.startswith(("HTTP_TASK_", "CALLBACK_"))]


def test_the_api_may_start_timers_for_heartbeats_and_stop_them() -> None:
    assert grants("states:StartExecution")["ApiFunction"] == [(None, {"Ref": "TimerStateMachine"})]
    assert [resource for _, resource in grants("states:StopExecution")["ApiFunction"]] == [{"Fn::Sub": TIMERS}]


def test_the_timer_state_machine_may_do_what_each_of_its_actions_does_and_nothing_else() -> None:
    definition = json.loads((ROOT / RESOURCES["TimerStateMachine"]["Properties"]["DefinitionUri"]).read_text())
    tasks = [state for state in definition["States"].values() if state["Type"] == "Task"]
    assert {state["Resource"] for state in tasks} == {"arn:aws:states:::dynamodb:updateItem"}
    assert len(tasks) == 4  # redispatch, expire, reclaim, timeout
    (policy,) = RESOURCES["TimerStateMachine"]["Properties"]["Policies"]
    assert policy["Statement"] == [
        {"Effect": "Allow", "Action": "dynamodb:UpdateItem", "Resource": {"Fn::GetAtt": ["FlowTable", "Arn"]}}
    ]


def test_the_local_stack_sets_the_key_and_the_http_allow_list_itself() -> None:
    # The template's values are !Refs to its own resources and Parameters, on the functions that use them: none
    # reaches the local stack's shared environment, which names its own secret and reads HTTP_TASK_ALLOW from
    # the developer's.
    environment = stack_spec().environment
    assert not [name for name in environment if name.startswith(("HTTP_TASK_", "CALLBACK_"))]
    assert all(isinstance(value, str) and not value.startswith("{") for value in environment.values())


def test_the_readme_deploy_section_lists_every_integration_parameter() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Deploying", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip(" `") for line in section.splitlines() if line.startswith("| `")}
    listed = {name for name in PARAMETERS if name.startswith(("Allowed", "HttpTask"))}
    assert {row for row in rows if row.startswith(("Allowed", "HttpTask"))} == listed
    assert rows <= set(PARAMETERS)  # the section's other rows (hardening) name Parameters too
