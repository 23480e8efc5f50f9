"""flowctl against the local stack over HTTP: every command, the live view of `run --watch` and `status --watch`
rendered to a recorded terminal, a callback approved and one rejected, and the exit codes of each ending."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from flowctl.command import Runtime
from flowctl.main import cli
from local.runtime import LocalRuntime
from tests.conftest import EXAMPLES, example
from tests.e2e.conftest import DEADLINE_SECONDS, Client, command_environment

pytestmark = pytest.mark.e2e

DEADLINE_FLOW = {
    "id": "flowctl-deadline",
    "name": "Waits for a callback that never comes, past the execution's one-second deadline",
    "timeout_seconds": 1,
    "start_task": "wait",
    "tasks": [{"name": "wait", "type": "callback", "timeout_seconds": 3600}],
}


def bounded_sleep() -> Callable[[float], None]:
    """The watch's sleep, failing the test rather than polling past DEADLINE_SECONDS."""
    deadline = time.monotonic() + DEADLINE_SECONDS

    def sleep(seconds: float) -> None:
        assert time.monotonic() < deadline, f"still watching after {DEADLINE_SECONDS} s"
        time.sleep(seconds)

    return sleep


def terminal() -> Console:
    """A terminal of 120 columns that keeps every frame the live view draws."""
    return Console(file=io.StringIO(), force_terminal=True, width=120, record=True, highlight=False)


def frames(console: Console) -> str:
    """Every frame the live view drew on `console`, as text. A frame redraws over the one before it, from the end
    of that one's last line: each starts a line of its own here."""
    return re.sub(r"(?<!\n)execution ", "\nexecution ", console.export_text())


