"""The local stack keeps its data in a folder: saved on a clean stop (and periodically), loaded on start, and an
execution RUNNING at the stop carries on after the restart."""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from local.datastore import CALLBACK_KEY_FILE, FILE_NAME, PAYLOADS
from local.runtime import LocalRuntime
from tests.conftest import ROOT, example
from tests.e2e.conftest import Client, command_environment

pytestmark = pytest.mark.e2e


def stack(data: Path, fresh: bool = False) -> LocalRuntime:
    return LocalRuntime(port=0, moto_port=0, data_dir=data, fresh=fresh)


def waiting_flow(seconds: int) -> dict[str, Any]:
    """A wait longer than 5 s parks its run WAITING, and a timer of the state machine resumes it."""
    return {
        "id": "waits",
        "name": "waits",
        "start_task": "pause",
        "tasks": [{"name": "pause", "type": "wait", "parameters": {"seconds": seconds}}, {"name": "after"}],
        "conditions": [{"source_task": "pause", "outcome": "success", "target_task_success": "after"}],
    }


def test_flows_and_executions_survive_a_restart(tmp_path: Path) -> None:
    with stack(tmp_path) as first:
        client = Client(first.url)
        done = client.run(example("data_processing"))
        listed = client.request("GET", "/flows").json()

    assert (tmp_path / FILE_NAME).exists()
    with stack(tmp_path) as second:
        client = Client(second.url)
        assert client.request("GET", "/flows").json() == listed
        assert client.request("GET", "/flows/flow123").status == 200
        assert client.request("GET", f"/executions/{done['execution_id']}").json() == done
        assert client.run(example("data_processing"))["status"] == "COMPLETED"


def test_a_fresh_start_is_empty_and_keeps_the_last_save_aside(tmp_path: Path) -> None:
    with stack(tmp_path) as first:
        Client(first.url).run(example("data_processing"))

    with stack(tmp_path, fresh=True) as second:
        assert Client(second.url).request("GET", "/flows").json()["flows"] == []

    assert (tmp_path / f"{FILE_NAME}.previous").exists()


def test_an_execution_whose_start_was_not_dispatched_runs_after_a_restart(tmp_path: Path) -> None:
    with stack(tmp_path) as first:
        first._pollers[0].stop()  # the stream poller: the execution's record is never read before the stop
        execution_id = Client(first.url).start(example("data_processing"))

    with stack(tmp_path) as second:
        document = Client(second.url).wait_for_end(execution_id)

    assert document["status"] == "COMPLETED"
    assert document["path"] == ["task1", "task2", "task3"]


def test_a_timer_pending_at_the_stop_fires_after_the_restart(tmp_path: Path) -> None:
    with stack(tmp_path) as first:
        client = Client(first.url)
        execution_id = client.start(waiting_flow(7))
        deadline = time.monotonic() + 10
        while client.request("GET", f"/executions/{execution_id}").json()["task_results"] == {}:
            assert time.monotonic() < deadline, "the wait task never parked"
            time.sleep(0.1)
        assert client.request("GET", f"/executions/{execution_id}").json()["status"] == "RUNNING"

    saved = [json.loads(line) for line in (tmp_path / FILE_NAME).read_text().splitlines()[1:]]
    assert [entry["timer"]["input"]["action"] for entry in saved if "timer" in entry] == ["redispatch"]
    with stack(tmp_path) as second:
        document = Client(second.url).wait_for_end(execution_id)

    assert document["status"] == "COMPLETED"
    assert document["path"] == ["pause", "after"]


def test_saves_are_periodic_and_atomic(tmp_path: Path) -> None:
    with LocalRuntime(port=0, moto_port=0, data_dir=tmp_path, save_interval=0.5) as running:
        Client(running.url).request("POST", "/flows", copy.deepcopy(example("data_processing")))
        deadline = time.monotonic() + 10
        while not (tmp_path / FILE_NAME).exists() or "flow123" not in (tmp_path / FILE_NAME).read_text():
            assert time.monotonic() < deadline, "no periodic save"
            time.sleep(0.1)
        # no temporary file left behind (the spool holds the bucket's objects while the stack runs; the key signs
        # callback tokens)
        assert sorted(path.name for path in tmp_path.iterdir()) == [CALLBACK_KEY_FILE, FILE_NAME, "spool"]
    assert sorted(path.name for path in tmp_path.iterdir()) == [CALLBACK_KEY_FILE, FILE_NAME]


