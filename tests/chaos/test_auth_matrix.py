"""The token on every route, tried as an attacker would: with a token set, every route of the
application (enumerated from ``app.routes``, so a route added later is covered without
touching this file) answers 401 with the one error body to a request without the token, with a
wrong one, or with a malformed one in any header form; with the right token it is not refused.
``/health`` without the token says only whether the server is alive. The WebSocket refuses the
same tokens, at the upgrade or in its hello. Then ``orderflow serve`` itself: the token from a
private file or the environment, never on its command line; a file others may read refused."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route, WebSocketRoute
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from orderflow.client.ws import RestClient
from orderflow.protocol import Batch
from orderflow.server.app import create_app
from orderflow.server.routes.web import STATIC_DIR, WEB_DIR
from orderflow.server.threaded import ThreadedServer
from orderflow.server.trading import ServerTradingParams
from orderflow.trading.params import TradingParams
from tests.serving import Serve, fresh_connections, http, write_config

TOKEN = "s3cret-Token_for.the~matrix"
REFUSAL = {"error": {"code": "bad_request", "message": "token: missing or wrong",
                     "details": {"field": "token"}}}  # fmt: skip

#: request headers that must be refused (name -> headers)
BAD: dict[str, list[tuple[str, bytes]]] = {
    "none": [],
    "wrong": [("x-orderflow-token", b"wrong")],
    "empty": [("x-orderflow-token", b"")],
    "prefix": [("x-orderflow-token", TOKEN[:-1].encode())],
    "longer": [("x-orderflow-token", TOKEN.encode() + b"x")],
    "case": [("x-orderflow-token", TOKEN.upper().encode())],
    "over_long": [("x-orderflow-token", b"A" * 8000)],
    "odd_bytes": [("x-orderflow-token", b"\xff\xfe\x80" + TOKEN.encode())],
    "bearer_wrong": [("authorization", b"Bearer x")],
    "bearer_empty": [("authorization", b"Bearer")],
    "basic": [("authorization", b"Basic " + TOKEN.encode())],
    "bare": [("authorization", TOKEN.encode())],
    "right_and_wrong": [("x-orderflow-token", TOKEN.encode()), ("authorization", b"Bearer x")],
}
GOOD: dict[str, list[tuple[str, bytes]]] = {
    "header": [("x-orderflow-token", TOKEN.encode())],
    "bearer": [("authorization", b"Bearer " + TOKEN.encode())],
}
PARAMS = {"instrument": "ESH4", "cid": "no-such-order", "path": "x"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("auth")
    app = create_app(token=TOKEN, record_dir=folder / "recordings", trading=TradingParams(),
                     trading_server=ServerTradingParams(use_sessions=False),
                     journal=folder / "journal.sqlite")  # fmt: skip
    s = ThreadedServer(app)
    yield s
    s.stop()
    for client in _clients.values():
        client.close()
    _clients.clear()


def http_routes(app: Any) -> list[tuple[str, str]]:
    """(method, concrete path) of every HTTP route of ``app``."""
    out = []
    for route in app.routes:
        if isinstance(route, APIRoute | Route) and not isinstance(route, WebSocketRoute):
            path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: PARAMS.get(m.group(1), "x"), route.path)
            out += [(method, path) for method in sorted(route.methods or ()) if method != "HEAD"]
    return out


def ws_routes(app: Any) -> list[str]:
    return [r.path for r in app.routes if isinstance(r, WebSocketRoute)]


#: one client per server, a new connection for each request (tests/serving.py): the matrix
#: sends some 500 requests, and building a client for each cost 20 ms of CPU apiece
_clients: dict[str, httpx.Client] = {}


def request(server: Any, method: str, path: str, headers: list[tuple[str, bytes]]) -> Any:
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    if server.http not in _clients:
        _clients[server.http] = fresh_connections(base_url=server.http, timeout=10)
    return _clients[server.http].request(method, path, headers=headers, content=body)


def test_the_matrix_covers_every_route(server: Any) -> None:
    routes = http_routes(server.app)
    paths = {p for _, p in routes}
    # what an attacker read without the token before, and FastAPI's own pages
    for must in ("/api/positions", "/api/orders", "/api/risk", "/api/book/ESH4", "/metrics",
                 "/docs", "/openapi.json", "/api/journal/events", "/health"):  # fmt: skip
        assert must in paths, must
    assert sorted(ws_routes(server.app)) == ["/ws", "/ws/view"]


@pytest.mark.parametrize("bad", sorted(BAD))
def test_every_route_refuses_a_missing_wrong_or_malformed_token(server: Any, bad: str) -> None:
    for method, path in http_routes(server.app):
        r = request(server, method, path, BAD[bad])
        if path == "/health":  # liveness only, and no detail
            assert (r.status_code, r.json()) == (200, {"status": "ok"}), (bad, r.text)
            continue
        if path == "/":  # the dashboard's page: a static file, no data in it
            assert r.status_code == 200 and r.text == (WEB_DIR / "index.html").read_text()
            continue
        assert r.status_code == 401, (bad, method, path, r.status_code, r.text[:200])
        assert r.json() == REFUSAL, (bad, method, path)
        assert r.headers["www-authenticate"].startswith("Bearer")


def test_the_dashboards_static_files_need_no_token_and_its_data_does(server: Any) -> None:
    """A browser cannot send a header when it navigates: the page and its files are open
    (they hold no data); the stream's backfill and everything that acts are not."""
    for path in ("/static/app.js", "/static/vendor/MANIFEST.json"):
        r = request(server, "GET", path, BAD["none"])
        assert r.status_code == 200 and r.content == (STATIC_DIR / path[8:]).read_bytes()
    for method, path in (("GET", "/static/../api/positions"), ("GET", "/staticx"),
                         ("POST", "/api/kill"), ("GET", "/api/book/ESH4")):  # fmt: skip
        r = request(server, method, path, BAD["none"])
        assert r.status_code in (401, 404), (path, r.status_code)
        assert r.status_code == 401 or path.startswith("/static"), path


