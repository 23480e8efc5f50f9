"""HTTP API: parse the request, call the flow service, shape the answer. Nothing else lives here.

Seed routes answer as the original FastAPI service did (`flowcore.api.seed`); resource routes in their REST
shapes. Every error is `{"error": {"code", "message", "details"}}`, and the OpenAPI document at
`/openapi.json` declares every status and schema each operation answers (`flowcore.api.openapi`).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from flowcore.api import body, seed
from flowcore.api.callbacks import CallbackRequest, CallbackService
from flowcore.api.errors import (
    BadRequest,
    FlowError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    error_answer,
    error_body,
)
from flowcore.api.executions import DOWNLOAD_SECONDS, ExecutionService
from flowcore.api.flows import FlowService
from flowcore.api.history import DEFAULT_HISTORY_RUNS, MAX_HISTORY_RUNS
from flowcore.api.identity import EXECUTIONS_READ, EXECUTIONS_WRITE, FLOWS_READ, FLOWS_WRITE, Caller, caller_of
from flowcore.api.models import (
    EXECUTION_ID_PATTERN,
    FLOW_ID_PATTERN,
    ExecuteRequest,
    ExecutionStatus,
    FlowDefinition,
    StartRequest,
)
from flowcore.api.openapi import BODY_ERRORS, STORE_ERRORS, answers
from flowcore.api.validation import field_path
from flowcore.api.views import execution_summary, flow_listed, flow_summary
from flowcore.observability import logger
from flowcore.wiring import api as wiring
from flowcore.wiring.shared import forget

try:
    from functions.api import dashboard
except ModuleNotFoundError:  # on Lambda, app.py is a top-level module with dashboard.py beside it
    import dashboard  # type: ignore[import-not-found,no-redef]

MAX_BODY_BYTES = 1024 * 1024
SERVICE_VERSION = "1.0.0"
TITLE = "Flow Manager"

DOCS_PATH = "/docs"
DOCS_METHOD = "GET"


def _read_json(text: str) -> Any:
    """Bodies are read as strict JSON objects only (`flowcore.api.body`)."""
    return body.read_object(text)


class FlowApiResolver(APIGatewayHttpResolver):
    """The resolver, with its OpenAPI document finished by `flowcore.api.openapi.refine` (for /openapi.json
    and for Swagger UI alike)."""

    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        from aws_lambda_powertools.event_handler.openapi.models import OpenAPI

        from flowcore.api.openapi import refine

        generated = super().get_openapi_schema(*args, **kwargs)
        document = generated.model_dump(mode="json", by_alias=True, exclude_none=True)
        return OpenAPI.model_validate(refine(document, scopes=ROUTE_SCOPES))


app = FlowApiResolver(enable_validation=True, json_body_deserializer=_read_json)

_docs_enabled = False


def flow_service() -> FlowService:
    return wiring.flows()


def execution_service() -> ExecutionService:
    return wiring.executions()


def callback_service() -> CallbackService:
    return wiring.callbacks()


def reset() -> None:
    """Forget the use cases, as a new container would (the clients stay: `wiring.shared.reset` forgets those)."""
    forget(wiring.flows, wiring.executions, wiring.callbacks)


def _enable_docs(event: dict[str, Any]) -> None:
    """Swagger UI is registered on the first request for it: its OpenAPI models cost ~50 ms to import,
    which no other route needs. A stage prefix (`/<stage>/docs`) counts too."""
    global _docs_enabled
    if not _docs_enabled and str(event.get("rawPath") or "").endswith(DOCS_PATH):
        app.enable_swagger(path=DOCS_PATH, title=TITLE, version=SERVICE_VERSION, description=__doc__)
        _docs_enabled = True


ExecutionId = Annotated[str, Path(pattern=EXECUTION_ID_PATTERN, description="An execution id")]
FlowId = Annotated[str, Path(pattern=FLOW_ID_PATTERN, description="A flow id")]
Sha256 = Annotated[
    str, Path(pattern=r"^[0-9a-f]{64}$", description="The value's SHA-256, as its reference (`ref`) names it")
]
CallbackToken = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_-]{1,900}\.[A-Za-z0-9_-]{43}$", description="A callback token, as issued")
]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size")]
Cursor = Annotated[
    str | None, Query(max_length=2048, description="`next_cursor` of the previous page (400 if it is not one)")
]


def _error(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> Response[Any]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=error_body(code, message, details)
    )


@app.exception_handler(FlowError)
def handle_flow_error(error: FlowError) -> Response[Any]:
    status, answer = error_answer(error)
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=answer, headers=_error_headers(error)
    )


def _error_headers(error: FlowError) -> dict[str, str]:
    if isinstance(error, TooManyRequests):
        return {"Retry-After": str(error.retry_after)}
    if isinstance(error, MethodNotAllowed):
        return {"Allow": ", ".join(error.allow)}
    return {}


# -- who may call what ----------------------------------------------------------------------------

#: Answered to anyone: API Gateway runs no authorizer on these two routes either.
PUBLIC_ROUTES = frozenset({("GET", "/"), ("GET", "/health")})
_FLOWS_READ = frozenset({FLOWS_READ})
_FLOWS_WRITE = frozenset({FLOWS_WRITE})
_EXECUTIONS_READ = frozenset({EXECUTIONS_READ})
_EXECUTIONS_WRITE = frozenset({EXECUTIONS_WRITE})
#: The scopes each route needs (by method and path as the routes below spell them). A route not listed here is
#: refused to every caller (403): a new route must say who may call it. The documents need a caller, no scope.
ROUTE_SCOPES: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/flow/create"): frozenset({FLOWS_WRITE, EXECUTIONS_WRITE}),
    ("POST", "/flow/execute"): _EXECUTIONS_WRITE,
    ("GET", "/flow/<execution_id>/status"): _EXECUTIONS_READ,
    ("DELETE", "/flow/<execution_id>"): _EXECUTIONS_WRITE,
    ("POST", "/flows"): _FLOWS_WRITE,
    ("GET", "/flows"): _FLOWS_READ,
    ("GET", "/flows/<flow_id>"): _FLOWS_READ,
    ("DELETE", "/flows/<flow_id>"): _FLOWS_WRITE,
    ("POST", "/flows/<flow_id>/executions"): _EXECUTIONS_WRITE,
    ("GET", "/executions"): _EXECUTIONS_READ,
    ("GET", "/executions/<execution_id>"): _EXECUTIONS_READ,
    ("GET", "/executions/<execution_id>/history"): _EXECUTIONS_READ,
    ("GET", "/executions/<execution_id>/flow"): _EXECUTIONS_READ,
    ("GET", "/executions/<execution_id>/payloads/<sha256>"): _EXECUTIONS_READ,
    ("POST", "/executions/<execution_id>/cancel"): _EXECUTIONS_WRITE,
    ("DELETE", "/executions/<execution_id>"): _EXECUTIONS_WRITE,
    ("POST", "/callbacks/<token>"): _EXECUTIONS_WRITE,
    ("POST", "/callbacks/<token>/heartbeat"): _EXECUTIONS_WRITE,
    ("GET", "/openapi.json"): frozenset(),
    (DOCS_METHOD, DOCS_PATH): frozenset(),
}


def caller() -> Caller:
    """The caller of the route being answered (set by `lambda_handler` before any route runs)."""
    found: Caller = app.context["caller"]
    return found


@app.exception_handler(RequestValidationError)
def handle_request_validation(error: RequestValidationError) -> Response[Any]:
    prefix = ("flow",) if _wrapped_body() else ()
    details = [{"field": _issue_field(issue["loc"], prefix), "message": issue["msg"]} for issue in error.errors()]
    return _error(
        422, "validation_error", f"the request has {len(details)} problem{'s' if len(details) != 1 else ''}", details
    )


def _issue_field(loc: tuple[Any, ...], prefix: tuple[str, ...]) -> str:
    if loc and loc[0] == "body":
        return field_path(prefix + tuple(loc[1:])) if len(loc) > 1 else "body"
    return field_path(tuple(loc))


def _wrapped_body() -> bool:
    try:
        document = app.current_event.json_body
    except (ValueError, TypeError, FlowError):
        return False
    return isinstance(document, dict) and set(document) == {"flow"}


def _answer(document: dict[str, Any], status: int) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(document))


OK, CREATED, ACCEPTED = int(HTTPStatus.OK), int(HTTPStatus.CREATED), int(HTTPStatus.ACCEPTED)
REDIRECT = int(HTTPStatus.TEMPORARY_REDIRECT)
STATUS = {OK: ("StatusDocument", "The status document")}
FLOW_STORED = {
    CREATED: ("FlowStored", "Stored as a new version"),
    OK: ("FlowStored", "The latest version already holds this definition"),
}
WRAPPED = 'Flat, or wrapped as {"flow": {...}}'
EXECUTION_STARTED = {
    ACCEPTED: ("ExecutionSummary", "Started"),
    OK: ("ExecutionSummary", "The execution this Idempotency-Key started before"),
}


# -- seed routes: the original's paths, codes and answers (flowcore.api.seed) ----------------------


@app.get("/", tags=["seed"], summary="The API is running", responses=answers({OK: ("Root", "Running")}))
def root() -> dict[str, Any]:
    return seed.root()


@app.get("/health", tags=["seed"], summary="Liveness", responses=answers({OK: ("Health", "Healthy")}))
def health() -> dict[str, Any]:
    return seed.health()


@app.post(
    "/flow/create",
    tags=["seed"],
    summary="Store a flow and create an execution in CREATED",
    responses=answers({OK: ("SeedCreated", "Created")}, *BODY_ERRORS, 409, *STORE_ERRORS),
)
def seed_create(
    definition: Annotated[FlowDefinition, Body(description=WRAPPED)],
) -> dict[str, Any]:
    flow, _ = flow_service().save(caller().tenant, definition)
    execution, _ = execution_service().create(flow, None, start=False)
    return seed.created(execution, flow)


@app.post(
    "/flow/execute",
    tags=["seed"],
    summary="Start a CREATED execution, or run a stored flow; its status",
    responses=answers(STATUS, *BODY_ERRORS, 404, 409, *STORE_ERRORS),
)
def seed_execute(request: Annotated[ExecuteRequest, Body()]) -> dict[str, Any]:
    if request.execution_id and (request.flow_id or request.input is not None):
        raise BadRequest("give either execution_id, or flow_id with an optional input; not both")
    if request.execution_id:
        with seed.execution_named(request.execution_id):
            execution = execution_service().start(caller().execution(request.execution_id))
    elif request.flow_id:
        flow = flow_service().get(caller().flow(request.flow_id))
        execution, _ = execution_service().create(flow, request.input, start=True)
    else:
        raise BadRequest("give execution_id, or flow_id with an optional input")
    return execution_service().status(execution.execution_id)


@app.get(
    "/flow/<execution_id>/status",
    tags=["seed"],
    summary="Status of an execution and each of its tasks",
    responses=answers(STATUS, 404, 422, *STORE_ERRORS),
)
def seed_status(execution_id: ExecutionId) -> dict[str, Any]:
    with seed.execution_named(execution_id):
        return execution_service().status(caller().execution(execution_id))


@app.delete(
    "/flow/<execution_id>",
    tags=["seed"],
    summary="Delete an execution and all its data",
    responses=answers({OK: ("Message", "Deleted")}, 404, 422, *STORE_ERRORS),
)
def seed_delete(execution_id: ExecutionId) -> dict[str, Any]:
    with seed.execution_named(execution_id):
        execution_service().delete(caller().execution(execution_id))
    return seed.deleted(execution_id)


# -- resource routes ------------------------------------------------------------------------------


@app.post(
    "/flows",
    tags=["flows"],
    summary="Store a flow definition as a new immutable version",
    responses=answers(FLOW_STORED, *BODY_ERRORS, 409, *STORE_ERRORS),
)
def create_flow(
    definition: Annotated[FlowDefinition, Body(description='Flat, or wrapped as {"flow": {...}}')],
) -> Response[Any]:
    flow, created = flow_service().save(caller().tenant, definition)
    return _answer({**flow_summary(flow), "created": created}, HTTPStatus.CREATED if created else OK)


@app.get(
    "/flows",
    tags=["flows"],
    summary="List flows (a deleted flow is not listed)",
    responses=answers({OK: ("FlowPage", "A page of flows")}, 400, 422, *STORE_ERRORS),
)
def list_flows(limit: Limit = 25, cursor: Cursor = None) -> dict[str, Any]:
    flows, next_cursor = flow_service().list_flows(caller().tenant, limit, cursor)
    return {"flows": [flow_listed(head) for head in flows], "next_cursor": next_cursor}


@app.get(
    "/flows/<flow_id>",
    tags=["flows"],
    summary="A flow's definition (latest version unless `version` is given); 404 once the flow is deleted",
    responses=answers({OK: ("FlowVersion", "The version")}, 404, 422, *STORE_ERRORS),
)
def get_flow(flow_id: FlowId, version: Annotated[int | None, Query(ge=1)] = None) -> dict[str, Any]:
    flow = flow_service().get(caller().flow(flow_id), version)
    return {**flow_summary(flow), "definition": flow.definition.document}


@app.delete(
    "/flows/<flow_id>",
    tags=["flows"],
    summary="Delete a flow; its version numbers are never given again",
    responses=answers({OK: ("FlowDeleted", "Deleted")}, 404, 409, 422, *STORE_ERRORS),
)
def delete_flow(flow_id: FlowId) -> dict[str, Any]:
    flow_service().delete(caller().flow(flow_id))
    return {"message": f"Flow {flow_id} deleted", "flow_id": flow_id}


@app.post(
    "/flows/<flow_id>/executions",
    tags=["executions"],
    summary="Start an execution of the flow's latest version",
    responses=answers(EXECUTION_STARTED, *BODY_ERRORS, 404, 409, *STORE_ERRORS),
)
def start_flow(
    flow_id: FlowId,
    request: Annotated[StartRequest | None, Body()] = None,
    idempotency_key: Annotated[str | None, Header(alias="idempotency-key", max_length=128)] = None,
) -> Response[Any]:
    flow = flow_service().get(caller().flow(flow_id))
    execution, created = execution_service().create(flow, request.input if request else None, True, idempotency_key)
    return _answer(execution_summary(execution), ACCEPTED if created else OK)


@app.get(
    "/executions",
    tags=["executions"],
    summary="List a flow's executions, newest first",
    responses=answers({OK: ("ExecutionPage", "A page of executions")}, 400, 404, 422, *STORE_ERRORS),
)
def list_executions(
    flow_id: Annotated[str, Query(pattern=FLOW_ID_PATTERN, description="The flow whose executions to list")],
    status: Annotated[ExecutionStatus | None, Query()] = None,
    limit: Limit = 25,
    cursor: Cursor = None,
) -> dict[str, Any]:
    executions, next_cursor = execution_service().list_executions(caller().flow(flow_id), status, limit, cursor)
    return {"executions": [execution_summary(e) for e in executions], "next_cursor": next_cursor}


@app.get(
    "/executions/<execution_id>",
    tags=["executions"],
    summary="Status of an execution and each of its tasks",
    responses=answers(STATUS, 404, 422, *STORE_ERRORS),
)
def get_execution(execution_id: ExecutionId) -> dict[str, Any]:
    return execution_service().status(caller().execution(execution_id))


@app.get(
    "/executions/<execution_id>/history",
    tags=["executions"],
    summary="Every attempt of every task run, in path order, a page of runs at a time",
    responses=answers({OK: ("HistoryPage", "A page of the history")}, 400, 404, 422, *STORE_ERRORS),
)
def get_history(
    execution_id: ExecutionId,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_RUNS, description="Task runs per page")] = DEFAULT_HISTORY_RUNS,
    cursor: Cursor = None,
) -> dict[str, Any]:
    return execution_service().history(caller().execution(execution_id), limit, cursor)


@app.get(
    "/executions/<execution_id>/flow",
    tags=["executions"],
    summary="The flow version the execution ran (also after the flow was deleted)",
    responses=answers({OK: ("FlowVersion", "The version")}, 404, 422, *STORE_ERRORS),
)
def get_execution_flow(execution_id: ExecutionId) -> dict[str, Any]:
    flow = execution_service().flow_of(caller().execution(execution_id))
    return {**flow_summary(flow), "definition": flow.definition.document}


@app.get(
    "/executions/<execution_id>/payloads/<sha256>",
    tags=["executions"],
    summary="Download a value kept in the payload store (an input or output over 32,000 bytes as JSON)",
    description="A redirect to a presigned link that answers the value as JSON for 15 minutes: values up to 10 MB "
    "are served by S3, beyond what a Lambda response can carry. The body gives the same link.",
    responses=answers(
        {REDIRECT: ("PayloadLink", "Redirected to the value's download link")},
        404,
        422,
        *STORE_ERRORS,
        headers={
            REDIRECT: {"Location": "The download link (the body's `url`)", "Cache-Control": "`no-store`"},
        },
    ),
)
def download_payload(execution_id: ExecutionId, sha256: Sha256) -> Response[Any]:
    ref, url = execution_service().payload(caller().execution(execution_id), sha256)
    link = {"url": url, "expires_in": DOWNLOAD_SECONDS, "size": ref.size, "sha256": ref.sha256}
    # The link carries a signature (and the function's session token) for its lifetime: no cache keeps it.
    return Response(
        status_code=REDIRECT,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(link),
        headers={"Location": url, "Cache-Control": "no-store"},
    )


@app.post(
    "/executions/<execution_id>/cancel",
    tags=["executions"],
    summary="Cancel a CREATED or RUNNING execution",
    responses=answers({OK: ("ExecutionSummary", "Cancelled")}, 404, 409, 422, *STORE_ERRORS),
)
def cancel_execution(execution_id: ExecutionId) -> dict[str, Any]:
    return execution_summary(execution_service().cancel(caller().execution(execution_id)))


@app.delete(
    "/executions/<execution_id>",
    tags=["executions"],
    summary="Delete an execution, its task runs and its stored payloads (cancelling it first)",
    responses=answers({OK: ("ExecutionDeleted", "Deleted")}, 404, 422, *STORE_ERRORS),
)
def delete_execution(execution_id: ExecutionId) -> dict[str, Any]:
    removed = execution_service().delete(caller().execution(execution_id))
    return {
        "message": f"Execution {execution_id} deleted",
        "execution_id": execution_id,
        "items_deleted": removed.items,
        "payloads_deleted": removed.payloads,
    }


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[Any]:
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=app.get_openapi_json_schema(title=TITLE, version=SERVICE_VERSION, description=__doc__),
    )


@app.post(
    "/callbacks/<token>",
    tags=["callbacks"],
    summary="Complete a task run that waits for its callback (once: the same completion again answers alike)",
    responses=answers({OK: ("CallbackAnswer", "The completion that holds")}, *BODY_ERRORS, 404, 409, *STORE_ERRORS),
)
def complete_callback(token: CallbackToken, request: Annotated[CallbackRequest, Body()]) -> dict[str, Any]:
    succeeded = request.outcome == "success"
    return callback_service().complete(caller().tenant, token, succeeded, request.output, request.error)


@app.post(
    "/callbacks/<token>/heartbeat",
    tags=["callbacks"],
    summary="Keep a task run that waits for its callback alive (its heartbeat_seconds start again)",
    responses=answers({OK: ("HeartbeatAnswer", "The run's new deadline")}, 404, 409, 422, *STORE_ERRORS),
)
def heartbeat_callback(token: CallbackToken) -> dict[str, Any]:
    return callback_service().heartbeat(caller().tenant, token)


# -- the door: what API Gateway's `ANY /{proxy+}` route sends that no route takes -------------------


def _routes_of(path: str) -> dict[str, Any]:
    """The routes `path` has, by method. Matched with the resolver's own compiled rules (powertools has no
    public lookup). A path a literal route spells out is that route's (`/flow/create`), not a value of another
    route's parameter (`/flow/{execution_id}`)."""
    for routes in (app._static_routes, app._dynamic_routes):
        found = {route.method: route for route in routes if route.rule.match(path)}
        if found:
            return found
    return {}


