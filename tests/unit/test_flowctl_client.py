"""flowctl's connection: where the API is (--endpoint, --stack, FLOW_API_URL), how it authenticates (--token,
FLOW_TOKEN, --sigv4, FLOW_AUTH=iam), and every failure as one `error:` line with exit code 3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from flowctl.client import ApiClient, FlowctlError, error_line, is_loopback, region_of
from tests.unit.test_flowctl import FakeApi, error_document, invoke

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "AWS_SESSION_TOKEN": "session-token",
    "AWS_DEFAULT_REGION": "eu-west-1",
}
API_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Fake credentials from the environment only: no profile or config file of this machine is read."""
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)


def flows_api() -> FakeApi:
    return FakeApi().on("GET", "/flows", (200, {"flows": [], "next_cursor": None}))


# -- one line per error -----------------------------------------------------------------------------------------


def test_a_validation_error_names_each_field() -> None:
    document = error_document(
        "validation_error",
        "the request has 2 problems",
        [
            {"field": "tasks[0].name", "message": "String should match pattern"},
            {"field": "start_task", "message": "Field required"},
        ],
    )

    line = error_line(422, "Unprocessable Entity", document)

    assert line == (
        "422 validation_error: the request has 2 problems: tasks[0].name: String should match pattern; "
        "start_task: Field required"
    )


def test_the_authorizers_answer_says_what_to_give() -> None:
    line = error_line(401, "Unauthorized", {"message": "Unauthorized"})

    assert line.startswith("401 Unauthorized (give a token with --token or FLOW_TOKEN, or sign with --sigv4")


def test_a_body_that_is_not_the_apis_shows_its_start() -> None:
    assert error_line(502, "Bad Gateway", None, "<html>\n  upstream   down</html>") == (
        "502 Bad Gateway: <html> upstream down</html>"
    )
    assert error_line(500, "Internal Server Error", None, "x" * 500).endswith("x" * 200 + "...")
    assert error_line(503, "Service Unavailable", None, "") == "503 Service Unavailable"


def test_an_api_error_ends_the_command_with_one_line_and_code_3() -> None:
    details = [{"field": "flow_id", "message": "String should match pattern"}]
    api = FakeApi().on(
        "GET", "/flows/a b", (422, error_document("validation_error", "the request has 1 problem", details))
    )

    result = invoke(api, "flows", "show", "a b")

    assert result.exit_code == 3
    assert result.stderr == (
        "error: 422 validation_error: the request has 1 problem: flow_id: String should match pattern\n"
    )


def test_no_connection_is_exit_code_3_with_a_hint_for_the_local_stack() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    client = ApiClient("http://localhost:3000", transport=httpx.MockTransport(refuse))

    with pytest.raises(FlowctlError) as raised:
        client.get("/flows")

    assert str(raised.value) == (
        "cannot reach http://localhost:3000: [Errno 111] Connection refused (is the local stack running? `make run`)"
    )


def test_a_timeout_exits_with_3() -> None:
    def slow(request: httpx.Request) -> tuple[int, Any]:
        raise httpx.ReadTimeout("timed out", request=request)

    api = FakeApi().on("GET", "/flows", slow)

    result = invoke(api, "flows", "list", "--timeout", "2")

    assert result.exit_code == 3
    assert "GET http://localhost:3000/flows: no answer in time" in result.stderr


def test_a_success_that_is_not_json_is_an_error() -> None:
    api = FakeApi().on("GET", "/flows", (200, "<html>not the API</html>"))

    result = invoke(api, "flows", "list")

    assert result.exit_code == 3
    assert "the answer is not JSON" in result.stderr


# -- where the API is -------------------------------------------------------------------------------------------


def test_the_endpoint_defaults_to_the_local_stack() -> None:
    api = flows_api()

    invoke(api, "flows", "list")

    assert str(api.requests[0].url) == "http://localhost:3000/flows?limit=100"


def test_flow_api_url_names_the_endpoint_and_endpoint_wins_over_it() -> None:
    api = flows_api()

    invoke(api, "flows", "list", environ={"FLOW_API_URL": "https://api.example.com/prod/"})
    invoke(api, "--endpoint", "http://127.0.0.1:8080", "flows", "list", environ={"FLOW_API_URL": "https://x"})

    assert [str(r.url).split("?")[0] for r in api.requests] == [
        "https://api.example.com/prod/flows",
        "http://127.0.0.1:8080/flows",
    ]


def test_global_options_go_before_or_after_the_command_and_the_later_wins() -> None:
    api = flows_api()

    result = invoke(
        api, "-o", "table", "--endpoint", "http://a:1", "flows", "list", "-o", "json", "--endpoint", "http://b:2"
    )

    assert json.loads(result.stdout) == {"flows": []}
    assert api.requests[0].url.host == "b"


def test_an_endpoint_that_is_not_a_url_is_refused() -> None:
    result = invoke(flows_api(), "flows", "list", "--endpoint", "localhost:3000")

    assert result.exit_code == 3
    assert "must be an http:// or https:// URL" in result.stderr


