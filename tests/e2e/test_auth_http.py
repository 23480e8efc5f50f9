"""The authorization matrix over HTTP: the local stack under `--auth jwt`, every route of the API x every kind of
caller (issue 15, item 7).

Callers: no token, a bad signature, an expired token, a wrong audience, a wrong issuer (each refused by the
stack's JWT authorizer, local/auth.py: 401 `{"message":"Unauthorized"}`, the function never invoked); another
tenant holding every scope (404 on a route naming the owner's resource; a listing answers 200 without the owner's
items; a create makes the caller's own); the owner without the route's scope (403); the owner with it (the route's
success status). After every cell that could write, the owner's flows and execution are what they were.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest

from local.auth import ALL_SCOPES, LocalAuthority
from local.runtime import LocalRuntime
from tests.e2e.conftest import DEADLINE_SECONDS, Reply

pytestmark = pytest.mark.e2e

OWNER = "alice"
OTHER = "mallory"
FLOWS_READ, FLOWS_WRITE, EXECUTIONS_READ, EXECUTIONS_WRITE = ALL_SCOPES
#: Over the 32,000 bytes kept inline: the execution's input goes to the payload store, and has a download route.
LARGE = "z" * 40_000


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


#: Straight to 127.0.0.1, whatever proxy the environment names; a redirect is an answer, not followed.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


@dataclass
class Caller:
    base_url: str

    def call(self, method: str, path: str, token: str | None, body: Any = None) -> Reply:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            request.add_header("content-type", "application/json")
        if token is not None:
            request.add_header("authorization", f"Bearer {token}")
        try:
            with _OPENER.open(request, timeout=30) as response:
                return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
        except urllib.error.HTTPError as error:
            with error:
                return Reply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


@dataclass
class Tokens:
    """Tokens for every kind of caller, all but `forged` signed with the stack's key."""

    authority: LocalAuthority
    forged: str = ""
    _stranger: LocalAuthority = field(default_factory=LocalAuthority)

    def __post_init__(self) -> None:
        # Another key, under the stack's kid: a signature that does not verify.
        claims = jwt.decode(self.owner(), options={"verify_signature": False})
        self.forged = jwt.encode(claims, self._stranger._key, algorithm="RS256", headers={"kid": self.authority.kid})

    def owner(self, *scopes: str) -> str:
        return self.authority.issue(OWNER, scopes or ALL_SCOPES)

    def other(self) -> str:
        return self.authority.issue(OTHER, ALL_SCOPES)

    def without(self, scope: str) -> str:
        return self.owner(*[held for held in ALL_SCOPES if held != scope])

    def refused(self, case: str) -> str | None:
        """The token of a caller the authorizer refuses."""
        if case == "no token":
            return None
        if case == "bad signature":
            return self.forged
        if case == "expired":
            return self.authority.issue(OWNER, ALL_SCOPES, now=time.time() - 7200, lifetime=3600)
        if case == "wrong audience":
            return self.authority.issue(OWNER, ALL_SCOPES, audience="another-api")
        if case == "wrong issuer":
            return self.authority.issue(OWNER, ALL_SCOPES, issuer="https://issuer.example/other")
        raise AssertionError(case)


REFUSED = ["no token", "bad signature", "expired", "wrong audience", "wrong issuer"]


def waiting_flow(flow_id: str, name: str) -> dict[str, Any]:
    """A flow whose execution waits on a callback (and its heartbeats) for an hour: it stays RUNNING."""
    return {
        "flow": {
            "id": flow_id,
            "name": name,
            "start_task": "approve",
            "tasks": [
                {
                    "name": "approve",
                    "type": "callback",
                    "timeout_seconds": 3600,
                    "heartbeat_seconds": 600,
                    "parameters": {"message": "approve?"},
                },
                {"name": "done", "type": "pass"},
            ],
            "conditions": [
                {
                    "name": "decided",
                    "source_task": "approve",
                    "outcome": "success",
                    "target_task_success": "done",
                    "target_task_failure": "end",
                }
            ],
        }
    }


