"""The trading journal: every kind round-trips; a restart restores the same positions, P&L,
trades and risk state (a limit reached stays reached) by replaying the executions; the
performance figures match a hand computation; a process SIGKILLed while appending leaves
every acknowledged record."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import msgspec
import pytest

from orderflow.model.instruments import get_instrument
from orderflow.trading.journal import (
    KINDS,
    SCHEMA_VERSION,
    Entry,
    Journal,
    performance,
    plain,
    pnl_by_day,
    report,
    trade_day,
)
from orderflow.trading.orders import (
    Fill,
    OrderAction,
    OrderCommand,
    OrderEvent,
    OrderState,
    OrderType,
    Side,
)
from orderflow.trading.positions import PositionBook, Trade
from orderflow.trading.risk import (
    OrderIntent,
    Reason,
    RiskDecision,
    RiskEvent,
    RiskManager,
    RiskParams,
    RiskState,
)

ES = get_instrument("ESH4")


def ns(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 1_000_000_000


def test_every_kind_round_trips_and_the_file_is_wal_full_and_append_only(tmp_path: Path) -> None:
    path = tmp_path / "j" / "orderflow.sqlite"
    t = ns("2024-03-05T15:00:00")
    fill = Fill("X1", "of-1", t, ES.to_ticks(5000.25), 2, Side.BUY, Decimal("2.58"),
                Decimal("3.00"), "ESH4", "Sim101")  # fmt: skip
    ev = OrderEvent("of-1", OrderState.WORKING, t, 2, 0, ES.to_ticks(5000.25), None, "N1")
    cmd = OrderCommand(7, "submit", "of-1", "ESH4", t, OrderAction.BUY, OrderType.LIMIT, 2,
                       ES.to_ticks(5000.25))  # fmt: skip
    intent = OrderIntent("of-1", "ESH4", 1, 2, t, "Limit")
    decision = RiskDecision(False, Reason.MAX_POSITION, "worst case +3/+0 vs 2")
    state = RiskState(balance=49_500.0, day="2024-03-05", realised_today=-500.0,
                      daily_stop=Reason.DAILY_LOSS_LIMIT, trades_today=4,
                      positions={"ESH4": 1})  # fmt: skip
    with Journal(path) as j:
        seqs = [
            j.command(cmd, "Sim101"),
            j.command_ack(t + 1, 7, "done", "", "ESH4"),
            j.order_update(ev, "ESH4", "Sim101"),
            j.execution(fill),
            j.append("position", t + 2, {"quantity": 2, "avg_price": 5000.25}, "ESH4", "Sim101"),
            j.position_adopted(t + 3, "Sim101", "ESH4", 3, Fraction(57722, 3)),
            j.append("reconcile", t + 4, {"adopted": [], "missing": ["of-9"]}),
            j.risk_decision(intent, decision, "Sim101"),
            j.risk_event(RiskEvent(Reason.DAILY_LOSS_LIMIT, True, t + 5, "-500.00")),
            j.risk_state(state, t + 6),
            j.append("connection", t + 7, {"up": False}),
            j.append("note", t + 8, {"text": "kill switch reset by hand"}),
            j.append("batch", t + 9, {"seq": 41, "instrument": "ES 03-24"}),
            j.append("bracket", t + 10, {"op": "cancel", "now": t + 10, "bracket": "of-1"}),
            j.append(
                "strategy",
                t + 11,
                {
                    "intent": "enter",
                    "outcome": "risk:max_position",
                    "entry_id": "of-2",
                    "detail": "",
                },
            ),
        ]
        assert seqs == list(range(1, 16))
        with pytest.raises(ValueError, match="journal kind"):
            j.append("fills", t, {})
    j = Journal(path)  # reopened: the same records
    got = list(j.events())
    assert {e.kind for e in got} == KINDS
    assert [e.seq for e in got] == seqs
    by = {e.kind: e for e in got}
    assert msgspec.json.decode(by["command"].raw, type=OrderCommand) == cmd
    assert msgspec.json.decode(by["order_update"].raw, type=OrderEvent) == ev
    assert msgspec.json.decode(by["execution"].raw, type=Fill) == fill
    assert by["execution"].payload["commission"] == "2.58"  # exact, as text
    assert (by["execution"].instrument, by["execution"].account) == ("ESH4", "Sim101")
    assert by["position_adopted"].payload["avg_price_ticks"] == "57722/3"
    assert by["risk_decision"].payload["code"] == "max_position:worst case +3/+0 vs 2"
    assert by["risk_decision"].cid == "of-1"
    assert RiskState.from_dict(by["risk_state"].payload) == state
    assert by["risk_event"].payload["flatten"] is True
    assert all(e.day == "2024-03-05" for e in got)
    assert [e.kind for e in j.events(since=10)] == [
        "connection",
        "note",
        "batch",
        "bracket",
        "strategy",
    ]
    assert [e.seq for e in j.events(kinds=["execution", "risk_state"])] == [4, 10]
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE events SET payload = '{}' WHERE seq = 4")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM events")
    assert j._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    j.close()


def test_a_version_1_file_gains_the_client_column_and_keeps_its_records(tmp_path: Path) -> None:
    """Schema 1 had no ``client``: opened by this code the column is added (old rows: ''),
    the version recorded, and new records carry their client."""
    path = tmp_path / "v1.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE schema_version (version INTEGER NOT NULL, applied_ns INTEGER NOT NULL);
        INSERT INTO schema_version VALUES (1, 0);
        CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, ts_ns INTEGER NOT NULL,
            day TEXT NOT NULL, kind TEXT NOT NULL, instrument TEXT NOT NULL DEFAULT '',
            account TEXT NOT NULL DEFAULT '', cid TEXT NOT NULL DEFAULT '', payload TEXT NOT NULL);
        INSERT INTO events (ts_ns, day, kind, payload) VALUES (5, '2024-03-05', 'note', '{}');
        """
    )
    db.close()
    with Journal(path) as j:
        j.append_many([Entry("note", 6, {"n": 2}, client="nt8")])
        got = list(j.events())
        assert [(e.seq, e.client) for e in got] == [(1, ""), (2, "nt8")]
        assert [e.seq for e in j.events(client="nt8")] == [2] and j.clients() == ["", "nt8"]
        assert j.last_seq() == 2
    db = sqlite3.connect(path)
    versions = [v for (v,) in db.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == [1, SCHEMA_VERSION] == [1, 2]
    db.close()
    with Journal(path) as j:  # opened again: nothing to migrate
        assert j.count() == 2


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    Journal(path).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO schema_version VALUES (99, 0)")
    db.commit()
    db.close()
    with pytest.raises(ValueError, match="schema 99 is newer"):
        Journal(path)


def test_the_trading_day_follows_the_cme_session() -> None:
    assert trade_day(ns("2024-03-05T21:59:00"), "ES") == "2024-03-05"  # 15:59 CT
    assert trade_day(ns("2024-03-05T23:00:00"), "ES") == "2024-03-06"  # 17:00 CT: next day


# ---- restore after a restart ------------------------------------------------------------------
COMMISSION, FEES = Decimal("1.29"), Decimal("1.50")  # per contract and side


class Session:
    """What the server will do: check, journal the decision, fill, journal the execution,
    apply it, feed risk, journal the risk state."""

    def __init__(self, journal: Journal, params: RiskParams) -> None:
        self.j = journal
        self.book = PositionBook()
        self.risk = RiskManager(params)
        self.n = 0

    def trade(
        self, symbol: str, side: int, qty: int, price: str, t: int, snapshot: bool = True
    ) -> RiskDecision:
        self.n += 1
        cid = f"of-{self.n}"
        intent = OrderIntent(cid, symbol, side, qty, t)
        decision = self.risk.check(intent)
        self.j.risk_decision(intent, decision, "Sim101", self.risk.state)
        if not decision:
            return decision
        inst = get_instrument(symbol)
        fill = Fill(f"X{self.n}", cid, t, inst.to_ticks(price), qty,
                    Side.BUY if side > 0 else Side.SELL, COMMISSION * qty, FEES * qty, symbol,
                    "Sim101")  # fmt: skip
        self.j.execution(fill)
        closed = self.book.apply(fill)
        self.risk.on_fill(cid, qty)
        for trade in closed:
            for event in self.risk.on_realised(float(trade.net), t):
                self.j.risk_event(event, "Sim101")
        if snapshot:  # False: the process died before it journalled the risk state
            self.j.risk_state(self.risk.state, t, "Sim101")
        return decision


def snapshot(book: PositionBook) -> dict[str, object]:
    return {
        "positions": {k: (p.quantity, p.avg_price_ticks, p.realized_ticks, p.commission, p.fees,
                          p.net_realized) for k, p in book.positions.items()},
        "trades": [t.to_dict() for t in book.trades],
    }  # fmt: skip


def test_a_restart_restores_positions_pnl_trades_and_the_limit_reached(tmp_path: Path) -> None:
    path = tmp_path / "orderflow.sqlite"
    params = RiskParams(daily_loss_limit=500.0, max_consecutive_losses=0)
    s = Session(Journal(path), params)
    d1, d2 = "2024-03-04T15:{:02d}:00", "2024-03-05T15:{:02d}:00"
    # day 1: +16 ticks on one ES = $200 - 2 x $2.79 = $194.42
    s.trade("ESH4", 1, 1, "5000.00", ns(d1.format(0)))
    s.trade("ESH4", -1, 1, "5004.00", ns(d1.format(1)))
    # day 2: +94.42, -311.16 (short 2, 12 ticks against), -255.58, an NQ long left open,
    # then -30.58: day P&L -502.90 crosses the $500 limit at that trade
    for i, (sym, side, qty, px) in enumerate([
        ("ESH4", 1, 1, "5000.00"), ("ESH4", -1, 1, "5002.00"),
        ("ESH4", -1, 2, "5003.00"), ("ESH4", 1, 2, "5006.00"),
        ("ESH4", 1, 1, "5005.00"), ("ESH4", -1, 1, "5000.00"),
        ("NQH4", 1, 1, "18000.00"),
        ("ESH4", 1, 1, "5000.00"), ("ESH4", -1, 1, "4999.50"),
    ]):  # fmt: skip
        assert s.trade(sym, side, qty, px, ns(d2.format(i)))
    before = snapshot(s.book)
    state_before = s.risk.state.to_dict()
    assert s.risk.state.daily_stop == Reason.DAILY_LOSS_LIMIT
    assert s.risk.state.realised_today == pytest.approx(-502.90)
    assert s.risk.state.trades_today == 5
    assert s.risk.flatten_requested
    refused = s.trade("ESH4", 1, 1, "4999.00", ns(d2.format(20)))
    assert refused.code == "daily_loss_limit:day P&L -502.90"
    s.j.close()

    # the restart: a new process would do exactly this
    j = Journal(path)
    restored = j.restore_day()
    assert restored.day == "2024-03-05"
    assert snapshot(restored.positions) == before
    assert restored.risk_state is not None
    assert restored.risk_state.to_dict() == state_before
    assert [t.net for t in restored.trades] == [Decimal("94.42"), Decimal("-311.16"),
                                                Decimal("-255.58"), Decimal("-30.58")]  # fmt: skip
    nq = restored.positions.position("Sim101", "NQH4")
    assert (nq.quantity, nq.avg_price_ticks) == (1, Fraction(get_instrument("NQ").to_ticks(18000)))
    risk = RiskManager(params, state=restored.risk_state)
    assert risk.flatten_requested
    assert risk.check(OrderIntent("of-99", "ESH4", 1, 1, ns(d2.format(30)))).reason == (
        "daily_loss_limit"
    )
    assert risk.check(OrderIntent("of-100", "NQH4", -1, 1, ns(d2.format(31))))  # the exit passes
    # the previous day alone: one trade, no NQ yet, and its risk state
    day1 = j.restore_day("2024-03-04")
    assert [t.net for t in day1.trades] == [Decimal("194.42")]
    assert day1.positions.position("Sim101", "NQH4").quantity == 0
    assert day1.risk_state is not None and day1.risk_state.day == "2024-03-04"
    assert day1.risk_state.daily_stop is None
    by_day = plain(pnl_by_day(j.trades()))
    assert by_day == [
        {"day": "2024-03-04", "trades": 1, "wins": 1, "losses": 0, "gross": 200.0,
         "commission": 2.58, "fees": 3.0, "net": 194.42},
        {"day": "2024-03-05", "trades": 4, "wins": 1, "losses": 3, "gross": -475.0,
         "commission": 12.9, "fees": 15.0, "net": -502.9},
    ]  # fmt: skip
    j.close()


def test_an_adopted_position_is_replayed(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as j:
        t = ns("2024-03-05T15:00:00")
        j.execution(Fill("X1", "of-1", t, 20000, 1, Side.BUY, instrument="ESH4", account="A"))
        j.position_adopted(t + 1, "A", "ESH4", -2, Fraction(40001, 2))
        restored = j.restore_day()
    pos = restored.positions.position("A", "ESH4")
    assert (pos.quantity, pos.avg_price_ticks) == (-2, Fraction(40001, 2))
    assert restored.positions.trades[0].closed_by == "reconcile"
    assert restored.positions.trades[1].adopted


# ---- performance ------------------------------------------------------------------------------
def hand_trades(ticks: list[int], commission: str = "1.00") -> list[Trade]:
    """One ES round trip per entry of ``ticks``, long, $1.00 commission per side."""
    book = PositionBook()
    c = Decimal(commission)
    for i, tk in enumerate(ticks):
        t = ns("2024-03-05T15:00:00") + i * 60_000_000_000
        book.apply(Fill(f"A{i}", "c", t, 20000, 1, Side.BUY, c, Decimal(0), "ESH4", "A"))
        book.apply(Fill(f"B{i}", "c", t + 1, 20000 + tk, 1, Side.SELL, c, Decimal(0), "ESH4",
                        "A"))  # fmt: skip
    return book.closed_trades()


def test_performance_matches_a_hand_computation() -> None:
    # ticks x $12.50 less $2 a round turn: nets 98, -52, -152, 248, -27, 73
    trades = hand_trades([8, -4, -12, 20, -2, 6])
    assert [t.net for t in trades] == [Decimal(n) for n in (98, -52, -152, 248, -27, 73)]
    p = performance(trades)
    assert (p["trades"], p["wins"], p["losses"], p["scratches"]) == (6, 3, 3, 0)
    assert p["win_rate"] == Decimal("0.5")
    assert p["avg_win"] == Decimal(98 + 248 + 73) / 3  # 419 / 3
    assert p["avg_loss"] == Decimal(-52 - 152 - 27) / 3  # -77
    assert p["avg_loss"] == Decimal(-77)
    assert p["expectancy"] == Decimal(188) / 6  # (419 - 231) / 6
    assert p["profit_factor"] == Decimal(419) / Decimal(231)
    # equity 98, 46, -106, 142, 115, 188: from the peak 98 down to -106
    assert p["max_drawdown"] == Decimal(204)
    assert p["net"] == Decimal(188) and p["gross"] == Decimal(200)
    assert p["commission"] == Decimal(12)
    assert (p["largest_win"], p["largest_loss"]) == (Decimal(248), Decimal(-152))
    out = plain(p)
    assert (out["win_rate"], out["avg_win"], out["expectancy"], out["profit_factor"]) == (
        0.5,
        139.67,
        31.33,
        1.8139,
    )
    rep = report(reversed(trades))  # any order: the closing order is used
    assert rep["stats"] == out
    assert rep["by_day"] == [
        {"day": "2024-03-05", "trades": 6, "wins": 3, "losses": 3, "gross": 200.0,
         "commission": 12.0, "fees": 0.0, "net": 188.0}
    ]  # fmt: skip
    assert [r["net"] for r in rep["trades"]] == [98.0, -52.0, -152.0, 248.0, -27.0, 73.0]
    assert rep["trades"][2]["avg_exit"] == 4997.0 and rep["trades"][2]["day"] == "2024-03-05"


def test_performance_edge_cases() -> None:
    assert performance([])["win_rate"] is None
    only_wins = performance(hand_trades([4, 8], commission="0"))
    assert only_wins["profit_factor"] is None and only_wins["max_drawdown"] == 0
    # a loss first: the drawdown counts from the start at 0
    p = performance(hand_trades([-8, 0, 4], commission="0"))
    assert (p["wins"], p["losses"], p["scratches"]) == (1, 1, 1)
    assert p["max_drawdown"] == Decimal(100)
    assert p["win_rate"] == Decimal(1) / 3


# ---- durability -------------------------------------------------------------------------------
CHILD = textwrap.dedent(
    """
    import sys
    from decimal import Decimal
    from orderflow.trading.journal import Entry, Journal
    from orderflow.trading.orders import Fill, Side
    j = Journal(sys.argv[1])
    i = b = 0
    while True:
        batch = []
        for _ in range(b % 5 + 1):  # transactions of 1, 2, 3, 4, 5, 1, ... records
            i += 1
            f = Fill(f"X{i}", f"of-{i}", 1_709_650_800_000_000_000 + i, 20000 + i % 7, 1,
                     Side.BUY if i % 2 else Side.SELL, Decimal("1.29"), Decimal("1.50"),
                     "ESH4", "A")
            batch.append(Entry("execution", f.t, f, "ESH4", "A", f.cid))
        b += 1
        seq = j.append_many(batch)[-1]
        sys.stdout.write(f"{seq}\\n")
        sys.stdout.flush()
    """
)


def test_sigkill_while_appending_keeps_every_acknowledged_record(tmp_path: Path) -> None:
    """A child appends transactions of 1 to 5 executions and writes each one's last seq to a
    pipe once it returned; SIGKILLed after 300 acknowledgements, it leaves a journal holding
    every acknowledged record, and whole transactions only."""
    path = tmp_path / "j.sqlite"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    assert child.stdout is not None
    acked: list[int] = []
    for line in child.stdout:
        acked.append(int(line))
        if len(acked) == 300:
            os.kill(child.pid, signal.SIGKILL)
            break
    acked += [int(line) for line in child.stdout]  # written before the kill landed
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    ends, total = [], 0
    for b in range(len(acked) + 1):
        total += b % 5 + 1
        ends.append(total)
    assert len(acked) >= 300 and acked == ends[: len(acked)]
    with Journal(path) as j:
        got = list(j.events(kinds=["execution"]))
    n = len(got)
    assert [e.seq for e in got] == list(range(1, n + 1))
    # every acknowledged record, plus at most the one transaction in flight, never a part of it
    assert n in (acked[-1], ends[len(acked)])
    for e in got:
        fill = msgspec.json.decode(e.raw, type=Fill)
        assert fill.execution_id == f"X{e.seq}" and fill.commission == Decimal("1.29")


def test_executions_after_the_last_risk_snapshot_still_reach_the_risk_state(
    tmp_path: Path,
) -> None:
    """The process dies between journalling a fill and journalling the risk state it led to:
    the restored manager still has the fill's position and the trade's loss."""
    path = tmp_path / "orderflow.sqlite"
    params = RiskParams(daily_loss_limit=300.0, max_consecutive_losses=0)
    s = Session(Journal(path), params)
    d = "2024-03-05T15:{:02d}:00"
    s.trade("ESH4", 1, 1, "5000.00", ns(d.format(0)))
    s.trade("ESH4", -1, 1, "4997.00", ns(d.format(1)))  # -12 ticks: -150 - 5.58
    s.trade("ESH4", -1, 2, "4997.00", ns(d.format(2)))
    s.trade("NQH4", 1, 1, "18000.00", ns(d.format(3)))  # stays open
    # the decision and its state commit together, the execution is journalled, then the
    # process dies before the state after the fill is: -12 ticks on 2, -161.16
    s.trade("ESH4", 1, 2, "4998.50", ns(d.format(4)), snapshot=False)
    resent = Journal(path)
    x5 = msgspec.json.decode(list(resent.events(kinds=["execution"]))[-1].raw, type=Fill)
    resent.execution(x5)  # NinjaTrader resent it; journalled before the dead process saw it
    resent.close()
    live = s.risk.state.to_dict()
    assert s.risk.state.daily_stop == Reason.DAILY_LOSS_LIMIT  # -155.58 - 161.16 = -316.74
    s.j.close()
    with Journal(path) as j:
        restored = j.restore_day()
    assert restored.risk_state is not None and restored.risk_state.daily_stop is None  # stale
    assert [f.execution_id for f, _ in restored.after_snapshot] == ["X5"]  # once
    risk = restored.risk_manager(params)
    assert risk.state.daily_stop == Reason.DAILY_LOSS_LIMIT
    assert risk.state.realised_today == pytest.approx(-316.74)
    assert risk.state.positions == {"ESH4": 0, "NQH4": 1}
    assert risk.state.trades_today == 3 and risk.flatten_requested
    assert risk.state.to_dict() == live


def test_the_desk_journalled_before_each_report_restores_to_the_cent(tmp_path: Path) -> None:
    """The real OrderDesk fed a bracketed ES trade (a resent execution included), every command
    and report journalled before it is applied: the replay gives the desk's positions and the
    trade's $182.34 net."""
    from orderflow.trading.desk import OrderDesk
    from orderflow.trading.orders import fill_event, order_event

    j = Journal(tmp_path / "j.sqlite")
    desk = OrderDesk(account="Sim101")

    def update(t: int, cid: str, state: str, filled: int = 0, limit_price: float = 0.0,
               stop_price: float = 0.0) -> None:  # fmt: skip
        ev = order_event(ES, cid, state, t, 2, filled, limit_price, stop_price)
        j.order_update(ev, "ESH4", "Sim101")
        for cmd in desk.apply_update(t, ev)[1]:
            j.command(cmd, "Sim101")

    def execution(t: int, xid: str, cid: str, price: float, qty: int, mp: str, c: float,
                  fees: float = 0.0) -> None:  # fmt: skip
        fill = fill_event(ES, xid, cid, t, price, qty, mp, c, fees, "Sim101")
        j.execution(fill)
        for cmd in desk.apply_fill(t, fill).commands:
            j.command(cmd, "Sim101")

    b, cmds = desk.brackets.submit(1, "ESH4", OrderAction.BUY, 2, order_type=OrderType.LIMIT,
                                   limit_ticks=ES.to_ticks(4810.0),
                                   stop_loss_ticks=ES.to_ticks(4808.0),
                                   target_ticks=ES.to_ticks(4812.0))  # fmt: skip
    for cmd in cmds:
        j.command(cmd, "Sim101")
    update(2, b.entry, "Working", limit_price=4810.0)
    update(10, b.entry, "PartFilled", 1, limit_price=4810.0)
    execution(10, "X1", b.entry, 4810.0, 1, "Long", 0.59)
    execution(11, "X1", b.entry, 4810.0, 1, "Long", 0.59)  # resent: journalled, counted once
    update(12, b.entry, "Filled", 2, limit_price=4810.0)
    execution(12, "X2", b.entry, 4810.25, 1, "Long", 0.59)
    assert b.target is not None and b.stop is not None
    update(20, b.target, "Filled", 2, limit_price=4812.0)
    execution(20, "X3", b.target, 4812.0, 2, "Short", 1.18, 2.80)
    update(21, b.stop, "Cancelled", stop_price=4808.0)
    restored = j.restore_day()
    assert snapshot(restored.positions) == snapshot(desk.positions)
    (trade,) = restored.trades
    assert (trade.realized_ticks, trade.net) == (Fraction(15), Decimal("182.34"))
    assert len(list(j.events(kinds=["execution"]))) == 4 and len(restored.fills) == 3
    assert [e.payload["op"] for e in j.events(kinds=["command"])] == [
        "submit", "submit", "submit", "change", "change", "cancel"
    ]  # fmt: skip
    j.close()