def test_stack_reads_the_api_url_from_the_stacks_outputs(aws: None) -> None:
    from moto import mock_aws

    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"ApiUrl": {"Value": API_URL}, "TableName": {"Value": "flows"}},
    }
    api = flows_api()
    with mock_aws():
        import boto3

        boto3.client("cloudformation", region_name="us-east-1").create_stack(
            StackName="flow-manager", TemplateBody=json.dumps(template)
        )
        found = invoke(api, "flows", "list", "--stack", "flow-manager", "--region", "us-east-1")
        missing = invoke(api, "flows", "list", "--stack", "other", "--region", "us-east-1")

    assert found.exit_code == 0, found.output
    assert str(api.requests[0].url) == "https://abc123.execute-api.us-east-1.amazonaws.com/flows?limit=100"
    assert missing.exit_code == 3
    assert missing.stderr.startswith("error: stack other: ")


def test_stack_without_an_api_url_output_lists_what_it_has(aws: None) -> None:
    from moto import mock_aws

    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Outputs": {"TableName": {"Value": "flows"}}}
    with mock_aws():
        import boto3

        boto3.client("cloudformation", region_name="eu-west-1").create_stack(
            StackName="s", TemplateBody=json.dumps(template)
        )
        result = invoke(flows_api(), "flows", "list", "--stack", "s")

    assert result.exit_code == 3
    assert "error: stack s has no ApiUrl output (its outputs: TableName)" in result.stderr


def test_endpoint_and_stack_together_are_refused() -> None:
    result = invoke(flows_api(), "flows", "list", "--stack", "s", "--endpoint", "http://x")

    assert result.exit_code == 3
    assert "give --endpoint or --stack, not both" in result.stderr


# -- authentication ---------------------------------------------------------------------------------------------


def test_the_token_is_sent_as_a_bearer_token() -> None:
    api = flows_api()

    invoke(api, "flows", "list", "--token", "abc.def.ghi")
    invoke(api, "flows", "list", environ={"FLOW_TOKEN": "from-env"})
    invoke(api, "flows", "list")

    assert [r.headers.get("authorization") for r in api.requests] == ["Bearer abc.def.ghi", "Bearer from-env", None]


def test_sigv4_signs_for_execute_api_in_the_urls_region(aws: None) -> None:
    api = FakeApi().on("POST", "/flows/pipeline/executions", (202, {"execution_id": "e1"}))

    result = invoke(api, "run", "pipeline", "--input", "{}", "--sigv4", "--endpoint", API_URL, "-o", "json")

    assert result.exit_code == 0, result.output
    headers = api.requests[0].headers
    authorization = headers["authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-east-1/execute-api/aws4_request" in authorization
    assert "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token" in authorization
    assert headers["x-amz-security-token"] == "session-token"
    assert "x-amz-date" in headers


def test_sigv4_is_the_default_with_flow_auth_iam_and_no_token(aws: None) -> None:
    api = flows_api()

    invoke(api, "flows", "list", "--endpoint", "https://api.example.com", environ={"FLOW_AUTH": "iam"})
    invoke(
        api, "flows", "list", "--endpoint", "https://api.example.com", environ={"FLOW_AUTH": "iam", "FLOW_TOKEN": "t"}
    )

    signed, bearer = (request.headers["authorization"] for request in api.requests)
    # a custom domain names no region: the profile's (AWS_DEFAULT_REGION) is used
    assert "/eu-west-1/execute-api/aws4_request" in signed
    assert bearer == "Bearer t"


def test_sigv4_without_credentials_says_so(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in FAKE_CREDENTIALS:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    result = invoke(flows_api(), "flows", "list", "--sigv4")

    assert result.exit_code == 3
    assert "--sigv4 needs AWS credentials" in result.stderr


def test_token_and_sigv4_together_are_refused() -> None:
    result = invoke(flows_api(), "flows", "list", "--sigv4", "--token", "t")

    assert result.exit_code == 3
    assert "give --token or --sigv4, not both" in result.stderr


def test_an_unknown_profile_is_one_error_line(aws: None) -> None:
    result = invoke(flows_api(), "flows", "list", "--sigv4", "--profile", "nobody")

    assert result.exit_code == 3
    assert result.stderr.startswith("error: AWS profile: ")


# -- helpers ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "loopback"),
    [("http://localhost:3000", True), ("http://127.0.0.1:1", True), ("http://[::1]:3000", True), (API_URL, False)],
)
def test_loopback_endpoints_bypass_the_environments_proxy(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_the_region_of_an_api_gateway_url() -> None:
    assert region_of(API_URL) == "us-east-1"
    assert region_of("https://flows.example.com/") is None


def test_collect_follows_cursors_up_to_most() -> None:
    def items(*numbers: int) -> list[dict[str, Any]]:
        return [{"n": number} for number in numbers]

    pages: Iterator[dict[str, Any]] = iter(
        [{"items": items(1, 2), "next_cursor": "a"}, {"items": items(3, 4), "next_cursor": "b"}, {"items": items(5)}]
    )
    api = FakeApi().on("GET", "/things", lambda _: (200, next(pages)))
    client = ApiClient("http://localhost:3000", transport=httpx.MockTransport(api))

    assert client.collect("/things", "items", 3) == (items(1, 2, 3), True)
    assert client.collect("/things", "items", None) == (items(5), False)
    assert [r.url.params.get("cursor") for r in api.requests] == [None, "a", None]


def test_an_id_is_one_segment_of_the_path() -> None:
    api = FakeApi()

    result = invoke(api, "flows", "show", "a/b?c")

    assert result.exit_code == 3  # the scripted API has no such flow
    assert api.requests[0].url.raw_path == b"/flows/a%2Fb%3Fc"
