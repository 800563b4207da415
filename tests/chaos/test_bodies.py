"""Body shapes the fuzzer (``test_fuzz.py``) found answered 500 or closed 1011, each as a
regression test against the real application on 127.0.0.1: a JSON body that is not an object,
or is nested deeper than the decoder recurses, is a 400 naming ``body`` (``message`` over the
WebSocket), and the connection stays usable."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.sync.client import connect

from orderflow.server.trading import ServerTradingParams
from orderflow.trading.params import TradingParams
from tests.integration.test_server import Server

DEEP = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
NOT_OBJECTS = [b"-1", b"[]", b"null", b"true", b"4810.25", b"9223372036854775808", b'"x"',
               b"[[[[[[[[[[1]]]]]]]]]]"]  # fmt: skip


@pytest.fixture(scope="module")
def server():
    s = Server(trading=TradingParams(), trading_server=ServerTradingParams())
    yield s
    s.stop()


@pytest.mark.parametrize("route", ["/api/kill", "/api/kill/reset"])
@pytest.mark.parametrize("body", NOT_OBJECTS)
def test_a_kill_switch_body_that_is_not_an_object_is_a_400_naming_body(server, route, body):
    with httpx.Client(base_url=server.http) as http:
        r = http.post(route, content=body)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["details"]["field"] == "body"
        assert http.get("/health").status_code == 200  # the same connection still serves


@pytest.mark.parametrize(
    ("body", "field"),
    [({"client": {"t": 1}}, "client"), ({"client": ""}, "client"),
     ({"client": "x" * 65}, "client"), ({"reason": True}, "reason"),
     ({"reason": ["a"]}, "reason"), ({"reason": "x" * 201}, "reason")],
)  # fmt: skip
def test_a_kill_switch_field_of_the_wrong_kind_is_a_400_naming_it(server, body, field):
    r = httpx.post(f"{server.http}/api/kill", content=json.dumps(body))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"]["field"] == field
    status = httpx.get(f"{server.http}/api/risk").json()["clients"]
    assert not any(c["risk"]["kill"] for c in status.values())  # nothing was engaged


def test_the_kill_switch_still_engages_and_resets_with_a_proper_body(server):
    r = httpx.post(f"{server.http}/api/kill", json={"client": "nt8", "reason": "test"})
    assert r.status_code == 200, r.text
    assert r.json()["clients"]["nt8"]["kill"]
    assert r.json()["clients"]["nt8"]["kill_reason"] == "test"
    r = httpx.post(f"{server.http}/api/kill/reset", json={"client": "nt8"})
    assert r.status_code == 200, r.text
    assert not r.json()["clients"]["nt8"]["kill"]


@pytest.mark.parametrize("route", ["/api/commands", "/api/kill", "/api/kill/reset"])
def test_a_body_nested_too_deeply_is_a_400_not_a_500(server, route):
    r = httpx.post(f"{server.http}{route}", content=DEEP)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == {"code": "bad_request", "message": "body: nested too deeply",
                                 "details": {"field": "body"}}  # fmt: skip


@pytest.mark.parametrize("body", NOT_OBJECTS)
def test_a_command_body_that_is_not_an_object_is_a_400_naming_body(server, body):
    r = httpx.post(f"{server.http}/api/commands", content=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"]["field"] == "body"


def test_a_websocket_frame_nested_too_deeply_gets_an_error_and_the_connection_stays(server):
    with connect(server.ws, max_size=None) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "deep"}))
        assert json.loads(ws.recv())["type"] == "welcome"
        ws.send(DEEP.decode())
        error = json.loads(ws.recv())
        assert error == {"type": "error", "field": "message", "seq": None, "code": "bad_request",
                         "reason": "message: nested too deeply"}  # fmt: skip
        ws.send(json.dumps({"type": "heartbeat", "t": 7}))
        assert json.loads(ws.recv()) == {"type": "heartbeat", "t": 7}
