"""Large values through the API: an execution input over the inline limit is kept in the payload bucket, the
status document shows a reference whose download returns it, and deleting the execution deletes it."""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest
import requests

from flowcore.adapters.dynamodb import keys
from flowcore.domain.payloads import INLINE_LIMIT
from flowcore.domain.tenancy import DEV_TENANT
from tests.conftest import Harness, example
from tests.integration.test_openapi import conforms

SHA256_OF_NOTHING_STORED = "0" * 64


def flow() -> dict[str, Any]:
    return copy.deepcopy(example("data_processing"))


def sized(size: int) -> dict[str, Any]:
    """An input of exactly `size` bytes as compact JSON."""
    return {"s": "x" * (size - len('{"s":""}'))}


def s3() -> Any:
    return boto3.client("s3")


def objects(harness: Harness, execution_id: str = "") -> list[str]:
    prefix = f"executions/{DEV_TENANT}/{execution_id}/" if execution_id else "executions/"
    pages = s3().get_paginator("list_objects_v2").paginate(Bucket=harness.stack.payload_bucket, Prefix=prefix)
    return [entry["Key"] for page in pages for entry in page.get("Contents", [])]


def download(harness: Harness, route: str) -> Any:
    """Follow the route's redirect to the presigned link, as a client does."""
    answer = harness.request("GET", route)
    assert answer.status == 307, answer.json()
    link = answer.json()
    assert answer.headers["location"] == link["url"]
    assert answer.headers["cache-control"] == "no-store"
    fetched = requests.get(link["url"], timeout=10)
    assert fetched.status_code == 200
    return fetched.json()


