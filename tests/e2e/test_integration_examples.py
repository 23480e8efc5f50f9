"""The examples whose tasks do real work, run over HTTP on the local stack as examples/README.md tells a user to:
`lambda_pipeline.json` against the local Lambda endpoint (examples/functions/), `approval.json` completed through
`POST /callbacks/{token}`, `publish_to_sqs.json` sending to a queue created in the stack's moto, as the
README says to create it, and `parent_with_subflow.json` running `subflow_child.json` as its child."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import boto3
import pytest

from local.runtime import LocalRuntime
from local.stack import REGION
from tests.conftest import example
from tests.e2e.conftest import DEADLINE_SECONDS, Client
from tests.harness import NEEDS_A_STEP, documented_data, documented_examples

pytestmark = pytest.mark.e2e


def documented(file: str) -> tuple[str, list[str]]:
    """The final status and path examples/README.md gives the file."""
    (row,) = [(status, path) for name, status, path in documented_examples() if name == file]
    return row


def waiting_ticket(client: Client, execution_id: str, task: str) -> dict[str, str]:
    """Poll the status document until `task` waits for its callback; its `{token, url}`."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        result = client.request("GET", f"/executions/{execution_id}").json()["task_results"].get(task)
        if result is not None and result["status"] == "WAITING" and result.get("callback"):
            ticket: dict[str, str] = result["callback"]
            return ticket
        assert time.monotonic() < deadline, f"{task} is not waiting after {DEADLINE_SECONDS} s: {result}"
        time.sleep(0.05)


# -- lambda_pipeline.json: three functions of examples/functions/ ----------------------------------------------


def test_lambda_pipeline_passes_each_functions_output_on(client: Client) -> None:
    given, last, output = documented_data()["lambda_pipeline.json"]

    document = client.run(example("lambda_pipeline"), given)

    assert (document["status"], document["path"]) == documented("lambda_pipeline.json")
    enriched = document["task_results"]["enrich"]["output"]
    assert enriched["enriched_by"] == "enrich"
    assert enriched["enriched_at"]  # the function's own field, added to the event it was invoked with
    assert document["task_results"]["score"]["input"] == {"amount": given["amount"], "items": given["items"]}
    assert document["task_results"][last]["output"] == output


def test_lambda_pipeline_takes_the_failure_path_when_the_function_raises(client: Client) -> None:
    document = client.run(example("lambda_pipeline"), {"order": "A-1002", "amount": 0, "items": 1})

    assert document["status"] == "COMPLETED"  # the function error is handled by not_scored
    assert document["path"] == ["enrich", "score", "not_scored"]
    score = document["task_results"]["score"]
    assert score["status"] == "FAILURE"
    assert score["error"] == "ValueError: amount must be a positive number, not 0"
    assert score["output"] == {"errorType": "ValueError", "errorMessage": "amount must be a positive number, not 0"}
    assert document["task_results"]["not_scored"]["output"] == {
        "message": "order A-1002 needs a person: ValueError: amount must be a positive number, not 0"
    }


# -- approval.json: a callback task ----------------------------------------------------------------------------


def test_approval_completes_once_the_callback_approves(client: Client) -> None:
    given, last, output = documented_data()["approval.json"]
    execution_id = client.start(example("approval"), given)
    ticket = waiting_ticket(client, execution_id, "approve")
    assert ticket["url"] == f"/callbacks/{ticket['token']}"
    assert client.request("GET", f"/executions/{execution_id}").json()["status"] == "RUNNING"

    answer = client.request("POST", ticket["url"], {"outcome": "success", "output": {"by": "ana"}})

    assert answer.status == 200, answer.json()
    document = client.wait_for_end(execution_id)
    assert (document["status"], document["path"]) == documented("approval.json")
    assert document["task_results"]["approve"]["output"] == {"by": "ana"}
    assert document["task_results"][last]["output"] == output


