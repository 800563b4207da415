"""The reference strategy trading live through the real server: ESH4 fed as NinjaTrader depth
by the real Python client over a WebSocket, the strategy deciding on the server after each
batch (``trading.server.strategy``, on the data's clock), its orders executed by a small
NinjaTrader stand-in in the test (market orders at the touch of the book the server acked,
limits when a print trades through them, stops when a print reaches them, OCO siblings
cancelled) that reports back order updates and executions as the bridge does.

What it proves: the strategy's entries go out through the risk check (never past the position
limit), every filled entry gets its protective stop, the engine's positions and P&L equal an
independent count from the executions, and a server restarted on the same journal rebuilds
the desk, brackets included, with no replay mismatch."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from orderflow.client import OrderflowClient
from orderflow.protocol import Batch, Command, Execution, OrderUpdate
from orderflow.server.trading import ServerTradingParams
from orderflow.trading.params import TradingParams
from orderflow.trading.risk import RiskParams
from orderflow.trading.strategy import StrategyParams
from tests.conftest import ES_MBO, need
from tests.integration.test_server import Server

pytestmark = pytest.mark.slow

ES_SIDE = Decimal("1.29") + Decimal("1.50")  # default profile: commission + fees per side
MAX_POSITION = 2


@dataclass
class SimOrder:
    cid: str
    action: str
    order_type: str
    quantity: int
    limit: float
    stop: float
    oco: str
    filled: int = 0
    state: str = "Working"

    @property
    def buy(self) -> bool:
        return self.action in ("Buy", "BuyToCover")

    @property
    def live(self) -> bool:
        return self.state in ("Working", "PartFilled")


@dataclass
class NinjaTrader:
    """The account as NinjaTrader holds it; commands executed, reports queued for the bridge."""

    name: str
    orders: dict[str, SimOrder] = field(default_factory=dict)
    log: list[Command] = field(default_factory=list)
    position: int = 0
    max_abs: int = 0
    fills: list[tuple[str, bool, int, float]] = field(default_factory=list)  # cid, buy, qty, px
    updates: list[OrderUpdate] = field(default_factory=list)
    executions: list[Execution] = field(default_factory=list)
    t: int = 0
    n: int = 0

    def execute(self, cmd: Command) -> tuple[str, str]:
        self.log.append(cmd)
        if cmd.op == "submit":
            o = SimOrder(cmd.cid, str(cmd.action), str(cmd.order_type), cmd.quantity,
                         cmd.limit_price, cmd.stop_price, cmd.oco)  # fmt: skip
            self.orders[cmd.cid] = o
            self._report(o)
        elif cmd.op == "change":
            o = self.orders[cmd.cid]
            if o.live:
                o.quantity, o.limit, o.stop = cmd.quantity, cmd.limit_price, cmd.stop_price
                if o.filled >= o.quantity:
                    o.state = "Filled"
                self._report(o)
        else:
            o = self.orders[cmd.cid]
            if o.live:
                o.state = "Cancelled"
                self._report(o)
        return "done", ""

    def _report(self, o: SimOrder) -> None:
        self.n += 1
        state: Any = o.state
        update = OrderUpdate(self.t + self.n, o.cid, state, o.quantity, o.filled,
                             limit_price=o.limit, stop_price=o.stop)  # fmt: skip
        self.updates.append(update)

    def _fill(self, o: SimOrder, qty: int, price: float) -> None:
        o.filled += qty
        o.state = "Filled" if o.filled == o.quantity else "PartFilled"
        self._report(o)
        self.executions.append(Execution(self.t + self.n, o.cid, f"x{len(self.fills) + 1}",
                                         price, qty, "Long" if o.buy else "Short"))  # fmt: skip
        self.fills.append((o.cid, o.buy, qty, price))
        self.position += qty if o.buy else -qty
        self.max_abs = max(self.max_abs, abs(self.position))
        if o.state == "Filled" and o.oco:
            for other in self.orders.values():
                if other is not o and other.oco == o.oco and other.live:
                    other.state = "Cancelled"
                    self._report(other)

    def market(self, batch: Batch, bid: float | None, ask: float | None) -> None:
        """The batch's prints and the book after it fill what they reach."""
        self.t = batch.depth[-1].t if batch.depth else self.t
        prints = [tk.price for tk in batch.ticks]
        for o in list(self.orders.values()):
            if not o.live:
                continue
            left = o.quantity - o.filled
            if o.order_type == "Market":
                px = ask if o.buy else bid
                if px is not None:
                    self._fill(o, left, px)
            elif o.order_type == "Limit":
                through = [p for p in prints if (p < o.limit if o.buy else p > o.limit)]
                if through:
                    self._fill(o, left, o.limit)
            elif o.order_type == "StopMarket":
                hit = [p for p in prints if (p >= o.stop if o.buy else p <= o.stop)]
                if hit:
                    self._fill(o, left, hit[0])

    def take(self) -> tuple[list[OrderUpdate], list[Execution]]:
        out = (self.updates, self.executions)
        self.updates, self.executions = [], []
        return out


def esh4_batches() -> Iterator[Batch]:
    from orderflow.client.feed import build_batches
    from orderflow.io.formats import load_stream

    for fb in build_batches(load_stream(need(ES_MBO)), 10, 100):
        yield fb.batch


def params() -> tuple[TradingParams, ServerTradingParams]:
    trading = TradingParams(
        risk=RiskParams(max_position=MAX_POSITION, max_order_size=MAX_POSITION,
                        book_stale_ms=0.0, kill_on_disconnect=False,
                        daily_loss_limit=2_000.0),
        strategy=StrategyParams(),
    )  # fmt: skip
    return trading, ServerTradingParams(strategy=True, clock="data")


