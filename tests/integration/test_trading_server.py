"""The trading engine wired into the real server (uvicorn on 127.0.0.1, a real WebSocket
client playing the bridge, real HTTP): every command passes the order desk and the risk check
before it is queued, a refused one never reaches the client; reported fills drive positions,
P&L net of the broker's fees and the daily loss limit, which stops entries at the exact fill
and sends a flatten; the kill switch blocks and resets; a reconnecting client's report of
NinjaTrader's positions and orders is reconciled before anything new is sent."""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from orderflow.server.trading import ServerTradingParams
from orderflow.trading.params import TradingParams
from orderflow.trading.risk import RiskParams
from tests.integration.test_orders_server import wait_for
from tests.integration.test_server import Server

T0 = 1_703_545_200_000_000_000
INST = "ES 03-24"
BOOK = [{"t": T0, "side": "bid", "op": "add", "pos": 0, "price": 4810.0, "size": 5},
        {"t": T0, "side": "ask", "op": "add", "pos": 0, "price": 4810.25, "size": 7}]  # fmt: skip
#: the default broker profile's ES costs per contract and side (docs/trading.md): commission
#: 1.29; exchange 1.38 + clearing 0.10 + NFA 0.02 = 1.50 of fees
ES_COMMISSION, ES_FEES = 1.29, 1.50
ES_SIDE = ES_COMMISSION + ES_FEES  # 2.79


def make_server(**risk: Any) -> Server:
    base: dict[str, Any] = {"book_stale_ms": 0.0, "kill_on_disconnect": False,
                            "max_consecutive_losses": 0}  # fmt: skip
    params = TradingParams(risk=RiskParams(**{**base, **risk}))
    # the session calendar is the wall clock's: tests must not depend on the hour they run
    return Server(command_timeout_s=30.0, trading=params,
                  trading_server=ServerTradingParams(use_sessions=False))  # fmt: skip


class Bridge:
    """A WebSocket client that plays the bridge: hello, batches with sequence numbers, every
    command acknowledged done and kept, order reports sent as the bridge forwards them."""

    def __init__(self, server: Server, name: str = "nt8", report: bool = False) -> None:
        self.server, self.name, self.report_flag = server, name, report
        self.commands: list[dict[str, Any]] = []
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seq = 0
        self.connect()

    def connect(self) -> None:
        self.ws = connect(self.server.ws).__enter__()
        hello = {"type": "hello", "protocol": 1, "client": self.name, "report": self.report_flag}
        self.ws.send(json.dumps(hello))
        welcome = json.loads(self.ws.recv(timeout=10))
        assert welcome["type"] == "welcome"
        self.seq = welcome["last_seq"]
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while True:
                msg = json.loads(self.ws.recv())
                if msg["type"] == "command":
                    self.commands.append(msg)
                    self.ws.send(json.dumps({"type": "command_ack", "cid": msg["cid"],
                                             "command_seq": msg["command_seq"],
                                             "status": "done"}))  # fmt: skip
                else:
                    self.inbox.put(msg)
        except (ConnectionClosed, OSError):
            return

    def close(self) -> None:
        self.ws.close()
        self.thread.join(5)

    def batch(self, **fields: Any) -> dict[str, Any]:
        self.seq += 1
        self.ws.send(json.dumps({"type": "batch", "seq": self.seq, "instrument": INST,
                                 **fields}))  # fmt: skip
        while True:
            msg = self.inbox.get(timeout=10)
            if msg["type"] == "ack" and msg["seq"] == self.seq:
                return msg
            assert msg["type"] != "error", msg

    def fill(self, cid: str, action: str, qty: int, price: float, n: int) -> dict[str, Any]:
        """NinjaTrader's reports of an order that fills at once: Working, Filled, the
        execution (with no commission, as on Sim101)."""
        t = T0 + n * 1_000_000
        orders = [{"t": t, "cid": cid, "state": "Working", "quantity": qty},
                  {"t": t + 1, "cid": cid, "state": "Filled", "quantity": qty, "filled": qty,
                   "avg_fill_price": price}]  # fmt: skip
        side = "Long" if action in ("Buy", "BuyToCover") else "Short"
        execution = {"t": t + 1, "cid": cid, "execution_id": f"x-{cid}", "price": price,
                     "quantity": qty, "market_position": side}  # fmt: skip
        return self.batch(orders=orders, executions=[execution])

    def report(self, positions: list[dict[str, Any]], orders: list[dict[str, Any]]) -> None:
        self.ws.send(json.dumps({"type": "report", "t": T0, "positions": positions,
                                 "orders": orders}))  # fmt: skip

    def cids(self) -> list[str]:
        return [c["cid"] for c in self.commands]