def test_the_bucket_is_created_as_the_template_declares_it(harness: Harness) -> None:
    bucket = harness.stack.payload_bucket
    assert harness.stack.environment()["PAYLOAD_BUCKET"] == bucket
    client = s3()
    rules = client.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(client.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    (rule,) = client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["Expiration"]["Days"] == int(harness.stack.spec.environment["RETENTION_DAYS"])
    assert rule["Filter"]["Prefix"] == "executions/"


def test_a_200_kb_input_is_stored_and_the_status_document_shows_a_reference_whose_download_returns_it(
    harness: Harness,
) -> None:
    # Given an input of 200 kB
    given = {"rows": [{"id": n, "text": "lorem ipsum " * 16} for n in range(1000)]}
    assert len(json.dumps(given, separators=(",", ":"))) > 200_000
    # When an execution of it runs
    execution_id = harness.start(flow(), given)
    harness.drain()
    document = harness.status(execution_id)
    # Then it ran, its item holds a reference in place of the input, and the object is in the bucket
    assert document["status"] == "COMPLETED"
    (stored,) = objects(harness, execution_id)
    (item,) = [entry for entry in harness.items(execution_id) if entry["sk"] == keys.META]
    assert item["input"] == "null"
    assert item["input_ref"]["key"] == stored
    # And the status document shows the reference, never the value
    reference = document["input_ref"]
    assert document["input"] is None
    assert reference["ref"] == f"/executions/{execution_id}/payloads/{reference['sha256']}"
    assert reference["size"] == len(json.dumps(given, separators=(",", ":")))
    assert stored.endswith(f"{reference['sha256']}.json")
    assert "lorem" not in json.dumps(document)
    # And its download returns the input
    assert download(harness, reference["ref"]) == given


def test_an_input_up_to_the_inline_limit_stays_in_the_item(harness: Harness) -> None:
    inline = harness.start(flow(), sized(INLINE_LIMIT))
    stored = harness.start(flow(), sized(INLINE_LIMIT + 1))
    assert harness.status(inline)["input"] == sized(INLINE_LIMIT)
    assert harness.status(inline)["input_ref"] is None
    assert objects(harness, inline) == []
    assert harness.status(stored)["input_ref"]["size"] == INLINE_LIMIT + 1
    assert len(objects(harness, stored)) == 1


def test_an_input_as_large_as_a_request_allows_is_accepted(harness: Harness) -> None:
    # Given an input just under 1 MiB, in a body under the request limit
    given = sized(1_040_000)
    # When an execution is started with it / Then it is accepted and stored
    execution_id = harness.start(flow(), given)
    assert harness.status(execution_id)["input_ref"]["size"] == 1_040_000
    assert download(harness, harness.status(execution_id)["input_ref"]["ref"]) == given


def test_a_retried_start_with_the_same_idempotency_key_stores_one_object(harness: Harness) -> None:
    harness.request("POST", "/flows", flow())
    body = {"input": sized(50_000)}
    first = harness.request("POST", "/flows/flow123/executions", body, {"idempotency-key": "k-1"})
    again = harness.request("POST", "/flows/flow123/executions", body, {"idempotency-key": "k-1"})
    assert (first.status, again.status) == (202, 200)
    assert first.json()["execution_id"] == again.json()["execution_id"]
    assert len(objects(harness, first.json()["execution_id"])) == 1


@pytest.mark.parametrize("route", ["/executions/{}", "/flow/{}"])
def test_deleting_an_execution_deletes_its_payloads_and_no_one_elses(harness: Harness, route: str) -> None:
    # Given two executions with stored inputs
    doomed, kept = harness.start(flow(), sized(40_000)), harness.start(flow(), sized(40_001))
    harness.drain()
    assert len(objects(harness, doomed)) == 1
    # When one is deleted
    answer = harness.request("DELETE", route.format(doomed))
    # Then its object went, the other's stayed, and the resource route says how many went
    assert answer.status == 200
    if route.startswith("/executions"):
        assert answer.json()["payloads_deleted"] == 1
        assert answer.json()["items_deleted"] >= 1
    assert objects(harness, doomed) == []
    assert len(objects(harness, kept)) == 1


def test_a_download_of_a_value_the_execution_does_not_have_is_404(harness: Harness) -> None:
    mine, theirs = harness.start(flow(), sized(40_000)), harness.start(flow(), sized(40_001))
    their_hash = harness.status(theirs)["input_ref"]["sha256"]
    for route in (
        f"/executions/{mine}/payloads/{SHA256_OF_NOTHING_STORED}",
        f"/executions/{mine}/payloads/{their_hash}",  # another execution's value
        f"/executions/no-such-execution/payloads/{their_hash}",
    ):
        answer = harness.request("GET", route)
        assert answer.status == 404, route
        assert answer.json()["error"]["code"] == "not_found"
    malformed = harness.request("GET", f"/executions/{mine}/payloads/not-a-hash")
    assert malformed.status == 422
    assert harness.request("DELETE", f"/executions/{mine}/payloads/{their_hash}").status == 405


def stored_output(harness: Harness, execution_id: str, task: str, value: dict[str, Any]) -> None:
    """Put `value` in the bucket and make `task`'s run refer to it, as the runner writes an output too large for
    its item (`output_ref`, and no `output`)."""
    from flowcore.adapters import clients
    from flowcore.adapters.payloads import S3PayloadStore

    ref = S3PayloadStore(clients.s3, harness.stack.payload_bucket).put(f"{DEV_TENANT}/{execution_id}", value)
    (run,) = [item for item in harness.items(execution_id) if item["sk"].endswith(f"#{task}")]
    harness.dynamodb.update_item(
        TableName=harness.stack.table_name,
        Key={"pk": {"S": run["pk"]}, "sk": {"S": run["sk"]}},
        UpdateExpression="SET output_ref = :ref REMOVE #output",
        ExpressionAttributeNames={"#output": "output"},
        ExpressionAttributeValues={
            ":ref": {"M": {"key": {"S": ref.key}, "size": {"N": str(ref.size)}, "sha256": {"S": ref.sha256}}}
        },
    )


def test_a_stored_output_is_a_reference_in_the_status_document_and_the_history(harness: Harness) -> None:
    # Given a finished execution whose task2 output is kept in the bucket
    execution_id = harness.start(flow())
    harness.drain()
    value = {"rows": ["r" * 100] * 500}
    stored_output(harness, execution_id, "task2", value)
    # When its status document and history are read
    result = harness.status(execution_id)["task_results"]["task2"]
    (event,) = [
        entry
        for entry in harness.request("GET", f"/executions/{execution_id}/history").json()["events"]
        if entry["task_name"] == "task2"
    ]
    # Then both show the reference, not the value, and the reference downloads it
    assert (result["output"], result["data"]) == (None, None)
    assert event["output"] is None
    assert event["output_ref"] == result["output_ref"]
    assert result["output_ref"]["size"] == len(json.dumps(value, separators=(",", ":")))
    assert download(harness, result["output_ref"]["ref"]) == value


def test_answers_with_references_validate_against_the_openapi_document(harness: Harness) -> None:
    document = json.loads(harness.request("GET", "/openapi.json").body)
    execution_id = harness.start(flow(), sized(40_000))
    harness.drain()
    stored_output(harness, execution_id, "task1", {"big": "b" * 40_000})
    status = harness.request("GET", f"/executions/{execution_id}")
    conforms(document, "/executions/{execution_id}", "GET", status.status, status.json())
    seed = harness.request("GET", f"/flow/{execution_id}/status")
    conforms(document, "/flow/{execution_id}/status", "GET", seed.status, seed.json())
    history = harness.request("GET", f"/executions/{execution_id}/history")
    conforms(document, "/executions/{execution_id}/history", "GET", history.status, history.json())
    route = "/executions/{execution_id}/payloads/{sha256}"
    for sha256 in (status.json()["input_ref"]["sha256"], SHA256_OF_NOTHING_STORED):
        answer = harness.request("GET", f"/executions/{execution_id}/payloads/{sha256}")
        conforms(document, route, "GET", answer.status, answer.json())
    deleted = harness.request("DELETE", f"/executions/{execution_id}")
    conforms(document, "/executions/{execution_id}", "DELETE", deleted.status, deleted.json())
    assert deleted.json()["payloads_deleted"] == 2


def test_requests_without_a_large_value_build_no_s3_client(harness: Harness) -> None:
    from flowcore.adapters import clients

    # Given a cold API (a new container)
    clients.reset()
    # When executions with small inputs are started and read (a delete lists the execution's prefix: it builds one)
    execution_id = harness.start(flow(), {"n": 1})
    harness.drain()
    harness.status(execution_id)
    harness.request("GET", f"/executions/{execution_id}/history")
    # Then no S3 client was built (its model is the largest botocore loads); a large input builds it
    assert clients.s3.cache_info().currsize == 0
    harness.start(flow(), sized(INLINE_LIMIT + 1))
    assert clients.s3.cache_info().currsize == 1


def test_an_input_is_counted_as_the_request_carries_it_and_refused_past_it(harness: Harness) -> None:
    from flowcore.api.executions import MAX_INPUT_BYTES
    from flowcore.domain.errors import ValidationFailed
    from flowcore.wiring import api

    # Given an input of 300,000 "é": 600 kB in the request (UTF-8), 1.8 MB stored (each escaped as \\u00e9)
    given = {"s": "é" * 300_000}
    # When it is started, sent as UTF-8 / Then it is accepted, stored and read back as sent
    harness.request("POST", "/flows", flow())
    body = json.dumps({"input": given}, ensure_ascii=False).encode()
    started = harness.request("POST", "/flows/flow123/executions", raw=body)
    assert started.status == 202, started.json()
    execution_id = started.json()["execution_id"]
    assert harness.status(execution_id)["input_ref"]["size"] == 6 * 300_000 + len('{"s":""}')
    assert download(harness, harness.status(execution_id)["input_ref"]["ref"]) == given
    # And an input larger than any request could carry is refused (the body's own limit answers 413 before it)
    flow_record = api.flows().get("dev/flow123")
    with pytest.raises(ValidationFailed) as refused:
        api.executions().create(flow_record, sized(MAX_INPUT_BYTES + 1), start=True)
    assert refused.value.problems[0].field == "input"
    assert f"{MAX_INPUT_BYTES + 1} bytes" in refused.value.problems[0].message


def test_the_input_limit_is_the_request_limit() -> None:
    from flowcore.api.executions import MAX_INPUT_BYTES
    from functions.api.app import MAX_BODY_BYTES

    assert MAX_INPUT_BYTES == MAX_BODY_BYTES
