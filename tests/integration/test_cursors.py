"""Pagination cursors over HTTP: they page, and a forged or misplaced one is a 400, never a DynamoDB error."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from tests.conftest import Harness, example


def sample(flow_id: str = "flow123") -> dict[str, Any]:
    definition = copy.deepcopy(example("data_processing")["flow"])
    definition["id"] = flow_id
    return definition


def forged(position: dict[str, Any], query: str) -> str:
    from flowcore.adapters.dynamodb import paging

    text = json.dumps({"q": paging._tag(query), "p": position})
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def refused(harness: Harness, path: str) -> str:
    response = harness.request("GET", path)
    assert response.status == 400, (path, response.json())
    assert response.json()["error"]["code"] == "bad_request"
    message: str = response.json()["error"]["message"]
    return message


def test_executions_page_with_a_cursor_bound_to_their_flow_and_filter(harness: Harness) -> None:
    harness.request("POST", "/flows", sample())
    harness.request("POST", "/flows", sample("flow-b"))
    ids = {harness.request("POST", "/flow/create", sample()).json()["execution_id"] for _ in range(3)}
    harness.request("POST", "/flow/create", sample("flow-b"))

    first = harness.request("GET", "/executions?flow_id=flow123&limit=2").json()
    second = harness.request("GET", f"/executions?flow_id=flow123&limit=2&cursor={first['next_cursor']}").json()

    assert {entry["execution_id"] for entry in first["executions"] + second["executions"]} == ids
    assert "another query" in refused(harness, f"/executions?flow_id=flow-b&cursor={first['next_cursor']}")
    assert "another query" in refused(
        harness, f"/executions?flow_id=flow123&status=CREATED&cursor={first['next_cursor']}"
    )
    assert "another query" in refused(harness, f"/flows?cursor={first['next_cursor']}")


def test_a_forged_executions_cursor_is_400(harness: Harness) -> None:
    harness.request("POST", "/flows", sample())
    for position in [
        # another flow's partition under this listing's tag
        {"pk": "EXEC-x", "sk": "META", "gsi1pk": "FLOW-OTHER", "gsi1sk": "2024-01-01T00:00:00.000Z#x"},
        # the right shape, numbers where strings go
        {"pk": 1, "sk": 2, "gsi1pk": 3, "gsi1sk": 4},
        # the table's key only: no index keys
        {"pk": "EXEC-x", "sk": "META"},
    ]:
        cursor = forged(position, "executions:dev/flow123:")
        assert "position" in refused(harness, f"/executions?flow_id=flow123&cursor={cursor}")


def test_a_forged_cursor_naming_a_real_position_of_the_same_query_pages_from_there(harness: Harness) -> None:
    from flowcore.adapters.dynamodb import keys

    for flow_id in ("a-flow", "b-flow", "c-flow"):
        harness.request("POST", "/flows", sample(flow_id))
    position = {
        "pk": keys.flow_pk("dev/a-flow"),
        "sk": keys.HEAD,
        "gsi1pk": keys.flows_index_pk("dev"),
        "gsi1sk": "a-flow",
    }

    page = harness.request("GET", f"/flows?cursor={forged(position, 'flows')}")

    assert page.status == 200
    assert [flow["flow_id"] for flow in page.json()["flows"]] == ["b-flow", "c-flow"]


def test_a_forged_flows_cursor_is_400(harness: Harness) -> None:
    made_up = [forged({"pk": "x", "sk": "y"}, "flows"), forged({"gsi1pk": "FLOWS"}, "flows")]
    for cursor in ["%%%", "0" * 2048, "eyJ9", *made_up]:
        refused(harness, f"/flows?cursor={cursor}")
