"""The trading engine's journal in the real server (uvicorn on 127.0.0.1, a WebSocket client
playing the bridge): a daily loss limit reached before a restart still refuses entries after
it; a journal that cannot be written refuses every new order (``journal_unavailable``) while
NinjaTrader's reports are still applied, and writes what waited once it is back; depth-only
batches never touch it; a batch recorded but not journalled (the process died in between) is
journalled when the server recovers from its recording; ``/api/journal/...`` check their query
and the token like the other routes."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from orderflow.server.trading import ServerTradingParams
from orderflow.trading.journal import Entry, Journal
from orderflow.trading.params import TradingParams
from orderflow.trading.risk import RiskParams
from tests.integration.test_server import Server
from tests.integration.test_trading_server import BOOK, Bridge, refused, submit, wait_for

pytestmark = pytest.mark.slow


def journalled_server(journal: str | Path | Journal, **kw: Any) -> Server:
    risk = {"book_stale_ms": 0.0, "kill_on_disconnect": False, "max_consecutive_losses": 0,
            **kw.pop("risk", {})}  # fmt: skip
    return Server(command_timeout_s=30.0, trading=TradingParams(risk=RiskParams(**risk)),
                  trading_server=ServerTradingParams(use_sessions=False), journal=journal,
                  **kw)  # fmt: skip


class FlakyJournal(Journal):
    """A journal whose disk can be made to fail (as when full)."""

    failing = False

    def append_many(self, entries: Sequence[Entry]) -> list[int]:
        if self.failing:
            raise sqlite3.OperationalError("database or disk is full")
        return super().append_many(entries)


def test_a_daily_loss_limit_reached_before_a_restart_still_refuses_entries(tmp_path: Path):
    path = tmp_path / "orderflow.sqlite"
    server = journalled_server(path, risk={"daily_loss_limit": 100.0})
    try:
        bridge = Bridge(server, report=True)
        bridge.batch(depth=BOOK)
        bridge.report([], [])
        with httpx.Client(base_url=server.http) as http:
            wait_for(lambda: http.get("/api/risk").json()["clients"]["nt8"]["reconciled"])
            assert submit(http, "of-1", "Buy", 1).status_code == 200
            bridge.fill("of-1", "Buy", 1, 4810.00, 1)
            assert submit(http, "of-2", "Sell", 1).status_code == 200
            bridge.fill("of-2", "Sell", 1, 4807.50, 2)  # -$125.00 - $5.58
            risk = http.get("/api/risk").json()["clients"]["nt8"]["risk"]
            assert (risk["daily_stop"], risk["day_pnl"]) == ("daily_loss_limit", -130.58)
            assert refused(submit(http, "of-3", "Buy", 1)) == "daily_loss_limit:day P&L -130.58"
        bridge.close()
    finally:
        server.stop()
    again = journalled_server(path, risk={"daily_loss_limit": 100.0})
    try:
        with httpx.Client(base_url=again.http) as http:
            status = http.get("/api/risk").json()["clients"]["nt8"]
            assert status["risk"] == risk and not status["reconciled"]  # restored, gate shut
            bridge = Bridge(again, report=True)
            bridge.batch(depth=BOOK)
            assert refused(submit(http, "of-4", "Buy", 1)) == "not_reconciled"
            bridge.report([], [])
            wait_for(lambda: http.get("/api/risk").json()["clients"]["nt8"]["reconciled"])
            assert refused(submit(http, "of-4", "Buy", 1)) == "daily_loss_limit:day P&L -130.58"
            r = submit(http, "of-1", "Buy", 1)  # the restored desk knows every cid it used
            assert r.status_code == 400 and "already used" in r.json()["error"]["message"]
            decisions = http.get("/api/journal/events",
                                 params={"kind": "risk_decision"}).json()["events"]  # fmt: skip
            assert [d["payload"]["code"] for d in decisions][-1] == (
                "daily_loss_limit:day P&L -130.58")  # fmt: skip
            assert bridge.commands == []
            bridge.close()
    finally:
        again.stop()


def test_a_journal_that_cannot_be_written_refuses_new_orders_and_catches_up(tmp_path: Path):
    journal = FlakyJournal(tmp_path / "orderflow.sqlite")
    server = journalled_server(journal)
    try:
        bridge = Bridge(server)
        bridge.batch(depth=BOOK)
        with httpx.Client(base_url=server.http) as http:
            assert submit(http, "of-1", "Buy", 1).status_code == 200
            wait_for(lambda: bridge.cids() == ["of-1"])
            # the bridge's ack of of-1 is journalled when it arrives: wait for it first
            wait_for(lambda: http.get("/api/orders/of-1").json()["command"] == "done")
            before = journal.count()
            bridge.batch(depth=BOOK)  # depth only: the journal is not touched
            assert journal.count() == before
            journal.failing = True
            r = submit(http, "of-2", "Buy", 1)
            assert r.status_code == 503, r.text
            err = r.json()["error"]
            assert err["details"] == {"field": "journal", "reason": "journal_unavailable"}
            assert "disk is full" in err["message"]
            # NinjaTrader's fill is a fact: applied even though it cannot be journalled yet
            bridge.fill("of-1", "Buy", 1, 4810.00, 1)
            risk = http.get("/api/risk").json()["clients"]["nt8"]
            assert risk["risk"]["positions"] == {"ESH4": 1}
            assert risk["risk"]["working_orders"] == 0  # of-2 was given back
            assert risk["desk"]["journal_unavailable_refused"] == 1
            health = http.get("/health").json()
            assert health["journal"]["ok"] is False and health["journal"]["backlog"] > 0
            assert health["alert_counts"]["journal_unavailable"] >= 1
            assert bridge.cids() == ["of-1"]  # nothing unjournalled was sent
            journal.failing = False  # the disk has room again: the next commit writes it all
            wait_for(lambda: http.get("/health").json()["journal"]["ok"])
            assert submit(http, "of-3", "Sell", 1).status_code == 200
            wait_for(lambda: bridge.cids() == ["of-1", "of-3"])
            assert http.get("/health").json()["journal"]["backlog"] == 0
        bridge.close()
    finally:
        server.stop()
    with Journal(tmp_path / "orderflow.sqlite") as j:
        events = list(j.events())
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        cmds = [(e.cid, e.payload["origin"]) for e in events if e.kind == "command"]
        assert cmds == [("of-1", "api"), ("of-2", "api"), ("of-3", "api")]
        ack = next(e for e in events if e.kind == "command_ack" and e.cid == "of-2")
        assert (ack.payload["status"], ack.payload["reason"]) == ("refused", "journal_unavailable")
        assert [e.cid for e in events if e.kind == "execution"] == ["of-1"]
        restored = j.restore_day(client="nt8")
        assert restored.positions.position("Sim101", "ESH4").quantity == 1


def test_a_batch_recorded_but_not_journalled_is_journalled_on_recovery(tmp_path: Path):
    """The process died after recording a batch of order reports and before journalling it:
    the restarted server feeds that batch from its recording to the engine (and the journal)."""
    path, early = tmp_path / "orderflow.sqlite", tmp_path / "early.sqlite"
    server = journalled_server(path, record_dir=tmp_path / "rec")
    try:
        bridge = Bridge(server)
        bridge.batch(depth=BOOK)
        with httpx.Client(base_url=server.http) as http:
            assert submit(http, "of-1", "Buy", 1).status_code == 200
            wait_for(lambda: bridge.cids() == ["of-1"])
            # the journal as it stood before the fill's batch
            sqlite3.connect(path).execute(f"VACUUM INTO '{early}'")
            bridge.fill("of-1", "Buy", 1, 4810.00, 1)
        bridge.close()
    finally:
        server.stop()
    again = journalled_server(early, record_dir=tmp_path / "rec")
    try:
        with httpx.Client(base_url=again.http) as http:
            (pos,) = http.get("/api/positions").json()["positions"]
            assert (pos["quantity"], pos["avg_price"]) == (1, 4810.0)
            risk = http.get("/api/risk").json()["clients"]["nt8"]["risk"]
            assert risk["positions"] == {"ESH4": 1} and risk["working_orders"] == 0
            execs = http.get("/api/journal/events", params={"kind": "execution"}).json()
            assert [e["cid"] for e in execs["events"]] == ["of-1"]
    finally:
        again.stop()


def test_the_journal_routes_check_their_query_and_the_token(tmp_path: Path):
    server = journalled_server(tmp_path / "orderflow.sqlite", token="s3cret")
    try:
        with httpx.Client(base_url=server.http, headers={"x-orderflow-token": "s3cret"}) as http:
            for route in ("trades", "pnl", "stats", "events"):
                r = httpx.get(f"{server.http}/api/journal/{route}")
                assert r.status_code == 401 and r.json()["error"]["details"]["field"] == "token"
                assert http.get(f"/api/journal/{route}").status_code == 200
            for params, field in (({"day": "2024-13-01"}, "day"), ({"limit": "0"}, "limit"),
                                  ({"limit": "x"}, "limit"), ({"since": "-1"}, "since"),
                                  ({"kind": "fills"}, "kind")):  # fmt: skip
                r = http.get("/api/journal/events", params=params)
                assert r.status_code == 400, params
                assert r.json()["error"]["details"]["field"] == field
            assert http.get("/api/journal/stats").json()["stats"]["trades"] == 0
            assert http.get("/api/journal/pnl").json() == {"days": []}
            assert http.get("/api/journal/trades").json() == {"trades": [], "count": 0}
    finally:
        server.stop()
    plain = Server()  # no journal configured
    try:
        r = httpx.get(f"{plain.http}/api/journal/stats")
        assert r.status_code == 404 and r.json()["error"]["details"]["field"] == "journal"
    finally:
        plain.stop()


def test_the_desks_own_commands_are_regenerated_by_the_replay_with_their_cids(tmp_path: Path):
    """With start_behavior flatten the reconciliation itself issues a cancel and a market order
    (the desk's commands, not the API's): after a restart the replay issues them again from
    the journalled report and checks them against the journalled ones (cids, refs), so the
    restored desk has the same working orders."""
    path = tmp_path / "orderflow.sqlite"

    def start() -> Server:
        return Server(command_timeout_s=30.0, journal=path,
                      trading=TradingParams(risk=RiskParams(book_stale_ms=0.0,
                                                            kill_on_disconnect=False)),
                      trading_server=ServerTradingParams(use_sessions=False,
                                                         start_behavior="flatten"))  # fmt: skip

    pos = [{"instrument": "ES 03-24", "market_position": "Long", "quantity": 1,
            "average_price": 4810.25, "account": "Sim101"}]  # fmt: skip
    stop = [{"instrument": "ES 03-24", "cid": "nt-stop", "state": "Working", "quantity": 1,
             "action": "Sell", "order_type": "StopMarket", "stop_price": 4805.0}]  # fmt: skip
    server = start()
    try:
        bridge = Bridge(server, report=True)
        bridge.batch(depth=BOOK)
        bridge.report(pos, stop)
        # NinjaTrader's stop is cancelled (the wire ledger learns the adopted order: it had
        # refused the cancel of an order it never saw in a batch) and the position flattened
        sent = wait_for(lambda: bridge.commands[1:] and bridge.commands)
        assert [(c["op"], c["cid"], c["order_type"]) for c in sent] == [
            ("cancel", "nt-stop", None), ("submit", sent[1]["cid"], "Market")]  # fmt: skip
        with httpx.Client(base_url=server.http) as http:
            desk = http.get("/api/risk").json()["clients"]["nt8"]["desk"]
            assert "engine_commands_refused" not in desk
        flat = sent[1]["cid"]
        bridge.close()
    finally:
        server.stop()
    again = start()
    try:
        with httpx.Client(base_url=again.http) as http:
            restored = http.get("/api/risk").json()["clients"]["nt8"]["restored"]
            assert restored["mismatches"] == []
            assert restored["working_orders"] == sorted(["nt-stop", flat])
            bridge = Bridge(again, report=True)
            bridge.batch(depth=BOOK)
            # NinjaTrader: the stop cancelled, the market order filled while we were away
            bridge.report([], [])
            wait_for(lambda: http.get("/api/risk").json()["clients"]["nt8"]["reconciled"])
            view = http.get("/api/positions").json()["positions"]
            assert [p["quantity"] for p in view] == [0]
        bridge.close()
    finally:
        again.stop()


def test_an_api_bracket_comes_back_from_the_journal_and_is_managed_on(tmp_path: Path):
    """A bracket posted to the API whose entry filled (stop and target working) is rebuilt by
    the restarted server's replay with no mismatch: the target's fill after the restart
    cancels the stop, as the bracket's OCO rule says (the wire ledger, empty after the
    restart, learns the desk's order so that the cancel can go out)."""
    path = tmp_path / "orderflow.sqlite"
    server = journalled_server(path)
    body = {"client": "nt8", "op": "bracket", "cid": "b-1", "instrument": "ES 03-24",
            "action": "Buy", "order_type": "Market", "quantity": 1, "stop_ticks": 8,
            "target_ticks": 8}  # fmt: skip
    try:
        bridge = Bridge(server)
        bridge.batch(depth=BOOK)
        with httpx.Client(base_url=server.http) as http:
            assert http.post("/api/commands", json=body).status_code == 200
            wait_for(lambda: bridge.cids() == ["b-1"])
            bridge.fill("b-1", "Buy", 1, 4810.00, 1)
            wait_for(lambda: bridge.cids() == ["b-1", "b-1.stop", "b-1.tgt"])
        bridge.close()
    finally:
        server.stop()
    again = journalled_server(path)
    try:
        with httpx.Client(base_url=again.http) as http:
            restored = http.get("/api/risk").json()["clients"]["nt8"]["restored"]
            assert restored["mismatches"] == []
            assert restored["working_orders"] == ["b-1.stop", "b-1.tgt"]
            bridge = Bridge(again)
            bridge.batch(depth=BOOK)
            bridge.fill("b-1.tgt", "Sell", 1, 4812.00, 2)
            wait_for(lambda: [c["cid"] for c in bridge.commands if c["op"] == "cancel"]
                     == ["b-1.stop"])  # fmt: skip
            bridge.close()
    finally:
        again.stop()
