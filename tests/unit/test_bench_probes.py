"""The cold-import probes of `make bench` hold what their names say, so their ratios can be read as such."""

from __future__ import annotations

import json

from bench.micro import HANDLERS, PROBES, fresh_interpreter

_LIST_MODULES = "import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"


def modules_after_import(module: str) -> set[str]:
    """Every module a fresh interpreter holds after importing `module`."""
    return set(json.loads(fresh_interpreter("-c", _LIST_MODULES.format(module=module)).stdout))


def of_package(modules: set[str], package: str) -> set[str]:
    return {name for name in modules if name == package or name.startswith(package + ".")}


def test_the_stack_floor_holds_the_stack_and_nothing_of_flow_managers() -> None:
    # Given / When
    modules = modules_after_import(PROBES["stack_floor"])

    # Then
    assert {"botocore.session", "botocore.config", "pydantic", "aws_lambda_powertools.logging"} <= modules
    assert of_package(modules, "flowcore") == set()
    assert of_package(modules, "functions") == set()
    assert of_package(modules, "aws_lambda_powertools.event_handler") == set()


def test_the_api_without_router_holds_every_flowcore_module_of_the_api_and_no_http_layer() -> None:
    # Given
    api = modules_after_import(HANDLERS["api"])

    # When
    probe = modules_after_import(PROBES["api_without_router"])

    # Then
    assert of_package(probe, "flowcore") == of_package(api, "flowcore")
    assert of_package(probe, "aws_lambda_powertools.event_handler") == set()
    assert of_package(api, "aws_lambda_powertools.event_handler") != set()