def flowctl(runtime: LocalRuntime, *args: str, console: Console | None = None, stdin: str | None = None) -> Result:
    """`flowctl ARGS` in this process, with FLOW_API_URL naming the local stack (no token: its dev tenant)."""
    state = Runtime(environ={"FLOW_API_URL": runtime.url}, console=console, sleep=bounded_sleep())
    return CliRunner(env={"COLUMNS": "160"}).invoke(cli, list(args), obj=state, input=stdin)


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def lines(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


def wait_until_waiting(client: Client, execution_id: str, task: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        result = client.request("GET", f"/executions/{execution_id}").json()["task_results"].get(task)
        if result is not None and result["status"] == "WAITING" and result.get("callback"):
            return
        assert time.monotonic() < deadline, f"{task} is not waiting after {DEADLINE_SECONDS} s"
        time.sleep(0.05)


def test_the_tour_from_the_command_line(runtime: LocalRuntime) -> None:
    stored = flowctl(runtime, "flows", "create", str(EXAMPLES / "data_processing.json"))
    again = flowctl(runtime, "flows", "create", str(EXAMPLES / "data_processing.json"), "-o", "json")
    assert stored.exit_code == 0, stored.output
    assert stored.stdout in {
        "stored flow flow123 version 1\n",
        "flow flow123 unchanged: version 1 already holds this definition\n",
    }
    assert as_json(again)["created"] is False

    assert "flow123" in [flow["flow_id"] for flow in as_json(flowctl(runtime, "flows", "list", "-o", "json"))["flows"]]
    assert ["flow123", "1", "Data", "processing", "flow"] in [
        row[:5] for row in lines(flowctl(runtime, "flows", "list").stdout)
    ]
    shown = flowctl(runtime, "flows", "show", "flow123", "--version", "1")
    assert shown.exit_code == 0
    assert ["task1", "(start)", "fetch_data"] in [row[:3] for row in lines(shown.stdout)]
    version = as_json(flowctl(runtime, "flows", "show", "flow123", "-o", "json"))
    assert version["definition"]["start_task"] == "task1"

    console = terminal()
    watched = flowctl(runtime, "run", "flow123", "--input", '{"day": "monday"}', "--watch", console=console)

    assert watched.exit_code == 0, watched.output
    drawn = frames(console)
    headers = [row for row in lines(drawn) if row[:1] == ["execution"]]
    (execution_id,) = {header[1] for header in headers}
    assert headers[-1][2:5] == ["flow123", "v1", "COMPLETED"]
    for task in ("task1", "task2", "task3"):
        assert [task, "SUCCESS", "1"] in [row[:3] for row in lines(drawn)]

    document = as_json(flowctl(runtime, "status", execution_id, "-o", "json"))
    assert (document["status"], document["path"], document["input"]) == (
        "COMPLETED",
        ["task1", "task2", "task3"],
        {"day": "monday"},
    )
    assert ["task3", "SUCCESS", "1"] in [row[:3] for row in lines(flowctl(runtime, "status", execution_id).stdout)]

    events = as_json(flowctl(runtime, "history", execution_id, "-o", "json"))["events"]
    assert [(event["task_name"], event["status"]) for event in events] == [
        ("task1", "SUCCESS"),
        ("task2", "SUCCESS"),
        ("task3", "SUCCESS"),
    ]
    assert ["1", "task1", "1", "SUCCESS"] in [
        row[:4] for row in lines(flowctl(runtime, "history", execution_id).stdout)
    ]

    one_flow = as_json(flowctl(runtime, "list", "--flow", "flow123", "--status", "COMPLETED", "-o", "json"))
    every_flow = as_json(flowctl(runtime, "list", "-o", "json"))
    assert execution_id in [execution["execution_id"] for execution in one_flow["executions"]]
    assert execution_id in [execution["execution_id"] for execution in every_flow["executions"]]
    assert execution_id in flowctl(runtime, "list").stdout


def test_run_watch_exits_1_on_a_failed_execution(runtime: LocalRuntime) -> None:
    assert flowctl(runtime, "flows", "create", str(EXAMPLES / "unhandled_failure.json")).exit_code == 0

    result = flowctl(runtime, "run", "unhandled-failure", "--watch")

    assert result.exit_code == 1, result.output
    assert ["process", "FAILURE", "1"] in [row[:3] for row in lines(result.stdout)]
    assert "error: task 'process' failed" in result.stdout


def test_run_watch_exits_2_on_a_timed_out_execution(runtime: LocalRuntime) -> None:
    assert flowctl(runtime, "flows", "create", "-", stdin=json.dumps(DEADLINE_FLOW)).exit_code == 0

    result = flowctl(runtime, "run", "flowctl-deadline", "--watch", "--output", "json")

    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["status"] == "TIMED_OUT"


def test_cancel_then_watch_exits_2(runtime: LocalRuntime, client: Client) -> None:
    assert flowctl(runtime, "flows", "create", str(EXAMPLES / "approval.json")).exit_code == 0
    started = as_json(
        flowctl(runtime, "run", "approval", "--input", '{"amount": 5, "requested_by": "li"}', "-o", "json")
    )
    execution_id = started["execution_id"]
    wait_until_waiting(client, execution_id, "approve")

    cancelled = flowctl(runtime, "cancel", execution_id)
    watched = flowctl(runtime, "status", execution_id, "--watch")
    again = flowctl(runtime, "cancel", execution_id)

    assert (cancelled.exit_code, cancelled.stdout) == (0, f"execution {execution_id} is CANCELLED\n")
    assert watched.exit_code == 2
    assert again.exit_code == 3
    assert again.stderr.startswith("error: 409 conflict: ")


def test_a_callback_approved_while_the_live_view_watches(runtime: LocalRuntime, client: Client, tmp_path: Path) -> None:
    assert flowctl(runtime, "flows", "create", str(EXAMPLES / "approval.json")).exit_code == 0
    (tmp_path / "input.json").write_text('{"amount": 120, "requested_by": "li"}')
    started = as_json(flowctl(runtime, "run", "approval", "--input", f"@{tmp_path / 'input.json'}", "-o", "json"))
    execution_id = started["execution_id"]
    console = terminal()
    ended: list[int] = []

    def watch() -> None:
        # Not through CliRunner: it swaps sys.stdout, which the approval below does too, from this test's thread.
        state = Runtime(environ={"FLOW_API_URL": runtime.url}, console=console, sleep=bounded_sleep())
        try:
            cli.main(["status", execution_id, "--watch"], obj=state)
        except SystemExit as stop:
            ended.append(int(stop.code or 0))

    watcher = threading.Thread(target=watch)
    watcher.start()
    wait_until_waiting(client, execution_id, "approve")
    time.sleep(0.6)  # one more poll: the live view shows the waiting task
    approved = flowctl(runtime, "approve", execution_id, "--result", '{"by": "ana"}')
    watcher.join(DEADLINE_SECONDS)

    assert approved.exit_code == 0, approved.output
    assert approved.stdout == f"approved approve (attempt 1) of execution {execution_id}\n"
    assert ended == [0]
    drawn = frames(console)
    assert ["approve", "WAITING", "1"] in [row[:3] for row in lines(drawn)]
    assert f"approve waits for its callback: flowctl approve {execution_id} [--reject]" in drawn
    assert ["pay", "SUCCESS", "1"] in [row[:3] for row in lines(drawn)]
    document = as_json(flowctl(runtime, "status", execution_id, "-o", "json"))
    assert document["task_results"]["pay"]["output"] == {"amount": 120, "approved_by": "ana"}


def test_a_callback_rejected_by_its_url(runtime: LocalRuntime, client: Client) -> None:
    execution_id = client.start(example("approval"), {"amount": 9000, "requested_by": "li"})
    wait_until_waiting(client, execution_id, "approve")
    url = client.request("GET", f"/executions/{execution_id}").json()["task_results"]["approve"]["callback"]["url"]

    rejected = flowctl(runtime, "approve", runtime.url + url, "--reject", "--reason", "over budget", "-o", "json")
    document = client.wait_for_end(execution_id)

    assert as_json(rejected)["outcome"] == "failure"
    assert (document["status"], document["path"]) == ("COMPLETED", ["prepare", "approve", "rejected"])
    assert document["task_results"]["approve"]["error"] == "over budget"


def test_api_errors_are_one_line_with_the_fields_of_a_422(runtime: LocalRuntime) -> None:
    invalid = {"id": "flowctl-invalid", "tasks": [{"name": ""}]}

    refused = flowctl(runtime, "flows", "create", "-", stdin=json.dumps(invalid))
    missing = flowctl(runtime, "status", "no-such-execution")

    assert refused.exit_code == 3
    assert refused.stderr.startswith("error: 422 validation_error: the request has 3 problems: ")
    assert "tasks[0].name: String should match pattern" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    assert missing.exit_code == 3
    assert missing.stderr.startswith("error: 404 not_found: ")


def test_the_console_script_is_installed_and_reaches_the_stack(runtime: LocalRuntime) -> None:
    script = Path(sys.executable).parent / "flowctl"
    assert script.exists(), "flowctl is not installed in this virtualenv: `make` installs it (pip install -e .)"

    listed = subprocess.run(
        [str(script), "flows", "list", "--output", "json", "--endpoint", runtime.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=command_environment(),
    )
    unreachable = subprocess.run(
        [sys.executable, "-m", "flowctl", "status", "x", "--endpoint", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=command_environment(),
    )

    assert listed.returncode == 0, listed.stderr
    assert "flows" in json.loads(listed.stdout)
    assert unreachable.returncode == 3
    assert unreachable.stderr.startswith("error: cannot reach http://127.0.0.1:9: ")