def quick_flow(flow_id: str, name: str) -> dict[str, Any]:
    return {"flow": {"id": flow_id, "name": name, "start_task": "only", "tasks": [{"name": "only", "type": "pass"}]}}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class World:
    """The owner's resources every cell names, and what they were before any other caller tried them."""

    caller: Caller
    tokens: Tokens
    flow_id: str  # a flow whose execution waits on its callback
    execution_id: str
    ticket: str  # the execution's callback token
    payload_path: str  # the download route of the execution's input
    spare_flow_id: str  # a flow with no execution: the other tenant creates flows under its id
    quick_flow_id: str  # a one-task flow the success cells start
    waiting_flow_id: str  # a flow like the first, whose executions the success cells cancel, delete, complete
    before: dict[str, Any] = field(default_factory=dict)

    def owner_state(self) -> dict[str, Any]:
        """What the owner reads of its flows and execution (the flow listing aside: success cells add flows)."""
        token = self.tokens.owner()
        paths = [
            f"/flows/{self.flow_id}",
            f"/flows/{self.spare_flow_id}",
            f"/executions?flow_id={self.flow_id}",
            f"/executions?flow_id={self.spare_flow_id}",
            f"/executions/{self.execution_id}",
            f"/executions/{self.execution_id}/history",
            f"/executions/{self.execution_id}/flow",
        ]
        state = {}
        for path in paths:
            reply = self.caller.call("GET", path, token)
            state[path] = (reply.status, reply.json())
        return state

    def assert_owner_unchanged(self) -> None:
        assert self.owner_state() == self.before, "the owner's flows or execution changed"

    # -- fresh resources for the success cells -----------------------------------------------------------------

    def new_flow(self, definition: dict[str, Any]) -> str:
        created = self.caller.call("POST", "/flows", self.tokens.owner(), definition)
        assert created.status == 201, created.body
        flow_id: str = created.json()["flow_id"]
        return flow_id

    def start(self, flow_id: str, execution_input: dict[str, Any] | None = None) -> str:
        started = self.caller.call(
            "POST", f"/flows/{flow_id}/executions", self.tokens.owner(), {"input": execution_input or {}}
        )
        assert started.status == 202, started.body
        execution_id: str = started.json()["execution_id"]
        return execution_id

    def waiting(self) -> tuple[str, str]:
        """A new execution of the owner's, waiting on its callback: its id and callback token."""
        execution_id = self.start(self.waiting_flow_id)
        return execution_id, self.ticket_of(execution_id)

    def ticket_of(self, execution_id: str) -> str:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            document = self.caller.call("GET", f"/executions/{execution_id}", self.tokens.owner()).json()
            result = document.get("task_results", {}).get("approve")
            if result is not None and result["status"] == "WAITING" and result.get("callback"):
                token: str = result["callback"]["token"]
                return token
            assert time.monotonic() < deadline, f"approve is not waiting after {DEADLINE_SECONDS} s: {document}"
            time.sleep(0.05)

    def created_execution(self) -> str:
        """A CREATED execution of the owner's (the seed's /flow/create), for /flow/execute."""
        created = self.caller.call(
            "POST", "/flow/create", self.tokens.owner(), quick_flow(unique("alice-seed"), "alice's seed flow")
        )
        assert created.status == 200, created.body
        execution_id: str = created.json()["execution_id"]
        return execution_id


@pytest.fixture(scope="module")
def authority() -> LocalAuthority:
    return LocalAuthority()


@pytest.fixture(scope="module")
def jwt_runtime(authority: LocalAuthority) -> Iterator[LocalRuntime]:
    with LocalRuntime(port=0, moto_port=0, auth="jwt", authority=authority) as running:
        yield running


@pytest.fixture(scope="module")
def world(jwt_runtime: LocalRuntime, authority: LocalAuthority) -> World:
    tokens = Tokens(authority)
    world = World(Caller(jwt_runtime.url), tokens, "", "", "", "", "", "", "")
    world.flow_id = world.new_flow(waiting_flow(unique("alice-flow"), "alice's flow"))
    world.execution_id = world.start(world.flow_id, {"blob": LARGE})
    world.ticket = world.ticket_of(world.execution_id)
    document = world.caller.call("GET", f"/executions/{world.execution_id}", tokens.owner()).json()
    world.payload_path = document["input_ref"]["ref"]
    world.spare_flow_id = world.new_flow(quick_flow(unique("alice-spare"), "alice's spare flow"))
    world.quick_flow_id = world.new_flow(quick_flow(unique("alice-quick"), "alice's quick flow"))
    world.waiting_flow_id = world.new_flow(waiting_flow(unique("alice-waiting"), "alice's other waiting flow"))
    world.before = world.owner_state()
    assert world.before[f"/executions/{world.execution_id}"][1]["status"] == "RUNNING"
    return world


# -- the routes -------------------------------------------------------------------------------------------------

Request = tuple[str, Any]  # path, body


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    scopes: tuple[str, ...]
    success: int
    #: the request naming the owner's resources (every cell but the success one)
    target: Callable[[World], Request]
    #: the request of the success cell, on resources of its own where the route changes something
    fresh: Callable[[World], Request] | None = None
    #: what another tenant gets: 404 where the route names the owner's resource
    other_status: int = 404
    writes: bool = False

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


