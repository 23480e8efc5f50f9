"""The local stack's authentication (local/auth.py): API Gateway's JWT authorizer emulated, the development tenant,
the signing key kept in the data folder, the `token` subcommand and the refusal to serve other machines unauthenticated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from local.__main__ import parse_args
from local.apigw import http_event
from local.auth import (
    ALL_SCOPES,
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    DEV_TENANT,
    KEY_FILE,
    LocalAuthority,
    Rejection,
    UnsafeBinding,
    check_binding,
    dev_authorizer,
    development_gate,
    is_loopback,
    is_public,
    jwt_gate,
    render_claim,
)
from local.runtime import LocalRuntime
from local.server import ApiServer
from tests.conftest import ROOT

SCOPES = " ".join(ALL_SCOPES)


@pytest.fixture(scope="module")
def authority() -> LocalAuthority:
    return LocalAuthority()


@pytest.fixture(scope="module")
def stranger() -> LocalAuthority:
    """Another key: what an attacker signs with."""
    return LocalAuthority()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LOCAL_AUTH", "LOCAL_JWT_ISSUER", "LOCAL_JWT_AUDIENCE", "FLOW_MANAGER_DATA"):
        monkeypatch.delenv(name, raising=False)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(header: dict[str, Any], payload: dict[str, Any], sign: Any = None) -> str:
    """A token put together by hand, as an attacker would: `sign(signing_input) -> bytes`, or no signature."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = sign(signing_input.encode()) if sign is not None else b""
    return f"{signing_input}.{b64(signature)}"


def claims_of(authority: LocalAuthority, **overrides: Any) -> dict[str, Any]:
    token = authority.issue("alice", SCOPES)
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return {**claims, **overrides}


def refused(authority: LocalAuthority, headers: dict[str, str]) -> str:
    """The reason the authorizer gives; fails if it lets the request through."""
    outcome = authority.authorize(headers)
    assert isinstance(outcome, Rejection), outcome
    return outcome.reason


# -- what passes ------------------------------------------------------------------------------------------------


def test_a_token_it_issued_passes_with_its_claims_as_api_gateway_renders_them(authority: LocalAuthority) -> None:
    token = authority.issue("alice", ["flows:read", "executions:read"], now=1767225600, lifetime=10**9)

    outcome = authority.authorize(bearer(token))

    assert not isinstance(outcome, Rejection), outcome
    assert set(outcome) == {"jwt"}
    assert outcome["jwt"]["scopes"] is None
    claims = outcome["jwt"]["claims"]
    assert all(isinstance(value, str) for value in claims.values())
    assert claims["sub"] == "alice"
    assert claims["iss"] == DEFAULT_ISSUER
    assert claims["aud"] == DEFAULT_AUDIENCE
    assert claims["scope"] == "flows:read executions:read"
    assert (claims["iat"], claims["nbf"]) == ("1767225600", "1767225600")
    assert claims["exp"] == str(1767225600 + 10**9)
    assert set(claims) == {"sub", "iss", "aud", "scope", "iat", "nbf", "exp", "jti"}
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": authority.kid, "typ": "JWT"}


def test_a_list_audience_is_rendered_in_brackets(authority: LocalAuthority) -> None:
    token = authority.issue("alice", SCOPES, audience=["other-api", DEFAULT_AUDIENCE])

    outcome = authority.authorize(bearer(token))

    assert not isinstance(outcome, Rejection), outcome
    assert outcome["jwt"]["claims"]["aud"] == f"[other-api {DEFAULT_AUDIENCE}]"


def test_without_aud_the_client_id_is_the_audience_as_for_an_access_token(authority: LocalAuthority) -> None:
    token = authority.issue("alice", SCOPES, claims={"aud": None, "client_id": DEFAULT_AUDIENCE})
    assert not isinstance(authority.authorize(bearer(token)), Rejection)

    other = authority.issue("alice", SCOPES, claims={"aud": None, "client_id": "another-client"})
    assert "audience" in refused(authority, bearer(other))


def test_the_token_alone_passes_too_as_api_gateway_takes_it(authority: LocalAuthority) -> None:
    token = authority.issue("alice", SCOPES)

    assert not isinstance(authority.authorize({"Authorization": token}), Rejection)
    assert not isinstance(authority.authorize({"authorization": f"bearer  {token} "}), Rejection)


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("text", "text"),
        (1767225600, "1767225600"),
        (1767225600.0, "1767225600"),
        (1.5, "1.5"),
        (True, "true"),
        (False, "false"),
        (["a", "b"], "[a b]"),
        ([], "[]"),
        ({"b": 2, "a": ["x"]}, "map[a:[x] b:2]"),
        (None, "<nil>"),
    ],
)
def test_every_claim_is_a_string(value: Any, rendered: str) -> None:
    assert render_claim(value) == rendered