@pytest.mark.parametrize("good", sorted(GOOD))
def test_every_route_lets_the_right_token_through(server: Any, good: str) -> None:
    for method, path in http_routes(server.app):
        r = request(server, method, path, GOOD[good])
        assert r.status_code != 401 and r.status_code < 500, (good, method, path, r.text[:200])
    health = request(server, "GET", "/health", GOOD[good]).json()
    assert health["status"] == "ok" and "instruments" in health and "version" in health
    positions = request(server, "GET", "/api/positions", GOOD[good])
    assert positions.status_code == 200 and "positions" in positions.json()


def hello(token: str | None) -> str:
    return json.dumps({"type": "hello", "protocol": 1, "client": "matrix",
                       **({"token": token} if token is not None else {})})  # fmt: skip


@pytest.mark.parametrize("given", [None, "", "wrong", TOKEN[:-1], TOKEN + "x", "é" + TOKEN,
                                   "A" * 8000])  # fmt: skip
def test_the_websocket_refuses_a_hello_without_the_right_token(server: Any, given: Any) -> None:
    with connect(server.ws) as ws:
        ws.send(hello(given))
        answer = json.loads(ws.recv(timeout=10))
        assert answer["type"] == "error" and answer["code"] == "unauthorised", answer
        with pytest.raises(Exception):  # noqa: B017 - closed by the server (1008)
            ws.recv(timeout=10)


@pytest.mark.parametrize("bad", sorted(set(BAD) - {"none"}))
def test_the_websocket_upgrade_refuses_a_wrong_token_header(server: Any, bad: str) -> None:
    headers = [(k, v.decode("latin-1")) for k, v in BAD[bad]]
    with pytest.raises(InvalidStatus) as err:
        connect(server.ws, additional_headers=headers, open_timeout=10)
    assert err.value.response.status_code == 401
    assert json.loads(err.value.response.body) == REFUSAL


@pytest.mark.parametrize("how", ["hello", "header", "bearer"])
def test_the_websocket_takes_the_right_token(server: Any, how: str) -> None:
    headers = [(k, v.decode()) for k, v in GOOD.get(how, [])]
    with connect(server.ws, additional_headers=headers) as ws:
        ws.send(hello(TOKEN if how == "hello" else None))
        answer = json.loads(ws.recv(timeout=10))
        assert answer["type"] == "welcome", answer


# ---- orderflow serve: where the token comes from ---------------------------------------------
BATCH = {
    "instrument": "ES 03-24", "seq": 1,
    "depth": [{"t": 1_703_545_200_000_000_000, "side": "bid", "op": "add", "pos": 0,
               "price": 4810.25, "size": 7}],
}  # fmt: skip


def token_file(folder: Path, mode: int = 0o600, text: str = TOKEN + "\n") -> Path:
    path = folder / "token"
    path.write_text(text)
    path.chmod(mode)
    return path


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_serve_takes_the_token_from_a_private_file_and_never_shows_it(tmp_path: Path) -> None:
    write_config(tmp_path)
    path = token_file(tmp_path)
    s = Serve(tmp_path, args=("--token-file", str(path)))
    try:
        assert TOKEN not in cmdline(s.proc.pid)
        assert http().get(f"{s.http}/api/risk").status_code == 401
        assert http().get(f"{s.http}/health").json() == {"status": "ok"}
        r = http().get(f"{s.http}/api/risk", headers={"authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and "clients" in r.json()
        with RestClient(s.http, token_file=path) as client:  # the Python client reads it too
            ack = client.post_batch(msgspec.convert(BATCH, Batch))
        assert ack.seq == 1 and ack.rejected == {}
    finally:
        s.stop()


def test_serve_takes_the_token_from_the_environment(tmp_path: Path) -> None:
    write_config(tmp_path)
    s = Serve(tmp_path, env={"ORDERFLOW_SERVER__TOKEN": TOKEN})
    try:
        assert TOKEN not in cmdline(s.proc.pid)
        assert http().get(f"{s.http}/metrics").status_code == 401
        r = http().get(f"{s.http}/metrics", headers={"x-orderflow-token": TOKEN})
        assert r.status_code == 200 and "orderflow_batches" in r.text
    finally:
        s.stop()


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_serve_refuses_a_token_file_others_may_read(tmp_path: Path) -> None:
    server = {"record_dir": str(tmp_path / "recordings"),
              "token_file": str(token_file(tmp_path, 0o644))}  # fmt: skip
    write_config(tmp_path, {"server": server})
    s = Serve(tmp_path, expect_exit=True)
    out = s.output()
    assert s.returncode == 2, out
    assert "server.token_file" in out and "chmod 600" in out and TOKEN not in out


def test_serve_refuses_an_empty_token(tmp_path: Path) -> None:
    write_config(tmp_path)
    s = Serve(tmp_path, env={"ORDERFLOW_SERVER__TOKEN": ""}, expect_exit=True)
    out = s.output()
    assert s.returncode == 2 and "server.token" in out and "empty" in out, out
