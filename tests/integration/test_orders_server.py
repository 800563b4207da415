"""Order commands and order reports through the real server (uvicorn on 127.0.0.1, real
WebSocket and HTTP clients): a command posted to ``/api/commands`` reaches the connected client
with its client id, is executed once and acknowledged, even when the connection dies between
execution and acknowledgement; NinjaTrader's order updates and fills come back in sequenced
batches and count once; unanswered commands time out visibly; HistoricalOnly refuses orders;
rate limits slow or refuse floods; a client that stops reading is dropped, nobody else is."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time

import httpx
import msgspec
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from orderflow.client import OrderflowClient
from orderflow.protocol import Batch, Command, Depth, Execution, OrderUpdate, PositionUpdate
from orderflow.server.limits import Limits
from tests.integration.test_server import Server
from tests.serving import manual_trading

T0 = 1_703_545_200_000_000_000
BOOK = Batch(instrument="ES 03-24", depth=[
    Depth(t=T0, side="bid", op="add", pos=0, price=4810.0, size=5),
    Depth(t=T0, side="ask", op="add", pos=0, price=4810.25, size=7),
])  # fmt: skip
SUBMIT = {"op": "submit", "cid": "of-1", "instrument": "ES 03-24", "action": "Buy",
          "order_type": "Market", "quantity": 2}  # fmt: skip


@pytest.fixture
def server():
    s = Server(command_timeout_s=30.0, **manual_trading())
    yield s
    s.stop()


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


class FakeBroker:
    """An executor that plays NinjaTrader's part the way the bridge does: it records the
    command and queues the order updates, the fill and the position a market order gets."""

    def __init__(self) -> None:
        self.executed: list[Command] = []
        self.client: OrderflowClient | None = None
        self.die_once = False

    def __call__(self, cmd: Command) -> tuple[str, str]:
        self.executed.append(cmd)
        if self.die_once:  # the connection dies after the call, before the ack goes out
            self.die_once = False
            assert self.client is not None and self.client.connection is not None
            self.client.connection.transport.abort()
        return "done", ""

    async def report(self, cmd: Command, price: float) -> None:
        assert self.client is not None
        states = ("Submitted", "Accepted", "Working")
        orders = [OrderUpdate(t=T0 + i, cid=cmd.cid, state=s, quantity=cmd.quantity,
                              order_id=f"nt-{cmd.command_seq}")
                  for i, s in enumerate(states)]  # fmt: skip
        orders.append(OrderUpdate(t=T0 + 9, cid=cmd.cid, state="Filled", quantity=cmd.quantity,
                                  filled=cmd.quantity, avg_fill_price=price))  # fmt: skip
        fill = Execution(t=T0 + 9, cid=cmd.cid, execution_id=f"x-{cmd.cid}", price=price,
                         quantity=cmd.quantity, market_position="Long")  # fmt: skip
        pos = PositionUpdate(t=T0 + 9, market_position="Long", quantity=cmd.quantity,
                             average_price=price, account="Sim101")  # fmt: skip
        await self.client.add("ES 03-24", orders=orders, executions=[fill, fill],
                              positions=[pos])  # fmt: skip
        await self.client.drain(10)


def test_a_command_is_executed_once_acknowledged_and_its_fill_comes_back(server):
    broker = FakeBroker()

    async def main() -> dict:
        async with OrderflowClient(server.ws, "nt8", on_command=broker,
                                   backoff=(0.01, 0.1)) as c:  # fmt: skip
            broker.client = c
            await c.send_batch(BOOK)
            await c.drain(10)
            async with httpx.AsyncClient(base_url=server.http) as http:
                r = await http.post("/api/commands", json={"client": "nt8", **SUBMIT})
                assert r.status_code == 200, r.text
                assert r.json()["command"]["command_seq"] == 1
                while not broker.executed:
                    await asyncio.sleep(0.01)
                await broker.report(broker.executed[0], 4810.25)
                # the connection dies between the NinjaScript call and the acknowledgement
                broker.die_once = True
                # named the server's way; the bridge gets it its own way ("ES 03-24")
                two = {"client": "nt8", **SUBMIT, "cid": "of-2", "instrument": "ESH4"}
                r = await http.post("/api/commands", json=two)
                assert r.json()["command"]["command_seq"] == 2
                for _ in range(500):
                    got = (await http.get("/api/orders/of-2")).json()
                    if got["command"] == "done":
                        break
                    await asyncio.sleep(0.02)
                assert c.stats.connects == 2 and c.stats.commands_repeated == 1
                return {
                    "orders": (await http.get("/api/orders")).json()["orders"],
                    "positions": (await http.get("/api/positions")).json()["positions"],
                }

    got = asyncio.run(main())
    assert [c.cid for c in broker.executed] == ["of-1", "of-2"]  # of-2 resent, executed once
    assert {c.instrument for c in broker.executed} == {"ES 03-24"}
    one, two = got["orders"]
    assert (one["cid"], one["command"], one["state"], one["filled"], one["avg_fill_price"]) == (
        "of-1", "done", "Filled", 2, 4810.25)  # fmt: skip
    assert one["executions"] == ["x-of-1"] and one["updates"] == 4 and one["ours"]
    assert one["commands"][0]["action"] == "Buy" and one["commands"][0]["order_type"] == "Market"
    # the desk's state before NinjaTrader reported anything of it
    assert (two["cid"], two["command"], two["state"]) == ("of-2", "done", "Initialized")
    # the desk's position, from the executions (NinjaTrader's own update agrees with it)
    assert [(p["client"], p["instrument"], p["account"], p["quantity"], p["avg_price"])
            for p in got["positions"]] == [("nt8", "ESH4", "Sim101", 2, 4810.25)]  # fmt: skip
    desk = httpx.get(f"{server.http}/api/risk").json()["clients"]["nt8"]["desk"]
    assert desk.get("position_mismatch", 0) == 0
    health = httpx.get(f"{server.http}/health").json()
    assert health["orders"]["executions_duplicate"] == 1  # the fill sent twice counted once


def test_commands_are_checked_and_need_a_connected_client(server):
    with httpx.Client(base_url=server.http) as http:
        r = http.post("/api/commands", json={"client": "nobody", **SUBMIT})
        assert r.status_code == 409 and r.json()["error"]["details"]["field"] == "client"
        with connect(server.ws) as ws:
            ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "nt8"}))
            ws.recv()
            ws.send(msgspec.json.encode(BOOK).decode())
            ws.recv()
            for body, field in [
                ({**SUBMIT, "order_type": "Limit"}, "limit_price"),
                ({**SUBMIT, "action": "Long"}, "action"),
                ({**SUBMIT, "instrument": "NQ 03-24"}, "instrument"),
                ({**SUBMIT, "op": "cancel", "cid": "unknown"}, "cid"),
            ]:
                r = http.post("/api/commands", json={"client": "nt8", **body})
                assert r.status_code == 400, body
                assert r.json()["error"]["details"]["field"] == field, body
            assert http.post("/api/commands", content=b"[1]").status_code == 400


def test_an_unanswered_command_times_out_visibly_and_is_resent_on_reconnect():
    s = Server(command_timeout_s=0.3, **manual_trading())
    try:
        with connect(s.ws) as ws:  # a bridge that reads commands but never answers
            ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "mute"}))
            ws.recv()
            ws.send(msgspec.json.encode(BOOK).decode())
            ws.recv()
            r = httpx.post(f"{s.http}/api/commands", json={"client": "mute", **SUBMIT})
            assert r.status_code == 200
            cmd = json.loads(ws.recv())
            assert (cmd["type"], cmd["cid"], cmd["op"], cmd["command_seq"]) == (
                "command", "of-1", "submit", 1)  # fmt: skip
            order = wait_for(lambda: (o := httpx.get(f"{s.http}/api/orders/of-1").json())
                             ["command"] == "timed_out" and o)  # fmt: skip
            assert order["commands"][0]["status"] == "timed_out"
        alerts = httpx.get(f"{s.http}/health").json()["alerts"]
        assert any(a["kind"] == "command_timeout" and "of-1" in a["detail"] for a in alerts)
        with connect(s.ws) as ws:  # it comes back: the command is sent again, then answered
            ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "mute"}))
            assert json.loads(ws.recv())["type"] == "welcome"
            again = json.loads(ws.recv())
            assert (again["type"], again["command_seq"]) == ("command", 1)
            refused = {"type": "command_ack", "cid": "of-1", "command_seq": 1,
                       "status": "refused", "reason": "not in State.Realtime"}  # fmt: skip
            ws.send(json.dumps(refused))
            ws.send(json.dumps({"type": "command_ack", "cid": "of-1", "command_seq": 9,
                                "status": "done"}))  # fmt: skip
            err = json.loads(ws.recv())
            assert (err["type"], err["field"]) == ("error", "command_seq")
        order = httpx.get(f"{s.http}/api/orders/of-1").json()
        assert order["commands"][0]["status"] == "refused"
        assert order["commands"][0]["reason"] == "not in State.Realtime"
    finally:
        s.stop()


def test_historical_only_refuses_orders_and_is_told_in_the_welcome():
    s = Server(flags={"historical_only": True}, **manual_trading())
    try:
        with connect(s.ws) as ws:
            ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "nt8"}))
            assert json.loads(ws.recv())["flags"] == {"historical_only": True}
            ws.send(msgspec.json.encode(BOOK).decode())
            ws.recv()
            r = httpx.post(f"{s.http}/api/commands", json={"client": "nt8", **SUBMIT})
            assert r.status_code == 400
            assert r.json()["error"]["details"]["field"] == "flags.historical_only"
    finally:
        s.stop()


def test_order_reports_over_rest_count_once(server):
    body = {"instrument": "ES 03-24", "orders": [
        {"t": T0, "cid": "manual-1", "state": "Working", "quantity": 1, "limit_price": 4800.0}],
        "executions": [{"t": T0, "cid": "manual-1", "execution_id": "e-1", "price": 4800.0,
                        "quantity": 1, "market_position": "Short"}]}  # fmt: skip
    with httpx.Client(base_url=server.http) as http:
        for _ in range(2):
            ack = http.post("/order_update", json=body).json()
        assert ack["applied"]["orders"] == 1 and ack["applied"]["executions"] == 0
        order = http.get("/api/orders/manual-1").json()
        assert (order["ours"], order["filled"], order["state"]) == (False, 1, "Working")
        bad = {**body, "executions": [{**body["executions"][0], "market_position": "Up"}]}
        r = http.post("/order_update", json=bad)
        assert r.status_code == 400
        assert r.json()["error"]["details"]["field"] == "executions[0].market_position"


def test_rest_over_the_rate_limit_gets_429_and_changes_nothing():
    s = Server(limits=Limits(messages_per_s=0.1, burst_s=30.0))  # a burst of 3, then 1 per 10 s
    try:
        with httpx.Client(base_url=s.http) as http:
            codes = [http.post("/l2_update", content=msgspec.json.encode(BOOK)) for _ in range(5)]
            assert [r.status_code for r in codes] == [200, 200, 200, 429, 429]
            assert codes[3].json()["error"]["details"]["field"] == "rate"
            assert int(codes[3].headers["retry-after"]) >= 1
        assert httpx.get(f"{s.http}/health").json()["instruments"]["ESH4"]["batches"] == 3
    finally:
        s.stop()


def test_a_websocket_flood_is_closed_and_others_are_unaffected():
    """A burst of 2 messages, then one a second; the third message would wait a second, more
    than the 0.2 s allowed: an error with code rate_limited, and the connection is closed. It
    sends exactly three, so nothing lies unread when the server closes (a socket closed over
    unread data resets the connection, and the client would lose the error)."""
    s = Server(limits=Limits(messages_per_s=1.0, burst_s=2.0, max_wait_s=0.2))
    try:
        with connect(s.ws) as flood, connect(s.ws) as calm:
            flood.send(json.dumps({"type": "hello", "protocol": 1, "client": "flood"}))
            flood.recv()
            calm.send(json.dumps({"type": "hello", "protocol": 1, "client": "calm"}))
            calm.recv()
            got = []
            with pytest.raises(ConnectionClosed):
                for i in range(3):
                    flood.send(json.dumps({"type": "heartbeat", "t": i}))
                for _ in range(10):
                    got.append(json.loads(flood.recv(timeout=5)))
            assert [g["type"] for g in got] == ["heartbeat", "heartbeat", "error"]
            assert got[-1]["code"] == "rate_limited"
            calm.send(json.dumps({"type": "heartbeat", "t": 1}))
            assert json.loads(calm.recv(timeout=5)) == {"type": "heartbeat", "t": 1}
    finally:
        s.stop()


def test_a_client_that_never_reads_is_dropped_as_a_slow_consumer():
    """Its socket takes little (a small receive buffer, no compression: deflate would shrink
    the repetitive acks to a few bytes), it sends snapshot batches whose acks carry ten levels a
    side and reads nothing: once its send queue holds 16 messages the server drops it. The
    other client is answered throughout."""
    s = Server(limits=Limits(send_queue=16))
    try:
        levels = [
            Depth(t=T0, side=side, op="add", pos=i, price=price, size=5 + i)
            for side, sign in (("bid", -1), ("ask", 1))
            for i in range(10)
            for price in [4810.0 + 0.125 * (1 + sign) + sign * 0.25 * i]
        ]
        frame = msgspec.json.encode(Batch(instrument="ES 03-24", snapshot=True,
                                          depth=levels)).decode()  # fmt: skip
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # no autotuning: stays small
        raw.connect(("127.0.0.1", s.port))
        slow_ws = connect(s.ws, sock=raw, max_queue=1, compression=None, close_timeout=0.2)
        with slow_ws as slow, connect(s.ws) as ok:
            slow.send(json.dumps({"type": "hello", "protocol": 1, "client": "slow"}))

            def flood() -> None:  # blocks for good once the server stops reading: a thread
                with contextlib.suppress(ConnectionClosed, OSError):
                    for _ in range(20_000):
                        slow.send(frame)

            threading.Thread(target=flood, daemon=True).start()
            ok.send(json.dumps({"type": "hello", "protocol": 1, "client": "ok"}))
            ok.recv()
            wait_for(lambda: 'kind="slow_consumer"} 1.0' in httpx.get(f"{s.http}/metrics").text,
                     timeout=60)  # fmt: skip
            ok.send(msgspec.json.encode(msgspec.structs.replace(BOOK, seq=1)).decode())
            answer = json.loads(ok.recv(timeout=5))
            while answer["type"] == "heartbeat":  # the server's, after 5 s of silence
                answer = json.loads(ok.recv(timeout=5))
            assert (answer["type"], answer["seq"]) == ("ack", 1)
            assert list(httpx.get(f"{s.http}/health").json()["clients"]) == ["ok"]
            with contextlib.suppress(OSError):  # already closed when the server dropped it
                raw.shutdown(socket.SHUT_RDWR)  # the test's stuck sender gives up
    finally:
        s.stop()
