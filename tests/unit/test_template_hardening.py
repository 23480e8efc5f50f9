"""template.yaml, hardened (issue 15, item 6): each function's role allows exactly the table actions its code calls,
stream and queue actions on their own ARNs, and `Resource: "*"` only where AWS has no resource-level permission;
the HTTP API writes JSON access logs; reserved concurrency, CORS and the table's deletion protection are
Parameters, secure by default; every checkov finding suppressed in the template says why in one line."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from local.template import ROOT, load, role_statements

DOCUMENT = load()
RESOURCES = DOCUMENT["Resources"]
PARAMETERS = DOCUMENT["Parameters"]
CONDITIONS = DOCUMENT["Conditions"]
FUNCTIONS = sorted(name for name, resource in RESOURCES.items() if resource["Type"] == "AWS::Serverless::Function")
TABLE = {"Fn::GetAtt": ["FlowTable", "Arn"]}
INDEX = {"Fn::Sub": "${FlowTable.Arn}/index/gsi1"}
STREAM = {"Fn::GetAtt": ["FlowTable", "StreamArn"]}
FAILURE_QUEUE = {"Fn::GetAtt": ["RunnerFailureQueue", "Arn"]}

#: What each boto3 call of the table adapter (flowcore/adapters/dynamodb/table.py) is authorized as. A transaction
#: is authorized item by item: the code's transactions hold Put and Update items only.
CALL_ACTIONS = {
    "get_item": {"dynamodb:GetItem"},
    "put_item": {"dynamodb:PutItem"},
    "update_item": {"dynamodb:UpdateItem"},
    "transact_write_items": {"dynamodb:PutItem", "dynamodb:UpdateItem"},
    "query": {"dynamodb:Query"},
    "delete_item": {"dynamodb:DeleteItem"},
    "batch_write_item": {"dynamodb:BatchWriteItem"},
}

#: Each function's table actions, from its code paths (the use cases and runner parts its wiring builds):
#: - API (flows, executions, callbacks): flows stored (GetItem + a transaction of Puts), read, listed (Query on
#:   gsi1) and deleted (UpdateItem + Query of versions); executions created (PutItem), started, stopped and
#:   cancelled (UpdateItem, Query of runs), listed and checked for active ones (Query on gsi1), deleted (Query +
#:   BatchWriteItem); callbacks complete and heartbeat (UpdateItem). Never DeleteItem.
#: - Task runner: runs read, claimed, parked, committed (a transaction of Updates and Puts), handed off (PutItem),
#:   dropped from a chain (DeleteItem); executions read, stopped, moved, a subflow's created; results remembered
#:   and read back (Query on the table). Never an index, never a batch.
#: - Failure handler: reads runs, execution and flow, fails runs and executions, resumes a run's follow-ups
#:   (PutItem), completes a parent's subflow run. No transaction, delete, batch or index.
TABLE_ACTIONS = {
    "ApiFunction": {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "dynamodb:BatchWriteItem",
    },
    "TaskRunnerFunction": {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
    },
    "FailureHandlerFunction": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"},
}
STREAM_ACTIONS = {"dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords", "dynamodb:ListStreams"}

#: Where AWS requires `Resource: "*"`: actions without resource-level permissions (Service Authorization Reference).
#: X-Ray's trace uploads (the API function traces: Tracing: Active), and ListStreams, which Lambda's DynamoDB event
#: source calls with the runner's role.
WILDCARD_EXCEPTIONS = {
    ("ApiFunctionRole", "xray:PutTraceSegments"),
    ("ApiFunctionRole", "xray:PutTelemetryRecords"),
    ("TaskRunnerFunctionRole", "dynamodb:ListStreams"),
}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def granted(function: str) -> dict[str, list[Any]]:
    """Each action `function`'s role allows, with the resources it allows it on."""
    found: dict[str, list[Any]] = {}
    for _, statement in role_statements(DOCUMENT, function):
        assert statement["Effect"] == "Allow", function
        for action in _list(statement["Action"]):
            found.setdefault(action, []).extend(_list(statement["Resource"]))
    return found


def _statements(value: Any) -> list[dict[str, Any]]:
    """Every policy statement (a dict with Effect and Action) anywhere in `value`."""
    if isinstance(value, dict):
        own = [value] if {"Effect", "Action"} <= set(value) else []
        return own + [found for entry in value.values() for found in _statements(entry)]
    if isinstance(value, list):
        return [found for entry in value for found in _statements(entry)]
    return []


