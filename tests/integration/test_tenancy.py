"""Tenants, scopes and quotas, through the API handler with events shaped as API Gateway sends them.

The authorizer step is the local stack's emulation of API Gateway's JWT authorizer (local/auth.py): a token it
refuses is 401 before the handler runs; one it accepts reaches the handler as `requestContext.authorizer.jwt`.
The same matrix runs over HTTP in tests/e2e/test_auth_http.py.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from local.auth import ALL_SCOPES, LocalAuthority, Rejection
from tests.conftest import Harness, example
from tests.harness import jwt_authorizer

OWNER, OTHER = "alice", "mallory"
FLOWS_READ, FLOWS_WRITE, EXECUTIONS_READ, EXECUTIONS_WRITE = ALL_SCOPES
AUTHORITY = LocalAuthority()


@dataclass
class Owned:
    """What the owner holds: a flow, an execution of it waiting for a callback (with a large input kept aside)."""

    flow_id: str
    execution_id: str
    token: str
    sha256: str


def as_caller(harness: Harness, token: str | None) -> Callable[..., Any]:
    """Requests as API Gateway would pass them on for this bearer token: refused by the authorizer (its 401
    answer) or handed to the handler with the authorizer's context."""

    def call(method: str, path: str, body: Any = None) -> Any:
        headers = {"authorization": f"Bearer {token}"} if token is not None else {}
        identity = AUTHORITY.authorize(headers)
        if isinstance(identity, Rejection):
            return identity.response()
        return harness.request(method, path, body, authorizer=identity)

    return call


def own(harness: Harness) -> Owned:
    owner = as_caller(harness, AUTHORITY.issue(OWNER))
    assert owner("POST", "/flows", example("approval")).status == 201
    given = {"amount": 5, "requested_by": "x", "notes": "n" * 40_000}
    started = owner("POST", "/flows/approval/executions", {"input": given})
    assert started.status == 202, started.json()
    execution_id = started.json()["execution_id"]
    harness.drain()
    document = owner("GET", f"/executions/{execution_id}").json()
    token = document["task_results"]["approve"]["callback"]["token"]
    return Owned("approval", execution_id, token, document["input_ref"]["sha256"])


_EXECUTE = {"flow_id": "{f}", "input": {"amount": 2, "requested_by": "z"}}
#: Every route: (method, path, body, the scopes it needs, its success status). `{f}`, `{e}`, `{t}`, `{s}`: the
#: owner's flow, execution, callback token and stored input's hash.
ROUTES: list[tuple[str, str, Any, tuple[str, ...], int]] = [
    ("GET", "/flows", None, (FLOWS_READ,), 200),
    ("GET", "/flows/{f}", None, (FLOWS_READ,), 200),
    ("POST", "/flows", "flow", (FLOWS_WRITE,), 200),
    ("POST", "/flows/{f}/executions", {"input": {"amount": 1, "requested_by": "y"}}, (EXECUTIONS_WRITE,), 202),
    ("GET", "/executions?flow_id={f}", None, (EXECUTIONS_READ,), 200),
    ("GET", "/executions/{e}", None, (EXECUTIONS_READ,), 200),
    ("GET", "/executions/{e}/history", None, (EXECUTIONS_READ,), 200),
    ("GET", "/executions/{e}/flow", None, (EXECUTIONS_READ,), 200),
    ("GET", "/executions/{e}/payloads/{s}", None, (EXECUTIONS_READ,), 307),
    ("GET", "/flow/{e}/status", None, (EXECUTIONS_READ,), 200),
    (
        "POST",
        "/flow/execute",
        {"flow_id": "{f}", "input": {"amount": 2, "requested_by": "z"}},
        (EXECUTIONS_WRITE,),
        200,
    ),
    ("POST", "/flow/create", "flow", (FLOWS_WRITE, EXECUTIONS_WRITE), 200),
    ("POST", "/callbacks/{t}/heartbeat", None, (EXECUTIONS_WRITE,), 200),
    ("POST", "/callbacks/{t}", {"outcome": "success", "output": {"by": "ana"}}, (EXECUTIONS_WRITE,), 200),
    ("POST", "/executions/{e}/cancel", None, (EXECUTIONS_WRITE,), 200),
    ("DELETE", "/flow/{e}", None, (EXECUTIONS_WRITE,), 200),
    ("DELETE", "/executions/{e}", None, (EXECUTIONS_WRITE,), 200),
    ("DELETE", "/flows/{f}", None, (FLOWS_WRITE,), 200),
]
#: Routes that name one of the owner's resources: another tenant gets 404 there (never 403: no existence leak).
NAMING = {(method, path) for method, path, body, *_ in ROUTES if "{" in path + json.dumps(body)}


