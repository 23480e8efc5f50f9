"""The local Lambda endpoint (local/lambdas.py) through botocore's real `lambda` client.

The functions are in tests/lambda_functions/: echo, fails (raises), slow (TIMEOUT = 1, sleeps 5), touch (writes a
file), nap (sleeps, noting when), crash (exits without answering).
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.config import Config

from local.lambdas import FunctionFolder, LambdaServer, declared_timeout, parse_function_ref
from tests.conftest import ROOT

FUNCTIONS = ROOT / "tests" / "lambda_functions"


@contextmanager
def serving(server: LambdaServer) -> Iterator[LambdaServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.start_workers()
    try:
        yield server
    finally:
        server.stop()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def server() -> Iterator[LambdaServer]:
    with serving(LambdaServer(("127.0.0.1", 0), FunctionFolder(FUNCTIONS))) as running:
        yield running


def lambda_client(url: str) -> Any:
    session = botocore.session.get_session()
    return session.create_client(
        "lambda",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=30),
    )


@pytest.fixture(scope="module")
def client(server: LambdaServer) -> Any:
    return lambda_client(server.url)


def invoke(client: Any, name: str, event: Any = None, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), **kwargs)
    body = response["Payload"].read()
    return response, json.loads(body) if body else None


def test_a_sync_invocation_returns_the_handlers_result_with_a_lambda_context(client: Any) -> None:
    response, payload = invoke(client, "echo", {"order": 7})

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert response["ExecutedVersion"] == "$LATEST"
    assert payload["event"] == {"order": 7}
    assert payload["function_name"] == "echo"
    assert payload["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:echo"
    assert payload["memory_limit_in_mb"] == 128
    assert 0 < payload["remaining_ms"] <= 3000
    assert payload["log_group_name"] == "/aws/lambda/echo"
    assert payload["log_stream_name"].endswith("]" + payload["log_stream_name"].split("]")[-1])
    assert response["ResponseMetadata"]["RequestId"] == payload["aws_request_id"]


def test_the_log_tail_holds_what_the_handler_printed(client: Any) -> None:
    response, _ = invoke(client, "echo", LogType="Tail")

    tail = base64.b64decode(response["LogResult"]).decode()
    assert tail.startswith("START RequestId: ")
    assert "echo was called" in tail
    assert "REPORT RequestId: " in tail


@pytest.mark.parametrize(
    ("name", "invoked_arn"),
    [
        ("echo:$LATEST", "arn:aws:lambda:us-east-1:123456789012:function:echo:$LATEST"),
        ("123456789012:function:echo", "arn:aws:lambda:us-east-1:123456789012:function:echo"),
        ("arn:aws:lambda:us-east-1:123456789012:function:echo", "arn:aws:lambda:us-east-1:123456789012:function:echo"),
        (
            "arn:aws:lambda:eu-west-1:123456789012:function:echo:live",
            "arn:aws:lambda:eu-west-1:123456789012:function:echo:live",
        ),
    ],
)
def test_a_function_is_reachable_by_its_partial_or_full_arn_and_any_qualifier(
    client: Any, name: str, invoked_arn: str
) -> None:
    response, payload = invoke(client, name)

    assert response["StatusCode"] == 200
    assert payload["function_name"] == "echo"
    assert payload["invoked_function_arn"] == invoked_arn


def test_a_qualifier_that_contradicts_the_arns_is_refused(client: Any) -> None:
    with pytest.raises(client.exceptions.InvalidParameterValueException):
        client.invoke(FunctionName="echo:live", Qualifier="prod")


def test_a_qualifier_parameter_is_accepted(client: Any) -> None:
    _, payload = invoke(client, "echo", Qualifier="prod")

    assert payload["invoked_function_arn"].endswith(":function:echo:prod")


def test_a_function_error_is_200_with_function_error_unhandled_and_lambdas_error_document(client: Any) -> None:
    response, payload = invoke(client, "fails", {"amount": -1})

    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "bad input: {'amount': -1}"
    assert payload["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert len(payload["stackTrace"]) == 1
    assert 'fails.py", line 5, in handler' in payload["stackTrace"][0]


def test_a_function_that_runs_past_its_timeout_is_killed_and_answers_sandbox_timedout(client: Any) -> None:
    started = time.monotonic()
    response, payload = invoke(client, "slow")

    assert time.monotonic() - started < 3
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    request_id = response["ResponseMetadata"]["RequestId"]
    assert payload["errorMessage"] == f"{request_id} Task timed out after 1.00 seconds"


def test_a_process_that_exits_without_answering_is_a_runtime_exit_error(client: Any) -> None:
    response, payload = invoke(client, "crash")

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert payload["errorMessage"].endswith("Error: Runtime exited with error: exit status 3")


def test_an_event_invocation_is_accepted_with_202_and_runs_in_the_background(client: Any, tmp_path: Path) -> None:
    target = tmp_path / "touched"

    response = client.invoke(
        FunctionName="touch", InvocationType="Event", Payload=json.dumps({"path": str(target), "text": "hi"})
    )

    assert response["StatusCode"] == 202
    deadline = time.monotonic() + 10
    while not target.exists():
        assert time.monotonic() < deadline, "the Event invocation did not run"
        time.sleep(0.05)
    assert target.read_text() == "hi"


def test_a_dry_run_is_204_for_a_function_that_exists(client: Any) -> None:
    assert client.invoke(FunctionName="echo", InvocationType="DryRun")["StatusCode"] == 204


@pytest.mark.parametrize("invocation_type", ["RequestResponse", "Event", "DryRun"])
def test_an_unknown_function_raises_resource_not_found(client: Any, invocation_type: str) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException) as raised:
        client.invoke(FunctionName="nope", InvocationType=invocation_type)

    error = raised.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error["Type"] == "User"
    assert error["Error"]["Message"] == "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope"


def test_a_helper_module_is_not_a_function(client: Any) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="_helper")


@pytest.mark.parametrize("name", ["../conftest", "..", "a/b", "lambda_functions/echo", "echo.py", "x" * 65, "é"])
def test_a_name_outside_lambdas_pattern_is_refused_before_any_file_is_read(client: Any, name: str) -> None:
    with pytest.raises(client.exceptions.ClientError) as raised:
        client.invoke(FunctionName=name)

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_a_symbolic_link_out_of_the_folder_is_not_a_function(tmp_path: Path) -> None:
    folder = tmp_path / "functions"
    folder.mkdir()
    (tmp_path / "outside.py").write_text("def handler(event, context):\n    return 1\n")
    (folder / "linked.py").symlink_to(tmp_path / "outside.py")

    assert FunctionFolder(folder).find("linked") is None
    assert FunctionFolder(folder).names() == ["linked"]  # listed by name, refused when invoked


def test_a_payload_over_6_mb_is_request_too_large(client: Any) -> None:
    with pytest.raises(client.exceptions.RequestTooLargeException) as raised:
        client.invoke(FunctionName="echo", Payload=json.dumps("x" * (6 * 1024 * 1024)))

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_an_event_payload_over_256_kb_is_request_too_large(client: Any) -> None:
    with pytest.raises(client.exceptions.RequestTooLargeException):
        client.invoke(FunctionName="echo", InvocationType="Event", Payload=json.dumps("x" * (256 * 1024)))


def test_a_payload_that_is_not_json_is_invalid_request_content(client: Any) -> None:
    with pytest.raises(client.exceptions.InvalidRequestContentException):
        client.invoke(FunctionName="echo", Payload=b"{not json")


def test_no_more_processes_than_the_bound_run_at_once(tmp_path: Path) -> None:
    event = {"seconds": 0.5, "folder": str(tmp_path)}
    with (
        serving(LambdaServer(("127.0.0.1", 0), FunctionFolder(FUNCTIONS), max_concurrency=2)) as bounded,
        ThreadPoolExecutor(max_workers=6) as pool,
    ):
        client = lambda_client(bounded.url)
        responses = list(pool.map(lambda _: invoke(client, "nap", event)[0], range(6)))

    assert all("FunctionError" not in response for response in responses)
    notes = [json.loads(path.read_text()) for path in tmp_path.glob("*.json")]
    assert len(notes) == 6
    moments = sorted([(note["started"], 1) for note in notes] + [(note["ended"], -1) for note in notes])
    running = peak = 0
    for _, change in moments:
        running += change
        peak = max(peak, running)
    assert peak == 2


def test_event_invocations_beyond_the_queue_are_throttled(tmp_path: Path) -> None:
    folder = FunctionFolder(FUNCTIONS)
    with serving(
        LambdaServer(("127.0.0.1", 0), folder, max_concurrency=1, event_workers=1, event_queue_size=1)
    ) as bounded:
        client = lambda_client(bounded.url)
        event = json.dumps({"seconds": 0.3, "folder": str(tmp_path)})
        statuses = []
        for _ in range(4):
            try:
                statuses.append(client.invoke(FunctionName="nap", InvocationType="Event", Payload=event)["StatusCode"])
            except client.exceptions.TooManyRequestsException as throttled:
                assert throttled.response["Reason"] == "ConcurrentInvocationLimitExceeded"
                statuses.append(429)

    assert statuses[0] == 202
    assert 429 in statuses


def test_timeout_is_read_from_the_file_without_running_it(tmp_path: Path) -> None:
    cases = {
        "none": "x = 1\n",
        "int": "TIMEOUT = 7\n",
        "float": "TIMEOUT: float = 1.5\n",
        "capped": "TIMEOUT = 5000\n",
        "not_a_number": "TIMEOUT = '7'\n",
        "nested": "def f():\n    TIMEOUT = 9\n",
        "broken": "TIMEOUT = (\n",
    }
    for name, text in cases.items():
        (tmp_path / f"{name}.py").write_text(text)

    timeouts = {name: declared_timeout(tmp_path / f"{name}.py") for name in cases}

    assert timeouts == {
        "none": 3.0,
        "int": 7.0,
        "float": 1.5,
        "capped": 900.0,
        "not_a_number": 3.0,
        "nested": 3.0,
        "broken": 3.0,
    }


def test_function_refs_parse_as_lambda_reads_them() -> None:
    ref = parse_function_ref("arn:aws:lambda:eu-west-1:111122223333:function:score:live", None, "us-east-1")

    assert (ref.name, ref.qualifier, ref.arn) == (
        "score",
        "live",
        "arn:aws:lambda:eu-west-1:111122223333:function:score:live",
    )
    assert parse_function_ref("score", "$LATEST", "us-east-1").arn.endswith(":function:score:$LATEST")


def test_the_local_stack_serves_its_functions_folder_through_aws_endpoint_url_lambda() -> None:
    """The stack's handlers build their clients from the environment: Lambda reaches the endpoint, the rest moto."""
    from local.runtime import LocalRuntime

    with LocalRuntime(port=0, moto_port=0, functions_dir=FUNCTIONS) as runtime:
        assert os.environ["AWS_ENDPOINT_URL_LAMBDA"] == runtime.lambda_url
        session = botocore.session.get_session()
        lambdas = session.create_client("lambda")
        assert lambdas.meta.endpoint_url == runtime.lambda_url
        moto_url = runtime.moto_url
        assert session.create_client("dynamodb").meta.endpoint_url == moto_url

        response, payload = invoke(lambdas, "echo", {"from": "the stack"})

    assert "FunctionError" not in response
    assert payload["event"] == {"from": "the stack"}
    assert payload["endpoint"] == moto_url  # the handler's own AWS calls go to moto
    assert "AWS_ENDPOINT_URL_LAMBDA" not in os.environ
