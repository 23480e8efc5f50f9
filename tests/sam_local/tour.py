"""The README's one-minute tour over HTTP against `sam local start-api`, the task runner under
`sam local start-lambda` fed by the real stream records of the moto table (local/esm.py's event source mapping)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.sam_local.run import Sam, Stack

TOUR_TIMEOUT = 240
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def _server(sam: Sam, command: str, port: int, log_name: str) -> Iterator[str]:
    """`sam local <command>` on 127.0.0.1:port until the block ends (stopped, then killed after 20 s)."""
    from tests.sam_local.run import SERVER_START_TIMEOUT, CheckFailed

    log = (sam.work / log_name).open("w", encoding="utf-8")
    arguments = [sam.executable, "local", command, "--host", "127.0.0.1", "--port", str(port), *sam.common()]
    process = subprocess.Popen(
        [*arguments, "--warm-containers", "LAZY"],
        env=sam.environment(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise CheckFailed(f"sam local {command} did not start: {(sam.work / log_name).read_text()[-2000:]}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()


def _http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    try:
        with _DIRECT.open(request, timeout=120) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def run_tour(sam: Sam, stack: Stack, say: Callable[[str], None]) -> None:
    import boto3
    from botocore.config import Config

    from local.esm import StreamPump, sqs_failure_sink
    from local.streams import StreamCursor
    from tests.sam_local.run import ROOT, CheckFailed, _check

    resources = stack.resources
    stack.clear("T#dev#FLOW#flow123")  # stored by the create-flow event above; the tour stores it anew
    with _server(sam, "start-lambda", _free_port(), "start-lambda.log") as lambda_url:
        client = boto3.client(
            "lambda",
            endpoint_url=lambda_url,
            region_name="us-east-1",
            config=Config(read_timeout=120, retries={"max_attempts": 0}),
        )

        def task_runner(event: dict[str, Any], context: Any) -> Any:
            answer = client.invoke(FunctionName="TaskRunnerFunction", Payload=json.dumps(event).encode())
            payload = json.loads(answer["Payload"].read() or b"null")
            if answer.get("FunctionError"):
                raise RuntimeError(f"TaskRunnerFunction raised: {payload}")
            return payload

        handlers: list[Callable[[dict[str, Any], Any], Any]] = [lambda event, context: {"batchItemFailures": []}]

        def current(event: dict[str, Any], context: Any) -> Any:
            return handlers[-1](event, context)

        pump = StreamPump(
            StreamCursor(stack.client("dynamodbstreams")),
            resources.stream_arn,
            current,
            resources.spec.mapping,
            on_failure=sqs_failure_sink(stack.client("sqs"), resources.queue_url),
        )
        pump.drain()  # what the checks before wrote was handled there
        handlers.append(task_runner)

        with _server(sam, "start-api", _free_port(), "start-api.log") as api:
            flow = json.loads((ROOT / "examples" / "data_processing.json").read_text(encoding="utf-8"))
            status, body = _http("POST", f"{api}/flows", flow)
            _check(status in (200, 201), "POST /flows stores the flow", (status, body))
            say(f"ok   tour: POST /flows -> {status}")
            status, body = _http("POST", f"{api}/flows/flow123/executions", {"input": {"day": "monday"}})
            _check(status == 202 and "execution_id" in body, "POST /flows/flow123/executions answers 202", body)
            execution_id = body["execution_id"]
            say(f"ok   tour: POST /flows/flow123/executions -> 202 {execution_id}")

            deadline = time.monotonic() + TOUR_TIMEOUT
            while True:
                pump.poll()
                status, body = _http("GET", f"{api}/executions/{execution_id}")
                _check(status == 200, "GET /executions/<id> answers 200", (status, body))
                if body.get("status") not in ("CREATED", "RUNNING"):
                    break
                if time.monotonic() > deadline:
                    raise CheckFailed(f"the execution did not end within {TOUR_TIMEOUT} s: {body}")
                time.sleep(0.2)
            _check(body.get("status") == "COMPLETED", "the execution completes", body)
            _check(body.get("completed_tasks") == ["task1", "task2", "task3"], "it ran the three tasks", body)
            say(
                f"ok   tour: GET /executions/{execution_id} -> COMPLETED, path {body.get('path')}, "
                f"{pump.stats.invocations} runner invocation(s) through sam local start-lambda"
            )
