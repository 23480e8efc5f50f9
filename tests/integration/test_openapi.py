"""The OpenAPI document tells the truth: every status an operation answers is declared with the schema it
answers, the error schema is the envelope the API sends, and real answers validate against what is declared."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.conftest import Harness, example

REF = "#/components/schemas/"


def sample() -> dict[str, Any]:
    return copy.deepcopy(example("data_processing")["flow"])


@pytest.fixture
def document(harness: Harness) -> dict[str, Any]:
    response = harness.request("GET", "/openapi.json")
    assert response.status == 200
    found: dict[str, Any] = json.loads(response.body)
    return found


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def conforms(document: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    """`body` validates against the schema `document` declares for (`method`, `path`, `status`)."""
    declared = document["paths"][path][method.lower()]["responses"]
    assert str(status) in declared, (method, path, status, sorted(declared))
    schema = declared[str(status)]["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": document["components"]}).validate(body)


def test_the_document_is_valid_openapi_and_uses_no_framework_error_shape(document: dict[str, Any]) -> None:
    from openapi_spec_validator import validate

    validate(document)
    assert not {"HTTPValidationError", "ValidationError", "ResponseValidationError"} & set(
        document["components"]["schemas"]
    )
    assert '"detail"' not in json.dumps(document)


def test_every_answer_is_declared_with_a_closed_schema(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for method, path, operation in operations(document):
        responses = operation["responses"]
        assert {"405", "429"} <= set(responses), (method, path)
        assert responses["405"]["headers"]["Allow"]["schema"] == {"type": "string"}
        for status, response in responses.items():
            schema = response["content"]["application/json"]["schema"]
            if status.startswith(("2", "3")):  # a success, or a redirect that says where to (a payload's link)
                name = schema["$ref"].removeprefix(REF)
                assert schemas[name]["type"] == "object", (method, path, status)
                assert schemas[name]["additionalProperties"] is False, (method, path, status)
            elif status not in ("401", "413", "429"):  # API Gateway answers these too, in its own body
                assert schema == {"$ref": REF + "ErrorResponse"}, (method, path, status)


def test_operations_declare_what_they_answer(document: dict[str, Any]) -> None:
    for method, path, expected in [
        ("POST", "/flows", {"200", "201", "400", "409", "413", "415", "422", "503"}),
        ("POST", "/flows/{flow_id}/executions", {"200", "202", "400", "404", "409", "413", "415", "422"}),
        ("GET", "/flows", {"200", "400", "422"}),
        ("GET", "/executions/{execution_id}/history", {"200", "400", "404", "422"}),
        ("POST", "/flow/execute", {"200", "400", "404", "409", "413", "415", "422"}),
        ("DELETE", "/flow/{execution_id}", {"200", "404", "422"}),
        ("GET", "/executions/{execution_id}/payloads/{sha256}", {"307", "404", "422", "503"}),
        ("GET", "/health", {"200"}),
    ]:
        declared = set(document["paths"][path][method.lower()]["responses"])
        assert expected <= declared, (method, path)
    assert "422" not in document["paths"]["/health"]["get"]["responses"]  # it reads nothing it could refuse


def test_the_task_type_is_one_of_the_registered_ones_and_task_type_is_its_alias(document: dict[str, Any]) -> None:
    task = document["components"]["schemas"]["TaskDefinition"]["properties"]
    assert task["type"]["enum"] == [
        *("callback", "eventbridge", "fetch_data", "http", "lambda", "pass", "print", "process_data"),
        *("sns", "sqs", "store_data", "subflow", "wait"),
    ]
    assert task["task_type"]["enum"] == task["type"]["enum"]


def test_real_answers_validate_against_what_is_declared(harness: Harness, document: dict[str, Any]) -> None:
    def check(method: str, path: str, template: str, body: Any = None, raw: bytes | None = None) -> Any:
        response = harness.request(method, path, body, raw=raw)
        conforms(document, template, method, response.status, response.json())
        return response

    assert check("GET", "/", "/").status == 200
    assert check("GET", "/health", "/health").status == 200
    assert check("POST", "/flows", "/flows", sample()).status == 201
    assert check("POST", "/flows", "/flows", sample()).status == 200
    assert check("GET", "/flows", "/flows").status == 200
    assert check("GET", "/flows/flow123", "/flows/{flow_id}").status == 200
    started = check("POST", "/flows/flow123/executions", "/flows/{flow_id}/executions", {"input": {"n": 1}})
    execution_id = started.json()["execution_id"]
    harness.drain()
    assert check("GET", f"/executions/{execution_id}", "/executions/{execution_id}").status == 200
    assert check("GET", f"/executions/{execution_id}/history", "/executions/{execution_id}/history").status == 200
    assert check("GET", f"/executions/{execution_id}/flow", "/executions/{execution_id}/flow").status == 200
    assert check("GET", "/executions?flow_id=flow123", "/executions").status == 200
    assert check("POST", f"/executions/{execution_id}/cancel", "/executions/{execution_id}/cancel").status == 409
    assert check("DELETE", f"/executions/{execution_id}", "/executions/{execution_id}").status == 200
    created = check("POST", "/flow/create", "/flow/create", sample())
    seed_id = created.json()["execution_id"]
    assert check("POST", "/flow/execute", "/flow/execute", {"execution_id": seed_id}).status == 200
    assert check("GET", f"/flow/{seed_id}/status", "/flow/{execution_id}/status").status == 200
    assert check("DELETE", f"/flow/{seed_id}", "/flow/{execution_id}").status == 200
    assert check("DELETE", "/flows/flow123", "/flows/{flow_id}").status == 200
    # and errors, each in the envelope its status declares
    assert check("GET", "/flows/flow123", "/flows/{flow_id}").status == 404
    assert check("POST", "/flows", "/flows", raw=b'{"name": NaN}').status == 400
    assert check("POST", "/flows", "/flows", {"name": "x"}).status == 422
    assert check("GET", "/flows?cursor=forged", "/flows").status == 400


def test_a_when_is_declared_as_its_five_forms_and_a_task_has_input_and_output(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    when = Draft202012Validator({"$ref": REF + "When", "components": document["components"]})
    for accepted in [
        {"path": "n", "op": "gt", "value": 1},
        {"path": "n", "op": "exists"},
        {"expr": "output.n > `1`"},
        {"all": [{"expr": "a"}, {"any": [{"not": {"path": "n", "op": "exists"}}]}]},
    ]:
        assert when.is_valid(accepted), accepted
    for refused in [
        {},
        {"path": "n"},
        {"expr": "a", "value": 1},
        {"expr": None},
        {"all": []},
        {"not": {"expr": "a"}, "any": [{"expr": "a"}]},
        {"not_": {"expr": "a"}},
    ]:
        assert not when.is_valid(refused), refused
    task = schemas["TaskDefinition"]["properties"]
    assert "`${expr}`" in task["input"]["description"]
    assert "`result`" in task["output"]["description"]
    assert "template" in task["parameters"]["description"]


def test_the_payload_download_declares_its_redirect_and_never_a_200(document: dict[str, Any]) -> None:
    responses = document["paths"]["/executions/{execution_id}/payloads/{sha256}"]["get"]["responses"]
    assert "200" not in responses
    assert set(responses["307"]["headers"]) == {"Location", "Cache-Control"}
    assert responses["307"]["content"]["application/json"]["schema"] == {"$ref": REF + "PayloadLink"}
    reference = document["components"]["schemas"]["PayloadReference"]
    assert reference["additionalProperties"] is False
    assert set(reference["required"]) == {"ref", "size", "sha256"}