def _flow(world: World) -> Request:
    return f"/flows/{world.flow_id}", None


def _execution(suffix: str = "") -> Callable[[World], Request]:
    return lambda world: (f"/executions/{world.execution_id}{suffix}", None)


def _callback(suffix: str, body: Any) -> Callable[[World], Request]:
    return lambda world: (f"/callbacks/{world.ticket}{suffix}", body)


def _fresh_delete_flow(world: World) -> Request:
    return f"/flows/{world.new_flow(quick_flow(unique('alice-gone'), 'alice flow to delete'))}", None


def _fresh_waiting(path: str, body: Any = None) -> Callable[[World], Request]:
    def request(world: World) -> Request:
        execution_id, ticket = world.waiting()
        return path.format(execution=execution_id, ticket=ticket), body

    return request


COMPLETION = {"outcome": "success", "output": {"by": "someone"}}

ROUTES = [
    Route("GET", "/flows", (FLOWS_READ,), 200, lambda world: ("/flows", None), other_status=200),
    Route(
        "POST",
        "/flows",
        (FLOWS_WRITE,),
        201,
        # the other tenant stores a flow under the id of one of the owner's: its own, the owner's untouched
        lambda world: ("/flows", quick_flow(world.spare_flow_id, "mallory's flow")),
        lambda world: ("/flows", quick_flow(unique("alice-new"), "alice's new flow")),
        other_status=201,
        writes=True,
    ),
    Route("GET", "/flows/{id}", (FLOWS_READ,), 200, _flow),
    Route("DELETE", "/flows/{id}", (FLOWS_WRITE,), 200, _flow, _fresh_delete_flow, writes=True),
    Route(
        "POST",
        "/flows/{id}/executions",
        (EXECUTIONS_WRITE,),
        202,
        lambda world: (f"/flows/{world.flow_id}/executions", {"input": {}}),
        lambda world: (f"/flows/{world.quick_flow_id}/executions", {"input": {}}),
        writes=True,
    ),
    Route("GET", "/executions?flow_id=", (EXECUTIONS_READ,), 200, lambda w: (f"/executions?flow_id={w.flow_id}", None)),
    Route("GET", "/executions/{id}", (EXECUTIONS_READ,), 200, _execution()),
    Route("GET", "/executions/{id}/history", (EXECUTIONS_READ,), 200, _execution("/history")),
    Route("GET", "/executions/{id}/flow", (EXECUTIONS_READ,), 200, _execution("/flow")),
    Route(
        "GET",
        "/executions/{id}/payloads/{sha256}",
        (EXECUTIONS_READ,),
        307,
        lambda world: (world.payload_path, None),
    ),
    Route(
        "POST",
        "/executions/{id}/cancel",
        (EXECUTIONS_WRITE,),
        200,
        _execution("/cancel"),
        _fresh_waiting("/executions/{execution}/cancel"),
        writes=True,
    ),
    Route(
        "DELETE",
        "/executions/{id}",
        (EXECUTIONS_WRITE,),
        200,
        _execution(),
        _fresh_waiting("/executions/{execution}"),
        writes=True,
    ),
    Route(
        "POST",
        "/callbacks/{token}",
        (EXECUTIONS_WRITE,),
        200,
        _callback("", COMPLETION),
        _fresh_waiting("/callbacks/{ticket}", COMPLETION),
        writes=True,
    ),
    Route(
        "POST",
        "/callbacks/{token}/heartbeat",
        (EXECUTIONS_WRITE,),
        200,
        _callback("/heartbeat", None),
        _fresh_waiting("/callbacks/{ticket}/heartbeat"),
        writes=True,
    ),
    Route(
        "POST",
        "/flow/create",
        (FLOWS_WRITE, EXECUTIONS_WRITE),
        200,
        lambda world: ("/flow/create", quick_flow(world.spare_flow_id, "mallory's seed flow")),
        lambda world: ("/flow/create", quick_flow(unique("alice-seed"), "alice's seed flow")),
        other_status=200,
        writes=True,
    ),
    Route(
        "POST",
        "/flow/execute",
        (EXECUTIONS_WRITE,),
        200,
        lambda world: ("/flow/execute", {"flow_id": world.flow_id, "input": {}}),
        lambda world: ("/flow/execute", {"execution_id": world.created_execution()}),
        writes=True,
    ),
    Route(
        "GET",
        "/flow/{id}/status",
        (EXECUTIONS_READ,),
        200,
        lambda world: (f"/flow/{world.execution_id}/status", None),
    ),
    Route(
        "DELETE",
        "/flow/{id}",
        (EXECUTIONS_WRITE,),
        200,
        lambda world: (f"/flow/{world.execution_id}", None),
        _fresh_waiting("/flow/{execution}"),
        writes=True,
    ),
]