def test_the_table_adapter_makes_exactly_the_calls_the_roles_are_derived_from() -> None:
    # A new call (a Scan, a BatchGetItem, a DeleteItem in a transaction...) must come with its IAM action.
    source = (ROOT / "layers/flowcore/flowcore/adapters/dynamodb/table.py").read_text(encoding="utf-8")
    calls = {
        node.attr
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "_db"
    }
    assert calls == set(CALL_ACTIONS)
    transactions = re.findall(r'\{"(\w+)": \{', "".join(_adapter_sources()))
    assert {kind for kind in transactions if kind in {"Put", "Update", "Delete", "ConditionCheck"}} == {"Put", "Update"}


def _adapter_sources() -> list[str]:
    folder = ROOT / "layers/flowcore/flowcore/adapters/dynamodb"
    return [path.read_text(encoding="utf-8") for path in sorted(Path(folder).glob("*.py"))]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_may_do_exactly_its_table_actions_on_the_table_and_the_index_only_where_it_queries_it(
    function: str,
) -> None:
    actions = {action: resources for action, resources in granted(function).items() if action.startswith("dynamodb:")}
    on_table = {action for action, resources in actions.items() if action not in STREAM_ACTIONS}
    assert on_table == TABLE_ACTIONS[function]
    assert all(TABLE in actions[action] for action in on_table)
    expected_index = [INDEX] if function == "ApiFunction" else []
    assert [resource for resource in actions["dynamodb:Query"] if resource != TABLE] == expected_index
    for action in on_table - {"dynamodb:Query"}:
        assert actions[action] == [TABLE], (function, action)


def test_no_function_may_scan_or_batch_get_and_only_the_api_batch_writes() -> None:
    for function in FUNCTIONS:
        actions = set(granted(function))
        assert not actions & {"dynamodb:Scan", "dynamodb:BatchGetItem", "dynamodb:*", "*"}, function
        assert ("dynamodb:BatchWriteItem" in actions) is (function == "ApiFunction")


def test_functions_use_roles_of_their_own_and_no_sam_policy_template() -> None:
    roles = set()
    for function in FUNCTIONS:
        properties = RESOURCES[function]["Properties"]
        assert "Policies" not in properties, function  # SAM would add managed policies on every resource too
        role = properties["Role"]["Fn::GetAtt"]
        assert role == [f"{function}Role", "Arn"]
        assert RESOURCES[role[0]]["Type"] == "AWS::IAM::Role"
        assert "ManagedPolicyArns" not in RESOURCES[role[0]]["Properties"]
        roles.add(role[0])
    assert len(roles) == len(FUNCTIONS)
    assert "DynamoDBCrudPolicy" not in (ROOT / "template.yaml").read_text(encoding="utf-8")


def test_stream_and_queue_actions_are_on_their_own_arns() -> None:
    runner, handler = granted("TaskRunnerFunction"), granted("FailureHandlerFunction")
    for action in ("dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"):
        assert runner[action] == [STREAM], action
    assert handler["dynamodb:GetShardIterator"] == handler["dynamodb:GetRecords"] == [STREAM]
    assert "dynamodb:DescribeStream" not in handler  # it reads shards by the ids in the message
    assert FAILURE_QUEUE in runner["sqs:SendMessage"]  # the OnFailure destination
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
        assert handler[action] == [FAILURE_QUEUE], action
    assert not {action for action in granted("ApiFunction") if action.startswith("sqs:")}


def test_no_statement_in_the_template_allows_every_resource_but_where_aws_requires_it() -> None:
    found = set()
    for name, resource in RESOURCES.items():
        for statement in _statements(resource.get("Properties", {})):
            if "*" in _list(statement.get("Resource", [])):
                assert statement["Effect"] == "Allow", name
                found.update((name, action) for action in _list(statement["Action"]))
    assert found == WILDCARD_EXCEPTIONS