def test_approval_rejected_takes_the_failure_path(client: Client) -> None:
    execution_id = client.start(example("approval"), {"amount": 9000, "requested_by": "li"})
    ticket = waiting_ticket(client, execution_id, "approve")

    answer = client.request("POST", ticket["url"], {"outcome": "failure", "error": "over budget"})

    assert answer.status == 200, answer.json()
    document = client.wait_for_end(execution_id)
    assert document["status"] == "COMPLETED"  # the rejection is handled by `rejected`
    assert document["path"] == ["prepare", "approve", "rejected"]
    assert document["task_results"]["approve"]["status"] == "FAILURE"
    assert document["task_results"]["rejected"]["output"] == {"message": "payment of 9000 not approved: over budget"}


def test_approval_that_times_out_takes_the_failure_path(client: Client) -> None:
    definition = copy.deepcopy(example("approval"))
    definition["flow"]["id"] = "approval-in-a-second"
    definition["flow"]["tasks"][1]["timeout_seconds"] = 1

    document = client.run(definition, {"amount": 120, "requested_by": "li"})

    assert document["status"] == "COMPLETED"
    assert document["path"] == ["prepare", "approve", "rejected"]
    assert "timed out" in document["task_results"]["approve"]["error"]


# -- publish_to_sqs.json: an sqs task -------------------------------------------------------------------------


def test_publish_to_sqs_sends_the_templated_message(runtime: LocalRuntime, client: Client) -> None:
    # The stack creates no queue of the user's: create it as examples/README.md says, in the stack's moto.
    sqs: Any = boto3.client("sqs", endpoint_url=runtime.moto_url, region_name=REGION)
    queue_url = sqs.create_queue(QueueName="orders")["QueueUrl"]

    document = client.run(example("publish_to_sqs"), {"order": "A-1001", "total": 120.5})

    assert (document["status"], document["path"]) == documented("publish_to_sqs.json")
    message_id = document["task_results"]["publish"]["output"]["message_id"]
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    assert [message["MessageId"] for message in received] == [message_id]
    assert json.loads(received[0]["Body"]) == {
        "event": "order_ready",
        "order": "A-1001",
        "total": 120.5,
        "note": "order A-1001 is ready",
    }


def test_every_example_that_needs_a_step_is_run_here() -> None:
    assert {file for file, _, _ in documented_examples()} >= NEEDS_A_STEP


def test_publish_to_sqs_fails_the_execution_without_its_queue(client: Client) -> None:
    definition = copy.deepcopy(example("publish_to_sqs"))
    definition["flow"]["id"] = "publish-to-no-queue"
    definition["flow"]["tasks"][1]["parameters"]["queue_url"] = "http://localhost:5000/123456789012/no-such-queue"

    document = client.run(definition, {"order": "A-1001", "total": 120.5})

    assert document["status"] == "FAILED"
    assert "NonExistentQueue" in document["task_results"]["publish"]["error"], document["task_results"]["publish"]


# -- parent_with_subflow.json: a subflow task ------------------------------------------------------------------


def test_parent_with_subflow_runs_its_child_and_takes_its_output(client: Client) -> None:
    stored = client.request("POST", "/flows", example("subflow_child"))
    assert stored.status in (200, 201), stored.json()

    document = client.run(example("parent_with_subflow"), {"order": "A-1001", "items": 3})

    assert (document["status"], document["path"]) == documented("parent_with_subflow.json")
    reserve = document["task_results"]["reserve"]
    child_id = reserve["child_execution_id"]
    assert reserve["output"] == {
        "execution_id": child_id,
        "status": "COMPLETED",
        "output": {"order": "A-1001", "reserved": 3},
    }
    assert document["task_results"]["confirm"]["output"] == {"order": "A-1001", "reserved": 3}
    child = client.request("GET", f"/executions/{child_id}").json()
    assert child["status"] == "COMPLETED"
    assert child["parent"] == {"execution_id": document["execution_id"], "task_name": "reserve", "depth": 1}
