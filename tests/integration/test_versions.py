"""A version number, once given, always means the same definition: also after its flow is deleted and stored
again, and every execution can still show the definition it ran."""

from __future__ import annotations

import copy
from typing import Any

from tests.conftest import Harness, example


def sample() -> dict[str, Any]:
    return copy.deepcopy(example("data_processing")["flow"])


def changed(message: str) -> dict[str, Any]:
    definition = sample()
    definition["tasks"][0] = {"name": "task1", "type": "print", "parameters": {"message": message}}
    return definition


def version_items(harness: Harness, flow_id: str) -> list[dict[str, Any]]:
    from flowcore.adapters.dynamodb import keys
    from flowcore.adapters.dynamodb.values import plain

    answer = harness.dynamodb.query(
        TableName=harness.stack.table_name,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
        ExpressionAttributeValues={":pk": {"S": keys.flow_pk(f"dev/{flow_id}")}, ":v": {"S": keys.VERSION_PREFIX}},
    )
    return [plain(item) for item in answer["Items"]]


def test_numbering_goes_on_after_a_delete_and_old_numbers_keep_their_meaning(harness: Harness) -> None:
    # Given flow123 at version 1, an execution that ran it, and a version 2
    assert harness.request("POST", "/flows", sample()).json()["version"] == 1
    v1 = harness.request("GET", "/flows/flow123?version=1").json()["definition"]
    ran_v1 = harness.run_flow(sample())["execution_id"]
    assert harness.request("POST", "/flows", changed("two")).json()["version"] == 2

    # When the flow is deleted and a different definition is stored under the same id
    assert harness.request("DELETE", "/flows/flow123").status == 200
    again = harness.request("POST", "/flows", changed("three"))

    # Then it is version 3, not 1, and version 1 still means the definition it meant
    assert (again.status, again.json()["version"]) == (201, 3)
    assert harness.request("GET", "/flows/flow123").json()["definition"]["tasks"][0]["parameters"] == {
        "message": "three"
    }
    old = harness.request("GET", "/flows/flow123?version=1").json()
    assert old["definition"] == v1
    assert v1["tasks"][0]["type"] == "fetch_data"
    # And the execution that ran version 1 shows that definition
    ran = harness.request("GET", f"/executions/{ran_v1}/flow").json()
    assert (ran["version"], ran["definition"]) == (1, v1)


def test_a_deleted_flow_is_gone_from_reads_and_lists_but_its_executions_show_what_they_ran(harness: Harness) -> None:
    harness.request("POST", "/flows", sample())
    v1 = harness.request("GET", "/flows/flow123").json()["definition"]
    other = sample()
    other["id"] = "flow-other"
    harness.request("POST", "/flows", other)
    execution_id = harness.run_flow(sample())["execution_id"]

    assert harness.request("DELETE", "/flows/flow123").status == 200

    for path in ("/flows/flow123", "/flows/flow123?version=1"):
        gone = harness.request("GET", path)
        assert gone.status == 404, path
        assert "deleted" in gone.json()["error"]["message"]
    assert [flow["flow_id"] for flow in harness.request("GET", "/flows").json()["flows"]] == ["flow-other"]
    assert harness.request("DELETE", "/flows/flow123").status == 404
    assert harness.request("POST", "/flows/flow123/executions", {}).status == 404
    # its executions are still there, listed, and each resolves the version it ran
    listed = harness.request("GET", "/executions?flow_id=flow123").json()["executions"]
    assert [entry["execution_id"] for entry in listed] == [execution_id]
    status = harness.request("GET", f"/executions/{execution_id}").json()
    assert status["links"]["flow"] == f"/executions/{execution_id}/flow"
    flow = harness.request("GET", status["links"]["flow"])
    assert flow.status == 200
    assert (flow.json()["flow_id"], flow.json()["version"], flow.json()["definition"]) == ("flow123", 1, v1)


def test_storing_the_same_definition_after_a_delete_is_a_new_version(harness: Harness) -> None:
    harness.request("POST", "/flows", sample())
    harness.request("DELETE", "/flows/flow123")

    again = harness.request("POST", "/flows", sample())

    assert (again.status, again.json()["version"], again.json()["created"]) == (201, 2, True)
    assert [flow["latest_version"] for flow in harness.request("GET", "/flows").json()["flows"]] == [2]


def test_a_deleted_flows_versions_expire_with_the_retention_and_later_ones_do_not(harness: Harness) -> None:
    harness.request("POST", "/flows", sample())
    harness.request("POST", "/flows", changed("two"))
    harness.request("DELETE", "/flows/flow123")
    harness.request("POST", "/flows", changed("three"))

    expiry = {int(item["version"]): item.get("expires_at") for item in version_items(harness, "flow123")}

    assert expiry[1] is not None
    assert expiry[1] == expiry[2]
    assert expiry[3] is None


def test_the_flow_an_unknown_execution_ran_is_404(harness: Harness) -> None:
    response = harness.request("GET", "/executions/nope/flow")
    assert response.status == 404
    assert "nope" in response.json()["error"]["message"]
