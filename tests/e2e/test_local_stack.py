"""`make run` end to end: the real handlers over HTTP, moto behind them, the stream moving the flows."""

from __future__ import annotations

import copy
import http.client
import json
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local.runtime import LocalRuntime, PortUnavailable
from tests.conftest import EXAMPLES, ROOT, example
from tests.e2e.conftest import TERMINAL, Client, command_environment
from tests.harness import NEEDS_A_STEP, documented_data, documented_examples

pytestmark = pytest.mark.e2e


def sample() -> dict[str, Any]:
    return copy.deepcopy(example("data_processing")["flow"])


# -- the canonical sample and the routing rules over HTTP ------------------------------------------


def test_health(client: Client) -> None:
    reply = client.request("GET", "/health")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["status"] == "healthy"


def test_canonical_sample_completes(client: Client) -> None:
    document = client.run(example("data_processing"))

    assert document["status"] == "COMPLETED"
    assert document["path"] == ["task1", "task2", "task3"]
    assert document["completed_tasks"] == ["task1", "task2", "task3"]
    assert {result["status"] for result in document["task_results"].values()} == {"SUCCESS"}


def test_unhandled_failure_fails_the_execution(client: Client) -> None:
    definition = sample()
    definition["id"] = "e2e-failure"
    definition["tasks"][0]["parameters"] = {"failure_rate": 1}

    document = client.run(definition)

    assert document["status"] == "FAILED"
    assert document["path"] == ["task1"]
    assert document["task_results"]["task1"]["status"] == "FAILURE"
    assert "task1" in document["error"]


def test_seed_routes_create_execute_status_delete(client: Client) -> None:
    created = client.request("POST", "/flow/create", example("data_processing"))
    assert created.status == 200
    assert created.json()["status"] == "created"
    execution_id = created.json()["execution_id"]

    started = client.request("POST", "/flow/execute", {"execution_id": execution_id})
    assert started.status == 200
    document = client.wait_for_end(execution_id, "/flow/{}/status")
    assert document["status"] == "COMPLETED"

    deleted = client.request("DELETE", f"/flow/{execution_id}")
    assert deleted.status == 200
    assert client.request("GET", f"/flow/{execution_id}/status").status == 404


def test_delete_removes_the_execution(client: Client) -> None:
    execution_id = client.start(example("data_processing"))
    assert client.wait_for_end(execution_id)["status"] == "COMPLETED"

    deleted = client.request("DELETE", f"/executions/{execution_id}")

    assert deleted.status == 200
    assert deleted.json()["execution_id"] == execution_id
    assert client.request("GET", f"/executions/{execution_id}").status == 404
    assert client.request("GET", f"/executions/{execution_id}/history").status == 404


def test_validation_error_lists_every_problem(client: Client) -> None:
    definition = {
        "id": "e2e-invalid",
        "name": "invalid",
        "start_task": "missing",
        "tasks": [{"name": "a", "type": "no_such_type"}, {"name": "a"}],
        "conditions": [{"source_task": "a", "outcome": "maybe", "target_task_success": "nowhere"}],
    }

    reply = client.request("POST", "/flows", definition)

    assert reply.status == 422
    error = reply.json()["error"]
    assert error["code"] == "validation_error"
    fields = {detail["field"] for detail in error["details"]}
    assert {"start_task", "tasks[0].type", "tasks[1].name"} <= fields
    assert all(detail["message"] for detail in error["details"])


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/flow/nope/status", None),
        ("GET", "/executions/nope", None),
        ("POST", "/flow/execute", {"execution_id": "nope"}),
        ("DELETE", "/flow/nope", None),
        ("DELETE", "/executions/nope", None),
        ("GET", "/flows/nope", None),
        ("POST", "/flows/nope/executions", None),
    ],
)
def test_unknown_ids_are_404(client: Client, method: str, path: str, body: Any) -> None:
    reply = client.request(method, path, body)

    assert reply.status == 404
    assert reply.json()["error"]["code"]


def test_twenty_concurrent_executions_all_end(client: Client) -> None:
    definition = sample()
    definition["id"] = "e2e-concurrent"
    assert client.request("POST", "/flows", definition).status in (200, 201)

    def start(_: int) -> str:
        reply = client.request("POST", "/flows/e2e-concurrent/executions")
        assert reply.status == 202, reply.body
        execution_id: str = reply.json()["execution_id"]
        return execution_id

    with ThreadPoolExecutor(max_workers=20) as pool:
        execution_ids = list(pool.map(start, range(20)))
        documents = list(pool.map(client.wait_for_end, execution_ids))

    assert len(set(execution_ids)) == 20
    assert all(document["status"] in TERMINAL for document in documents)
    assert [document["status"] for document in documents] == ["COMPLETED"] * 20
    assert all(document["path"] == ["task1", "task2", "task3"] for document in documents)


# -- the examples, as examples/README.md documents them -------------------------------------------


def test_every_example_is_documented() -> None:
    documented = {file for file, _, _ in documented_examples()}
    assert documented == {path.name for path in EXAMPLES.glob("*.json")}


@pytest.mark.parametrize(
    ("file", "status", "path"),
    [pytest.param(*row, id=row[0]) for row in documented_examples() if row[0] not in NEEDS_A_STEP],
)
def test_example_reaches_its_documented_status(client: Client, file: str, status: str, path: list[str]) -> None:
    definition = json.loads((EXAMPLES / file).read_text(encoding="utf-8"))
    given, last, output = documented_data().get(file, ({}, None, None))

    document = client.run(definition, given)

    assert document["status"] == status, document
    assert document["path"] == path
    if last is not None:
        assert document["task_results"][last]["output"] == output