def submit(http: httpx.Client, cid: str, action: str, qty: int, **kw: Any) -> httpx.Response:
    body = {"client": "nt8", "op": "submit", "cid": cid, "instrument": INST, "action": action,
            "order_type": "Market", "quantity": qty, **kw}  # fmt: skip
    return http.post("/api/commands", json=body)


def refused(r: httpx.Response) -> str:
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    assert details["field"] == "risk"
    return str(details["reason"])


@pytest.fixture
def server():
    s = make_server()
    yield s
    s.stop()


def test_an_order_over_the_position_limit_is_refused_and_never_sent(server):
    bridge = Bridge(server)
    bridge.batch(depth=BOOK)
    with httpx.Client(base_url=server.http) as http:
        assert submit(http, "of-1", "Buy", 2).status_code == 200
        wait_for(lambda: bridge.cids() == ["of-1"])
        # working buy 2 + a limit buy 1: worst case +3 against max_position 2
        r = submit(http, "of-2", "Buy", 1, order_type="Limit", limit_price=4809.0)
        assert refused(r) == "max_position:worst case +3/+0 vs 2"
        assert "max_position" in r.json()["error"]["message"]
        # a sell of 2 keeps the worst case within the limit: accepted, and sent
        assert submit(http, "of-3", "SellShort", 2).status_code == 200
        wait_for(lambda: bridge.cids() == ["of-1", "of-3"])
        assert http.get("/api/orders/of-2").status_code == 404  # nothing of it was queued
        risk = http.get("/api/risk").json()["clients"]["nt8"]
        assert risk["risk"]["working_orders"] == 2 and risk["reconciled"]
        assert risk["desk"]["risk_refused_max_position"] == 1
        # growing the buy to 3 by a change would pass the limit too: refused, not sent
        body = {"client": "nt8", "op": "change", "cid": "of-1", "instrument": INST,
                "quantity": 3}  # fmt: skip
        assert refused(http.post("/api/commands", json=body)) == (
            "max_order_size:3 > 2")  # fmt: skip
        assert http.post("/api/commands", json={**body, "quantity": 1}).status_code == 200
        wait_for(lambda: [c["op"] for c in bridge.commands] == ["submit", "submit", "change"])
        assert http.get("/api/risk").json()["clients"]["nt8"]["risk"]["working_orders"] == 2
        health = http.get("/health").json()
        assert health["trading"]["nt8"]["risk"]["kill"] is False
        # the order is the desk's record, its commands' status the outbox's
        one = http.get("/api/orders/of-1").json()
        assert one["command"] == "done" and one["commands"][0]["status"] == "done"
    bridge.close()
    assert "of-2" not in bridge.cids()


