"""The http task on a scripted transport (its request, output, failures, redirects and secrets), its secrets on
moto's Secrets Manager, and its real transport against an `http.server` on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from botocore.session import get_session
from moto import mock_aws

from flowcore.adapters.http import Urllib3Transport
from flowcore.adapters.secrets import SecretsManagerSecrets
from flowcore.api.parameters import parameter_problems
from flowcore.domain.egress import EgressPolicy
from flowcore.domain.statuses import TaskStatus
from flowcore.tasks import default_registry
from flowcore.tasks.http import HttpTask, SecretError
from tests.unit.http_doubles import PUBLIC, FakeTransport, context, http_task, response, timed_out

DNS = {"api.example.com": [PUBLIC], "other.example.com": [PUBLIC]}
GET = {"method": "GET", "url": "https://api.example.com/v1/items"}


class FixedSecrets:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def value(self, secret_id: str, key: str | None = None) -> str:
        try:
            return self.values[secret_id if key is None else f"{secret_id}#{key}"]
        except KeyError:
            raise SecretError(f"secret {secret_id} could not be read (ResourceNotFoundException)") from None


# Requests and outputs


def test_a_json_response_is_parsed_and_the_request_carries_the_idempotency_key() -> None:
    transport = FakeTransport(DNS, [response(200, {"items": [1, 2]}, {"x-request-id": "r-1"})])
    parameters = {**GET, "query": {"page": 2, "tag": ["a", "b"]}, "headers": {"Accept": "application/json"}}
    result = http_task(transport).execute(context(parameters, attempt=3))
    assert result.status is TaskStatus.SUCCESS
    assert result.output == {
        "status": 200,
        "headers": {"content-type": "application/json", "x-request-id": "r-1"},
        "body": {"items": [1, 2]},
    }
    (sent,) = transport.sent
    assert sent.destination.target.path == "/v1/items?page=2&tag=a&tag=b"
    assert sent.headers == {"Accept": "application/json", "Idempotency-Key": "exec-1:2:call:3"}


def test_a_text_response_is_text_and_a_json_body_is_sent_as_json() -> None:
    transport = FakeTransport(DNS, [response(201, "created", {"content-type": "text/plain"})])
    parameters = {"method": "post", "url": "https://api.example.com/", "body": {"name": "n"}}
    result = http_task(transport).execute(context(parameters))
    assert result.output == {"status": 201, "headers": {"content-type": "text/plain"}, "body": "created"}
    (sent,) = transport.sent
    assert (sent.method, sent.body, sent.headers["Content-Type"]) == ("POST", b'{"name":"n"}', "application/json")


def test_a_user_idempotency_key_is_kept() -> None:
    transport = FakeTransport(DNS)
    http_task(transport).execute(context({**GET, "headers": {"idempotency-key": "mine"}}))
    assert transport.sent[0].headers == {"idempotency-key": "mine"}


@pytest.mark.parametrize(
    ("success_status", "status", "succeeded"),
    [(None, 204, True), (None, 302, False), ([200, "400-404"], 404, True), ("201", 200, False), (503, 503, True)],
    ids=["default-2xx", "default-refuses-3xx", "list-with-range", "single-code-text", "single-code"],
)
def test_success_status_decides_the_outcome(success_status: Any, status: int, succeeded: bool) -> None:
    transport = FakeTransport(DNS, [response(status, {"state": "x"})])
    parameters = GET if success_status is None else {**GET, "success_status": success_status}
    result = http_task(transport).execute(context(parameters))
    assert result.succeeded is succeeded
    assert result.output["status"] == status


def test_a_status_outside_success_status_fails_with_the_response_as_output() -> None:
    transport = FakeTransport(DNS, [response(503, {"retry": True})])
    result = http_task(transport).execute(context({**GET, "url": "https://api.example.com/v1?token=t"}))
    assert result.status is TaskStatus.FAILURE
    assert result.error == "HTTP 503 from https://api.example.com/v1"  # the query is not shown
    assert result.output == {"status": 503, "headers": {"content-type": "application/json"}, "body": {"retry": True}}


def test_a_body_over_the_cap_fails() -> None:
    transport = FakeTransport(DNS, [response(200, b"x" * 1_048_577)])
    result = http_task(transport).execute(context(GET))
    assert result.error == "response body larger than 1,048,576 bytes"
    assert result.output["body"] is None
    assert transport.sent and transport.timeouts[0] <= 10


def test_a_timeout_is_a_failure_the_retry_policy_applies_to() -> None:
    transport = FakeTransport(DNS, [timed_out()])
    result = http_task(transport).execute(context({**GET, "timeout_seconds": 10}))
    assert result.status is TaskStatus.FAILURE
    assert result.error == "timed out after 10 s calling https://api.example.com/"


@pytest.mark.parametrize(
    ("parameters", "error"),
    [
        ({**GET, "method": "TRACE"}, "parameter 'method' is 'TRACE', not one of GET, POST, PUT, PATCH"),
        ({**GET, "success_status": "2xx"}, "parameter 'success_status' has \"2xx\": give status codes"),
        ({**GET, "success_status": "299-200"}, "parameter 'success_status' has \"299-200\""),
        ({**GET, "headers": {"Host": "evil.com"}}, "parameter 'headers' has 'Host', which the task sets itself"),
        ({**GET, "headers": {"X-A": "1\r\nX-B: 2"}}, "parameter 'headers' has 'X-A' with a line break"),
        ({**GET, "headers": {"X-A": {"vault": "x"}}}, "parameter 'headers' has 'X-A': a value is text or"),
        ({**GET, "body": "x" * 262_145}, "parameter 'body' is larger than 262,144 bytes"),
        ({**GET, "query": {"q": {"a": 1}}}, "parameter 'query' has 'q' with a value that is not text"),
    ],
    ids=[
        "method",
        "status-format",
        "status-range-order",
        "host-header",
        "header-injection",
        "header-shape",
        "body-size",
        "query",
    ],
)
def test_bad_parameters_fail_at_run_time_and_are_refused_at_save_time(parameters: dict[str, Any], error: str) -> None:
    transport = FakeTransport(DNS)
    result = http_task(transport).execute(context(parameters))
    assert error in (result.error or "")
    assert transport.sent == []
    problems = parameter_problems(default_registry(), "http", parameters, "tasks[0]")
    assert any(error in problem.message for problem in problems), problems


def test_save_time_checks_accept_a_good_task_and_skip_templates() -> None:
    parameters = {**GET, "success_status": "${input.codes}", "headers": {"Authorization": {"secret": "arn:s"}}}
    assert parameter_problems(default_registry(), "http", parameters, "tasks[0]") == []
    assert parameter_problems(default_registry(), "http", {**GET, "timeout_seconds": 31}, "tasks[0]")


def test_a_registry_built_without_ports_fails_when_run() -> None:
    result = HttpTask(policy=EgressPolicy.of(["api.example.com"])).execute(context(GET))
    assert result.error == "http tasks cannot run here: no transport was given"


# Redirects


def test_redirects_are_not_followed_by_default() -> None:
    transport = FakeTransport(DNS, [response(302, "", {"location": "https://api.example.com/next"})])
    result = http_task(transport).execute(context(GET))
    assert result.error == "HTTP 302 from https://api.example.com/v1/items"
    assert len(transport.sent) == 1


def test_a_redirect_is_followed_when_asked_and_credentials_stay_with_their_origin() -> None:
    # Given a POST with a secret header that is redirected to another allowed host (303: then GET)
    hop = response(303, "", {"location": "https://other.example.com/done"})
    transport = FakeTransport(DNS, [hop, response(200, {"ok": 1})])
    secrets = FixedSecrets({"arn:token": "s3cr3t-value"})
    parameters = {
        "method": "POST",
        "url": "https://api.example.com/start",
        "body": "go",
        "follow_redirects": True,
        "headers": {"X-Token": {"secret": "arn:token"}, "Authorization": "Basic abc", "Accept": "*/*"},
    }
    task = http_task(transport, ("api.example.com:443", "other.example.com:443"), secrets)
    # When it runs
    result = task.execute(context(parameters))
    # Then the second request is a GET without the body, the credentials or the secret
    assert result.output["body"] == {"ok": 1}
    first, second = transport.sent
    assert first.headers["X-Token"] == "s3cr3t-value"
    assert (second.method, second.body, second.destination.target.host) == ("GET", None, "other.example.com")
    assert set(second.headers) == {"Accept", "Idempotency-Key"}


def test_more_than_five_redirects_fail() -> None:
    loop = [response(307, "", {"location": "/again"}) for _ in range(6)]
    transport = FakeTransport(DNS, loop)
    result = http_task(transport).execute(context({**GET, "follow_redirects": True}))
    assert result.error == "more than 5 redirects from https://api.example.com/v1/items"
    assert len(transport.sent) == 6


# Secrets


def test_a_secret_header_is_sent_and_never_reported(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a server that echoes the request headers, and a failing status
    echo = response(500, {"echo": {"Authorization": "Bearer tok-123456"}}, {"x-echo": "Bearer tok-123456"})
    transport = FakeTransport(DNS, [echo])
    secrets = FixedSecrets({"arn:api#token": "Bearer tok-123456"})
    parameters = {**GET, "headers": {"Authorization": {"secret": "arn:api", "key": "token"}}}
    # When the task runs
    result = http_task(transport, secrets=secrets).execute(context(parameters))
    # Then the request carried it, and neither the output, the error nor the logs show it
    assert transport.sent[0].headers["Authorization"] == "Bearer tok-123456"
    reported = json.dumps([result.output, result.error, result.message]) + str(result) + repr(transport.sent)
    captured = capsys.readouterr()
    assert "tok-123456" not in reported + captured.out + captured.err
    assert result.output["body"] == {"echo": {"Authorization": "[secret]"}}


def test_a_secret_that_cannot_be_read_fails_the_task_before_sending() -> None:
    transport = FakeTransport(DNS)
    parameters = {**GET, "headers": {"Authorization": {"secret": "arn:missing"}}}
    result = http_task(transport, secrets=FixedSecrets({})).execute(context(parameters))
    assert result.error == "secret arn:missing could not be read (ResourceNotFoundException)"
    assert transport.sent == []


@pytest.mark.usefixtures("aws_env")
def test_secrets_manager_secrets_are_read_by_key_and_cached_for_a_while() -> None:
    with mock_aws():
        client = get_session().create_client("secretsmanager", region_name="us-east-1")
        arn = client.create_secret(Name="api", SecretString=json.dumps({"token": "Bearer m0t0"}))["ARN"]
        plain = client.create_secret(Name="plain", SecretString="just-text")["ARN"]
        now = [0.0]
        secrets = SecretsManagerSecrets(lambda: client, ttl_seconds=300, clock=lambda: now[0])
        transport = FakeTransport(DNS)
        parameters = {
            **GET,
            "headers": {"Authorization": {"secret": arn, "key": "token"}, "X-Plain": {"secret": plain}},
        }
        result = http_task(transport, secrets=secrets).execute(context(parameters))
        assert result.succeeded
        assert transport.sent[0].headers["Authorization"] == "Bearer m0t0"
        assert transport.sent[0].headers["X-Plain"] == "just-text"
        assert "m0t0" not in json.dumps(result.output)
        # A changed secret is read again only once its cache entry is older than the TTL
        client.put_secret_value(SecretId=arn, SecretString=json.dumps({"token": "Bearer n3w"}))
        now[0] = 299.0
        assert secrets.value(arn, "token") == "Bearer m0t0"
        now[0] = 301.0
        assert secrets.value(arn, "token") == "Bearer n3w"
        with pytest.raises(SecretError, match="has no text or number under key 'nope'"):
            secrets.value(arn, "nope")
        with pytest.raises(SecretError, match=r"could not be read \(ResourceNotFoundException\)"):
            secrets.value("arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf")


# The real transport, on loopback (the local stack's flag)


class Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        Handler.seen.append(dict(self.headers))
        if self.path == "/slow":
            time.sleep(1.5)
        if self.path == "/big":
            payload, kind = b"y" * 1_048_577, "text/plain"
        else:
            payload, kind = json.dumps({"path": self.path}).encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_the_real_transport_reaches_an_allowed_loopback_entry_of_the_local_stack(server: int) -> None:
    # Given the local stack's flag and a localhost entry, with localhost resolving to 127.0.0.1 only
    policy = EgressPolicy.of([f"localhost:{server}"], local_loopback=True)
    task = HttpTask(Urllib3Transport(resolver=lambda host, port: ["127.0.0.1"]), policy=policy)
    # When the task calls it
    result = task.execute(context({"method": "GET", "url": f"http://localhost:{server}/hello?x=1"}))
    big = task.execute(context({"method": "GET", "url": f"http://localhost:{server}/big"}))
    slow = task.execute(context({"method": "GET", "url": f"http://localhost:{server}/slow", "timeout_seconds": 0.5}))
    # Then it connected to the checked address with the name as Host, and the cap and the timeout hold
    assert result.output["body"] == {"path": "/hello?x=1"}
    assert Handler.seen[0]["Host"] == f"localhost:{server}"
    assert Handler.seen[0]["Idempotency-Key"] == "exec-1:2:call:1"
    assert big.error == "response body larger than 1,048,576 bytes"
    assert slow.error == f"timed out after 0.5 s calling http://localhost:{server}/slow"


def test_the_real_transport_is_refused_loopback_without_the_local_flag(server: int) -> None:
    policy = EgressPolicy.of([f"127.0.0.1:{server}"], allow_http=True)
    result = HttpTask(Urllib3Transport(), policy=policy).execute(
        context({"method": "GET", "url": f"http://127.0.0.1:{server}/"})
    )
    assert result.error == "127.0.0.1, a loopback address: http tasks may not connect there"


def test_the_real_transport_reports_a_refused_connection(server: int) -> None:
    policy = EgressPolicy.of(["127.0.0.1:1"], local_loopback=True)
    result = HttpTask(Urllib3Transport(), policy=policy).execute(
        context({"method": "GET", "url": "http://127.0.0.1:1/"})
    )
    assert result.error == "no response from http://127.0.0.1:1/ (ConnectionRefusedError)"
