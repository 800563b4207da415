"""Account and health in the viewer stream, on the real server with a real bridge client
(``OrderflowClient`` playing NinjaTrader's part): a filled market order and a working limit
order show as the position, fills and working orders that /api/positions and /api/orders
give; the kill switch (POST /api/kill, its token rule unchanged) shows as the risk state with
its reason. A sequence gap shows as a stale book, a gap and its alert."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import msgspec
import pytest
from websockets.sync.client import connect

from orderflow.client import OrderflowClient
from orderflow.protocol import OrderUpdate
from tests.integration.test_orders_server import BOOK, SUBMIT, T0, FakeBroker
from tests.integration.test_server import Server, esh4_batches
from tests.integration.test_view_stream import Watcher
from tests.serving import manual_trading

pytestmark = pytest.mark.slow


def latest(w: Watcher, key: str, check: Any = bool, timeout: float = 10.0) -> Any:
    """The latest value of ``key`` the viewer was sent, once ``check`` holds for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for _, frame in reversed(w.frames):
            if key in frame:
                if check(frame[key]):
                    return frame[key]
                break
        time.sleep(0.05)
    raise AssertionError(f"no {key} that holds")


def test_the_account_in_the_stream_is_the_apis() -> None:
    server = Server(command_timeout_s=30.0, **manual_trading())
    broker = FakeBroker()
    got: dict[str, Any] = {}

    async def main() -> None:
        async with OrderflowClient(server.ws, "nt8", on_command=broker,
                                   backoff=(0.01, 0.1)) as c:  # fmt: skip
            broker.client = c
            await c.send_batch(BOOK)
            await c.drain(10)
            w = Watcher(server.ws + "/view?instrument=ESH4")
            got["watcher"] = w
            async with httpx.AsyncClient(base_url=server.http) as http:
                r = await http.post("/api/commands", json={"client": "nt8", **SUBMIT})
                assert r.status_code == 200, r.text
                while not broker.executed:
                    await asyncio.sleep(0.01)
                await broker.report(broker.executed[0], 4810.25)
                limit = {**SUBMIT, "cid": "of-2", "order_type": "Limit", "limit_price": 4800.0,
                         "quantity": 1}  # fmt: skip
                r = await http.post("/api/commands", json={"client": "nt8", **limit})
                assert r.status_code == 200, r.text
                while len(broker.executed) < 2:
                    await asyncio.sleep(0.01)
                working = OrderUpdate(t=T0 + 20, cid="of-2", state="Working", quantity=1,
                                      order_id="nt-2")  # fmt: skip
                await c.add("ES 03-24", orders=[working])
                await c.drain(10)
                await asyncio.sleep(1.2)  # account is re-read every half second
                got["positions"] = (await http.get("/api/positions")).json()["positions"]
                got["orders"] = (await http.get("/api/orders")).json()["orders"]
                got["account"] = latest(w, "account", lambda a: a["working"] and a["position"])
                r = await http.post("/api/kill", json={"reason": "dashboard test"})
                assert r.status_code == 200
                got["killed"] = latest(w, "account", lambda a: a["risk"]["kill"])

    try:
        asyncio.run(main())
    finally:
        got["watcher"].close()
        server.stop()
    acct, (pos,) = got["account"], got["positions"]
    assert acct["position"] == {"qty": pos["quantity"], "avg_price": pos["avg_price"],
                                "instrument": "ESH4"} == {"qty": 2, "avg_price": 4810.25,
                                                          "instrument": "ESH4"}  # fmt: skip
    assert acct["open_pnl"] == pytest.approx(pos["unrealized"])
    assert acct["realised"] == pytest.approx(pos["net_realized"])
    # an API order is no bracket's exit: no reason; no round trip closed yet
    assert acct["fills"] == [{"ts": T0 + 9, "side": "Buy", "qty": 2, "price": 4810.25,
                              "cid": "of-1", "reason": ""}]  # fmt: skip
    assert acct["trades"] == []
    working = [o for o in got["orders"] if not o["terminal"]]
    assert [(w["cid"], w["kind"], w["qty"], w["price"], w["state"]) for w in acct["working"]] == [
        (o["cid"], o["order_type"], o["quantity"], o["limit_price"], o["state"]) for o in working
    ] == [("of-2", "Limit", 1, 4800.0, "Working")]  # fmt: skip
    assert acct["risk"] == {"state": "ok", "reasons": [], "kill": False}
    assert got["killed"]["risk"]["state"] == "killed"
    assert "dashboard test" in " ".join(got["killed"]["risk"]["reasons"])


def test_a_sequence_gap_shows_as_stale_with_its_alert() -> None:
    batches, _ = esh4_batches()
    server = Server()
    try:
        with connect(server.ws, max_size=None) as ws:
            ws.send(json.dumps({"type": "hello", "protocol": 2, "client": "nt8"}))
            ws.recv()
            for b in batches[:3]:
                ws.send(msgspec.json.encode(b).decode())
                ws.recv()
            w = Watcher(server.ws + "/view?instrument=ESH4")
            health = latest(w, "health")
            assert (health["stale"], health["gaps"], health["lag_kind"]) == (False, 0, "live")
            gap = msgspec.structs.replace(batches[4], seq=5)  # 4 never comes
            ws.send(msgspec.json.encode(gap).decode())
            ws.recv()
            health = latest(w, "health", lambda h: h["stale"])
            w.close()
        assert health["gaps"] == 1 and health["stale_reason"] == "gap"
        assert any(a["kind"] == "stale_book" and "gap" in a["message"] for a in health["alerts"])
        book = [f["book"] for _, f in w.frames if "book" in f][-1]
        assert book["stale"] is True
    finally:
        server.stop()