def test_es_round_trip_pnl_net_of_the_broker_fees(server):
    bridge = Bridge(server)
    bridge.batch(depth=BOOK)
    with httpx.Client(base_url=server.http) as http:
        assert submit(http, "of-1", "Buy", 1).status_code == 200
        wait_for(lambda: bridge.cids() == ["of-1"])
        bridge.fill("of-1", "Buy", 1, 4810.00, 1)
        # a print at 4811.00 marks the long: +4 ticks x $12.50 = $50.00 open
        bridge.batch(ticks=[{"t": T0 + 5, "price": 4811.0, "size": 1, "bid": 4810.75,
                             "ask": 4811.0}])  # fmt: skip
        risk = http.get("/api/risk").json()["clients"]["nt8"]["risk"]
        assert risk["unrealised"] == 50.0
        assert risk["realised_today"] == round(-ES_SIDE, 2) == -2.79  # the entry's costs
        assert risk["day_pnl"] == 47.21 and risk["positions"] == {"ESH4": 1}
        assert submit(http, "of-2", "Sell", 1).status_code == 200
        wait_for(lambda: bridge.cids() == ["of-1", "of-2"])
        bridge.fill("of-2", "Sell", 1, 4812.50, 2)
        # 4810.00 -> 4812.50 = 10 ticks x $12.50 = $125.00 gross; 2 sides x $2.79 = $5.58
        pos = wait_for(lambda: http.get("/api/positions").json()["positions"])
        assert pos == [{"client": "nt8", "account": "Sim101", "instrument": "ESH4",
                        "quantity": 0, "avg_price": None, "realized_ticks": 10.0,
                        "realized": 125.0, "commission": 2.58, "fees": 3.0,
                        "net_realized": 119.42, "unrealized_ticks": 0.0, "unrealized": 0.0,
                        "trade": None}]  # fmt: skip
        risk = http.get("/api/risk").json()["clients"]["nt8"]["risk"]
        assert risk["realised_today"] == 119.42 and risk["day_pnl"] == 119.42
        assert risk["equity"] == 50_119.42 and risk["positions"] == {"ESH4": 0}
        assert risk["working_orders"] == 0
    bridge.close()


def test_the_daily_loss_limit_stops_entries_at_the_crossing_fill_and_flattens():
    server = make_server(daily_loss_limit=200.0, max_position=4)
    try:
        bridge = Bridge(server)
        bridge.batch(depth=BOOK)
        with httpx.Client(base_url=server.http) as http:

            def risk() -> dict[str, Any]:
                return dict(http.get("/api/risk").json()["clients"]["nt8"]["risk"])

            # trade 1: long 1 at 4810.00, out at 4807.50: -10 ticks = -$125.00 - $5.58
            assert submit(http, "of-1", "Buy", 1).status_code == 200
            bridge.fill("of-1", "Buy", 1, 4810.00, 1)
            assert submit(http, "of-2", "Sell", 1).status_code == 200
            bridge.fill("of-2", "Sell", 1, 4807.50, 2)
            assert risk()["day_pnl"] == -130.58 and risk()["daily_stop"] is None
            # still trading: long 2 at 4810.00 (-$5.58 of costs)
            assert submit(http, "of-3", "Buy", 2).status_code == 200
            bridge.fill("of-3", "Buy", 2, 4810.00, 3)
            assert risk()["day_pnl"] == -136.16 and risk()["daily_stop"] is None
            assert risk()["flatten_requested"] is False
            # an exit of 1 fills at 4807.50: realised -$125.00 - $2.79, the other contract
            # open at -10 ticks = -$125.00: day P&L -130.58 - 5.58 - 127.79 - 125.00 = -388.95
            r = submit(http, "of-4", "Sell", 1, order_type="Limit", limit_price=4808.0)
            assert r.status_code == 200
            wait_for(lambda: "of-4" in bridge.cids())
            assert len(bridge.commands) == 4  # nothing sent but the four orders
            bridge.fill("of-4", "Sell", 1, 4807.50, 4)
            got = risk()
            assert got["daily_stop"] == "daily_loss_limit" and got["day_pnl"] == -388.95
            events = http.get("/api/risk").json()["clients"]["nt8"]["events"]
            assert events == [{"reason": "daily_loss_limit", "flatten": True,
                               "t": events[0]["t"], "detail": "-388.95"}]  # fmt: skip
            # the flatten went out at that fill: the open contract sold at market
            flat = wait_for(lambda: bridge.commands[4:])
            assert len(flat) == 1
            assert (flat[0]["action"], flat[0]["order_type"], flat[0]["quantity"]) == (
                "Sell", "Market", 1)  # fmt: skip
            assert flat[0]["cid"].endswith(".flat") and flat[0]["instrument"] == INST
            # new entries are refused with the code; nothing is sent
            r = submit(http, "of-5", "Buy", 1)
            assert refused(r) == "daily_loss_limit:day P&L -388.95"
            # the flatten fills: flat, and no second flatten is sent
            bridge.fill(flat[0]["cid"], "Sell", 1, 4807.50, 5)
            got = risk()
            assert got["positions"] == {"ESH4": 0} and got["flatten_requested"] is False
            # its contract realised -$125.00 - $2.79 and is no longer open at -$125.00
            assert got["day_pnl"] == -391.74 and got["realised_today"] == -391.74
            time.sleep(0.3)
            assert len(bridge.commands) == 5
        bridge.close()
    finally:
        server.stop()