def _refused(event: dict[str, Any]) -> FlowError | None:
    """Why the request cannot reach a route, if it cannot, in the order API Gateway and the function would
    find it: no caller the authorizer vouched for (401; a public route needs none), a path no route has (404),
    a method the path does not have (405), a scope the caller lacks (403), or a body its route would read that
    is over the limit (413), not sent as JSON (415) or not UTF-8 (400). Routes that read no body ignore one.
    The caller of a route that may run is in `app.context` (`caller()`)."""
    request = APIGatewayProxyEventV2(event)
    public = (request.http_method, request.path) in PUBLIC_ROUTES
    try:
        who = None if public else _caller_of(event)
    except FlowError as error:
        return error
    routes = _routes_of(request.path)
    if not routes:
        return NotFound(f"no route matches {request.path}")
    route = routes.get(request.http_method)
    if route is None:
        return MethodNotAllowed(request.http_method, request.path, sorted(routes))
    if who is not None:
        try:
            who.require(ROUTE_SCOPES.get((route.method, route.path), _UNLISTED))
        except FlowError as error:
            return error
        app.context["caller"] = who
    size = _body_size(event)
    if route.dependant.body_params and size:
        if size > MAX_BODY_BYTES:
            # Refused before parsing: a body this large is never read into models.
            return PayloadTooLarge(f"the body is {size} bytes; at most {MAX_BODY_BYTES}")
        try:
            body.require_json(request.headers.get("content-type"))
            _decoded_body(event)
        except FlowError as error:
            return error
    return None


