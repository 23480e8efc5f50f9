"""API Gateway HTTP API payload 2.0: requests into events, handler results into HTTP responses."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

_TEXT_TYPES = (
    "application/json",
    "text/",
    "application/xml",
    "application/javascript",
    "application/x-www-form-urlencoded",
)


def http_event(
    method: str,
    path: str,
    raw_query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    source_ip: str = "127.0.0.1",
    *,
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The event API Gateway sends for one request (route `ANY /{proxy+}`, stage `$default`). `authorizer`: what the
    route's authorizer found (`{"jwt": {"claims", "scopes"}}` or `{"iam": {...}}`), at `requestContext.authorizer`;
    None for a route without one."""
    lowered = {name.lower(): value for name, value in (headers or {}).items()}
    cookies = [part.strip() for part in lowered.pop("cookie", "").split(";") if part.strip()]
    content_type = lowered.get("content-type", "")
    is_text = body is None or not content_type or content_type.startswith(_TEXT_TYPES)
    if body is not None and is_text:
        try:
            text_body: str | None = body.decode("utf-8")
        except UnicodeDecodeError:
            is_text = False
    if body is None:
        text_body = None
    elif not is_text:
        text_body = base64.b64encode(body).decode()
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "ANY /{proxy+}",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": lowered.get("host", "localhost"),
            "domainPrefix": "localhost",
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "ANY /{proxy+}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "pathParameters": {"proxy": path.lstrip("/")},
        "isBase64Encoded": not is_text,
    }
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if text_body is not None:
        event["body"] = text_body
    return event


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[str] = field(default_factory=list)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


def http_response(result: Any) -> HttpResponse:
    """Interpret a handler's result as API Gateway does for payload format 2.0."""
    if not isinstance(result, dict) or "statusCode" not in result:
        # A result without statusCode is treated as a 200 JSON body.
        return HttpResponse(200, {"content-type": "application/json"}, [], json.dumps(result).encode())
    headers = {name.lower(): str(value) for name, value in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = ", ".join(str(value) for value in values)
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    return HttpResponse(int(result["statusCode"]), headers, list(result.get("cookies") or []), raw)
