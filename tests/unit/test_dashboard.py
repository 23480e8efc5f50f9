"""The dashboard's files at /ui (functions/api/dashboard.py), against a build of a few files in a temporary folder."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from functions.api import dashboard

PAGE = '<!doctype html><meta name="flow-manager-base" content="%BASE%"><script src="%BASE%/assets/app-ABCDEFGH.js">'


def event(path: str, method: str = "GET", stage: str = "$default") -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": path,
        "requestContext": {"http": {"method": method, "path": path}, "stage": stage},
    }


@pytest.fixture
def dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Given a build: the page, a fingerprinted script and style, an icon and a PNG."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(PAGE)
    (tmp_path / "assets" / "app-ABCDEFGH.js").write_text("console.log('hi')")
    (tmp_path / "assets" / "style-ABCDEFGH.css").write_text("body{}")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    (tmp_path / "shot.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    (tmp_path.parent / "secret.py").write_text("KEY = 1")
    monkeypatch.setattr(dashboard, "DIST_DIR", tmp_path)
    return tmp_path


def answered(path: str, **kwargs: Any) -> dict[str, Any]:
    response = dashboard.answer(event(path, **kwargs))
    assert response is not None, path
    return response


@pytest.mark.parametrize(
    "path",
    [
        "/ui",
        "/ui/",
        "/ui/flows",
        "/ui/flows/parallel-branches",
        "/ui/executions",
        "/ui/executions/3f2c0000-0000-4000-8000-000000000000",
        "/ui/index.html",
        "/ui/anything/at/all",
    ],
)
def test_every_page_path_is_the_page_with_its_base(dist: Path, path: str) -> None:
    response = answered(path)

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert response["headers"]["Cache-Control"] == "no-cache"
    assert response["isBase64Encoded"] is False
    assert 'content="/ui"' in response["body"]
    assert 'src="/ui/assets/app-ABCDEFGH.js"' in response["body"]
    assert "%BASE%" not in response["body"]


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/ui/assets/app-ABCDEFGH.js", "text/javascript; charset=utf-8", "console.log('hi')"),
        ("/ui/assets/style-ABCDEFGH.css", "text/css; charset=utf-8", "body{}"),
        ("/ui/favicon.svg", "image/svg+xml", "<svg/>"),
    ],
)
def test_a_built_file_is_served_with_its_type(dist: Path, path: str, content_type: str, body: str) -> None:
    response = answered(path)

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == content_type
    assert response["body"] == body
    assert response["isBase64Encoded"] is False


def test_fingerprinted_assets_are_cached_for_good_and_others_are_checked_again(dist: Path) -> None:
    assert "immutable" in answered("/ui/assets/app-ABCDEFGH.js")["headers"]["Cache-Control"]
    assert answered("/ui/favicon.svg")["headers"]["Cache-Control"] == "no-cache"


def test_a_binary_file_is_base64(dist: Path) -> None:
    response = answered("/ui/shot.png")

    assert response["headers"]["Content-Type"] == "image/png"
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == (dist / "shot.png").read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/ui/assets/app-ZZZZZZZZ.js",
        "/ui/assets/",
        "/ui/assets",
        "/ui/assets/../index.html",
        "/ui/assets/%2e%2e/%2e%2e/secret.py",
        "/ui/assets/.hidden.js",
    ],
)
def test_an_unknown_asset_is_404_in_the_api_envelope(dist: Path, path: str) -> None:
    response = answered(path)

    assert response["statusCode"] == 404
    assert response["headers"]["Content-Type"] == "application/json"
    assert json.loads(response["body"])["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ["/ui/../secret.py", "/ui/%2e%2e/secret.py", "/ui/..", "/ui/.env"])
def test_nothing_outside_the_build_is_served(dist: Path, path: str) -> None:
    response = answered(path)

    assert "KEY" not in response["body"]
    assert response["headers"]["Content-Type"] == "text/html; charset=utf-8"  # the page, for its router to say so


@pytest.mark.parametrize("path", ["/", "/health", "/flows", "/executions/x", "/uix", "/u", "/docs", "/openapi.json"])
def test_other_paths_are_not_the_dashboards(dist: Path, path: str) -> None:
    assert dashboard.answer(event(path)) is None


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_only_reads_are_the_dashboards(dist: Path, method: str) -> None:
    assert dashboard.answer(event("/ui/flows", method=method)) is None


def test_head_has_the_headers_and_no_body(dist: Path) -> None:
    response = answered("/ui/assets/app-ABCDEFGH.js", method="HEAD")

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["body"] == ""


def test_without_a_build_it_is_503_saying_to_run_make_ui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard, "DIST_DIR", tmp_path / "missing")

    for path in ("/ui", "/ui/flows/x", "/ui/assets/app-ABCDEFGH.js"):
        response = answered(path)
        assert response["statusCode"] == 503
        assert "make ui" in json.loads(response["body"])["error"]["message"]


@pytest.mark.parametrize("path", ["/ui", "/ui/executions", "/ui/assets/app-ABCDEFGH.js", "/ui/assets/nope.js"])
def test_every_answer_carries_a_strict_content_security_policy(dist: Path, path: str) -> None:
    headers = answered(path)["headers"]
    policy = dict(part.split(" ", 1) for part in headers["Content-Security-Policy"].split("; "))

    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert "unsafe-eval" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_on_a_named_stage_the_page_is_under_the_stage(dist: Path) -> None:
    response = answered("/prod/ui/flows/x", stage="prod")

    assert 'src="/prod/ui/assets/app-ABCDEFGH.js"' in response["body"]
    assert answered("/prod/ui/assets/app-ABCDEFGH.js", stage="prod")["body"] == "console.log('hi')"
    assert dashboard.answer(event("/ui/flows", stage="prod")) is None


def test_the_api_handler_answers_ui_before_its_routes(dist: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from functions.api.app import lambda_handler
    from local.apigw import http_event
    from local.auth import dev_authorizer
    from local.esm import LambdaContext

    monkeypatch.setenv("TABLE_NAME", "flow-manager")
    page = lambda_handler(http_event("GET", "/ui/executions/abc"), LambdaContext("ApiFunction"))
    anonymous = lambda_handler(http_event("POST", "/ui/flows", body=b"{}"), LambdaContext("ApiFunction"))
    posted = lambda_handler(
        http_event("POST", "/ui/flows", body=b"{}", authorizer=dev_authorizer()), LambdaContext("ApiFunction")
    )

    assert page["statusCode"] == 200  # public: no caller needed
    assert page["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert anonymous["statusCode"] == 401  # only GET under /ui is public, as in the template
    assert posted["statusCode"] == 404  # no route of the API has that path either
