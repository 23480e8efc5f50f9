"""The OpenAPI document, told truthfully: every status an operation can answer, with the schema it answers.

Routes declare their answers with `answers(...)`: plain dicts that refer to component schemas by name, so
that declaring them costs the handler's cold start nothing. `refine` finishes the document the resolver
generates: it adds those component schemas (from `flowcore.api.schemas`), states what the request models
accept beyond what pydantic writes down (a wrapped flow, the `task_type` alias, the registered task types),
and drops what the API never answers (the framework's `{"detail": [...]}` 422 and its unused schemas).
"""

from __future__ import annotations

import copy
from typing import Any

REF = "#/components/schemas/"
JSON = "application/json"

#: Why each error status happens, for the operations that can answer it.
_WHY: dict[int, str] = {
    400: "The request cannot be read: a body that is not valid JSON (or not UTF-8, or with NaN, Infinity or a "
    "key given twice in one object), a cursor this listing did not issue, or a request that contradicts itself",
    404: "No such flow, execution or stored payload (or the flow was deleted)",
    405: "The path exists, but not with this method: `Allow` lists the methods it has",
    409: "The request does not fit the resource as it stands (its status, a racing change, an Idempotency-Key "
    "used with another input)",
    413: "The body is over 1 MiB (the function's answer; over 10 MB, API Gateway answers with its own body)",
    415: "The body is not sent as JSON: the request must say content-type: application/json",
    422: "A field is missing, of the wrong type or out of bounds, or the flow breaks a rule: one `details` entry "
    "per problem, each naming its field",
    429: "API Gateway throttled the route (100 requests/s, bursts of 200, per the stage's route settings); the "
    "body is API Gateway's own. The function itself never answers 429",
    503: "DynamoDB or S3 kept refusing (throttling) after retries; try again",
}
#: Answered for every operation: by the gateway (429), or for another method on its path (405).
_ALWAYS = (405, 429)


def _content(schema: str) -> dict[str, Any]:
    return {JSON: {"schema": {"$ref": REF + schema}}}


def _error(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _WHY[status]}
    if status == 429:
        response["content"] = _content("GatewayMessage")
    elif status == 413:
        response["content"] = {
            JSON: {"schema": {"anyOf": [{"$ref": REF + "ErrorResponse"}, {"$ref": REF + "GatewayMessage"}]}}
        }
    else:
        response["content"] = _content("ErrorResponse")
    if status == 405:
        response["headers"] = {"Allow": {"description": "The methods the path has", "schema": {"type": "string"}}}
    return response


def answers(
    success: dict[int, tuple[str, str]], *errors: int, headers: dict[int, dict[str, str]] | None = None
) -> dict[int, Any]:
    """An operation's responses: `success` maps each 2xx (or 3xx) to (schema name, description); `errors` are the
    4xx/5xx it can answer besides 405 and 429, which every operation can; `headers` names, per status, the
    headers it sets and what each holds."""
    documented: dict[int, Any] = {
        status: {"description": description, "content": _content(schema)}
        for status, (schema, description) in success.items()
    }
    for status, named in (headers or {}).items():
        documented[status]["headers"] = {
            name: {"description": meaning, "schema": {"type": "string"}} for name, meaning in named.items()
        }
    for status in sorted({*errors, *_ALWAYS}):
        documented[status] = _error(status)
    return documented


#: The errors of an operation that reads a JSON body, and of one that reads the table.
BODY_ERRORS = (400, 413, 415, 422)
STORE_ERRORS = (503,)


def refine(document: dict[str, Any], task_types: list[str] | None = None) -> dict[str, Any]:
    """The generated document, finished (see the module's docstring). `task_types`: the names a task's `type`
    may take (the default registry's)."""
    from pydantic.json_schema import models_json_schema

    from flowcore.api.schemas import DOCUMENTS
    from flowcore.tasks import default_registry

    if task_types is None:
        task_types = default_registry().names()
    refined = copy.deepcopy(document)
    schemas: dict[str, Any] = refined.setdefault("components", {}).setdefault("schemas", {})
    _, generated = models_json_schema([(model, "serialization") for model in DOCUMENTS], ref_template=REF + "{model}")
    schemas.update(generated.get("$defs", {}))
    _describe_requests(refined, schemas, task_types)
    for operation in _operations(refined):
        responses = operation.get("responses", {})
        if "422" in responses and "#/components/schemas/HTTPValidationError" in str(responses["422"]):
            del responses["422"]  # the framework's default: this operation reads nothing it could refuse
    _drop_unused(refined)
    return refined


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [operation for path in document.get("paths", {}).values() for operation in path.values()]


def _describe_requests(document: dict[str, Any], schemas: dict[str, Any], task_types: list[str]) -> None:
    task = schemas.get("TaskDefinition", {}).get("properties", {})
    if "type" in task:
        task["type"]["enum"] = task_types
        task["task_type"] = {**task["type"], "description": "Alias of `type` (the original's name)"}
    for operation in _operations(document):
        body = operation.get("requestBody", {}).get("content", {}).get(JSON, {})
        if body.get("schema") == {"$ref": REF + "FlowDefinition"}:
            wrapped = {
                "type": "object",
                "properties": {"flow": {"$ref": REF + "FlowDefinition"}},
                "required": ["flow"],
                "additionalProperties": False,
            }
            body["schema"] = {"anyOf": [{"$ref": REF + "FlowDefinition"}, wrapped]}


def _drop_unused(document: dict[str, Any]) -> None:
    """Component schemas nothing refers to any more (the framework's validation error shapes)."""
    schemas = document.get("components", {}).get("schemas", {})
    while True:
        text = str({key: value for key, value in document.items() if key != "components"}) + str(schemas)
        unused = [name for name in schemas if f"{REF}{name}'" not in text]
        if not unused:
            return
        for name in unused:
            del schemas[name]
