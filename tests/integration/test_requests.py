"""Every bad request gets a clear 4xx in the error envelope: unknown paths, wrong methods, bodies that are not
JSON, JSON this API does not take, nesting that could not be read back, and values of the wrong type."""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.conftest import Harness, example
from tests.harness import dev_authorizer


def sample() -> dict[str, Any]:
    return copy.deepcopy(example("data_processing")["flow"])


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    body = response.json()
    assert response.status == status, body
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    found: dict[str, Any] = body["error"]
    return found


def fields(response: Any) -> dict[str, str]:
    return {detail["field"]: detail["message"] for detail in error(response, 422, "validation_error")["details"]}


# -- routes -----------------------------------------------------------------------------------------


def test_an_unknown_path_is_404_in_the_envelope(harness: Harness) -> None:
    for method, path in [("GET", "/no/such/route"), ("POST", "/flowz"), ("GET", "/flows/a/b/c")]:
        assert path in error(harness.request(method, path), 404, "not_found")["message"]


def test_a_method_the_path_does_not_have_is_405_with_allow(harness: Harness) -> None:
    for method, path, allow in [
        ("PUT", "/flows", "GET, POST"),
        ("PATCH", "/flows/flow123", "DELETE, GET"),
        ("OPTIONS", "/health", "GET"),
        ("TRACE", "/executions/e-1", "DELETE, GET"),
        ("GET", "/flow/create", "POST"),
        ("DELETE", "/flow/create", "POST"),
        ("POST", "/", "GET"),
    ]:
        response = harness.request(method, path)
        assert method in error(response, 405, "method_not_allowed")["message"]
        assert response.headers["allow"] == allow, (method, path)


# -- bodies -----------------------------------------------------------------------------------------


def test_a_body_that_is_not_json_is_415_and_says_why(harness: Harness) -> None:
    for content_type in [
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain",
        "application/jsonx",
    ]:
        headers = {"content-type": content_type}
        response = harness.request("POST", "/flows", headers=headers, raw=b"name=x&start_task=a")
        message = error(response, 415, "unsupported_media_type")["message"]
        assert "content-type: application/json" in message
        assert content_type in message


def test_a_post_without_a_content_type_is_told_to_send_one(harness: Harness) -> None:
    from functions.api.app import lambda_handler
    from local.apigw import http_event, http_response
    from local.esm import LambdaContext

    event = http_event("POST", "/flow/create", "", {}, json.dumps(sample()).encode())
    event["requestContext"]["authorizer"] = dev_authorizer()
    response = http_response(lambda_handler(event, LambdaContext("ApiFunction")))

    message = error(response, 415, "unsupported_media_type")["message"]
    assert message == (
        "the body must be JSON sent with content-type: application/json (the request has no content-type)"
    )


def test_a_route_that_reads_no_body_ignores_one(harness: Harness) -> None:
    response = harness.request("GET", "/health", headers={"content-type": "text/plain"}, raw=b"\xff\xfe")
    assert response.status == 200


def test_bytes_that_are_not_strict_json_are_400(harness: Harness) -> None:
    harness.request("POST", "/flows", sample())
    for raw, said in [
        (b'{"name": "\xff\xfe"}', "not valid UTF-8"),
        (b'{"name": ', "not valid JSON"),
        (b'{"name": NaN}', "NaN is not a JSON number"),
        (b'{"input": {"x": Infinity}}', "Infinity is not a JSON number"),
        (b'{"input": {"x": -Infinity}}', "-Infinity is not a JSON number"),
        (b'{"input": {"x": 1, "x": 2}}', "the key 'x' appears twice"),
    ]:
        response = harness.request("POST", "/flows/flow123/executions", raw=raw)
        assert said in error(response, 400, "bad_request")["message"], raw


def test_a_body_that_is_not_an_object_is_422(harness: Harness) -> None:
    harness.request("POST", "/flows", sample())
    for raw in [b"[]", b"[null, null]", b'[{"input": {}}]', b'"text"', b"5", b"true"]:
        for path in ("/flows", "/flow/create", "/flow/execute", "/flows/flow123/executions"):
            found = fields(harness.request("POST", path, raw=raw))
            assert "must be a JSON object" in found["body"], (path, raw)


# -- nesting ----------------------------------------------------------------------------------------


def test_an_input_nested_within_the_limit_is_stored_and_read_back(harness: Harness) -> None:
    harness.request("POST", "/flows", sample())
    started = harness.request("POST", "/flows/flow123/executions", {"input": nested(32)})
    assert started.status == 202
    status = harness.request("GET", f"/executions/{started.json()['execution_id']}")
    assert (status.status, status.json()["input"]) == (200, nested(32))


def test_an_input_nested_too_deep_is_refused_at_the_door(harness: Harness) -> None:
    harness.request("POST", "/flows", sample())
    for levels, field in [(33, "input"), (255, "body"), (5_000, "body")]:
        found = fields(harness.request("POST", "/flows/flow123/executions", {"input": nested(levels)}))
        assert list(found) == [field], (levels, found)
        assert "levels" in found[field]


def test_parameters_and_when_values_nested_too_deep_name_their_field(harness: Harness) -> None:
    definition = sample()
    definition["tasks"][0]["parameters"] = {"deep": nested(32)}
    definition["conditions"][0]["when"] = {"path": "x", "op": "eq", "value": nested(33)}

    found = fields(harness.request("POST", "/flows", definition))

    assert found["tasks[0].parameters"] == "Value error, nests 33 levels deep; at most 32"
    assert found["conditions[0].when.value"] == "Value error, nests 33 levels deep; at most 32"


# -- types ------------------------------------------------------------------------------------------


def test_values_of_the_wrong_json_type_are_422_naming_the_field(harness: Harness) -> None:
    for path, value, field in [
        (("tasks", 0, "parameters", "failure_rate"), True, "tasks[0].parameters.failure_rate"),
        (("tasks", 1, "parameters", "seconds"), "5", "tasks[1].parameters.seconds"),
        (("tasks", 0, "retry", "jitter"), "yes", "tasks[0].retry.jitter"),
        (("tasks", 0, "retry", "max_attempts"), "3", "tasks[0].retry.max_attempts"),
        (("tasks", 0, "timeout_seconds"), 5.5, "tasks[0].timeout_seconds"),
        (("max_transitions",), True, "max_transitions"),
    ]:
        definition = sample()
        definition["tasks"][1] = {"name": "task2", "type": "wait", "parameters": {"seconds": 0}}
        target: Any = definition
        for key in path[:-1]:
            target = target.setdefault(key, {}) if isinstance(target, dict) else target[key]
        target[path[-1]] = value

        assert field in fields(harness.request("POST", "/flows", definition)), field


def test_a_whole_number_written_with_a_fraction_is_an_integer(harness: Harness) -> None:
    definition = sample()
    definition["tasks"][0]["timeout_seconds"] = 30.0
    definition["max_transitions"] = 50.0
    response = harness.request("POST", "/flows", definition)
    assert response.status == 201, response.json()
    stored = harness.request("GET", "/flows/flow123").json()["definition"]
    assert (stored["tasks"][0]["timeout_seconds"], stored["max_transitions"]) == (30, 50)
