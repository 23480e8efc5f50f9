"""HTTP API: parse the request, call the flow service, shape the answer. Nothing else lives here."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths

from flowcore.api import seed
from flowcore.api.errors import BadRequest, FlowError, PayloadTooLarge, error_answer, error_body
from flowcore.api.executions import ExecutionService
from flowcore.api.flows import FlowService
from flowcore.api.history import DEFAULT_HISTORY_RUNS, MAX_HISTORY_RUNS
from flowcore.api.models import FLOW_ID_PATTERN, ExecuteRequest, ExecutionStatus, FlowDefinition, StartRequest
from flowcore.api.validation import field_path
from flowcore.api.views import execution_summary, flow_listed, flow_summary
from flowcore.observability import logger
from flowcore.wiring import api as wiring
from flowcore.wiring.shared import forget

MAX_BODY_BYTES = 1024 * 1024
SERVICE_VERSION = "1.0.0"

DOCS_PATH = "/docs"

app = APIGatewayHttpResolver(enable_validation=True)

_docs_enabled = False


def flow_service() -> FlowService:
    return wiring.flows()


def execution_service() -> ExecutionService:
    return wiring.executions()


def reset() -> None:
    """Forget the use cases, as a new container would (the clients stay: `wiring.shared.reset` forgets those)."""
    forget(wiring.flows, wiring.executions)


def _enable_docs(event: dict[str, Any]) -> None:
    """Swagger UI is registered on the first request for it: its OpenAPI models cost ~50 ms to import,
    which no other route needs. A stage prefix (`/<stage>/docs`) counts too."""
    global _docs_enabled
    if not _docs_enabled and str(event.get("rawPath") or "").endswith(DOCS_PATH):
        app.enable_swagger(path=DOCS_PATH, title="Flow Manager", version=SERVICE_VERSION, description=__doc__)
        _docs_enabled = True


ExecutionId = Annotated[str, Path(max_length=64, description="An execution id")]
FlowId = Annotated[str, Path(pattern=FLOW_ID_PATTERN, description="A flow id")]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size")]
Cursor = Annotated[str | None, Query(max_length=2048, description="`next_cursor` of the previous page")]


def _error(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> Response[Any]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=error_body(code, message, details)
    )


@app.exception_handler(FlowError)
def handle_flow_error(error: FlowError) -> Response[Any]:
    status, body = error_answer(error)
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@app.exception_handler(RequestValidationError)
def handle_request_validation(error: RequestValidationError) -> Response[Any]:
    issues = error.errors()
    if any(issue.get("type") == "json_invalid" for issue in issues):
        position = next(issue["loc"][-1] for issue in issues if issue.get("type") == "json_invalid")
        return _error(400, "bad_request", f"the body is not valid JSON (at character {position})")
    prefix = ("flow",) if _wrapped_body() else ()
    details = [{"field": _issue_field(issue["loc"], prefix), "message": issue["msg"]} for issue in issues]
    return _error(
        422, "validation_error", f"the request has {len(details)} problem{'s' if len(details) != 1 else ''}", details
    )


def _issue_field(loc: tuple[Any, ...], prefix: tuple[str, ...]) -> str:
    if loc and loc[0] == "body":
        return field_path(prefix + tuple(loc[1:])) if len(loc) > 1 else "body"
    return field_path(tuple(loc))


def _wrapped_body() -> bool:
    try:
        body = app.current_event.json_body
    except (ValueError, TypeError):
        return False
    return isinstance(body, dict) and set(body) == {"flow"}


def _created(body: dict[str, Any], status: int = HTTPStatus.OK) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


# -- seed routes: the original's paths, codes and answers (flowcore.api.seed) ----------------------


@app.get("/", tags=["seed"], summary="The API is running")
def root() -> dict[str, Any]:
    return seed.root()


@app.get("/health", tags=["seed"], summary="Liveness")
def health() -> dict[str, Any]:
    return seed.health()


@app.post("/flow/create", tags=["seed"], summary="Store a flow and create an execution in CREATED")
def seed_create(
    definition: Annotated[FlowDefinition, Body(description='Flat, or wrapped as {"flow": {...}}')],
) -> dict[str, Any]:
    flow, _ = flow_service().save(definition)
    execution, _ = execution_service().create(flow, None, start=False)
    return seed.created(execution, flow)


@app.post("/flow/execute", tags=["seed"], summary="Start a CREATED execution, or run a stored flow; its status")
def seed_execute(request: Annotated[ExecuteRequest, Body()]) -> dict[str, Any]:
    if request.execution_id and (request.flow_id or request.input is not None):
        raise BadRequest("give either execution_id, or flow_id with an optional input; not both")
    if request.execution_id:
        with seed.execution_named(request.execution_id):
            execution = execution_service().start(request.execution_id)
    elif request.flow_id:
        flow = flow_service().get(request.flow_id)
        execution, _ = execution_service().create(flow, request.input, start=True)
    else:
        raise BadRequest("give execution_id, or flow_id with an optional input")
    return execution_service().status(execution.execution_id)


@app.get("/flow/<execution_id>/status", tags=["seed"], summary="Status of an execution and each of its tasks")
def seed_status(execution_id: ExecutionId) -> dict[str, Any]:
    with seed.execution_named(execution_id):
        return execution_service().status(execution_id)


@app.delete("/flow/<execution_id>", tags=["seed"], summary="Delete an execution and all its data")
def seed_delete(execution_id: ExecutionId) -> dict[str, Any]:
    with seed.execution_named(execution_id):
        execution_service().delete(execution_id)
    return seed.deleted(execution_id)


# -- resource routes ------------------------------------------------------------------------------


@app.post("/flows", tags=["flows"], summary="Store a flow definition as a new immutable version")
def create_flow(definition: Annotated[FlowDefinition, Body()]) -> Response[Any]:
    flow, created = flow_service().save(definition)
    return _created({**flow_summary(flow), "created": created}, HTTPStatus.CREATED if created else HTTPStatus.OK)


@app.get("/flows", tags=["flows"], summary="List flows")
def list_flows(limit: Limit = 25, cursor: Cursor = None) -> dict[str, Any]:
    flows, next_cursor = flow_service().list_flows(limit, cursor)
    return {"flows": [flow_listed(head) for head in flows], "next_cursor": next_cursor}


@app.get("/flows/<flow_id>", tags=["flows"], summary="A flow's definition (latest version unless `version` is given)")
def get_flow(flow_id: FlowId, version: Annotated[int | None, Query(ge=1)] = None) -> dict[str, Any]:
    flow = flow_service().get(flow_id, version)
    return {**flow_summary(flow), "definition": flow.definition.document}


@app.delete("/flows/<flow_id>", tags=["flows"], summary="Delete a flow and all its versions")
def delete_flow(flow_id: FlowId) -> dict[str, Any]:
    flow_service().delete(flow_id)
    return {"message": f"Flow {flow_id} deleted", "flow_id": flow_id}


@app.post("/flows/<flow_id>/executions", tags=["executions"], summary="Start an execution of the flow's latest version")
def start_flow(
    flow_id: FlowId,
    request: Annotated[StartRequest | None, Body()] = None,
    idempotency_key: Annotated[str | None, Header(alias="idempotency-key", max_length=128)] = None,
) -> Response[Any]:
    flow = flow_service().get(flow_id)
    execution, created = execution_service().create(flow, request.input if request else None, True, idempotency_key)
    body = execution_summary(execution)
    return _created(body, HTTPStatus.ACCEPTED if created else HTTPStatus.OK)


@app.get("/executions", tags=["executions"], summary="List a flow's executions, newest first")
def list_executions(
    flow_id: Annotated[str, Query(pattern=FLOW_ID_PATTERN, description="The flow whose executions to list")],
    status: Annotated[ExecutionStatus | None, Query()] = None,
    limit: Limit = 25,
    cursor: Cursor = None,
) -> dict[str, Any]:
    executions, next_cursor = execution_service().list_executions(flow_id, status, limit, cursor)
    return {"executions": [execution_summary(e) for e in executions], "next_cursor": next_cursor}


@app.get("/executions/<execution_id>", tags=["executions"], summary="Status of an execution and each of its tasks")
def get_execution(execution_id: ExecutionId) -> dict[str, Any]:
    return execution_service().status(execution_id)


@app.get(
    "/executions/<execution_id>/history",
    tags=["executions"],
    summary="Every attempt of every task run, in path order, a page of runs at a time",
)
def get_history(
    execution_id: ExecutionId,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_RUNS, description="Task runs per page")] = DEFAULT_HISTORY_RUNS,
    cursor: Cursor = None,
) -> dict[str, Any]:
    return execution_service().history(execution_id, limit, cursor)


@app.get("/executions/<execution_id>/flow", tags=["executions"], summary="The flow version the execution ran")
def get_execution_flow(execution_id: ExecutionId) -> dict[str, Any]:
    flow = execution_service().flow_of(execution_id)
    return {**flow_summary(flow), "definition": flow.definition.document}


@app.post("/executions/<execution_id>/cancel", tags=["executions"], summary="Cancel a CREATED or RUNNING execution")
def cancel_execution(execution_id: ExecutionId) -> dict[str, Any]:
    return execution_summary(execution_service().cancel(execution_id))


@app.delete("/executions/<execution_id>", tags=["executions"], summary="Delete an execution (cancelling it first)")
def delete_execution(execution_id: ExecutionId) -> dict[str, Any]:
    removed = execution_service().delete(execution_id)
    return {"message": f"Execution {execution_id} deleted", "execution_id": execution_id, "items_deleted": removed}


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[Any]:
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=app.get_openapi_json_schema(title="Flow Manager", version=SERVICE_VERSION, description=__doc__),
    )


def _body_size(event: dict[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4
    return len(body.encode()) if isinstance(body, str) else len(body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # `context`: Lambda's context object, or the local stack's stand-in for it (local/esm.py).
    size = _body_size(event)
    if size > MAX_BODY_BYTES:
        # Refused before parsing: a body this large is never read into models.
        return _too_large(size)
    _enable_docs(event)
    return app.resolve(event, context)


def _too_large(size: int) -> dict[str, Any]:
    status, body = error_answer(PayloadTooLarge(f"the body is {size} bytes; at most {MAX_BODY_BYTES}"))
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": body,
        "isBase64Encoded": False,
    }
