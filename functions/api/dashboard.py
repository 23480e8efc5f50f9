"""The dashboard at /ui: its static files, served by the API function itself (no CDN, nothing fetched at run time).

`make ui` builds the front end (`ui/`) into `ui_dist/` beside this module, which `sam build` packages with the
function. Every path under /ui that is not a file is the page itself (`index.html`), whose script routes on the
URL, so a deep link such as `/ui/executions/<id>` opens directly and survives a reload; an unknown path under
`/ui/assets/` is 404, since a page there would hide a missing script behind a blank screen. The files are read on
each request: a rebuild shows at the next reload, and a few small reads cost less than keeping them in memory.

The routes are public: they serve code, never data. The page calls the JSON API with the token the user gives it.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

DIST_DIR = Path(__file__).resolve().parent / "ui_dist"
PREFIX = "/ui"
INDEX = "index.html"
#: Where the build puts its fingerprinted files (their names change with their content, so they are cached).
ASSETS = "assets"
#: In index.html, replaced by the path the page is served under (`/ui`, or `/<stage>/ui` on a named stage).
BASE_MARKER = "%BASE%"

#: Everything the page loads comes from this origin; it runs no inline script or style, and no one frames it.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}
TEXT_SUFFIXES = frozenset({".html", ".js", ".css", ".map", ".json", ".svg", ".txt"})
#: One path segment of a file the build writes: no `..`, no hidden files, nothing a shell or a URL would escape.
_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
NOT_BUILT = "the dashboard is not built: run `make ui` (it needs Node.js and npm), then reload"


def answer(event: dict[str, Any]) -> dict[str, Any] | None:
    """The response for a GET (or HEAD) of /ui, /ui/ or /ui/<anything>; None for any other request."""
    method = str(event.get("requestContext", {}).get("http", {}).get("method", "")).upper()
    base, rest = _split(event)
    if method not in {"GET", "HEAD"} or rest is None:
        return None
    if not (DIST_DIR / INDEX).is_file():
        return _error(503, "service_unavailable", NOT_BUILT)
    segments = [segment for segment in rest.split("/") if segment]
    file = _file(segments)
    if file is not None:
        response = _file_response(file)
    elif segments and segments[0] == ASSETS:
        response = _error(404, "not_found", f"no dashboard file {PREFIX}/{'/'.join(segments)}: run `make ui` again?")
    else:
        response = _index(base)
    if method == "HEAD":
        response["body"] = ""
    return response


def _split(event: dict[str, Any]) -> tuple[str, str | None]:
    """The path the dashboard is served under, and the rest of the request's path below it (None: not ours).
    On a named stage API Gateway's path starts with the stage (`/prod/ui/...`); `$default` adds nothing."""
    path = str(event.get("rawPath") or "")
    stage = str(event.get("requestContext", {}).get("stage") or "$default")
    base = PREFIX if stage == "$default" else f"/{stage}{PREFIX}"
    if path in {base, base + "/"}:
        return base, ""
    if path.startswith(base + "/"):
        return base, path[len(base) + 1 :]
    return base, None


def _file(segments: list[str]) -> Path | None:
    """The built file the path names, if there is one (the page itself is served as the page, with its base)."""
    if not segments or segments == [INDEX] or not all(_SEGMENT.match(segment) for segment in segments):
        return None
    candidate = DIST_DIR.joinpath(*segments)
    return candidate if candidate.suffix in CONTENT_TYPES and candidate.is_file() else None


def _file_response(file: Path) -> dict[str, Any]:
    data = file.read_bytes()
    # Fingerprinted names never change content; anything else is checked again on each use.
    fingerprinted = file.parent == DIST_DIR / ASSETS and re.search(r"-[A-Z0-9]{8,}\.", file.name) is not None
    cache = "public, max-age=31536000, immutable" if fingerprinted else "no-cache"
    text = file.suffix in TEXT_SUFFIXES
    return {
        "statusCode": 200,
        "headers": {"Content-Type": CONTENT_TYPES[file.suffix], "Cache-Control": cache, **SECURITY_HEADERS},
        "body": data.decode("utf-8") if text else base64.b64encode(data).decode("ascii"),
        "isBase64Encoded": not text,
    }


def _index(base: str) -> dict[str, Any]:
    page = (DIST_DIR / INDEX).read_text(encoding="utf-8").replace(BASE_MARKER, base)
    return {
        "statusCode": 200,
        "headers": {"Content-Type": CONTENT_TYPES[".html"], "Cache-Control": "no-cache", **SECURITY_HEADERS},
        "body": page,
        "isBase64Encoded": False,
    }


def _error(status: int, code: str, message: str) -> dict[str, Any]:
    """The API's error envelope, so a client reads every refusal of this function alike."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store", **SECURITY_HEADERS},
        "body": json.dumps({"error": {"code": code, "message": message, "details": []}}),
        "isBase64Encoded": False,
    }