def test_the_kill_switch_blocks_entries_and_resets(server):
    bridge = Bridge(server)
    bridge.batch(depth=BOOK)
    with httpx.Client(base_url=server.http) as http:
        r = http.post("/api/kill", json={})
        assert r.status_code == 200 and r.json()["clients"]["nt8"]["kill"] is True
        assert refused(submit(http, "of-1", "Buy", 1)) == "kill_switch:manual"
        assert http.get("/health").json()["trading"]["nt8"]["risk"]["kill_reason"] == "manual"
        r = http.post("/api/kill/reset", json={"client": "nt8"})
        assert r.status_code == 200 and r.json()["clients"]["nt8"]["kill"] is False
        assert submit(http, "of-2", "Buy", 1).status_code == 200
        wait_for(lambda: bridge.cids() == ["of-2"])
        # with a position open, the kill switch flattens it
        bridge.fill("of-2", "Buy", 1, 4810.00, 1)
        http.post("/api/kill", json={"client": "nt8"})
        flat = wait_for(lambda: bridge.commands[1:])
        assert (flat[0]["action"], flat[0]["order_type"], flat[0]["quantity"]) == (
            "Sell", "Market", 1)  # fmt: skip
    bridge.close()


def test_a_reconnect_is_reconciled_on_the_bridges_report_before_new_orders(server):
    bridge = Bridge(server, report=True)
    bridge.batch(depth=BOOK)
    with httpx.Client(base_url=server.http) as http:
        # no report yet: the gate is shut, nothing is sent
        r = submit(http, "of-1", "Buy", 1)
        assert refused(r) == "not_reconciled"
        assert "report" in r.json()["error"]["message"]
        status = http.get("/api/risk").json()["clients"]["nt8"]
        assert status["awaiting_report"] and not status["reconciled"]
        # NinjaTrader holds long 1 at 4810.25 and a working stop of ours from before
        bridge.report(
            [{"instrument": INST, "market_position": "Long", "quantity": 1,
              "average_price": 4810.25, "account": "Sim101"}],
            [{"instrument": INST, "cid": "of-9", "state": "Working", "quantity": 1,
              "action": "Sell", "order_type": "StopMarket", "stop_price": 4805.0}],
        )  # fmt: skip
        status = wait_for(lambda: (s := http.get("/api/risk").json()["clients"]["nt8"])
                          ["reconciled"] and s)  # fmt: skip
        rec = status["last_reconcile"]
        assert rec["adopted_orders"] == ["of-9"] and rec["behavior"] == "adopt"
        assert rec["position_changes"] == [["Sim101", "ESH4", 0, 1]]
        assert status["risk"]["positions"] == {"ESH4": 1}
        engine = http.get("/api/positions").json()["positions"]
        assert (engine[0]["quantity"], engine[0]["avg_price"]) == (1, 4810.25)
        # the adopted position counts: long 1 + buy 2 = 3 > 2; so does the adopted stop (if
        # it fills, the low side is 1 - 1 = 0)
        assert refused(submit(http, "of-2", "Buy", 2)) == "max_position:worst case +3/+0 vs 2"
        assert status["risk"]["working_orders"] == 1
        assert submit(http, "of-3", "Buy", 1).status_code == 200
        wait_for(lambda: bridge.cids() == ["of-3"])
        # the connection drops and comes back: shut again until the new report, now flat
        bridge.close()
        bridge.connect()
        wait_for(lambda: not http.get("/api/risk").json()["clients"]["nt8"]["reconciled"])
        assert refused(submit(http, "of-4", "Buy", 1)) == "not_reconciled"
        bridge.report([], [])
        status = wait_for(lambda: (s := http.get("/api/risk").json()["clients"]["nt8"])
                          ["reconciled"] and s)  # fmt: skip
        rec = status["last_reconcile"]
        assert rec["position_changes"] == [["Sim101", "ESH4", 1, 0]]
        assert sorted(rec["missing_orders"]) == ["of-3", "of-9"]
        assert status["risk"]["positions"] == {"ESH4": 0} and status["reconciliations"] == 2
        assert submit(http, "of-5", "Buy", 1).status_code == 200
        wait_for(lambda: bridge.cids()[-1:] == ["of-5"])
    assert [c for c in bridge.cids() if c in ("of-1", "of-2", "of-4")] == []
    bridge.close()