# -- what is refused --------------------------------------------------------------------------------------------


def test_no_authorization_header_is_401(authority: LocalAuthority) -> None:
    assert "no Authorization header" in refused(authority, {})
    assert "no Authorization header" in refused(authority, {"authorization": "  "})


@pytest.mark.parametrize("value", ["Basic YWxpY2U6c2VjcmV0", "Token abc.def.ghi", "Bearer", "Bearer   "])
def test_a_header_that_is_not_a_bearer_token_is_401(authority: LocalAuthority, value: str) -> None:
    reason = refused(authority, {"authorization": value})
    assert "Bearer" in reason


@pytest.mark.parametrize("token", ["abc", "a.b", "a.b.c", "a.b.c.d", "eyJhbGciOiJSUzI1NiJ9.e30.!!!"])
def test_a_malformed_token_is_401(authority: LocalAuthority, token: str) -> None:
    assert "malformed" in refused(authority, bearer(token))


def test_a_token_signed_with_another_key_under_the_local_kid_is_401(
    authority: LocalAuthority, stranger: LocalAuthority
) -> None:
    forged = jwt.encode(claims_of(authority), stranger._key, algorithm="RS256", headers={"kid": authority.kid})

    assert refused(authority, bearer(forged)) == "the token's signature does not verify with the local key"


def test_a_token_of_another_key_is_401(authority: LocalAuthority, stranger: LocalAuthority) -> None:
    assert "kid" in refused(authority, bearer(stranger.issue("alice", SCOPES)))


def test_a_token_whose_claims_were_changed_is_401(authority: LocalAuthority) -> None:
    header, _, signature = authority.issue("alice", SCOPES).split(".")
    payload = b64(json.dumps(claims_of(authority, sub="mallory")).encode())

    assert "signature" in refused(authority, bearer(f"{header}.{payload}.{signature}"))


def test_alg_none_is_401(authority: LocalAuthority) -> None:
    token = handmade({"alg": "none", "typ": "JWT", "kid": authority.kid}, claims_of(authority))

    assert refused(authority, bearer(token)).startswith("signing method none is invalid")


def test_hs256_keyed_with_the_public_key_is_401(authority: LocalAuthority) -> None:
    """The classic confusion: an HMAC 'signature' made with the published RSA key as its secret."""
    public_pem = authority._public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = handmade(
        {"alg": "HS256", "typ": "JWT", "kid": authority.kid},
        claims_of(authority),
        lambda data: hmac.new(public_pem, data, hashlib.sha256).digest(),
    )

    assert refused(authority, bearer(token)).startswith("signing method HS256 is invalid")


def test_an_expired_token_is_401(authority: LocalAuthority) -> None:
    token = authority.issue("alice", SCOPES, now=time.time() - 7200, lifetime=3600)

    assert refused(authority, bearer(token)) == "the token has expired"


def test_a_token_expired_a_second_ago_is_401_no_leeway(authority: LocalAuthority) -> None:
    token = authority.issue("alice", SCOPES, now=time.time() - 2, lifetime=1)

    assert refused(authority, bearer(token)) == "the token has expired"


def test_a_token_not_valid_yet_is_401(authority: LocalAuthority) -> None:
    later = int(time.time()) + 600
    not_before = authority.issue("alice", SCOPES, claims={"nbf": later})
    issued_later = authority.issue("alice", SCOPES, claims={"iat": later, "nbf": None})

    assert "not valid yet" in refused(authority, bearer(not_before))
    assert "not valid yet" in refused(authority, bearer(issued_later))


def test_a_token_for_another_audience_is_401(authority: LocalAuthority) -> None:
    assert refused(authority, bearer(authority.issue("alice", SCOPES, audience="another-api"))) == (
        f"the token's audience is not {DEFAULT_AUDIENCE}"
    )
    assert "audience" in refused(authority, bearer(authority.issue("alice", SCOPES, audience=["a", "b"])))
    assert "audience" in refused(authority, bearer(authority.issue("alice", SCOPES, claims={"aud": None})))


def test_a_token_of_another_issuer_is_401(authority: LocalAuthority) -> None:
    token = authority.issue("alice", SCOPES, issuer="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_x")

    assert refused(authority, bearer(token)) == f"the token's issuer is not {DEFAULT_ISSUER}"