def filled(text: str, owned: Owned) -> str:
    return (
        text.replace("{f}", owned.flow_id)
        .replace("{e}", owned.execution_id)
        .replace("{t}", owned.token)
        .replace("{s}", owned.sha256)
    )


def body_of(body: Any, owned: Owned) -> Any:
    if body == "flow":
        return example("approval")
    return json.loads(filled(json.dumps(body), owned)) if body is not None else None


@pytest.fixture
def owned(harness: Harness) -> Iterator[Owned]:
    yield own(harness)


def snapshot(harness: Harness, owned: Owned) -> Any:
    owner = as_caller(harness, AUTHORITY.issue(OWNER))
    flows = owner("GET", "/flows").json()["flows"]
    executions = owner("GET", f"/executions?flow_id={owned.flow_id}").json()["executions"]
    status = owner("GET", f"/executions/{owned.execution_id}").json()
    return flows, executions, status["status"], status["task_results"]["approve"]["status"]


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: f"{route[0]} {route[1]}")
def test_every_route_answers_each_kind_of_caller_as_the_contract_says(
    harness: Harness, owned: Owned, route: tuple[str, str, Any, tuple[str, ...], int]
) -> None:
    method, template, body, needed, success = route
    path, payload = filled(template, owned), body_of(body, owned)
    before = snapshot(harness, owned)
    now = time.time()
    refused_by_the_authorizer = {
        "no token": None,
        "bad signature": LocalAuthority().issue(OWNER),
        "expired": AUTHORITY.issue(OWNER, now=now - 7200),
        "wrong audience": AUTHORITY.issue(OWNER, audience="another-api"),
        "wrong issuer": AUTHORITY.issue(OWNER, issuer="https://issuer.example"),
    }
    for cell, token in refused_by_the_authorizer.items():
        answer = as_caller(harness, token)(method, path, payload)
        assert (answer.status, answer.json()) == (401, {"message": "Unauthorized"}), cell

    # No authorizer context at all (a route API Gateway would not have let through): the handler refuses too.
    bare = harness.request(method, path, payload, authorizer={})
    assert (bare.status, bare.json()["error"]["code"]) == (401, "unauthorized")

    lacking = tuple(scope for scope in ALL_SCOPES if scope not in needed)
    answer = as_caller(harness, AUTHORITY.issue(OWNER, lacking))(method, path, payload)
    assert answer.status == 403, answer.json()
    assert answer.json()["error"]["code"] == "forbidden"
    assert needed[0] in answer.json()["error"]["message"]

    answer = as_caller(harness, AUTHORITY.issue(OTHER))(method, path, payload)
    if (method, template) in NAMING:
        assert answer.status == 404, (template, answer.json())
        assert OWNER not in json.dumps(answer.json())  # the answer an id that never existed gets
    elif (method, template) == ("GET", "/flows"):
        assert answer.status == 200 and answer.json()["flows"] == [], answer.json()
    else:  # creating: the other tenant gets its own flow and execution, named as it likes
        assert answer.status in (200, 201, 202), answer.json()
    assert snapshot(harness, owned) == before, f"{OTHER} changed {OWNER}'s data through {method} {template}"

    if (method, template) == ("DELETE", "/flows/{f}"):  # a flow with a running execution is not deleted (409)
        assert (
            as_caller(harness, AUTHORITY.issue(OWNER))("POST", f"/executions/{owned.execution_id}/cancel").status == 200
        )
    answer = as_caller(harness, AUTHORITY.issue(OWNER, needed))(method, path, payload)
    assert answer.status == success, answer.json() if answer.body else answer


def test_the_same_flow_id_in_two_tenants_is_two_flows_with_their_own_versions_and_executions(harness: Harness) -> None:
    alice, mallory = (as_caller(harness, AUTHORITY.issue(name)) for name in (OWNER, OTHER))
    first = alice("POST", "/flows", example("approval"))
    theirs = mallory("POST", "/flows", {**example("approval")["flow"], "name": "mallory's approval"})
    assert (first.status, theirs.status) == (201, 201)
    assert (first.json()["version"], theirs.json()["version"]) == (1, 1)
    assert alice("GET", "/flows/approval").json()["name"] != mallory("GET", "/flows/approval").json()["name"]
    started = alice("POST", "/flows/approval/executions", {"input": {"amount": 1, "requested_by": "a"}}).json()
    assert mallory("GET", "/executions?flow_id=approval").json()["executions"] == []
    assert [e["execution_id"] for e in alice("GET", "/executions?flow_id=approval").json()["executions"]] == [
        started["execution_id"]
    ]
    # Every key starts with its tenant.
    scan = harness.dynamodb.scan(TableName=harness.stack.table_name)["Items"]
    keys = {item["pk"]["S"] for item in scan}
    assert all(key.startswith(("T#alice#", "T#mallory#")) for key in keys), keys