def test_the_example_config_enables_the_engine_with_its_defaults():
    from orderflow.cli.serve import trading_args as _trading_args
    from orderflow.settings import load_settings
    from tests.conftest import PROJECT_ROOT

    for s in (load_settings(PROJECT_ROOT / "config.example.yaml"), load_settings(None)):
        assert _trading_args(s) == {"trading": TradingParams(),
                                    "trading_server": ServerTradingParams()}  # fmt: skip
    with pytest.raises(ValueError, match="wait_until_flat"):
        ServerTradingParams(start_behavior="later")


def test_a_kill_on_disconnect_flattens_what_the_report_says_once_reconnected():
    server = make_server(kill_on_disconnect=True, disconnect_grace_s=0.0)
    try:
        bridge = Bridge(server, report=True)
        bridge.batch(depth=BOOK)
        pos = [{"instrument": INST, "market_position": "Short", "quantity": 2,
                "average_price": 4810.25, "account": "Sim101"}]  # fmt: skip
        bridge.report(pos, [])
        with httpx.Client(base_url=server.http) as http:
            wait_for(lambda: http.get("/api/risk").json()["clients"]["nt8"]["reconciled"])
            bridge.close()  # the connection is lost: kill switch, but nothing to send it to
            risk = wait_for(lambda: (r := http.get("/api/risk").json()["clients"]["nt8"])
                            ["risk"]["kill"] and r)  # fmt: skip
            assert risk["risk"]["kill_reason"] == "connection_lost"
            assert http.get("/api/orders").json()["orders"] == []  # nothing queued blind
            bridge.connect()
            time.sleep(0.3)
            assert bridge.commands == []  # not before NinjaTrader's report
            bridge.report(pos, [])
            flat = wait_for(lambda: bridge.commands)
            assert [(c["action"], c["order_type"], c["quantity"]) for c in flat] == [
                ("BuyToCover", "Market", 2)]  # fmt: skip
            assert refused(submit(http, "of-1", "SellShort", 1)) == (
                "kill_switch:connection_lost")  # fmt: skip
        bridge.close()
    finally:
        server.stop()


