"""The app is built from one router per resource, and ``/openapi.json`` (what ``/docs`` shows)
documents the bodies of the ingest routes and of ``/api/commands`` field by field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import Mount

from orderflow.server import ws
from orderflow.server.app import create_app
from orderflow.server.routes import (
    ROUTERS,
    account,
    commands,
    ingest,
    journal,
    market,
    ops,
    results,
    view,
)
from orderflow.server.threaded import ThreadedServer

#: every URL the server answers, by the router that holds it
URLS = {
    ingest: {("POST", "/l2_update"), ("POST", "/bar_update"), ("POST", "/order_update")},
    commands: {("POST", "/api/commands"), ("GET", "/api/orders"), ("GET", "/api/orders/{cid}")},
    account: {
        ("GET", "/api/positions"),
        ("GET", "/api/risk"),
        ("POST", "/api/kill"),
        ("POST", "/api/kill/reset"),
    },
    market: {
        ("GET", "/api/book/{instrument}"),
        ("GET", "/api/analytics/{instrument}"),
        ("GET", "/api/state/{instrument}"),
        ("GET", "/api/bars/{instrument}"),
    },
    ops: {("GET", "/health"), ("GET", "/metrics")},
    journal: {("GET", f"/api/journal/{w}") for w in ("trades", "pnl", "stats", "events")},
    view: {("GET", "/api/view/instruments"), ("GET", "/api/replay"), ("POST", "/api/replay")}
    | {("GET", f"/api/view/{{instrument}}/{w}") for w in ("bars", "heat", "prints", "signals")},
    results: {("GET", "/api/results"), ("GET", "/api/results/{name}")},
}


def _routes(routes: list[Any]) -> set[tuple[str, str]]:
    return {(m, r.path) for r in routes if isinstance(r, APIRoute) for m in r.methods}


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    srv = ThreadedServer(create_app())
    try:
        got = httpx.get(f"{srv.http}/openapi.json", timeout=30)
        assert got.status_code == 200
        assert httpx.get(f"{srv.http}/docs", timeout=30).status_code == 200
        return got.json()  # type: ignore[no-any-return]
    finally:
        srv.stop()


def test_each_resource_router_holds_its_urls_and_the_app_mounts_them_all(openapi):
    assert sorted(map(id, ROUTERS)) == sorted(id(m.router) for m in URLS)
    for module, urls in URLS.items():
        assert _routes(module.router.routes) == urls, module.__name__
    served = {(m.upper(), path) for path, ops in openapi["paths"].items() for m in ops}
    assert served == set().union(*URLS.values())
    assert [r.path for r in ws.router.routes if isinstance(r, APIWebSocketRoute)] == ["/ws"]
    app = create_app()
    # the routes themselves, as the token matrix walks them; and the dashboard's page (not an
    # API: left out of the schema), its static files mounted beside
    assert _routes(app.routes) == served | {("GET", "/")}
    assert [r.path for r in app.routes if isinstance(r, Mount)] == ["/static"]
    assert [r.path for r in app.routes if isinstance(r, APIWebSocketRoute)] == ["/ws/view", "/ws"]
    assert app.state.server.hub is app.state.hub  # one typed state; the parts as before


def _schema(doc: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    name = ref["$ref"].rsplit("/", 1)[-1]
    return doc["components"]["schemas"][name]  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", ["/l2_update", "/bar_update", "/order_update"])
def test_openapi_documents_the_batch_and_its_ack(openapi, path):
    op = openapi["paths"][path]["post"]
    batch = _schema(openapi, op["requestBody"]["content"]["application/json"]["schema"])
    assert {"instrument", "seq", "snapshot", "depth", "columns", "ticks", "bars", "orders",
            "executions", "positions"} <= set(batch["properties"])  # fmt: skip
    assert batch["required"] == ["instrument"]  # over REST the tag may be left out
    depth = _schema(openapi, batch["properties"]["depth"]["items"])
    assert set(depth["properties"]) >= {"t", "side", "op", "pos", "price", "size"}
    execution = _schema(openapi, batch["properties"]["executions"]["items"])
    assert {"price", "quantity"} <= set(execution["properties"])
    ack = _schema(openapi, op["responses"]["200"]["content"]["application/json"]["schema"])
    assert {"seq", "instrument", "applied", "rejected", "stale", "book", "metrics",
            "signals"} <= set(ack["properties"])  # fmt: skip
    refusal = _schema(openapi, op["responses"]["409"]["content"]["application/json"]["schema"])
    assert _schema(openapi, refusal["properties"]["error"])["required"] == [
        "code", "message", "details"]  # fmt: skip


def test_openapi_documents_the_command_body_and_its_answer(openapi):
    op = openapi["paths"]["/api/commands"]["post"]
    body = _schema(openapi, op["requestBody"]["content"]["application/json"]["schema"])
    assert {"client", "instrument", "op", "cid", "action", "order_type", "quantity",
            "limit_price", "stop_price", "oco", "series"} <= set(body["properties"])  # fmt: skip
    assert set(body["properties"]["op"]["enum"]) == {"submit", "bracket", "change", "cancel"}
    answer = _schema(openapi, op["responses"]["200"]["content"]["application/json"]["schema"])
    command = _schema(openapi, answer["properties"]["command"])
    assert {"command_seq", "op", "cid", "instrument"} <= set(command["properties"])
    assert {"409", "413", "422", "503"} <= set(op["responses"])