def test_the_command_says_where_the_data_is(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "local", "--port", "0", "--moto-port", "0", "--data-dir", str(tmp_path)]
    process = subprocess.Popen(
        command, cwd=ROOT, env=command_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:
            seen.append(line)
            if "press Ctrl-C to stop" in line:
                break
        process.send_signal(2)
        rest, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()

    output = "".join(seen) + rest
    assert f"data: {tmp_path.resolve()}" in output
    assert f"saved 0 item(s) to {tmp_path.resolve() / FILE_NAME}" in output
    assert process.returncode == 0


def test_an_unreadable_save_stops_the_start_with_one_line(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text('{"format": 99}\n')
    command = [sys.executable, "-m", "local", "--port", "0", "--moto-port", "0", "--data-dir", str(tmp_path)]

    finished = subprocess.run(
        command, check=False, cwd=ROOT, env=command_environment(), capture_output=True, text=True, timeout=60
    )

    assert finished.returncode == 3
    assert f"flow-manager: cannot load {tmp_path.resolve() / FILE_NAME}" in finished.stderr
    assert "--fresh" in finished.stderr
    assert "Traceback" not in finished.stderr


def large_input(size: int = 200_000) -> dict[str, Any]:
    return {"blob": "z" * size}


def saved_payloads(data: Path) -> list[str]:
    return sorted(path.relative_to(data / PAYLOADS).as_posix() for path in (data / PAYLOADS).rglob("*.json"))


def test_payloads_are_kept_across_a_restart_and_go_with_their_execution(tmp_path: Path) -> None:
    # Given an execution with a stored input, saved on a clean stop
    with stack(tmp_path) as first:
        document = Client(first.url).run(example("data_processing"), large_input())
    reference = document["input_ref"]
    assert saved_payloads(tmp_path) == [f"executions/dev/{document['execution_id']}/{reference['sha256']}.json"]
    # When the stack starts again / Then the value downloads as before
    with stack(tmp_path) as second:
        client = Client(second.url)
        assert client.request("GET", reference["ref"]).json() == large_input()  # the redirect, followed
        # And deleting the execution deletes its object, and its file at the next save
        assert client.request("DELETE", f"/executions/{document['execution_id']}").json()["payloads_deleted"] == 1
    assert saved_payloads(tmp_path) == []


def test_a_reference_whose_payload_was_not_saved_is_named_when_the_stack_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a save whose payload file was removed by hand
    with stack(tmp_path) as first:
        document = Client(first.url).run(example("data_processing"), large_input())
    for path in (tmp_path / PAYLOADS).rglob("*.json"):
        path.unlink()
    # When the stack starts
    with caplog.at_level(logging.WARNING), stack(tmp_path) as second:
        client = Client(second.url)
        status = client.request("GET", f"/executions/{document['execution_id']}").json()
        download = client.request("GET", document["input_ref"]["ref"])
    # Then the load names the reference, the document still shows it, and its download is 404
    warnings = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert any(f"EXEC#{document['execution_id']}" in line and "not saved" in line for line in warnings), warnings
    assert any("1 reference(s) to payloads that were not saved" in line for line in warnings), warnings
    assert status["input_ref"] == document["input_ref"]
    assert download.status == 404


def test_a_callback_token_handed_out_before_a_restart_completes_its_run_after_it(tmp_path: Path) -> None:
    approval = {
        "id": "approval-across-restarts",
        "name": "approval",
        "start_task": "approve",
        "tasks": [{"name": "approve", "type": "callback", "timeout_seconds": 3600}, {"name": "after"}],
        "conditions": [{"source_task": "approve", "outcome": "success", "target_task_success": "after"}],
    }
    with stack(tmp_path) as first:
        client = Client(first.url)
        execution_id = client.start(approval)
        deadline = time.monotonic() + 20
        while (ticket := client.request("GET", f"/executions/{execution_id}").json()["task_results"]).get(
            "approve", {}
        ).get("callback") is None:
            assert time.monotonic() < deadline, ticket
            time.sleep(0.05)
        url = ticket["approve"]["callback"]["url"]

    with stack(tmp_path) as second:
        client = Client(second.url)
        answer = client.request("POST", url, {"outcome": "success", "output": {"by": "ana"}})
        assert answer.status == 200, answer.json()
        document = client.wait_for_end(execution_id)
        assert (document["status"], document["path"]) == ("COMPLETED", ["approve", "after"])