def test_a_client_without_report_is_flattened_on_its_own_picture_when_it_reconnects():
    server = make_server(kill_on_disconnect=True, disconnect_grace_s=0.0)
    try:
        bridge = Bridge(server)
        bridge.batch(depth=BOOK)
        with httpx.Client(base_url=server.http) as http:
            assert submit(http, "of-1", "Buy", 1).status_code == 200
            bridge.fill("of-1", "Buy", 1, 4810.00, 1)
            bridge.close()
            wait_for(lambda: http.get("/api/risk").json()["clients"]["nt8"]["risk"]["kill"])
            assert bridge.cids() == ["of-1"]
            bridge.connect()
            flat = wait_for(lambda: bridge.commands[1:])
            assert [(c["action"], c["order_type"], c["quantity"]) for c in flat] == [
                ("Sell", "Market", 1)]  # fmt: skip
        bridge.close()
    finally:
        server.stop()


def test_a_bracket_posted_to_the_api_is_managed_by_the_desk(server):
    """op: bracket, Buy 2 at market with a stop 8 ticks and targets +8/+16 from the fill: the
    legs go out on the fill, a target fill shrinks the stop, the last one cancels it; the
    round trip nets what the ticks and the profile's costs say. Over the position limit it is
    refused like a submit, and never sent."""
    bridge = Bridge(server)
    bridge.batch(depth=BOOK)
    with httpx.Client(base_url=server.http) as http:
        body = {"client": "nt8", "op": "bracket", "cid": "b-1", "instrument": INST,
                "action": "Buy", "order_type": "Market", "quantity": 2, "stop_ticks": 8,
                "targets_ticks": [8, 16], "target_sizes": [1, 1]}  # fmt: skip
        assert http.post("/api/commands", json=body).status_code == 200
        wait_for(lambda: bridge.cids() == ["b-1"])
        too_big = {**body, "cid": "b-2", "quantity": 1}
        assert refused(http.post("/api/commands", json=too_big)) == (
            "max_position:worst case +3/+0 vs 2")  # fmt: skip
        bad = {**body, "cid": "b-3", "targets_ticks": [8, -1]}
        r = http.post("/api/commands", json=bad)
        assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "targets_ticks"
        bridge.fill("b-1", "Buy", 2, 4810.00, 1)  # the entry: the legs from 4810.00
        legs = wait_for(lambda: bridge.commands[1:4] if len(bridge.commands) >= 4 else None)
        assert [(c["cid"], c["action"], c["order_type"], c["quantity"], c["stop_price"],
                 c["limit_price"]) for c in legs] == [
            ("b-1.stop", "Sell", "StopMarket", 2, 4808.0, 0.0),
            ("b-1.tgt1", "Sell", "Limit", 1, 0.0, 4812.0),
            ("b-1.tgt2", "Sell", "Limit", 1, 0.0, 4814.0)]  # fmt: skip
        bridge.fill("b-1.tgt1", "Sell", 1, 4812.00, 2)
        change = wait_for(lambda: [c for c in bridge.commands if c["op"] == "change"])
        assert (change[0]["cid"], change[0]["quantity"]) == ("b-1.stop", 1)
        bridge.fill("b-1.tgt2", "Sell", 1, 4814.00, 3)
        wait_for(lambda: any(c["op"] == "cancel" and c["cid"] == "b-1.stop"
                             for c in bridge.commands))  # fmt: skip
        pos = wait_for(lambda: [p for p in http.get("/api/positions").json()["positions"]
                                if p["quantity"] == 0 and p["net_realized"]])  # fmt: skip
        # +8 and +16 ticks of 12.50, less 4 sides of commission and fees
        assert pos[0]["net_realized"] == round(8 * 12.5 + 16 * 12.5 - 4 * ES_SIDE, 2)
        risk = http.get("/api/risk").json()["clients"]["nt8"]["risk"]
        assert risk["working_orders"] == 1  # the cancel of the stop is not yet confirmed
    bridge.close()
