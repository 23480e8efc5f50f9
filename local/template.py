"""Reads `template.yaml` so that the local stack and the tests build exactly what the template declares."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader that keeps CloudFormation short-form tags (!Ref, !GetAtt, ...) as {"Tag": value}."""


def _tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


@dataclass(frozen=True)
class StreamMapping:
    """The task runner's DynamoDB event source, as the template configures it."""

    batch_size: int
    max_retries: int
    bisect_on_error: bool
    report_item_failures: bool
    filters: list[dict[str, Any]]


@dataclass(frozen=True)
class StackSpec:
    table: dict[str, Any]
    mapping: StreamMapping
    timer_definition: str
    environment: dict[str, str] = field(default_factory=dict)
    #: The payload bucket's properties, parameters resolved (`PayloadBucket`).
    bucket: dict[str, Any] = field(default_factory=dict)


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    return document


def _resolve(value: Any, parameters: dict[str, Any]) -> Any:
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
        return parameters[value["Ref"]]
    return value


def _resolved(value: Any, parameters: dict[str, Any]) -> Any:
    """`value` with every `!Ref` to a parameter replaced by its default, at any depth."""
    value = _resolve(value, parameters)
    if isinstance(value, dict):
        return {key: _resolved(entry, parameters) for key, entry in value.items()}
    if isinstance(value, list):
        return [_resolved(entry, parameters) for entry in value]
    return value


def stack_spec(path: Path = TEMPLATE) -> StackSpec:
    document = load(path)
    parameters = {name: spec.get("Default") for name, spec in document.get("Parameters", {}).items()}
    resources = document["Resources"]
    table = resources["FlowTable"]["Properties"]

    runner = resources["TaskRunnerFunction"]["Properties"]
    stream_event = next(event["Properties"] for event in runner["Events"].values() if event["Type"] == "DynamoDB")
    filters = [json.loads(entry["Pattern"]) for entry in stream_event.get("FilterCriteria", {}).get("Filters", [])]
    mapping = StreamMapping(
        batch_size=int(_resolve(stream_event.get("BatchSize", 100), parameters)),
        max_retries=int(_resolve(stream_event.get("MaximumRetryAttempts", -1), parameters)),
        bisect_on_error=bool(stream_event.get("BisectBatchOnFunctionError", False)),
        report_item_failures="ReportBatchItemFailures" in stream_event.get("FunctionResponseTypes", []),
        filters=filters,
    )

    machine = resources["TimerStateMachine"]["Properties"]
    definition = (ROOT / machine["DefinitionUri"]).read_text(encoding="utf-8")

    environment = {
        name: str(_resolve(value, parameters))
        for name, value in document.get("Globals", {})
        .get("Function", {})
        .get("Environment", {})
        .get("Variables", {})
        .items()
        if not isinstance(_resolve(value, parameters), dict)
    }
    bucket = _resolved(resources.get("PayloadBucket", {}).get("Properties", {}), parameters)
    return StackSpec(table=table, mapping=mapping, timer_definition=definition, environment=environment, bucket=bucket)


def role_statements(document: dict[str, Any], function: str) -> list[tuple[str | None, dict[str, Any]]]:
    """Each statement of the policies of `function`'s role (its `Role: !GetAtt <role>.Arn`), with the Condition its
    policy is granted under (None: always)."""
    role = document["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
    found: list[tuple[str | None, dict[str, Any]]] = []
    for policy in document["Resources"][role]["Properties"].get("Policies", []):
        condition = None
        if "Fn::If" in policy:
            condition, policy, otherwise = policy["Fn::If"]  # noqa: PLW2901 - the policy inside the condition
            if otherwise != {"Ref": "AWS::NoValue"}:
                raise ValueError(f"{role}: a conditional policy drops itself when its condition is false")
        found.extend((condition, statement) for statement in policy["PolicyDocument"]["Statement"])
    return found
