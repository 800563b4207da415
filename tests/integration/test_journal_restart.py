"""The restart proof: the real server (``orderflow serve`` as a subprocess, the journal and the
recordings in a temporary folder) and the real Python client playing the bridge with
``report: true``. A losing round trip, then an entry of 2 with an OCO bracket (stop and target)
whose target fills in part; the server is SIGKILLed with the position open and the stop
working, and started again on the same journal. What the engine showed before the kill is what
it shows after; every journal record written before the kill is there; the bridge reconnects,
its report of the same position and orders reconciles with no change; the pre-kill stop fills
after the restart, is matched to its cid and closes the position with the right P&L."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from orderflow.client import OrderflowClient
from orderflow.protocol import (
    Command,
    Depth,
    Execution,
    OrderUpdate,
    Report,
    ReportOrder,
    ReportPosition,
)
from tests.serving import Serve, free_port, write_config

pytestmark = pytest.mark.slow

INST = "ES 03-24"
T0 = 1_703_545_200_000_000_000
ES_SIDE = 1.29 + 1.50  # the default broker profile's ES commission and fees per contract side


class NinjaTrader:
    """The account as NinjaTrader would hold it: orders by cid and the position; commands are
    executed (acknowledged done) and kept; the report is built from this state."""

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.position = 0
        self.avg = 0.0
        self.n = 0

    def execute(self, cmd: Command) -> tuple[str, str]:
        if cmd.op == "submit":
            self.orders[cmd.cid] = {"action": cmd.action, "order_type": cmd.order_type,
                                    "quantity": cmd.quantity, "filled": 0, "state": "Submitted",
                                    "limit_price": cmd.limit_price,
                                    "stop_price": cmd.stop_price, "oco": cmd.oco}  # fmt: skip
        elif cmd.op == "change":
            self.orders[cmd.cid].update(quantity=cmd.quantity, stop_price=cmd.stop_price,
                                        limit_price=cmd.limit_price)  # fmt: skip
        else:
            self.orders[cmd.cid]["state"] = "CancelPending"
        return "done", ""

    def t(self) -> int:
        self.n += 1
        return T0 + self.n * 1_000_000

    def update(self, cid: str, state: str) -> OrderUpdate:
        o = self.orders[cid]
        o["state"] = state
        return OrderUpdate(self.t(), cid, state, o["quantity"], o["filled"],  # type: ignore[arg-type]
                           limit_price=o["limit_price"], stop_price=o["stop_price"])  # fmt: skip

    def fill(self, cid: str, qty: int, price: float) -> tuple[OrderUpdate, Execution]:
        o = self.orders[cid]
        o["filled"] += qty
        buy = o["action"] in ("Buy", "BuyToCover")
        signed = qty if buy else -qty
        if self.position == 0 or (self.position > 0) == buy:
            total = abs(self.position) + qty
            self.avg = (self.avg * abs(self.position) + price * qty) / total
        self.position += signed
        if self.position == 0:
            self.avg = 0.0
        state = "Filled" if o["filled"] == o["quantity"] else "PartFilled"
        update = self.update(cid, state)
        execution = Execution(update.t, cid, f"x-{cid}-{o['filled']}", price, qty,
                              "Long" if buy else "Short")  # fmt: skip
        return update, execution

    def report(self) -> Report:
        positions = []
        if self.position:
            positions = [ReportPosition(INST, "Long" if self.position > 0 else "Short",
                                        abs(self.position), self.avg, "Sim101")]  # fmt: skip
        working = [
            ReportOrder(INST, cid, o["state"], o["quantity"], o["filled"], o["action"],
                        o["order_type"], o["limit_price"], o["stop_price"], o["oco"],
                        account="Sim101")
            for cid, o in self.orders.items()
            if o["state"] in ("Accepted", "Working", "PartFilled")
        ]  # fmt: skip
        return Report(t=T0, positions=positions, orders=working)


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = await check()
        if got:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError("timed out waiting")


class Desk:
    """The test's side of the API and of the bridge."""

    def __init__(self, http: httpx.AsyncClient, bridge: OrderflowClient, nt: NinjaTrader):
        self.http, self.bridge, self.nt = http, bridge, nt

    async def command(self, **body: Any) -> dict[str, Any]:
        r = await self.http.post("/api/commands", json={"client": "nt8", "instrument": INST,
                                                        **body})  # fmt: skip
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def submit(self, cid: str, action: str, qty: int, kind: str = "Market",
                     **kw: Any) -> None:  # fmt: skip
        await self.command(op="submit", cid=cid, action=action, order_type=kind, quantity=qty,
                           **kw)  # fmt: skip

        async def sent() -> bool:
            return cid in self.nt.orders

        await until(sent)

    async def send(self, *reports: OrderUpdate | tuple[OrderUpdate, Execution]) -> None:
        orders, executions = [], []
        for r in reports:
            if isinstance(r, tuple):
                orders.append(r[0])
                executions.append(r[1])
            else:
                orders.append(r)
        await self.bridge.add(INST, orders=orders, executions=executions)
        await self.bridge.drain(10)

    async def risk(self) -> dict[str, Any]:
        return dict((await self.http.get("/api/risk")).json()["clients"]["nt8"])

    async def engine(self) -> list[dict[str, Any]]:
        return list((await self.http.get("/api/positions")).json()["positions"])

    async def events(self) -> list[dict[str, Any]]:
        r = await self.http.get("/api/journal/events", params={"limit": 100_000})
        assert r.status_code == 200, r.text
        return list(r.json()["events"])

    async def reconciled(self) -> dict[str, Any]:
        async def done() -> dict[str, Any] | None:
            s = await self.risk()
            return s if s["reconciled"] and not s["awaiting_report"] else None

        return dict(await until(done, 120.0))