def error_code(reply: Reply) -> str | None:
    try:
        body = reply.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


# -- the cells --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", REFUSED)
@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_the_authorizer_refuses(world: World, route: Route, case: str) -> None:
    path, body = route.target(world)

    reply = world.caller.call(route.method, path, world.tokens.refused(case), body)

    assert reply.status == 401, (reply.status, reply.body)
    assert reply.json() == {"message": "Unauthorized"}
    assert reply.headers["www-authenticate"].startswith('Bearer scope="" error="invalid_token" error_description="')
    if route.writes:
        world.assert_owner_unchanged()


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_another_tenant_finds_nothing_of_the_owner_s(world: World, route: Route) -> None:
    path, body = route.target(world)

    reply = world.caller.call(route.method, path, world.tokens.other(), body)

    assert reply.status == route.other_status, (reply.status, reply.body)
    if route.other_status == 404:
        assert error_code(reply) == "not_found", reply.body
    if route.other_status == 201:  # a flow of its own under the same id: a first version, not the owner's next
        assert (reply.json()["created"], reply.json()["version"]) == (True, 1), reply.body
    assert b"alice's" not in reply.body, reply.body  # no name of the owner's flows
    assert LARGE[:100].encode() not in reply.body  # nor the owner's input
    if route.writes:
        world.assert_owner_unchanged()


def test_another_tenant_s_listing_holds_none_of_the_owner_s_flows(world: World) -> None:
    reply = world.caller.call("GET", "/flows?limit=100", world.tokens.other())

    assert reply.status == 200, reply.body
    listed = {flow["flow_id"]: flow["name"] for flow in reply.json()["flows"]}
    assert world.flow_id not in listed
    assert not [name for name in listed.values() if name.startswith("alice")]


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_the_owner_without_the_route_s_scope_is_forbidden(world: World, route: Route) -> None:
    for scope in route.scopes:
        path, body = route.target(world)

        reply = world.caller.call(route.method, path, world.tokens.without(scope), body)

        assert reply.status == 403, (scope, reply.status, reply.body)
        assert error_code(reply) == "forbidden", reply.body
        if route.writes:
            world.assert_owner_unchanged()


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_the_owner_with_the_route_s_scope_succeeds(world: World, route: Route) -> None:
    path, body = (route.fresh or route.target)(world)

    reply = world.caller.call(route.method, path, world.tokens.owner(*route.scopes), body)

    assert reply.status == route.success, (reply.status, reply.body)
    world.assert_owner_unchanged()


def test_the_owner_s_resources_show_to_the_owner(world: World) -> None:
    token = world.tokens.owner(FLOWS_READ, EXECUTIONS_READ)
    listed = world.caller.call("GET", "/flows?limit=100", token).json()["flows"]
    executions = world.caller.call("GET", f"/executions?flow_id={world.flow_id}", token).json()["executions"]

    assert world.flow_id in {flow["flow_id"] for flow in listed}
    assert [execution["execution_id"] for execution in executions] == [world.execution_id]


def test_after_the_matrix_the_owner_s_flow_and_execution_are_as_they_were(world: World) -> None:
    world.assert_owner_unchanged()
    assert world.before[f"/executions/{world.execution_id}"][1]["status"] == "RUNNING"


@pytest.mark.parametrize("path", ["/", "/health"])
def test_the_public_routes_need_no_token(world: World, path: str) -> None:
    reply = world.caller.call("GET", path, None)

    assert reply.status == 200, reply.body


@pytest.mark.parametrize("path", ["/ui", "/ui/index.html"])
def test_the_dashboard_s_files_pass_the_authorizer_without_a_token(world: World, path: str) -> None:
    """Whatever the function answers for them (the dashboard is not this test's), the authorizer lets them by."""
    reply = world.caller.call("GET", path, None)

    assert "www-authenticate" not in reply.headers, (reply.status, reply.body)


@pytest.mark.parametrize(("method", "path"), [("HEAD", "/health"), ("POST", "/health"), ("GET", "/docs")])
def test_other_requests_on_public_paths_need_a_token(world: World, method: str, path: str) -> None:
    reply = world.caller.call(method, path, None)

    assert reply.status == 401
