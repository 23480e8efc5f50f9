"""`make sam-local`: every function under `sam local`, in a Lambda-like container, against a moto stack.

The functions run as they are deployed: SAM's build of the template (the flowcore layer at /opt), SAM's own
runtime interface emulator, the image `local/sam/image.sh` builds. The stack is moto's server, on the gateway
address of a Docker network of this run's own: the containers reach it there, and nothing else does.

Checks, each by what the table holds afterwards as well as by the answer:
- `sam local invoke` of every function with every event in events/ (the stream events' execution and task run
  seeded first, as the items their records carry), and of the failure handler with an OnFailure message the
  stream's event source emulation sends for a real record;
- `sam local start-api` and `sam local start-lambda`: the README's tour over HTTP, the runner fed by the real
  stream records of the moto table (local/esm.py, which sends the documents Lambda's event source mapping sends).

Usage: python -m tests.sam_local.run --sam .venv/sam/bin/sam --image IMAGE [--skip-tour]
Exit status 0 when every check passed; one line per check on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
#: The template's Architecture parameter, set to this machine's: the image is built from this machine's Python.
ARCHITECTURE = {"aarch64": "arm64"}.get(platform.machine(), platform.machine())
#: Bounds every container step: a `sam local invoke` (container start, init, one invocation) and the servers' start.
INVOKE_TIMEOUT = 120
SERVER_START_TIMEOUT = 120
FUNCTIONS = ("ApiFunction", "TaskRunnerFunction", "FailureHandlerFunction")
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class CheckFailed(AssertionError):
    """A check of this run did not hold; the message says which and what was seen."""


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _check(condition: bool, what: str, seen: Any) -> None:
    if not condition:
        raise CheckFailed(f"{what}: got {seen!r}")


# -- the Docker network and the moto stack on its gateway ---------------------------------------------------


def _docker(*args: str, timeout: float = 60) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=True)
    return result.stdout.strip()


@contextlib.contextmanager
def docker_network() -> Iterator[tuple[str, str]]:
    """A bridge network of this run's own (name, gateway address); on exit, the containers attached to it (SAM's,
    which it removes itself unless a step was cut short) and the network are removed."""
    name = f"flow-manager-sam-{os.getpid()}"
    _docker("network", "create", "--driver", "bridge", "--label", "flow-manager.sam-local=1", name)
    try:
        config = json.loads(_docker("network", "inspect", name))[0]["IPAM"]["Config"][0]
        yield name, config["Gateway"]
    finally:
        left = _docker("ps", "-aq", "--filter", f"network={name}").split()
        if left:
            subprocess.run(["docker", "rm", "-f", *left], capture_output=True, timeout=60, check=False)
        subprocess.run(["docker", "network", "rm", name], capture_output=True, timeout=60, check=False)


@contextlib.contextmanager
def moto_stack(host: str) -> Iterator[Any]:
    """moto's server on `host` (a free port) with the template's resources; yields the LocalStack."""
    from local.stack import FAKE_CREDENTIALS

    os.environ.update(FAKE_CREDENTIALS)
    import boto3

    from local import moto_patches
    from local.runtime import _MotoServer
    from local.stack import REGION, create_stack

    moto_patches.apply()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = _MotoServer(host, 0)
    server.start()
    if server.error is not None:
        raise CheckFailed(f"moto's server could not start on {host}: {server.error!r}")
    try:
        url = f"http://{host}:{server.get_host_and_port()[1]}"
        session = boto3.session.Session(region_name=REGION)
        stack = create_stack(session, endpoint_url=url)
        yield Stack(stack, url, session)
    finally:
        server.stop()


@dataclasses.dataclass
class Stack:
    resources: Any  # local.stack.LocalStack
    url: str
    session: Any

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.url)

    def items(self, pk: str) -> dict[str, dict[str, Any]]:
        """The items of one partition, by sort key, as plain strings and numbers."""
        answer = self.client("dynamodb").query(
            TableName=self.resources.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
        )
        return {item["sk"]["S"]: {k: next(iter(v.values())) for k, v in item.items()} for item in answer["Items"]}

    def clear(self, pk: str) -> None:
        dynamodb = self.client("dynamodb")
        for sk in self.items(pk):
            dynamodb.delete_item(TableName=self.resources.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}})

    def put(self, image: dict[str, Any]) -> None:
        self.client("dynamodb").put_item(TableName=self.resources.table_name, Item=image)

    def env_vars(self) -> dict[str, dict[str, str]]:
        """env.json for `sam local`: each function pointed at this stack (only variables the template declares
        reach a function; the credentials SAM passes from its own environment)."""
        resources = self.resources
        common = {"TABLE_NAME": resources.table_name, "AWS_ENDPOINT_URL": self.url}
        with_timer = {**common, "TIMER_STATE_MACHINE_ARN": resources.state_machine_arn}
        with_payloads = {
            **with_timer,
            "PAYLOAD_BUCKET": resources.payload_bucket,
            "CALLBACK_KEY_SECRET_ARN": resources.callback_key_secret,
        }
        return {"ApiFunction": with_payloads, "TaskRunnerFunction": with_payloads, "FailureHandlerFunction": with_timer}


# -- sam -------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Sam:
    executable: str
    image: str
    network: str
    env_file: Path
    work: Path
    template: Path

    def environment(self) -> dict[str, str]:
        from local.stack import FAKE_CREDENTIALS

        return {**os.environ, **FAKE_CREDENTIALS, "SAM_CLI_TELEMETRY": "0", "AWS_REGION": "us-east-1"}

    def common(self) -> list[str]:
        return [
            "--template",
            str(self.template),
            "--env-vars",
            str(self.env_file),
            "--invoke-image",
            self.image,
            "--skip-pull-image",
            "--docker-network",
            self.network,
            "--parameter-overrides",
            f"Architecture={ARCHITECTURE}",
        ]

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """`sam local invoke`: the function's answer (a function error raises CheckFailed with its log)."""
        path = self.work / f"event-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(event), encoding="utf-8")
        command = [self.executable, "local", "invoke", function, "--event", str(path), *self.common()]
        try:
            result = subprocess.run(
                command,
                cwd=ROOT,
                env=self.environment(),
                capture_output=True,
                text=True,
                timeout=INVOKE_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise CheckFailed(f"sam local invoke {function} took more than {INVOKE_TIMEOUT} s") from error
        finally:
            path.unlink(missing_ok=True)
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        if result.returncode != 0 or not lines:
            raise CheckFailed(f"sam local invoke {function} exited {result.returncode}:\n{result.stderr[-3000:]}")
        answer = json.loads(lines[-1])
        if isinstance(answer, dict) and "errorMessage" in answer:
            raise CheckFailed(f"{function} raised: {answer}\n{result.stderr[-3000:]}")
        return answer


# -- the checks ------------------------------------------------------------------------------------------


def _event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


#: Each event in events/ and the check that invokes a function with it; an event without a check fails the run.
CHECKED_EVENTS = {
    "api_health.json": "check_api_events",
    "api_create_flow.json": "check_api_events",
    "stream_start_execution.json": "check_stream_events",
    "stream_task_run.json": "check_stream_events",
}


def check_every_event_is_checked() -> None:
    unchecked = sorted({path.name for path in EVENTS.glob("*.json")} - set(CHECKED_EVENTS))
    _check(not unchecked, "every event in events/ has a check in tests/sam_local/run.py", unchecked)


def check_api_events(sam: Sam, stack: Stack) -> None:
    health = sam.invoke("ApiFunction", _event("api_health.json"))
    _check(health.get("statusCode") == 200, "GET /health answers 200", health)
    _check(json.loads(health["body"]).get("status") == "healthy", "GET /health says healthy", health["body"])
    _say("ok   ApiFunction  events/api_health.json: 200 healthy")

    created = sam.invoke("ApiFunction", _event("api_create_flow.json"))
    _check(created.get("statusCode") == 200, "POST /flow/create answers 200", created)
    body = json.loads(created["body"])
    _check((body.get("flow_id"), body.get("status")) == ("flow123", "created"), "the flow is created", body)
    stored = stack.items("T#dev#FLOW#flow123")
    _check(bool(stored), "the flow is in the table", stored)
    _say(f"ok   ApiFunction  events/api_create_flow.json: 200 created; {len(stored)} item(s) under T#dev#FLOW#flow123")


def check_stream_events(sam: Sam, stack: Stack) -> None:
    """Each stream event's records carry items; with those items in the table, the runner acts on them."""
    start = _event("stream_start_execution.json")
    meta = start["Records"][0]["dynamodb"]["NewImage"]
    execution = meta["pk"]["S"]
    stack.clear(execution)
    stack.put(meta)
    answer = sam.invoke("TaskRunnerFunction", start)
    _check(answer == {"batchItemFailures": []}, "the start record is processed", answer)
    runs = {sk: item["status"] for sk, item in stack.items(execution).items() if sk.startswith("RUN#")}
    _check(runs.get("RUN#000001#task1") == "SUCCESS", "the execution's first task runs", runs)
    _say(f"ok   TaskRunnerFunction  events/stream_start_execution.json: runs {runs}")

    task = _event("stream_task_run.json")
    run = task["Records"][0]["dynamodb"]["NewImage"]
    # The run the record carries, in a running execution that has not run it yet.
    stack.clear(execution)
    stack.put(meta)
    stack.put(run)
    answer = sam.invoke("TaskRunnerFunction", task)
    _check(answer == {"batchItemFailures": []}, "the task run record is processed", answer)
    committed = stack.items(execution).get(run["sk"]["S"], {})
    _check(committed.get("status") == "SUCCESS", f"{run['sk']['S']} is committed SUCCESS", committed)
    _say(f"ok   TaskRunnerFunction  events/stream_task_run.json: {run['sk']['S']} SUCCESS")


def check_failure_handler(sam: Sam, stack: Stack) -> None:
    """A real record the runner gives up on: the event source emulation sends its OnFailure message to the
    queue, and the failure handler, fed from the queue, fails the record's execution."""
    from local.esm import QueuePump, StreamPump, sqs_failure_sink
    from local.streams import StreamCursor

    resources = stack.resources
    streams = StreamCursor(stack.client("dynamodbstreams"))
    sqs = stack.client("sqs")
    handlers: list[Callable[[dict[str, Any], Any], Any]] = [lambda event, context: {"batchItemFailures": []}]

    def gives_up(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("the runner gives up on this batch")

    def current(event: dict[str, Any], context: Any) -> Any:  # the handler of the moment, looked up per batch
        return handlers[-1](event, context)

    mapping = dataclasses.replace(resources.spec.mapping, max_retries=0)
    pump = StreamPump(
        streams,
        resources.stream_arn,
        current,
        mapping,
        on_failure=sqs_failure_sink(sqs, resources.queue_url),
    )
    pump.drain()  # the records written so far were handled above: the mapping starts after them
    handlers.append(gives_up)
    execution_id = "3f9c1c1e-0000-4000-8000-0000000000fa"
    meta = {
        **_event("stream_start_execution.json")["Records"][0]["dynamodb"]["NewImage"],
        "pk": {"S": f"T#dev#EXEC#{execution_id}"},
        "execution_id": {"S": f"dev/{execution_id}"},
    }
    stack.put(meta)
    pump.drain()
    _check(pump.stats.batches_failed_over == 1, "the batch is sent to the failure queue", pump.stats)

    answers: list[Any] = []

    def failure_handler(event: dict[str, Any], context: Any) -> Any:
        answers.append(sam.invoke("FailureHandlerFunction", event))
        return answers[-1]

    queue = QueuePump(sqs, resources.queue_url, resources.queue_arn, failure_handler, "FailureHandlerFunction")
    queue.drain()
    _check(answers == [{"batchItemFailures": []}], "the failure handler takes the message", answers)
    status = stack.items(f"T#dev#EXEC#{execution_id}")["META"].get("status")
    _check(status == "FAILED", "the execution of the given-up record ends FAILED", status)
    _say("ok   FailureHandlerFunction  OnFailure message of a real stream record: execution FAILED")


# -- main ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sam_local.run", description=__doc__)
    parser.add_argument("--sam", required=True, help="the sam executable")
    parser.add_argument("--image", required=True, help="the image the functions run in (--invoke-image)")
    parser.add_argument(
        "--template",
        type=Path,
        default=ROOT / ".aws-sam" / "sam-local" / "build" / "template.yaml",
        help="the built template (sam build --build-dir .aws-sam/sam-local/build, as make sam-local does)",
    )
    parser.add_argument("--skip-tour", action="store_true", help="only the `sam local invoke` checks")
    args = parser.parse_args(argv)

    # `timeout` (make sam-local) stops the run with SIGTERM: unwind, so the network and containers are removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="flow-manager-sam-"))
    try:
        check_every_event_is_checked()
        with docker_network() as (network, gateway), moto_stack(gateway) as stack:
            env_file = work / "env.json"
            env_file.write_text(json.dumps(stack.env_vars(), indent=2), encoding="utf-8")
            sam = Sam(args.sam, args.image, network, env_file, work, args.template.resolve())
            _say(f"sam-local: moto on {stack.url} (network {network}), image {args.image}")
            check_api_events(sam, stack)
            check_stream_events(sam, stack)
            check_failure_handler(sam, stack)
            if not args.skip_tour:
                from tests.sam_local.tour import run_tour

                run_tour(sam, stack, _say)
    except CheckFailed as failure:
        _say(f"FAIL {failure}")
        return 1
    except (subprocess.CalledProcessError, OSError) as error:
        stderr = getattr(error, "stderr", "") or ""
        _say(f"FAIL {error} {stderr.strip()}")
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _say(f"sam-local: every check passed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
