"""Every route says who may call it: public, or the scopes it needs (functions/api/app.py, ROUTE_SCOPES)."""

from __future__ import annotations

from flowcore.api.identity import SCOPES
from functions.api.app import PUBLIC_ROUTES, ROUTE_SCOPES, app


def registered() -> set[tuple[str, str]]:
    return {(route.method, route.path) for routes in (app._static_routes, app._dynamic_routes) for route in routes}


def test_every_registered_route_is_public_or_has_its_scopes_listed() -> None:
    routes = registered() - {("GET", "/docs")}  # registered on the first request for it; listed all the same
    assert routes - PUBLIC_ROUTES - set(ROUTE_SCOPES) == set()
    assert {("GET", "/"), ("GET", "/health")} == PUBLIC_ROUTES


def test_every_listed_scope_is_one_of_the_four_and_every_data_route_needs_one() -> None:
    for (method, path), needed in ROUTE_SCOPES.items():
        assert needed <= SCOPES, (method, path)
        if path not in ("/openapi.json", "/docs"):
            assert needed, (method, path)
    writes = {key for key in ROUTE_SCOPES if key[0] in ("POST", "DELETE")}
    assert all(ROUTE_SCOPES[key] & {"flows:write", "executions:write"} for key in writes)
