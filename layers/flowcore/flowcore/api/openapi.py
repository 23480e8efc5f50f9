"""The OpenAPI document, told truthfully: every status an operation can answer, with the schema it answers.

Routes declare their answers with `answers(...)`: plain dicts that refer to component schemas by name, so
that declaring them costs the handler's cold start nothing. `refine` finishes the document the resolver
generates: it adds those component schemas (from `flowcore.api.schemas`), states what the request models
accept beyond what pydantic writes down (a wrapped flow, the `task_type` alias, the registered task types),
and drops what the API never answers (the framework's `{"detail": [...]}` 422 and its unused schemas).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
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
    401: "No caller: the request has no valid credentials (a missing, expired or foreign token; an unsigned "
    'request in IAM mode). API Gateway\'s authorizer answers `{"message": "Unauthorized"}`',
    403: "The caller's token lacks a scope this route needs (the message names it)",
    429: "A quota of the caller's tenant is used up (`too_many_requests`: running executions, or starts per "
    "second; `Retry-After` says when to try again), or API Gateway throttled the route (its own body)",
    503: "DynamoDB or S3 kept refusing (throttling) after retries; try again",
}
#: Answered for every operation: by the gateway (429), or for another method on its path (405).
_ALWAYS = (405, 429)


def _content(schema: str) -> dict[str, Any]:
    return {JSON: {"schema": {"$ref": REF + schema}}}


def _error(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _WHY[status]}
    if status in (401, 413, 429):
        response["content"] = {
            JSON: {"schema": {"anyOf": [{"$ref": REF + "ErrorResponse"}, {"$ref": REF + "GatewayMessage"}]}}
        }
    else:
        response["content"] = _content("ErrorResponse")
    if status == 405:
        response["headers"] = {"Allow": {"description": "The methods the path has", "schema": {"type": "string"}}}
    if status == 429:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait (when a quota refused)", "schema": {"type": "string"}}
        }
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


#: How callers prove who they are: a JWT from the deployment's issuer, or a SigV4 signature (AuthMode IAM).
SECURITY_SCHEMES: dict[str, Any] = {
    "jwt": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A token from the issuer the stack names (JwtIssuer, JwtAudience); its `scope` claim grants "
        "flows:read, flows:write, executions:read, executions:write; its tenant claim (TenantClaim, `sub`) names "
        "whose flows and executions the caller sees",
    },
    "sigv4": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "AWS Signature Version 4 (AuthMode IAM): the caller's IAM principal is its tenant, and IAM "
        "policy (execute-api:Invoke) decides which routes it may call",
    },
}


def refine(
    document: dict[str, Any],
    task_types: list[str] | None = None,
    scopes: Mapping[tuple[str, str], frozenset[str]] | None = None,
) -> dict[str, Any]:
    """The generated document, finished (see the module's docstring). `task_types`: the names a task's `type`
    may take (the default registry's); `scopes`: what each route needs (method, path as routes spell it); a
    route not in it is public."""
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
    if scopes is not None:
        _secure(refined, scopes)
    _drop_unused(refined)
    return refined


def _secure(document: dict[str, Any], scopes: Mapping[tuple[str, str], frozenset[str]]) -> None:
    """Each operation's security requirement (scopes on the JWT scheme), and its 401 and 403; public: none."""
    document.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    needs = {(method, re.sub(r"<(\w+)>", r"{\1}", path)): need for (method, path), need in scopes.items()}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            need = needs.get((method.upper(), path))
            if need is None:
                operation["security"] = []
                continue
            operation["security"] = [{"jwt": sorted(need)}, {"sigv4": []}]
            responses = operation.setdefault("responses", {})
            responses["401"] = _error(401)
            if need:
                responses["403"] = _error(403)
            operation["responses"] = dict(sorted(responses.items()))


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
