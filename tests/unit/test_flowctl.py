"""flowctl's commands against a scripted API (httpx.MockTransport): the requests each sends, what it prints for a
person and with `--output json`, and its exit codes."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from flowctl.command import Runtime
from flowctl.main import cli

NOW = datetime(2026, 11, 30, 12, 0, 10, tzinfo=UTC)
EXECUTION_ID = "3f2c9a51-0000-4000-8000-000000000001"
TOKEN = "WyJhYmMiLDIsImFwcHJvdmUiLDFd." + "s" * 43

Answer = tuple[int, Any] | Callable[[httpx.Request], tuple[int, Any]]


class FakeApi:
    """Answers by method and path: each route's answers in turn, the last one again and again. Records every
    request; a route it was not given is the API's 404."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Answer]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, *answers: Answer) -> FakeApi:
        self.routes[(method, path)] = list(answers)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answers = self.routes.get((request.method, request.url.path))
        if not answers:
            return httpx.Response(404, json=error_document("not_found", f"no route matches {request.url.path}"))
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        status, body = answer(request) if callable(answer) else answer
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [request for request in self.requests if (request.method, request.url.path) == (method, path)]

    def body(self, method: str, path: str) -> Any:
        return json.loads(self.sent(method, path)[-1].content)


def error_document(code: str, message: str, details: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def invoke(
    api: FakeApi,
    *args: str,
    environ: dict[str, str] | None = None,
    stdin: str | None = None,
    console: Console | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Result:
    """Runs `flowctl ARGS` as the console script would, its HTTP answered by `api`."""
    runtime = Runtime(
        environ=environ or {},
        transport=httpx.MockTransport(api),
        console=console,
        sleep=sleep or (lambda _: None),
        now=lambda: NOW,
    )
    return CliRunner(env={"COLUMNS": "140"}).invoke(cli, list(args), obj=runtime, input=stdin)


def summary(status: str = "RUNNING", **fields: Any) -> dict[str, Any]:
    return {
        "execution_id": EXECUTION_ID,
        "flow_id": "pipeline",
        "flow_version": 2,
        "flow_name": "A pipeline",
        "status": status,
        "created_at": "2026-11-30T12:00:00.000Z",
        "started_at": "2026-11-30T12:00:00.000Z",
        "ended_at": None,
        "error": None,
        **fields,
    }


def run_of(task: str, status: str, attempts: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "task_name": task,
        "status": status,
        "attempts": attempts,
        "started_at": "2026-11-30T12:00:01.000Z",
        "ended_at": "2026-11-30T12:00:01.250Z",
        "error": None,
        "callback": None,
        "child_execution_id": None,
        **fields,
    }


def status_document(status: str, *runs: dict[str, Any], **fields: Any) -> dict[str, Any]:
    ended = None if status in {"CREATED", "RUNNING"} else "2026-11-30T12:00:02.000Z"
    return {
        **summary(status, ended_at=ended),
        "current_task": runs[-1]["task_name"] if runs else None,
        "path": [run["task_name"] for run in runs],
        "task_results": {run["task_name"]: run for run in runs},
        **fields,
    }


FLOW_VERSION = {
    "flow_id": "pipeline",
    "version": 2,
    "name": "A pipeline",
    "created_at": "2026-11-30T11:00:00.000Z",
    "definition": {
        "id": "pipeline",
        "name": "A pipeline",
        "start_task": "fetch",
        "tasks": [
            {"name": "fetch", "type": "fetch_data", "description": "Fetch the records"},
            {"name": "process", "type": "process_data"},
            {"name": "store", "type": "store_data"},
        ],
        "conditions": [
            {
                "name": "large",
                "source_task": "fetch",
                "outcome": "success",
                "when": {"path": "records_fetched", "op": "gt", "value": 100},
                "target_task_success": "process",
                "target_task_failure": "end",
            }
        ],
    },
}
EXECUTION_PATH = f"/executions/{EXECUTION_ID}"


# -- flows ------------------------------------------------------------------------------------------------------


def test_flows_create_posts_the_file_as_it_is(tmp_path: Path) -> None:
    definition = {"flow": {"id": "pipeline", "tasks": [{"name": "fetch"}]}}
    (tmp_path / "flow.json").write_text(json.dumps(definition))
    api = FakeApi().on("POST", "/flows", (201, {"flow_id": "pipeline", "version": 2, "created": True}))

    result = invoke(api, "flows", "create", str(tmp_path / "flow.json"))

    assert result.exit_code == 0, result.output
    assert api.body("POST", "/flows") == definition
    assert api.sent("POST", "/flows")[0].headers["content-type"] == "application/json"
    assert result.stdout == "stored flow pipeline version 2\n"


def test_flows_create_says_when_the_latest_version_already_holds_the_definition() -> None:
    api = FakeApi().on("POST", "/flows", (200, {"flow_id": "pipeline", "version": 2, "created": False}))

    result = invoke(api, "flows", "create", "-", stdin='{"id": "pipeline"}')

    assert result.exit_code == 0
    assert api.body("POST", "/flows") == {"id": "pipeline"}
    assert "unchanged: version 2 already holds this definition" in result.stdout


def test_flows_create_with_output_json_prints_the_apis_answer() -> None:
    answer = {"flow_id": "pipeline", "version": 2, "name": "A pipeline", "created_at": "x", "created": True}
    api = FakeApi().on("POST", "/flows", (201, answer))

    result = invoke(api, "flows", "create", "-", "--output", "json", stdin="{}")

    assert result.exit_code == 0
    assert json.loads(result.stdout) == answer


@pytest.mark.parametrize(("content", "message"), [("{not json", "is not JSON"), (None, "No such file")])
def test_flows_create_refuses_a_file_that_is_not_json_or_not_there(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "flow.json"
    if content is not None:
        path.write_text(content)
    api = FakeApi()

    result = invoke(api, "flows", "create", str(path))

    assert result.exit_code == 3
    assert message in result.stderr
    assert api.requests == []


def test_flows_list_follows_every_page() -> None:
    def page(request: httpx.Request) -> tuple[int, Any]:
        if request.url.params.get("cursor") == "next":
            return 200, {"flows": [{"flow_id": "retry", "latest_version": 1, "name": "Retry"}], "next_cursor": None}
        return 200, {"flows": [{"flow_id": "pipeline", "latest_version": 3, "name": "P"}], "next_cursor": "next"}

    api = FakeApi().on("GET", "/flows", page)

    table = invoke(api, "flows", "list")
    machine = invoke(api, "flows", "list", "-o", "json")

    assert table.exit_code == 0
    assert "pipeline" in table.stdout and "retry" in table.stdout
    assert [flow["flow_id"] for flow in json.loads(machine.stdout)["flows"]] == ["pipeline", "retry"]
    assert api.requests[0].url.params["limit"] == "100"


def test_flows_list_stops_at_its_limit_and_says_there_are_more() -> None:
    flows = [{"flow_id": f"f{number}", "latest_version": 1} for number in range(3)]
    api = FakeApi().on("GET", "/flows", (200, {"flows": flows, "next_cursor": "more"}))

    result = invoke(api, "flows", "list", "--limit", "2")

    assert result.exit_code == 0
    assert "f1" in result.stdout and "f2" not in result.stdout
    assert "more flows than shown" in result.stdout
    assert len(api.requests) == 1
    assert api.requests[0].url.params["limit"] == "2"


def test_flows_show_draws_the_tasks_and_conditions_of_a_version() -> None:
    api = FakeApi().on("GET", "/flows/pipeline", (200, FLOW_VERSION))

    result = invoke(api, "flows", "show", "pipeline", "--version", "2")

    assert result.exit_code == 0, result.output
    assert api.requests[0].url.params["version"] == "2"
    assert "fetch (start)" in result.stdout
    assert "Fetch the records" in result.stdout
    assert "records_fetched > 100" in result.stdout


def test_flows_show_asks_for_the_latest_version_by_default_and_prints_json() -> None:
    api = FakeApi().on("GET", "/flows/pipeline", (200, FLOW_VERSION))

    result = invoke(api, "-o", "json", "flows", "show", "pipeline")

    assert "version" not in api.requests[0].url.params
    assert json.loads(result.stdout) == FLOW_VERSION


# -- run --------------------------------------------------------------------------------------------------------


def test_run_starts_an_execution_with_an_inline_input() -> None:
    api = FakeApi().on("POST", "/flows/pipeline/executions", (202, summary()))

    result = invoke(api, "run", "pipeline", "--input", '{"day": "monday", "count": 3}')

    assert result.exit_code == 0, result.output
    assert api.body("POST", "/flows/pipeline/executions") == {"input": {"day": "monday", "count": 3}}
    assert f"started execution {EXECUTION_ID}" in result.stdout


def test_run_reads_the_input_from_a_file_or_stdin(tmp_path: Path) -> None:
    (tmp_path / "input.json").write_text('{"records": 250}')
    api = FakeApi().on("POST", "/flows/pipeline/executions", (202, summary()))

    from_file = invoke(api, "run", "pipeline", "--input", f"@{tmp_path / 'input.json'}")
    first = api.body("POST", "/flows/pipeline/executions")
    from_stdin = invoke(api, "run", "pipeline", "--input", "@-", stdin="[1, 2]")

    assert (from_file.exit_code, from_stdin.exit_code) == (0, 0)
    assert first == {"input": {"records": 250}}
    assert api.body("POST", "/flows/pipeline/executions") == {"input": [1, 2]}


def test_run_without_input_sends_an_empty_request_and_its_idempotency_key() -> None:
    api = FakeApi().on("POST", "/flows/pipeline/executions", (202, summary()))

    result = invoke(api, "run", "pipeline", "--idempotency-key", "order-17", "--output", "json")

    assert result.exit_code == 0
    assert api.body("POST", "/flows/pipeline/executions") == {}
    assert api.requests[0].headers["idempotency-key"] == "order-17"
    assert json.loads(result.stdout) == summary()


@pytest.mark.parametrize(("value", "message"), [("{oops", "not JSON"), ("@/nowhere/input.json", "cannot read")])
def test_run_refuses_an_input_it_cannot_read_as_a_usage_error(value: str, message: str) -> None:
    api = FakeApi()

    result = invoke(api, "run", "pipeline", "--input", value)

    assert result.exit_code == 3
    assert "--input" in result.stderr and message in result.stderr
    assert api.requests == []


def watched_api(*documents: dict[str, Any]) -> FakeApi:
    return (
        FakeApi()
        .on("POST", "/flows/pipeline/executions", (202, summary()))
        .on("GET", f"{EXECUTION_PATH}/flow", (200, FLOW_VERSION))
        .on("GET", EXECUTION_PATH, *[(200, document) for document in documents])
    )


@pytest.mark.parametrize(
    ("final", "code"), [("COMPLETED", 0), ("FAILED", 1), ("TIMED_OUT", 2), ("CANCELLED", 2)], ids=str
)
def test_run_watch_follows_the_execution_and_exits_by_its_final_status(final: str, code: int) -> None:
    running = status_document("RUNNING", run_of("fetch", "SUCCESS"), run_of("process", "RUNNING"))
    ended = status_document(final, run_of("fetch", "SUCCESS"), run_of("process", "SUCCESS"))
    api = watched_api(running, running, ended)
    naps: list[float] = []

    result = invoke(api, "run", "pipeline", "--watch", sleep=naps.append)

    assert result.exit_code == code, result.output
    assert len(api.sent("GET", EXECUTION_PATH)) == 3
    assert naps == [0.5, 0.5]
    assert final in result.stdout
    # every task of the flow, run or not yet
    assert "fetch" in result.stdout and "store" in result.stdout


def test_the_live_view_shows_each_poll_on_a_terminal() -> None:
    running = status_document("RUNNING", run_of("fetch", "SUCCESS"), run_of("process", "RUNNING", attempts=2))
    ended = status_document("COMPLETED", run_of("fetch", "SUCCESS"), run_of("process", "SUCCESS", attempts=2))
    api = watched_api(running, ended)
    console = Console(file=io.StringIO(), force_terminal=True, width=100, record=True)

    result = invoke(api, "run", "pipeline", "-w", console=console)

    assert result.exit_code == 0
    frames = console.export_text()
    assert "RUNNING" in frames and "COMPLETED" in frames
    assert frames.index("RUNNING") < frames.index("COMPLETED")
    process_lines = [line.split() for line in frames.splitlines() if line.startswith("process")]
    # task, status, attempt, elapsed: still running at NOW (9 s after its start), then done in 250 ms
    assert ["process", "RUNNING", "2", "9.0s"] in process_lines
    assert ["process", "SUCCESS", "2", "250ms"] in process_lines


def test_run_watch_with_output_json_prints_the_final_status_document() -> None:
    ended = status_document("FAILED", run_of("fetch", "FAILURE", error="boom"), error="task 'fetch' failed: boom")
    api = watched_api(status_document("RUNNING"), ended)

    result = invoke(api, "run", "pipeline", "--watch", "--output", "json")

    assert result.exit_code == 1
    assert json.loads(result.stdout) == ended
    assert api.sent("GET", f"{EXECUTION_PATH}/flow") == []


def test_ctrl_c_stops_watching_with_exit_code_130() -> None:
    def interrupt(_: float) -> None:
        raise KeyboardInterrupt

    api = watched_api(status_document("RUNNING"))

    result = invoke(api, "run", "pipeline", "--watch", sleep=interrupt)

    assert result.exit_code == 130
    assert "interrupted" in result.stderr


# -- status, history, list, cancel ------------------------------------------------------------------------------


def test_status_shows_each_task_and_how_to_approve_the_one_that_waits() -> None:
    waiting = run_of("approve", "WAITING", callback={"token": TOKEN, "url": f"/callbacks/{TOKEN}"})
    failed = run_of("fetch", "FAILURE", attempts=3, error="forced failure 3 of 3")
    document = status_document("RUNNING", failed, waiting)
    api = FakeApi().on("GET", EXECUTION_PATH, (200, document)).on("GET", f"{EXECUTION_PATH}/flow", (200, FLOW_VERSION))

    result = invoke(api, "status", EXECUTION_ID)

    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines[0][:3] == ["execution", EXECUTION_ID, "pipeline"]
    assert ["fetch", "FAILURE", "3", "250ms", "forced", "failure", "3", "of", "3"] in lines
    assert ["store", "-"] in lines
    assert f"approve waits for its callback: flowctl approve {EXECUTION_ID} [--reject]" in result.stdout


def test_a_task_left_waiting_by_a_timed_out_execution_counts_up_to_its_end() -> None:
    waiting = run_of("approve", "WAITING", callback={"token": TOKEN, "url": f"/callbacks/{TOKEN}"})
    document = status_document("TIMED_OUT", waiting, error="the execution did not end within 1 seconds")
    api = FakeApi().on("GET", EXECUTION_PATH, (200, document))

    result = invoke(api, "status", EXECUTION_ID)

    assert result.exit_code == 0
    # started 12:00:01, the execution ended 12:00:02 (NOW is 12:00:10); nothing to approve any more
    assert ["approve", "WAITING", "1", "1.0s"] in [line.split()[:4] for line in result.stdout.splitlines()]
    assert "error: the execution did not end within 1 seconds" in result.stdout
    assert "flowctl approve" not in result.stdout


def test_status_watch_exits_by_the_final_status() -> None:
    api = FakeApi().on("GET", EXECUTION_PATH, (200, status_document("RUNNING")), (200, status_document("CANCELLED")))

    result = invoke(api, "status", EXECUTION_ID, "--watch")

    assert result.exit_code == 2
    assert "CANCELLED" in result.stdout


def test_status_of_an_execution_that_is_not_there_is_one_error_line() -> None:
    api = FakeApi().on("GET", "/executions/nope", (404, error_document("not_found", "execution 'nope' not found")))

    result = invoke(api, "status", "nope")

    assert result.exit_code == 3
    assert result.stderr == "error: 404 not_found: execution 'nope' not found\n"
    assert result.stdout == ""


def test_history_reads_every_page() -> None:
    def event(seq: int, attempt: int, status: str, error: str | None = None) -> dict[str, Any]:
        return {
            "seq": seq,
            "task_name": "fetch",
            "attempt": attempt,
            "status": status,
            "duration_ms": 3,
            "error": error,
        }

    def page(request: httpx.Request) -> tuple[int, Any]:
        if request.url.params.get("cursor"):
            return 200, {"execution_id": EXECUTION_ID, "status": "COMPLETED", "events": [event(1, 2, "SUCCESS")]}
        first = [event(1, 1, "FAILURE", "flaky")]
        return 200, {"execution_id": EXECUTION_ID, "status": "COMPLETED", "events": first, "next_cursor": "c2"}

    api = FakeApi().on("GET", f"{EXECUTION_PATH}/history", page)

    table = invoke(api, "history", EXECUTION_ID)
    machine = invoke(api, "history", EXECUTION_ID, "-o", "json")

    assert table.exit_code == 0
    assert "flaky" in table.stdout and "3ms" in table.stdout
    document = json.loads(machine.stdout)
    assert [(e["attempt"], e["status"]) for e in document["events"]] == [(1, "FAILURE"), (2, "SUCCESS")]
    assert (document["execution_id"], document["status"]) == (EXECUTION_ID, "COMPLETED")
    assert api.requests[0].url.params["limit"] == "50"


def test_list_with_a_flow_asks_for_its_executions_in_a_status() -> None:
    api = FakeApi().on("GET", "/executions", (200, {"executions": [summary("FAILED")], "next_cursor": None}))

    result = invoke(api, "list", "--flow", "pipeline", "--status", "failed")

    assert result.exit_code == 0, result.output
    params = api.requests[0].url.params
    assert (params["flow_id"], params["status"]) == ("pipeline", "FAILED")
    assert EXECUTION_ID in result.stdout and "FAILED" in result.stdout


def test_list_without_a_flow_lists_every_flows_executions_newest_first() -> None:
    def flows(request: httpx.Request) -> tuple[int, Any]:
        if request.url.params.get("cursor"):
            return 200, {"flows": [{"flow_id": "retry"}], "next_cursor": None}
        return 200, {"flows": [{"flow_id": "pipeline"}], "next_cursor": "c2"}

    def executions(request: httpx.Request) -> tuple[int, Any]:
        flow = request.url.params["flow_id"]
        created = {"pipeline": "2026-11-30T10:00:00Z", "retry": "2026-11-30T11:00:00Z"}[flow]
        listed = summary(execution_id=f"{flow}-1", flow_id=flow, created_at=created)
        return 200, {"executions": [listed], "next_cursor": None}

    api = FakeApi().on("GET", "/flows", flows).on("GET", "/executions", executions)

    result = invoke(api, "list", "-o", "json")

    assert result.exit_code == 0, result.output
    assert [e["execution_id"] for e in json.loads(result.stdout)["executions"]] == ["retry-1", "pipeline-1"]
    assert [r.url.params["flow_id"] for r in api.sent("GET", "/executions")] == ["pipeline", "retry"]


def test_list_keeps_the_newest_within_its_limit() -> None:
    stamps = ["2026-11-30T10:00:00Z", "2026-11-30T12:00:00Z", "2026-11-30T11:00:00Z"]
    listed = [summary(execution_id=f"e{n}", created_at=stamp) for n, stamp in enumerate(stamps)]
    api = (
        FakeApi()
        .on("GET", "/flows", (200, {"flows": [{"flow_id": "a"}, {"flow_id": "b"}], "next_cursor": None}))
        .on(
            "GET",
            "/executions",
            (200, {"executions": listed[:2], "next_cursor": None}),
            (200, {"executions": listed[2:]}),
        )
    )

    result = invoke(api, "list", "--limit", "2")

    assert result.exit_code == 0
    assert "e1" in result.stdout and "e2" in result.stdout and "e0" not in result.stdout
    assert "more executions than shown" in result.stdout


def test_cancel_posts_to_the_execution() -> None:
    api = FakeApi().on("POST", f"{EXECUTION_PATH}/cancel", (200, summary("CANCELLED")))

    result = invoke(api, "cancel", EXECUTION_ID)

    assert result.exit_code == 0
    assert result.stdout == f"execution {EXECUTION_ID} is CANCELLED\n"


def test_cancel_of_an_ended_execution_is_the_apis_conflict() -> None:
    conflict = error_document("conflict", f"execution '{EXECUTION_ID}' is COMPLETED; only CREATED or RUNNING can be")
    api = FakeApi().on("POST", f"{EXECUTION_PATH}/cancel", (409, conflict))

    result = invoke(api, "cancel", EXECUTION_ID)

    assert result.exit_code == 3
    assert result.stderr.startswith("error: 409 conflict: execution ")


# -- approve ----------------------------------------------------------------------------------------------------

COMPLETED = {"execution_id": EXECUTION_ID, "task_name": "approve", "attempt": 1, "output": None, "error": None}


def callback_api(outcome: str = "success") -> FakeApi:
    return FakeApi().on("POST", f"/callbacks/{TOKEN}", (200, {**COMPLETED, "outcome": outcome}))


def test_approve_posts_a_success_with_the_result_as_output() -> None:
    api = callback_api()

    result = invoke(api, "approve", TOKEN, "--result", '{"by": "ana"}')

    assert result.exit_code == 0, result.output
    assert api.body("POST", f"/callbacks/{TOKEN}") == {"outcome": "success", "output": {"by": "ana"}}
    assert result.stdout == f"approved approve (attempt 1) of execution {EXECUTION_ID}\n"


def test_approve_without_a_result_sends_the_outcome_alone() -> None:
    api = callback_api()

    invoke(api, "approve", TOKEN)

    assert api.body("POST", f"/callbacks/{TOKEN}") == {"outcome": "success"}


def test_reject_posts_a_failure_with_its_reason() -> None:
    api = callback_api("failure")

    result = invoke(api, "approve", TOKEN, "--reject", "--reason", "over budget")

    assert result.exit_code == 0
    assert api.body("POST", f"/callbacks/{TOKEN}") == {"outcome": "failure", "error": "over budget"}
    assert result.stdout.startswith("rejected approve")


def test_approve_takes_the_callback_url_as_the_status_document_gives_it() -> None:
    api = callback_api()

    result = invoke(api, "approve", f"http://localhost:3000/callbacks/{TOKEN}", "-o", "json")

    assert result.exit_code == 0
    assert json.loads(result.stdout)["outcome"] == "success"


def waiting_execution(*tasks: str) -> FakeApi:
    runs = [run_of(task, "WAITING", callback={"token": TOKEN, "url": f"/callbacks/{TOKEN}"}) for task in tasks]
    return callback_api().on(
        "GET", EXECUTION_PATH, (200, status_document("RUNNING", run_of("prepare", "SUCCESS"), *runs))
    )


def test_approve_with_an_execution_id_completes_the_task_that_waits() -> None:
    api = waiting_execution("approve")

    result = invoke(api, "approve", EXECUTION_ID, "--result", "true")

    assert result.exit_code == 0, result.output
    assert api.body("POST", f"/callbacks/{TOKEN}") == {"outcome": "success", "output": True}


def test_approve_with_an_execution_id_needs_task_when_several_wait() -> None:
    api = waiting_execution("legal", "finance")

    several = invoke(api, "approve", EXECUTION_ID)
    chosen = invoke(api, "approve", EXECUTION_ID, "--task", "finance")
    unknown = invoke(api, "approve", EXECUTION_ID, "--task", "prepare")

    assert several.exit_code == 3
    assert "choose one with --task (legal, finance)" in several.stderr
    assert chosen.exit_code == 0
    assert unknown.exit_code == 3
    assert "task prepare of execution" in unknown.stderr


def test_approve_with_an_execution_where_nothing_waits_says_so() -> None:
    api = FakeApi().on("GET", EXECUTION_PATH, (200, status_document("COMPLETED", run_of("prepare", "SUCCESS"))))

    result = invoke(api, "approve", EXECUTION_ID)

    assert result.exit_code == 3
    assert "no task of execution" in result.stderr and "(status COMPLETED)" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--reject", "--result", "1"], "a rejection carries --reason"),
        (["--reason", "why"], "--reason goes with --reject"),
        (["--task", "approve"], "--task goes with an execution id"),
        (["--result", "{"], "not JSON"),
    ],
)
def test_approve_refuses_options_that_do_not_go_together(args: list[str], message: str) -> None:
    api = callback_api()

    result = invoke(api, "approve", TOKEN, *args)

    assert result.exit_code == 3
    assert message in result.stderr
    assert api.requests == []


def test_approve_output_given_a_json_document_is_the_approvals_output_as_the_issue_spells_it() -> None:
    api = callback_api()

    result = invoke(api, "approve", TOKEN, "--output", '{"by": "ana"}')

    assert result.exit_code == 0, result.output
    assert api.body("POST", f"/callbacks/{TOKEN}") == {"outcome": "success", "output": {"by": "ana"}}
    assert result.stdout == f"approved approve (attempt 1) of execution {EXECUTION_ID}\n"


def test_approve_output_json_stays_the_format() -> None:
    api = callback_api()

    result = invoke(api, "approve", TOKEN, "--output", "json")

    assert result.exit_code == 0, result.output
    assert api.body("POST", f"/callbacks/{TOKEN}") == {"outcome": "success"}
    assert json.loads(result.stdout)["outcome"] == "success"


def test_output_given_a_json_document_elsewhere_points_to_approve_result() -> None:
    result = invoke(callback_api(), "list", "--output", '{"by": "ana"}')

    assert result.exit_code == 3
    assert "approve --result" in result.stderr


# -- usage ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["nope"], ["status"], ["run"], ["list", "--status", "DONE"], ["flows", "show"], ["--output", "yaml", "list"]],
    ids=" ".join,
)
def test_usage_errors_exit_with_3(args: list[str]) -> None:
    result = invoke(FakeApi(), *args)

    assert result.exit_code == 3
    assert "Usage: flowctl" in result.stderr


def test_help_and_version_exit_with_0() -> None:
    assert invoke(FakeApi(), "--help").exit_code == 0
    assert "Global options" in invoke(FakeApi(), "run", "--help").stdout
    version = invoke(FakeApi(), "--version")
    assert (version.exit_code, version.stdout) == (0, "flowctl, version 1.0.0\n")