def test_a_server_killed_mid_trade_restarts_from_its_journal(tmp_path: Path) -> None:
    write_config(tmp_path, daily_loss_limit=1000.0)
    port = free_port()
    server = Serve(tmp_path, port)
    nt = NinjaTrader()

    async def scenario() -> None:
        nonlocal server
        bridge = OrderflowClient(f"ws://127.0.0.1:{port}/ws", client="nt8", backoff=(0.05, 0.5),
                                 on_command=nt.execute, report=nt.report)  # fmt: skip
        await bridge.connect()
        async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
            desk = Desk(http, bridge, nt)
            await bridge.add(INST, depth=[Depth(T0, "bid", "add", 0, 4810.0, 5),
                                          Depth(T0, "ask", "add", 0, 4810.25, 7)])  # fmt: skip
            # a fresh clone's first batch compiles the engine's kernels in the server (no
            # numba cache yet): tens of seconds on a busy 2-core machine
            await bridge.drain(180)
            first = await desk.reconciled()
            assert first["last_reconcile"]["position_changes"] == []
            # a losing round trip: long 1 at 4810.00, out at 4807.50 (-$125.00 - $5.58)
            await desk.submit("of-1", "Buy", 1)
            await desk.send(nt.update("of-1", "Working"), nt.fill("of-1", 1, 4810.00))
            await desk.submit("of-2", "Sell", 1)
            await desk.send(nt.fill("of-2", 1, 4807.50))
            # long 2 at 4810.00 with a stop at 4805.00 and a target at 4812.00, one OCO group
            await desk.submit("of-3", "Buy", 2)
            await desk.send(nt.fill("of-3", 2, 4810.00))
            await desk.submit("of-4", "Sell", 2, "StopMarket", stop_price=4805.0, oco="b1")
            await desk.submit("of-5", "Sell", 2, "Limit", limit_price=4812.0, oco="b1")
            await desk.send(nt.update("of-4", "Working"), nt.update("of-5", "Working"))
            # the target fills 1 (+8 ticks): long 1 left; the stop is changed to cover it
            await desk.send(nt.fill("of-5", 1, 4812.00))
            await desk.command(op="change", cid="of-4", quantity=1, stop_price=4805.0)

            async def changed() -> bool:
                return bool(nt.orders["of-4"]["quantity"] == 1)

            await until(changed)
            await desk.send(nt.update("of-4", "Working"))
            before = await desk.risk()
            risk = before["risk"]
            realised = round(-125 - 2 * ES_SIDE - 2 * ES_SIDE + 100 - ES_SIDE, 2)
            assert (
                (risk["realised_today"], risk["unrealised"]) == (realised, 100.0) == (-38.95, 100)
            )
            assert (risk["trades_today"], risk["loss_streak"], risk["positions"]) == (
                2, 1, {"ESH4": 1})  # fmt: skip
            assert risk["working_orders"] == 2 and risk["daily_stop"] is None
            engine = await desk.engine()
            assert (engine[0]["quantity"], engine[0]["avg_price"]) == (1, 4810.0)
            events = await desk.events()
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
            kinds = {e["kind"] for e in events}
            assert {"command", "command_ack", "order_update", "execution", "risk_decision",
                    "risk_state", "reconcile", "connection", "batch"} <= kinds  # fmt: skip

            # ---- SIGKILL with the position open and the stop working, and start again ------
            server.kill()
            server = Serve(tmp_path, port)
            after = await desk.reconciled()  # the bridge reconnected and sent its report
            assert after["restored"]["records"] == len(events)
            assert after["restored"]["working_orders"] == ["of-4", "of-5"]
            assert after["restored"]["mismatches"] == []
            rec = after["last_reconcile"]
            assert (rec["position_changes"], rec["adopted_orders"], rec["missing_orders"]) == (
                [], [], [])  # fmt: skip
            assert after["risk"] == risk
            assert await desk.engine() == engine
            again = await desk.events()
            assert again[: len(events)] == events  # nothing lost, nothing changed
            assert {"connection", "reconcile"} <= {e["kind"] for e in again[len(events) :]}

            # the pre-kill stop fills after the restart: matched to of-4, the position closes
            await desk.send(nt.fill("of-4", 1, 4805.00), nt.update("of-5", "Cancelled"))
            order = (await http.get("/api/orders/of-4")).json()
            assert (order["state"], order["filled"], order["ours"]) == ("Filled", 1, True)
            assert order["executions"] == ["x-of-4-1"]
            final = (await desk.risk())["risk"]
            # trade 2: +8 ticks on 1, -20 on 1 = -$150.00 - 4 x $2.79
            assert final["realised_today"] == round(-130.58 - 161.16, 2) == -291.74
            assert (final["trades_today"], final["loss_streak"], final["working_orders"]) == (
                2, 2, 0)  # fmt: skip
            assert final["positions"] == {"ESH4": 0} and final["unrealised"] == 0.0
            (pos,) = await desk.engine()
            assert (pos["quantity"], pos["net_realized"]) == (0, -291.74)
            trades = (await http.get("/api/journal/trades")).json()["trades"]
            assert [t["net"] for t in trades] == [-130.58, -161.16]
            stats = (await http.get("/api/journal/stats")).json()["stats"]
            assert (stats["trades"], stats["losses"], stats["net"]) == (2, 2, -291.74)
            assert stats["max_drawdown"] == 291.74
        await bridge.close()

    try:
        asyncio.run(scenario())
    finally:
        server.kill()
    # the session's order latency, for a backtest's venue: each command to its ack
    from orderflow.backtest.latency import LatencyModel, order_latency_from_journal
    from orderflow.trading.journal import Journal

    with Journal(tmp_path / "journal" / "orderflow.sqlite") as j:
        events = list(j.events())
    acked = sum(1 for e in events if e.kind == "command_ack" and "command_seq" in e.payload)
    one_way = order_latency_from_journal(events)
    assert len(one_way) == acked >= 6  # every command the bridge answered
    assert (one_way > 0).all() and one_way.max() < 5_000_000_000
    assert (order_latency_from_journal(events, one_way=False) // 2 == one_way).all()
    assert LatencyModel(samples_ns=one_way, seed=1).next() in set(one_way.tolist())