def test_the_data_examples_are_documented_with_their_output() -> None:
    assert set(documented_data()) == {
        "data_pipeline.json",
        "branch_on_computed_value.json",
        "branch_on_output.json",
        "lambda_pipeline.json",
        "approval.json",
    }


def test_a_computed_value_below_the_threshold_takes_the_other_path(client: Client) -> None:
    document = client.run(example("branch_on_computed_value"), {"orders": 30, "returns": 20, "threshold": 200})

    assert document["path"] == ["fetch_orders", "fetch_returns", "process", "store"]
    assert document["task_results"]["store"]["output"]["records_stored"] == 50


def test_retry_example_takes_three_attempts(client: Client) -> None:
    document = client.run(example("retry"))

    assert document["status"] == "COMPLETED"
    assert document["task_results"]["fetch"]["attempts"] == 3


def test_branch_on_failure_example_keeps_the_handled_failure(client: Client) -> None:
    document = client.run(example("branch_on_failure"))

    assert document["status"] == "COMPLETED"
    assert document["task_results"]["fetch_primary"]["status"] == "FAILURE"
    assert document["task_results"]["fetch_backup"]["status"] == "SUCCESS"


# -- documentation --------------------------------------------------------------------------------


def test_docs_serve_swagger_ui(client: Client) -> None:
    reply = client.request("GET", "/docs")

    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert b"swagger-ui" in reply.body


def test_openapi_document_is_valid(client: Client) -> None:
    from openapi_spec_validator import validate

    reply = client.request("GET", "/openapi.json")

    assert reply.status == 200
    document = reply.json()
    validate(document)
    assert document["openapi"].startswith("3.")
    assert "/flows/{flow_id}/executions" in document["paths"]


# -- what API Gateway does in front of the function -----------------------------------------------


def test_body_above_the_function_limit_is_413(client: Client) -> None:
    reply = client.request("POST", "/flows", raw=b"x" * (1024 * 1024 + 1))

    assert reply.status == 413
    assert reply.json()["error"]["code"]


def test_body_above_the_gateway_limit_is_refused_unread(runtime: LocalRuntime) -> None:
    connection = http.client.HTTPConnection(runtime.host, runtime.port, timeout=10)
    try:
        connection.putrequest("POST", "/flows")
        connection.putheader("content-type", "application/json")
        connection.putheader("content-length", str(11 * 1024 * 1024))
        connection.endheaders()  # and no body: the answer must not wait for it
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read()) == {"message": "Request Entity Too Large"}
    finally:
        connection.close()


def test_query_strings_reach_the_handler(client: Client) -> None:
    client.request("POST", "/flows", example("data_processing"))

    assert client.request("GET", "/executions?flow_id=flow123&limit=1").status == 200
    assert client.request("GET", "/executions?flow_id=flow123&limit=0").status == 422


# -- the sample events, fed to the handlers this stack runs ---------------------------------------


def _event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / name).read_text(encoding="utf-8"))
    return event


def test_sample_api_events_get_sane_answers(runtime: LocalRuntime) -> None:
    from functions.api.app import lambda_handler
    from local.esm import LambdaContext

    health = lambda_handler(_event("api_health.json"), LambdaContext("ApiFunction"))
    assert health["statusCode"] == 200
    assert json.loads(health["body"])["status"] == "healthy"

    created = lambda_handler(_event("api_create_flow.json"), LambdaContext("ApiFunction"))
    assert created["statusCode"] == 200
    body = json.loads(created["body"])
    assert (body["flow_id"], body["status"]) == ("flow123", "created")


@pytest.mark.parametrize("name", ["stream_start_execution.json", "stream_task_run.json"])
def test_sample_stream_events_are_processed(runtime: LocalRuntime, name: str) -> None:
    from functions.task_runner.app import lambda_handler
    from local.esm import LambdaContext

    context: Any = LambdaContext("TaskRunnerFunction")

    # The events name an execution this table does not hold: the runner drops them without a failure.
    assert lambda_handler(_event(name), context) == {"batchItemFailures": []}


# -- ports ----------------------------------------------------------------------------------------


def test_a_taken_api_port_is_reported(runtime: LocalRuntime) -> None:
    with pytest.raises(PortUnavailable, match=rf"port {runtime.port} \(the API\) is already in use"):
        LocalRuntime(port=runtime.port, moto_port=0).start()


def test_a_taken_moto_port_is_reported(runtime: LocalRuntime) -> None:
    with pytest.raises(PortUnavailable, match=rf"port {runtime.moto_port} \(moto\) is already in use"):
        LocalRuntime(port=0, moto_port=runtime.moto_port).start()


def test_the_command_exits_2_with_one_line_when_the_port_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        environment = command_environment()
        result = subprocess.run(
            [sys.executable, "-m", "local", "--port", str(port), "--moto-port", "0"],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"flow-manager: port {port} (the API) is already in use; stop what uses it or pick another with --port or PORT"
    ]
    assert "Traceback" not in result.stdout


def test_one_runtime_per_process(runtime: LocalRuntime) -> None:
    with pytest.raises(RuntimeError, match="already running in this process"):
        LocalRuntime(port=0, moto_port=0).start()