def test_execution_ids_are_random_and_an_idempotency_key_is_the_tenants_and_the_flows(harness: Harness) -> None:
    alice, mallory = (as_caller(harness, AUTHORITY.issue(name)) for name in (OWNER, OTHER))
    for caller in (alice, mallory):
        caller("POST", "/flows", example("approval"))
    given = {"input": {"amount": 1, "requested_by": "a"}}

    def start(tenant: str, key: str) -> Any:
        path = "/flows/approval/executions"
        return harness.request("POST", path, given, {"idempotency-key": key}, authorizer=jwt_authorizer(tenant))

    first, again, other = start(OWNER, "k-1"), start(OWNER, "k-1"), start(OTHER, "k-1")
    assert (first.status, again.status, other.status) == (202, 200, 202)
    assert first.json()["execution_id"] == again.json()["execution_id"] != other.json()["execution_id"]
    plain = [alice("POST", "/flows/approval/executions", given).json()["execution_id"] for _ in range(3)]
    assert len({*plain, first.json()["execution_id"]}) == 4
    assert all(len(execution_id) == 36 for execution_id in plain)  # uuid4: 122 random bits


@pytest.fixture
def quotas(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("QUOTA_RUNNING_EXECUTIONS", "2")
    monkeypatch.setenv("QUOTA_STARTS_PER_SECOND", "3")
    yield


def test_a_tenant_at_its_running_executions_quota_is_answered_429_until_one_ends(quotas: None) -> None:
    from tests.harness import local_account

    with local_account() as harness:
        alice, mallory = (as_caller(harness, AUTHORITY.issue(name)) for name in (OWNER, OTHER))
        for caller in (alice, mallory):
            caller("POST", "/flows", example("approval"))
        given = {"input": {"amount": 1, "requested_by": "a"}}
        running = [alice("POST", "/flows/approval/executions", given) for _ in range(2)]
        assert [answer.status for answer in running] == [202, 202]
        refused = alice("POST", "/flows/approval/executions", given)
        assert refused.status == 429
        assert refused.json()["error"]["code"] == "too_many_requests"
        assert "2 running executions" in refused.json()["error"]["message"]
        assert refused.headers["retry-after"] == "5"
        assert mallory("POST", "/flows/approval/executions", given).status == 202  # another tenant's own count
        # One ends (cancelled): its place is free again, exactly once.
        assert alice("POST", f"/executions/{running[0].json()['execution_id']}/cancel").status == 200
        time.sleep(1.1)  # the next second: the starts-per-second quota is not what refuses here
        assert alice("POST", "/flows/approval/executions", given).status == 202
        assert alice("POST", "/flows/approval/executions", given).status == 429
        # One completes through its callback: its place is given back in the same transaction.
        harness.drain()
        token = alice("GET", f"/executions/{running[1].json()['execution_id']}").json()["task_results"]["approve"]
        assert (
            alice("POST", f"/callbacks/{token['callback']['token']}", {"outcome": "success", "output": {}}).status
            == 200
        )
        harness.drain()
        assert alice("GET", f"/executions/{running[1].json()['execution_id']}").json()["status"] == "COMPLETED"
        counter = harness.dynamodb.get_item(
            TableName=harness.stack.table_name, Key={"pk": {"S": "T#alice#QUOTA"}, "sk": {"S": "RUNNING"}}
        )["Item"]
        assert counter["running"]["N"] == "1"


def test_a_tenant_past_its_starts_per_second_is_answered_429_with_retry_after_1(quotas: None) -> None:
    from tests.harness import local_account

    os.environ["QUOTA_RUNNING_EXECUTIONS"] = "0"
    with local_account() as harness:
        alice = as_caller(harness, AUTHORITY.issue(OWNER))
        alice("POST", "/flows", example("approval"))
        given = {"input": {"amount": 1, "requested_by": "a"}}
        while time.time() % 1 > 0.5:  # four starts inside one second
            time.sleep(0.05)
        answers = [alice("POST", "/flows/approval/executions", given) for _ in range(4)]
        assert [answer.status for answer in answers] == [202, 202, 202, 429]
        assert answers[-1].headers["retry-after"] == "1"
        assert "3 executions this second" in answers[-1].json()["error"]["message"]


def test_the_openapi_document_declares_the_security_of_every_operation(harness: Harness) -> None:
    document = json.loads(harness.request("GET", "/openapi.json").body)
    assert set(document["components"]["securitySchemes"]) == {"jwt", "sigv4"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if (method, path) in {("get", "/"), ("get", "/health")}:
                assert operation["security"] == [] and "401" not in operation["responses"]
                continue
            (jwt, sigv4) = operation["security"]
            assert set(jwt["jwt"]) <= set(ALL_SCOPES) and jwt["jwt"], (method, path)
            assert sigv4 == {"sigv4": []}
            assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)
    start = document["paths"]["/flows/{flow_id}/executions"]["post"]
    assert start["security"][0] == {"jwt": [EXECUTIONS_WRITE]}
    assert "Retry-After" in start["responses"]["429"]["headers"]


def test_a_token_without_the_tenant_claim_is_401_and_cognito_scopes_count_by_their_last_part(harness: Harness) -> None:
    no_subject = harness.request("GET", "/flows", authorizer={"jwt": {"claims": {"scope": FLOWS_READ}, "scopes": None}})
    assert no_subject.status == 401
    assert "'sub' claim" in no_subject.json()["error"]["message"]
    cognito = jwt_authorizer(OWNER, "https://api.example.com/flows:read")
    assert harness.request("GET", "/flows", authorizer=cognito).status == 200
    assert harness.request("POST", "/flows", example("approval"), authorizer=cognito).status == 403


def test_an_iam_caller_is_its_principal_and_each_session_of_a_role_is_the_role(harness: Harness) -> None:
    def iam(arn: str) -> dict[str, Any]:
        return {"iam": {"accountId": "123456789012", "userArn": arn, "userId": "AROA:x", "callerId": "AROA:x"}}

    session_one = iam("arn:aws:sts::123456789012:assumed-role/FlowRole/session-1")
    session_two = iam("arn:aws:sts::123456789012:assumed-role/FlowRole/session-2")
    user = iam("arn:aws:iam::123456789012:user/bob")
    assert harness.request("POST", "/flows", example("approval"), authorizer=session_one).status == 201
    assert harness.request("GET", "/flows/approval", authorizer=session_two).status == 200
    assert harness.request("GET", "/flows/approval", authorizer=user).status == 404


def test_a_counted_execution_that_times_out_gives_its_place_back_once(quotas: None) -> None:
    from tests.harness import local_account

    with local_account() as harness:
        alice = as_caller(harness, AUTHORITY.issue(OWNER))
        flow = {**example("approval")["flow"], "id": "hurry", "timeout_seconds": 1}
        assert alice("POST", "/flows", flow).status == 201
        execution_id = alice("POST", "/flows/hurry/executions", {"input": {"amount": 1, "requested_by": "a"}}).json()[
            "execution_id"
        ]
        deadline = time.monotonic() + 20
        while (document := alice("GET", f"/executions/{execution_id}").json())["status"] == "RUNNING":
            assert time.monotonic() < deadline, document  # the timer marks it overdue; the runner ends it
            harness.pump.poll()
            time.sleep(0.05)
        assert document["status"] == "TIMED_OUT", document
        assert document["error"] == "the execution did not end within 1 seconds"
        harness.drain()  # the end delivered again changes nothing
        counter = harness.dynamodb.get_item(
            TableName=harness.stack.table_name, Key={"pk": {"S": "T#alice#QUOTA"}, "sk": {"S": "RUNNING"}}
        )["Item"]
        assert counter["running"]["N"] == "0"


@pytest.mark.parametrize("limit", [0, 2])
def test_creating_an_execution_that_exists_returns_it_and_counts_it_once(harness: Harness, limit: int) -> None:
    """A subflow's child is created under an id its parent's attempt derives: a repeated start finds it."""
    import boto3

    from flowcore.domain.records import ExecutionRecord
    from flowcore.domain.statuses import ExecutionStatus
    from flowcore.wiring.shared import Repositories

    executions = Repositories(boto3.client("dynamodb"), harness.stack.table_name, 30, limit).executions
    child = ExecutionRecord(
        execution_id="alice/sub-0123",
        flow_id="alice/approval",
        flow_version=1,
        flow_name="approval",
        status=ExecutionStatus.RUNNING,
        input={},
        created_at="2026-11-30T00:00:00.000Z",
        started_at="2026-11-30T00:00:00.000Z",
    )
    first, again = executions.create(child), executions.create(child)
    assert first.execution_id == again.execution_id == "alice/sub-0123"
    assert again.counted is (limit > 0)
    counter = harness.dynamodb.get_item(
        TableName=harness.stack.table_name, Key={"pk": {"S": "T#alice#QUOTA"}, "sk": {"S": "RUNNING"}}
    ).get("Item")
    assert (counter["running"]["N"] if counter else None) == ("1" if limit else None)
