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


# -- the template as CloudFormation deploys it for given parameter values ------------------------------------

_NO_VALUE = object()


def parameter_values(document: dict[str, Any], overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """Each Parameter's value as CloudFormation holds it: its default, or the override; a string (numbers too), or a
    list of strings for a CommaDelimitedList. A Parameter with neither is left out."""
    values: dict[str, Any] = {}
    for name, spec in document.get("Parameters", {}).items():
        raw = (overrides or {}).get(name, spec.get("Default"))
        if raw is None:
            continue
        text = str(raw)
        values[name] = text.split(",") if spec.get("Type") == "CommaDelimitedList" else text
    return values


_BOOLEAN = {
    "Fn::Equals": lambda arguments: arguments[0] == arguments[1],
    "Fn::Not": lambda arguments: not arguments[0],
    "Fn::And": all,
    "Fn::Or": any,
}


def _evaluate(value: Any, values: dict[str, Any], conditions: dict[str, bool]) -> Any:
    """`value` with parameter Refs, Fn::If, Fn::Equals, Fn::Not, Fn::And, Fn::Or, Fn::Join and Condition evaluated;
    a `!Ref AWS::NoValue` is dropped from its mapping or list. Other intrinsics are kept as they are."""
    if isinstance(value, list):
        items = [_evaluate(entry, values, conditions) for entry in value]
        return [item for item in items if item is not _NO_VALUE]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        found = _intrinsic(*next(iter(value.items())), values, conditions)
        if found is not _KEEP:
            return found
    evaluated = {key: _evaluate(entry, values, conditions) for key, entry in value.items()}
    return {key: entry for key, entry in evaluated.items() if entry is not _NO_VALUE}


_KEEP = object()


def _intrinsic(key: str, argument: Any, values: dict[str, Any], conditions: dict[str, bool]) -> Any:
    """The value of one intrinsic function (`{key: argument}`), or _KEEP when it is not one evaluated here."""
    if key == "Ref":
        if argument == "AWS::NoValue":
            return _NO_VALUE
        return values.get(argument, _KEEP)
    if key == "Condition" and isinstance(argument, str):
        return conditions[argument]
    if key == "Fn::If":
        name, if_true, if_false = argument
        return _evaluate(if_true if conditions[name] else if_false, values, conditions)
    if key in _BOOLEAN:
        return _BOOLEAN[key](_evaluate(argument, values, conditions))
    if key == "Fn::Join":
        separator, parts = _evaluate(argument, values, conditions)
        if isinstance(parts, list) and all(isinstance(part, str) for part in parts):
            return str(separator).join(parts)
    return _KEEP


def conditions(document: dict[str, Any], values: dict[str, Any]) -> dict[str, bool]:
    """Each Condition of the template, evaluated for these parameter values."""
    found: dict[str, bool] = {}
    pending = dict(document.get("Conditions", {}))
    while pending:  # a condition may name another (Condition: Name): evaluate those first
        ready = {
            name: spec for name, spec in pending.items() if all(other in found for other in _condition_names(spec))
        }
        if not ready:
            raise ValueError(f"conditions that name each other or an unknown one: {sorted(pending)}")
        for name, spec in ready.items():
            found[name] = bool(_evaluate(spec, values, found))
            del pending[name]
    return found


def _condition_names(value: Any) -> set[str]:
    if isinstance(value, list):
        return {name for entry in value for name in _condition_names(entry)}
    if isinstance(value, dict):
        if set(value) == {"Condition"} and isinstance(value["Condition"], str):
            return {value["Condition"]}
        return {name for entry in value.values() for name in _condition_names(entry)}
    return set()


def rendered(document: dict[str, Any], overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """The template's Resources as CloudFormation would create them for these parameter values (defaults
    otherwise): resources whose Condition is false left out, every Fn::If chosen, AWS::NoValue dropped, Refs to
    parameters replaced by their values. Refs to resources, Fn::Sub and Fn::GetAtt are kept."""
    values = parameter_values(document, overrides)
    evaluated = conditions(document, values)
    resources: dict[str, Any] = {}
    for name, resource in document["Resources"].items():
        if "Condition" in resource and not evaluated[resource["Condition"]]:
            continue
        resources[name] = _evaluate(resource, values, evaluated)
    return resources


def function_environment(
    document: dict[str, Any], function: str, overrides: dict[str, str] | None = None
) -> dict[str, Any]:
    """The environment `function` gets in the cloud for these parameter values (defaults otherwise): the Globals'
    variables, then its own; Refs to parameters replaced by their values, others (resources) kept."""
    values = parameter_values(document, overrides)
    evaluated = conditions(document, values)
    variables = dict(document.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    variables.update(document["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {}))
    resolved: dict[str, Any] = _evaluate(variables, values, evaluated)
    return resolved