def realised(fills: list[tuple[str, bool, int, float]]) -> Decimal:
    """Net P&L of the closed part of the fills (FIFO), ES: 50 USD a point, costs per side."""
    lots: list[list[Any]] = []  # [signed qty, price]
    pnl = Decimal(0)
    for _, buy, qty, price in fills:
        sign = 1 if buy else -1
        pnl -= ES_SIDE * qty
        left = qty
        while left and lots and (lots[0][0] > 0) != (sign > 0):
            take = min(left, abs(lots[0][0]))
            pnl += Decimal(str((price - lots[0][1]) * -sign * 50)) * take
            lots[0][0] += take * sign
            left -= take
            if lots[0][0] == 0:
                lots.pop(0)
        if left:
            lots.append([left * sign, price])
    return pnl


def test_the_reference_strategy_trades_esh4_live_through_the_server(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    trading, server_params = params()
    server = Server(trading=trading, trading_server=server_params, journal=journal)
    nt = NinjaTrader("nt8")
    try:

        async def run() -> dict[str, Any]:
            bridge = OrderflowClient(server.ws, "nt8", on_command=nt.execute)
            await bridge.connect()
            async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
                for batch in esh4_batches():
                    await bridge.send_batch(batch)
                    await bridge.drain(120)
                    for _ in range(3):  # the commands the batch made the strategy send
                        await asyncio.sleep(0)
                    book = bridge.last_ack.book if bridge.last_ack else {}
                    bids, asks = book.get("bids") or [], book.get("asks") or []
                    nt.market(batch, bids[0][0] if bids else None, asks[0][0] if asks else None)
                    updates, executions = nt.take()
                    if updates or executions:
                        await bridge.add(batch.instrument, orders=updates, executions=executions)
                        await bridge.flush()
                        await bridge.drain(120)
                await asyncio.sleep(0.3)
                updates, executions = nt.take()  # the last commands' reports
                if updates or executions:
                    await bridge.add("ES 03-24", orders=updates, executions=executions)
                    await bridge.flush()
                    await bridge.drain(120)
                risk = (await http.get("/api/risk")).json()["clients"]["nt8"]
                positions = (await http.get("/api/positions")).json()["positions"]
            await bridge.close()
            return {"risk": risk, "positions": positions}

        got = asyncio.run(run())
    finally:
        server.stop()
    entries = [c for c in nt.log if c.op == "submit" and c.action in ("Buy", "SellShort")]
    stops = [c for c in nt.log if c.op == "submit" and c.order_type == "StopMarket"]
    filled_entries = {cid for cid, *_ in nt.fills if cid in {c.cid for c in entries}}
    assert len(entries) >= 2 and filled_entries, nt.log
    assert nt.max_abs <= MAX_POSITION  # never past the limit, whatever the strategy wanted
    # every filled entry got a stop on the other side
    for c in entries:
        if c.cid in filled_entries:
            assert any(s.action in ("Sell", "BuyToCover") and s.t >= c.t for s in stops)
    # the engine's picture equals the account's, and its P&L an independent count
    (pos,) = [p for p in got["positions"] if p["instrument"] == "ESH4"]
    assert pos["quantity"] == nt.position
    assert Decimal(str(pos["net_realized"])) == realised(nt.fills)
    assert got["risk"]["risk"]["realised_today"] == pytest.approx(float(realised(nt.fills)))
    strategy = got["risk"]["strategy"]["ESH4"]
    assert strategy["counters"]["enter_sent"] == len(entries)

    # a restart on the same journal rebuilds the desk, brackets included, without mismatch
    again = Server(trading=trading, trading_server=server_params, journal=journal)
    try:
        with httpx.Client(base_url=again.http) as http:
            client = http.get("/api/risk").json()["clients"]["nt8"]
            restored = client["restored"]
            assert restored["mismatches"] == []
            assert restored["records"] > len(nt.log)
            engine = http.get("/api/positions").json()["positions"]
            (after,) = [p for p in engine if p["instrument"] == "ESH4"]
            assert after["quantity"] == pos["quantity"]
            assert after["net_realized"] == pos["net_realized"]
    finally:
        again.stop()


def test_a_strategy_started_mid_session_does_not_enter_on_old_signals() -> None:
    """A host made mid-session (a server restarted on its recovered book: the recovery
    replays the recorded batches without asking the strategy) takes only the signals
    accumulated from then on as new: it must not enter at once on one from an hour ago."""
    from orderflow.server.hub import Hub

    trading, server_params = params()
    batches = list(esh4_batches())

    def hub() -> Hub:
        return Hub(trading=trading, trading_server=server_params)

    whole = hub()
    for b in batches:
        whole.apply(b, client="nt8")
    assert whole.trading is not None and whole.trading.outbox  # it trades from the start

    late = hub()
    half = 220
    late.counters["recovering"] = 1  # as Hub.recover replays a recording
    for b in batches[:half]:
        late.apply(b, client="nt8")
    del late.counters["recovering"]
    pipe = late.instruments["ESH4"].pipeline
    assert len(pipe.accumulated) > 10  # plenty of old signals, some strong
    assert late.trading is not None
    sent: list[Any] = []
    for k, b in enumerate(batches[half:], start=half):
        acc0 = len(pipe.accumulated)
        late.apply(b, client="nt8")
        new = pipe.accumulated[acc0:]
        sent = [c for _, c in late.trading.outbox if c.op == "submit"]
        if sent:  # its first order: on a signal of this very batch, not an old one
            entry = trading.strategy.entry_score
            assert any(a.score >= entry for a in new), (k, sent)
            break
    assert sent  # and it does trade, later