@pytest.mark.parametrize("claim", ["exp", "iss"])
def test_a_token_without_exp_or_iss_is_401(authority: LocalAuthority, claim: str) -> None:
    token = authority.issue("alice", SCOPES, claims={claim: None})

    assert refused(authority, bearer(token)) == f"the token has no {claim} claim"


def test_a_rejection_is_api_gateway_s_401() -> None:
    response = Rejection('the token has expired "now"').response()

    assert response.status == 401
    assert response.body == b'{"message":"Unauthorized"}'
    assert response.headers["content-type"] == "application/json"
    assert response.headers["www-authenticate"] == (
        'Bearer scope="" error="invalid_token" error_description="the token has expired \'now\'"'
    )


# -- the key ----------------------------------------------------------------------------------------------------


def test_the_key_is_made_once_owner_only_and_reused(tmp_path: Path) -> None:
    first = LocalAuthority(tmp_path / "data")
    key_file = tmp_path / "data" / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    pem = key_file.read_bytes()
    token = first.issue("alice", SCOPES)

    again = LocalAuthority(tmp_path / "data")  # a restart

    assert key_file.read_bytes() == pem
    assert again.kid == first.kid
    assert not isinstance(again.authorize(bearer(token)), Rejection)
    assert [path.name for path in (tmp_path / "data").iterdir()] == [KEY_FILE]  # no temporary file left