def test_the_http_api_writes_a_json_access_log_to_a_group_with_retention() -> None:
    stage = RESOURCES["FlowApiStage"]
    assert (stage["Type"], stage["Properties"]["ApiId"]) == ("AWS::ApiGatewayV2::Stage", {"Ref": "FlowApi"})
    settings = stage["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["FlowApiAccessLogGroup", "Arn"]}
    line = json.loads(settings["Format"])
    assert {"requestId", "ip", "routeKey", "status", "responseLatency"} <= set(line)
    assert all(value.startswith("$context.") for value in line.values())
    group = RESOURCES["FlowApiAccessLogGroup"]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "AccessLogRetentionDays"}
    assert PARAMETERS["AccessLogRetentionDays"]["Default"] in PARAMETERS["AccessLogRetentionDays"]["AllowedValues"]


@pytest.mark.parametrize(
    ("function", "parameter", "condition"),
    [
        ("ApiFunction", "ApiReservedConcurrency", "ReservesApiConcurrency"),
        ("TaskRunnerFunction", "RunnerReservedConcurrency", "ReservesRunnerConcurrency"),
        ("FailureHandlerFunction", "FailureHandlerReservedConcurrency", "ReservesFailureHandlerConcurrency"),
    ],
)
def test_reserved_concurrency_is_a_parameter_and_0_leaves_the_function_unreserved(
    function: str, parameter: str, condition: str
) -> None:
    assert RESOURCES[function]["Properties"]["ReservedConcurrentExecutions"] == {
        "Fn::If": [condition, {"Ref": parameter}, {"Ref": "AWS::NoValue"}]
    }
    assert PARAMETERS[parameter]["Type"] == "Number"
    assert PARAMETERS[parameter]["Default"] == PARAMETERS[parameter]["MinValue"] == 0
    assert CONDITIONS[condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, "0"]}]}


def test_the_table_is_retained_and_deletion_protected_by_default() -> None:
    table = RESOURCES["FlowTable"]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["DeletionProtectionEnabled"] == {"Fn::If": ["ProtectsTable", True, False]}
    assert CONDITIONS["ProtectsTable"] == {"Fn::Equals": [{"Ref": "TableDeletionProtection"}, "true"]}
    assert PARAMETERS["TableDeletionProtection"]["Default"] == "true"


def test_cors_is_off_unless_origins_are_listed() -> None:
    cors = RESOURCES["FlowApi"]["Properties"]["CorsConfiguration"]
    condition, configured, otherwise = cors["Fn::If"]
    assert (condition, otherwise) == ("HasCors", {"Ref": "AWS::NoValue"})
    assert configured["AllowOrigins"] == {"Fn::Split": [",", {"Ref": "CorsAllowedOrigins"}]}
    assert "AllowCredentials" not in configured
    assert PARAMETERS["CorsAllowedOrigins"]["Default"] == ""
    assert CONDITIONS["HasCors"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "CorsAllowedOrigins"}, ""]}]}


@pytest.mark.parametrize(
    ("origins", "allowed"),
    [
        ("", True),
        ("https://app.example.com", True),
        ("https://app.example.com,http://localhost:5173", True),
        ("*", False),
        ("https://*.example.com", False),
        ("https://a.example.com, https://b.example.com", False),
        ("app.example.com", False),
    ],
)
def test_the_cors_origins_parameter_refuses_wildcards_and_malformed_lists(origins: str, allowed: bool) -> None:
    assert bool(re.fullmatch(PARAMETERS["CorsAllowedOrigins"]["AllowedPattern"], origins)) is allowed


def test_each_checkov_suppression_names_its_check_and_says_why_in_one_line() -> None:
    skipped = [
        (name, entry)
        for name, resource in RESOURCES.items()
        for entry in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skipped
    for name, entry in skipped:
        assert re.fullmatch(r"CKV2?_AWS_\d+", entry["id"]), name
        assert 20 <= len(entry["comment"]) <= 240 and "\n" not in entry["comment"].strip(), (name, entry["id"])


NEW_PARAMETERS = [
    "ApiReservedConcurrency",
    "RunnerReservedConcurrency",
    "FailureHandlerReservedConcurrency",
    "CorsAllowedOrigins",
    "TableDeletionProtection",
    "AccessLogRetentionDays",
]


@pytest.mark.parametrize("parameter", NEW_PARAMETERS)
def test_the_readme_deploy_section_documents_each_hardening_parameter(parameter: str) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Deploying", 1)[1].split("\n## ", 1)[0]
    assert f"| `{parameter}` |" in section
