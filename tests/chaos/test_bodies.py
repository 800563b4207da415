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
from tests.serving import http

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
    r = http().post(f"{server.http}/api/kill", content=json.dumps(body))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"]["field"] == field
    status = http().get(f"{server.http}/api/risk").json()["clients"]
    assert not any(c["risk"]["kill"] for c in status.values())  # nothing was engaged


def test_the_kill_switch_still_engages_and_resets_with_a_proper_body(server):
    r = http().post(f"{server.http}/api/kill", json={"client": "nt8", "reason": "test"})
    assert r.status_code == 200, r.text
    assert r.json()["clients"]["nt8"]["kill"]
    assert r.json()["clients"]["nt8"]["kill_reason"] == "test"
    r = http().post(f"{server.http}/api/kill/reset", json={"client": "nt8"})
    assert r.status_code == 200, r.text
    assert not r.json()["clients"]["nt8"]["kill"]


@pytest.mark.parametrize("route", ["/api/commands", "/api/kill", "/api/kill/reset"])
def test_a_body_nested_too_deeply_is_a_400_not_a_500(server, route):
    r = http().post(f"{server.http}{route}", content=DEEP)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == {"code": "bad_request", "message": "body: nested too deeply",
                                 "details": {"field": "body"}}  # fmt: skip


@pytest.mark.parametrize("body", NOT_OBJECTS)
def test_a_command_body_that_is_not_an_object_is_a_400_naming_body(server, body):
    r = http().post(f"{server.http}/api/commands", content=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"]["field"] == "body"


def test_a_websocket_frame_nested_too_deeply_gets_an_error_and_the_connection_stays(server):
    with connect(server.ws, max_size=None) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "deep"}))
        assert json.loads(ws.recv())["type"] == "welcome"
        ws.send(DEEP.decode())
        error = json.loads(ws.recv())
        assert error == {"type": "error", "field": "message", "seq": None, "code": "bad_request",
                         "reason": "message: nested too deeply", "status": None}  # fmt: skip
        ws.send(json.dumps({"type": "heartbeat", "t": 7}))
        assert json.loads(ws.recv()) == {"type": "heartbeat", "t": 7}


@pytest.mark.parametrize("field", ["stop_price", "limit_price"])
@pytest.mark.parametrize("price", [9223372036854775807, -695438802315674214244, 1e300, 1e18])
def test_an_order_price_no_market_has_is_a_400_naming_it_and_nothing_is_sent(field, price):
    """A stop at 9.2e18 used to go out to NinjaTrader as a command."""
    s = Server(trading=TradingParams(),
               trading_server=ServerTradingParams(use_sessions=False))  # fmt: skip
    try:
        with connect(s.ws) as ws, httpx.Client(base_url=s.http) as http:
            ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "nt8"}))
            assert json.loads(ws.recv())["type"] == "welcome"
            batch = {"instrument": "ES 03-24", "depth": [{"t": 1703545200000000000, "side": "bid",
                     "op": "add", "pos": 0, "price": 4810.0, "size": 5}]}  # fmt: skip
            assert http.post("/l2_update", json=batch).status_code == 200
            kind = "StopMarket" if field == "stop_price" else "Limit"
            body = {"client": "nt8", "instrument": "ES 03-24", "op": "submit", "cid": "c1",
                    "action": "Sell", "quantity": 1, "order_type": kind, field: price}  # fmt: skip
            r = http.post("/api/commands", json=body)
            assert r.status_code == 400, r.text
            assert r.json()["error"]["details"]["field"] == field
            assert r.json()["error"]["message"] == f"{field}: {price} is not a price of ES"
            assert http.get("/api/orders").json()["orders"] == []
            body[field] = 4812.5 if field == "stop_price" else 4809.5
            assert http.post("/api/commands", json=body).status_code == 200  # a real one goes
    finally:
        s.stop()


def test_the_analytics_of_a_one_sided_book_answer_with_null_not_a_500(server):
    """The mid of a book with bids only is undefined (NaN): it is null in the answer."""
    batch = {"instrument": "NQ 03-24", "depth": [{"t": 1703545200000000000, "side": "bid",
             "op": "add", "pos": 0, "price": 16800.0, "size": 5}]}  # fmt: skip
    assert http().post(f"{server.http}/l2_update", json=batch).status_code == 200
    r = http().get(f"{server.http}/api/analytics/NQH4")
    assert r.status_code == 200, r.text
    book = r.json()["book"]
    assert book["mid"] is None and book["microprice"] is None
    assert book["walls"] == [] or all(w["side"] == "bid" for w in book["walls"])


@pytest.mark.parametrize("t", [10**30, 2**63, 2**64 - 1])
def test_a_report_time_beyond_int64_does_not_stop_the_journal_and_every_order(tmp_path, t):
    """A ``report`` whose ``t`` no clock can hold is refused before it reaches the journal:
    kept among the journal's pending records, it would fail every later commit, and every
    command (a flatten too) would be refused with 503 until a restart."""
    s = Server(trading=TradingParams(), trading_server=ServerTradingParams(use_sessions=False),
               journal=tmp_path / "journal.sqlite")  # fmt: skip
    try:
        with connect(s.ws) as ws, httpx.Client(base_url=s.http) as http:
            ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "nt8", "report": True}))
            assert json.loads(ws.recv())["type"] == "welcome"
            long1 = [{"instrument": "ES 03-24", "market_position": "Long", "quantity": 1,
                      "average_price": 4810.25, "account": "Sim101"}]  # fmt: skip
            ws.send(json.dumps({"type": "report", "t": t, "positions": long1, "orders": []}))
            ws.send(json.dumps({"type": "report", "t": 0, "positions": long1, "orders": []}))
            ws.send(json.dumps({"type": "heartbeat", "t": 1}))
            while json.loads(ws.recv())["type"] != "heartbeat":
                pass
            batch = {"instrument": "ES 03-24", "depth": [{"t": 1703545200000000000, "side": "bid",
                     "op": "add", "pos": 0, "price": 4810.0, "size": 5}]}  # fmt: skip
            assert http.post("/l2_update", json=batch).status_code == 200
            body = {"client": "nt8", "instrument": "ES 03-24", "op": "submit", "cid": "c1",
                    "action": "Sell", "quantity": 1, "order_type": "Limit",
                    "limit_price": 4811.0}  # fmt: skip
            r = http.post("/api/commands", json=body)
            assert r.status_code == 200, r.text
            assert http.get("/health").json()["journal"]["ok"]
    finally:
        s.stop()
