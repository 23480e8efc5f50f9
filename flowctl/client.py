"""The API over HTTP (httpx): JSON in and out, every failure one readable line, SigV4 signing for IAM mode."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Generator
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

#: The hint that follows a 401 or a 403: what the API wants depends on how the stack was deployed.
AUTH_HINT = "give a token with --token or FLOW_TOKEN, or sign with --sigv4 for an IAM-mode stack"
#: What of a body that is not the API's JSON an error line shows.
SNIPPET_CHARS = 200
#: The region of an API Gateway URL (https://<api>.execute-api.<region>.amazonaws.com/...).
EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


class FlowctlError(Exception):
    """What ends a command with exit code 3 (usage, connection or API error): shown as `error: <line>`."""


class ApiError(FlowctlError):
    """An answer other than 2xx."""

    def __init__(self, status: int, reason: str, text: str) -> None:
        self.status = status
        self.reason = reason
        self.text = text
        try:
            self.document: Any = json.loads(text) if text else None
        except ValueError:
            self.document = None
        super().__init__(error_line(status, reason, self.document, text))


def error_line(status: int, reason: str, document: Any, text: str = "") -> str:
    """One line for an error answer: the API's `{"error": {"code", "message", "details"}}` with each detail's field
    path, API Gateway's `{"message"}` (a 401 of the JWT authorizer, a 403 of IAM, a 429), or the start of any
    other body."""
    line = f"{status} {reason}".rstrip()
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, dict):
        line = f"{status} {error.get('code', reason)}: {error.get('message', '')}".rstrip(": ")
        details = error.get("details") or []
        problems = [_detail(detail) for detail in details if isinstance(detail, dict)]
        if problems:
            line += ": " + "; ".join(problems)
    elif isinstance(document, dict) and isinstance(document.get("message"), str):
        line = f"{status} {document['message']}"
    elif text.strip():
        snippet = " ".join(text.split())
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[:SNIPPET_CHARS] + "..."
        line += f": {snippet}"
    if status in {401, 403}:
        line += f" ({AUTH_HINT})"
    return line


def _detail(detail: dict[str, Any]) -> str:
    field, message = detail.get("field"), detail.get("message", "")
    return f"{field}: {message}" if field else str(message)


def segment(value: str) -> str:
    """A value as one segment of a path: an id cannot reach another route (`a/b`, `x?y`)."""
    return quote(value, safe="")


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def region_of(url: str) -> str | None:
    """The region an API Gateway URL names, if it is one."""
    match = EXECUTE_API_HOST.match(urlsplit(url).hostname or "")
    return match.group(1) if match else None


class SigV4(httpx.Auth):
    """Signs each request with AWS Signature Version 4 for API Gateway (`execute-api`), with botocore's signer.

    Only the host, the content type and the idempotency key are signed besides the body: headers a proxy may
    rewrite (connection, accept-encoding, user-agent) are left out of the signature."""

    requires_request_body = True
    SIGNED = ("content-type", "idempotency-key")

    def __init__(self, credentials: Any, region: str) -> None:
        self._credentials = credentials
        self._region = region

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        headers = {"host": request.url.netloc.decode("ascii")}
        headers.update({name: request.headers[name] for name in self.SIGNED if name in request.headers})
        signed = AWSRequest(method=request.method, url=str(request.url), data=request.content, headers=headers)
        SigV4Auth(self._credentials, "execute-api", self._region).add_auth(signed)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in signed.headers:
                request.headers[name] = signed.headers[name]
        yield request


class ApiClient:
    """The API at `base_url`: each call answers the parsed JSON body or raises `FlowctlError`."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        auth: httpx.Auth | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"accept": "application/json", "user-agent": "flowctl"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            headers=headers,
            auth=auth,
            timeout=timeout,
            transport=transport,
            # The local stack is on this machine: no proxy of the environment stands in between.
            trust_env=not is_loopback(self.base_url),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        query = {name: value for name, value in (params or {}).items() if value is not None}
        try:
            response = self._http.request(
                method,
                path.lstrip("/"),
                params=query,
                json=body,
                headers=headers,
            )
        except httpx.TimeoutException as error:
            raise FlowctlError(f"{method} {self.base_url}{path}: no answer in time ({error or 'timed out'})") from error
        except httpx.HTTPError as error:
            hint = " (is the local stack running? `make run`)" if is_loopback(self.base_url) else ""
            raise FlowctlError(f"cannot reach {self.base_url}: {error}{hint}") from error
        if not response.is_success:
            raise ApiError(response.status_code, response.reason_phrase, response.text)
        try:
            return response.json()
        except ValueError as error:
            raise FlowctlError(f"{method} {path}: the answer is not JSON ({response.status_code})") from error

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.request("POST", path, body=body, headers=headers)

    def collect(
        self, path: str, key: str, most: int | None, params: dict[str, Any] | None = None
    ) -> tuple[list[dict[str, Any]], bool]:
        """The items under `key` of a listing's pages, following `next_cursor`, at most `most` of them; and
        whether the listing has more."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self.get(path, **(params or {}), cursor=cursor)
            for item in page.get(key) or []:
                if most is not None and len(items) >= most:
                    return items, True
                items.append(item)
            cursor = page.get("next_cursor")
            if not cursor:
                return items, False
            if most is not None and len(items) >= most:
                return items, True