def test_a_key_that_is_not_rsa_is_refused(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_text("not a key")
    with pytest.raises(ValueError):
        LocalAuthority(tmp_path)


# -- the development tenant, the gates, the event ---------------------------------------------------------------


def test_the_development_tenant_holds_every_scope_and_is_fresh_each_time() -> None:
    first = dev_authorizer()
    assert first == {
        "jwt": {
            "claims": {"sub": DEV_TENANT, "iss": DEFAULT_ISSUER, "aud": DEFAULT_AUDIENCE, "scope": SCOPES},
            "scopes": None,
        }
    }
    first["jwt"]["claims"]["sub"] = "changed"
    assert dev_authorizer()["jwt"]["claims"]["sub"] == DEV_TENANT
    assert development_gate("DELETE", "/flows/x", {}) == dev_authorizer()


@pytest.mark.parametrize(
    ("method", "path", "public"),
    [
        ("GET", "/", True),
        ("GET", "/health", True),
        ("GET", "/ui", True),
        ("GET", "/ui/", True),
        ("GET", "/ui/assets/app.js", True),
        ("HEAD", "/health", False),
        ("POST", "/health", False),
        ("GET", "/health/", False),
        ("GET", "/uix", False),
        ("GET", "/docs", False),
        ("GET", "/openapi.json", False),
        ("GET", "/flows", False),
        ("GET", "/ui/../flows", False),
        ("GET", "/ui/%2e%2e/flows", False),
        ("GET", "/ui/./x", False),
    ],
)
def test_only_the_deployed_public_routes_pass_without_a_token(
    authority: LocalAuthority, method: str, path: str, public: bool
) -> None:
    assert is_public(method, path) is public
    outcome = jwt_gate(authority)(method, path, {})
    assert (outcome is None) if public else isinstance(outcome, Rejection)


def test_the_authorizer_goes_in_the_request_context() -> None:
    authorizer = dev_authorizer()

    assert http_event("GET", "/flows", authorizer=authorizer)["requestContext"]["authorizer"] == authorizer
    assert "authorizer" not in http_event("GET", "/health")["requestContext"]


@pytest.fixture
def gated(authority: LocalAuthority) -> Iterator[tuple[ApiServer, list[dict[str, Any]]]]:
    events: list[dict[str, Any]] = []

    def function(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        events.append(event)
        return {"statusCode": 200, "body": "{}"}

    server = ApiServer(("127.0.0.1", 0), function, gate=jwt_gate(authority))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, events
    server.shutdown()
    thread.join()
    server.server_close()


def call(server: ApiServer, method: str, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    connection.request(method, path, body=b'{"a": 1}' if method == "POST" else None, headers=headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_a_refused_request_never_reaches_the_function(
    gated: tuple[ApiServer, list[dict[str, Any]]], authority: LocalAuthority
) -> None:
    server, events = gated
    expired = authority.issue("alice", SCOPES, now=time.time() - 7200)

    for headers in ({}, bearer(expired), {"authorization": "Basic x"}):
        response = call(server, "POST", "/flows", headers)
        assert response.status == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]

    assert events == []


def test_an_authorized_request_reaches_the_function_with_its_claims(
    gated: tuple[ApiServer, list[dict[str, Any]]], authority: LocalAuthority
) -> None:
    server, events = gated

    assert call(server, "GET", "/flows", bearer(authority.issue("alice", "flows:read"))).status == 200
    assert call(server, "GET", "/health", {}).status == 200

    listed, health = events
    assert listed["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] == "alice"
    assert listed["requestContext"]["authorizer"]["jwt"]["claims"]["scope"] == "flows:read"
    assert "authorizer" not in health["requestContext"]


# -- binding ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "LOCALHOST", "::1", "[::1]"])
def test_loopback_addresses_are_loopback(host: str) -> None:
    assert is_loopback(host)
    check_binding(host, "none")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "172.17.0.1", "192.168.1.20", "my-laptop.example"])
def test_other_addresses_need_auth_on(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(UnsafeBinding, match="--auth jwt"):
        check_binding(host, "none")
    check_binding(host, "jwt")


def test_the_runtime_refuses_before_it_listens() -> None:
    runtime = LocalRuntime(host="0.0.0.0", port=0, moto_port=0)
    with pytest.raises(UnsafeBinding):
        runtime.start()
    with pytest.raises(ValueError, match="auth"):
        LocalRuntime(auth="open")


def run_local(*arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **environment}
    for name in ("LOCAL_AUTH", "LOCAL_JWT_ISSUER", "LOCAL_JWT_AUDIENCE", "FLOW_MANAGER_DATA"):
        if name not in environment:
            env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "local", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_python_m_local_on_another_address_without_auth_exits_2() -> None:
    result = run_local("--host", "0.0.0.0", "--port", "0", "--moto-port", "0", "--lambda-port", "0")

    assert result.returncode == 2
    assert result.stderr.startswith("flow-manager: refusing to listen on 0.0.0.0 without authentication")
    assert "--auth jwt" in result.stderr
    assert result.stdout == ""


# -- the command line -------------------------------------------------------------------------------------------


def test_auth_is_off_by_default_and_the_environment_turns_it_on(monkeypatch: pytest.MonkeyPatch) -> None:
    args = parse_args([])
    assert (args.auth, args.jwt_issuer, args.jwt_audience) == ("none", DEFAULT_ISSUER, DEFAULT_AUDIENCE)

    monkeypatch.setenv("LOCAL_AUTH", "JWT")
    monkeypatch.setenv("LOCAL_JWT_ISSUER", "https://issuer.example")
    args = parse_args([])
    assert (args.auth, args.jwt_issuer) == ("jwt", "https://issuer.example")
    assert parse_args(["--auth", "none", "--jwt-audience", "aud-2"]).auth == "none"


@pytest.mark.parametrize("arguments", [["--auth", "open"], ["--auth", ""]])
def test_an_unknown_auth_mode_is_a_usage_error(arguments: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(arguments)


def test_an_unknown_auth_mode_in_the_environment_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_AUTH", "yes")
    with pytest.raises(SystemExit):
        parse_args([])


def test_the_token_command_prints_only_a_token_the_stack_accepts(tmp_path: Path) -> None:
    result = run_local("token", "--sub", "alice", "--scope", "flows:read flows:write", "--data-dir", str(tmp_path))

    assert result.returncode == 0, result.stderr
    token = result.stdout.removesuffix("\n")
    assert "\n" not in token and token.count(".") == 2
    outcome = LocalAuthority(tmp_path).authorize(bearer(token))  # the server's authority, same folder
    assert not isinstance(outcome, Rejection), outcome
    claims = outcome["jwt"]["claims"]
    assert (claims["sub"], claims["scope"]) == ("alice", "flows:read flows:write")
    assert int(claims["exp"]) - int(claims["iat"]) == 3600
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600


def test_the_token_command_signs_for_the_issuer_and_audience_it_is_told(tmp_path: Path) -> None:
    told = run_local(
        "token", "--sub", "bob", "--jwt-audience", "other", "--data-dir", str(tmp_path), "--lifetime", "60"
    )
    from_env = run_local("token", "--sub", "bob", LOCAL_JWT_ISSUER="https://x.example", FLOW_MANAGER_DATA=str(tmp_path))

    server = LocalAuthority(tmp_path)
    assert "audience" in refused(server, bearer(told.stdout.strip()))
    assert "issuer" in refused(server, bearer(from_env.stdout.strip()))
    assert not isinstance(LocalAuthority(tmp_path, audience="other").authorize(bearer(told.stdout.strip())), Rejection)
    claims = jwt.decode(told.stdout.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60
    assert claims["scope"] == SCOPES  # every scope unless told


def test_the_token_command_needs_a_subject(tmp_path: Path) -> None:
    result = run_local("token", "--data-dir", str(tmp_path))

    assert result.returncode == 2
    assert "--sub" in result.stderr