def _decoded_body(event: dict[str, Any]) -> str:
    raw = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return str(raw)
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except binascii.Error as error:
        raise BadRequest("the body is not valid base64") from error
    except UnicodeDecodeError as error:
        raise BadRequest(f"the body is not valid UTF-8 (byte {error.start}: {error.reason})") from error


def _body_size(event: dict[str, Any]) -> int:
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(raw) * 3 // 4
    return len(raw.encode()) if isinstance(raw, str) else len(raw)


def _caller_of(event: dict[str, Any]) -> Caller:
    sam_local = os.environ.get("AWS_SAM_LOCAL") == "true"  # set by `sam local` in its containers, nowhere else
    return caller_of(event.get("requestContext") or {}, wiring.tenant_claim(), sam_local)


#: What a route missing from ROUTE_SCOPES needs: a scope no caller has (it is refused to everyone).
_UNLISTED = frozenset({"route-not-authorized"})


def _refusal(error: FlowError) -> dict[str, Any]:
    app.context.pop("caller", None)  # a refused request leaves no caller behind for the next one
    status, answer = error_answer(error)
    headers = {"Content-Type": content_types.APPLICATION_JSON, **_error_headers(error)}
    return {"statusCode": status, "headers": headers, "body": answer, "isBase64Encoded": False}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # `context`: Lambda's context object, or the local stack's stand-in for it (local/esm.py).
    if (page := dashboard.answer(event)) is not None:
        return page
    _enable_docs(event)
    refused = _refused(event)
    if refused is not None:
        return _refusal(refused)
    return app.resolve(event, context)
