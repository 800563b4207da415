"""The trading journal: every command, report, fill and risk decision, in SQLite, before it is
acted on; the day's state restored from it after a restart; performance from its trades.

Storage (``docs/trading.md`` section "Journal"):

- One embedded SQLite file (stdlib ``sqlite3``), WAL mode, ``synchronous=FULL``: in WAL mode
  FULL syncs the log on every commit, so a commit that returned survives a killed process *and*
  a power cut (NORMAL would only survive the process). An append is one transaction; it has
  committed when :meth:`Journal.append` returns, and only then may the caller act on it.
  Several records of one report can share a transaction (:meth:`Journal.append_many`, one sync).
- One append-only table ``events`` (``seq``, ``ts_ns``, ``day``, ``kind``, ``instrument``,
  ``account``, ``cid``, ``client`` (the bridge client, schema 2), ``payload`` as JSON text,
  readable with the ``sqlite3`` shell and ``json_extract``); triggers refuse UPDATE and
  DELETE. ``schema_version`` says which layout the file has; a newer file is refused rather
  than misread, an older one is migrated when opened.
- Nothing derived is stored: positions, trades and P&L are rebuilt by replaying the journalled
  executions through the real :class:`~orderflow.trading.positions.PositionBook`, so the
  journal is the truth. The risk state is journalled as :meth:`RiskState.to_dict` snapshots
  (its inputs include every mark, too many to keep); the latest one is restored.

The ``day`` column is the CME trading day of ``ts_ns`` for the instrument (17:00 CT opens the
next day; ES's hours when no instrument is given); a ``risk_state`` record takes the state's
own day. This module knows nothing of the server: it takes the trading layer's own structs.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import msgspec

from orderflow.core.errors import (
    ArgumentError,
    DtypeError,
    JournalError,
    JournalVersionError,
    TradingInputError,
)
from orderflow.model.instruments import Instrument, get_instrument
from orderflow.model.session_times import trading_day_of
from orderflow.trading.broker import BrokerProfile
from orderflow.trading.money import money
from orderflow.trading.orders import Fill, OrderCommand, OrderEvent
from orderflow.trading.positions import PositionBook, Trade
from orderflow.trading.risk import (
    OrderIntent,
    RiskDecision,
    RiskEvent,
    RiskManager,
    RiskParams,
    RiskState,
)
from orderflow.trading.sessions import TradingSessions

__all__ = [
    "KINDS",
    "SCHEMA_VERSION",
    "Entry",
    "Journal",
    "JournalEvent",
    "Restored",
    "performance",
    "plain",
    "pnl_by_day",
    "report",
    "trade_day",
    "trade_rows",
]

#: 2: the ``client`` column (the bridge client whose desk the record belongs to); a version 1
#: file is migrated in place on open (the column added with '' for its records)
SCHEMA_VERSION = 2

#: What an event records. ``execution`` and ``position_adopted`` are replayed into positions.
KINDS = frozenset({
    "command",  # an OrderCommand we are about to send
    "command_ack",  # the bridge's answer to a command
    "order_update",  # an OnOrderUpdate (OrderEvent)
    "execution",  # an OnExecutionUpdate (Fill), with its instrument and account
    "position",  # NinjaTrader's OnPositionUpdate
    "position_adopted",  # reconciliation replaced our position with NinjaTrader's
    "reconcile",  # a reconciliation's outcome
    "risk_decision",  # an order intent and the RiskDecision on it
    "risk_event",  # a limit reached (RiskEvent)
    "risk_state",  # RiskState.to_dict()
    "connection",  # the bridge connected or went away
    "batch",  # a batch of order reports was journalled: its client and sequence number
    "bracket",  # a bracket operation (submit, cancel, close, amend) with its arguments
    "strategy",  # a strategy decision: intent, outcome (sent or why not), entry cid
    "note",  # anything else worth keeping (an operator's action)
})  # fmt: skip

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL,
    applied_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ns INTEGER NOT NULL,
    day TEXT NOT NULL,
    kind TEXT NOT NULL,
    instrument TEXT NOT NULL DEFAULT '',
    account TEXT NOT NULL DEFAULT '',
    cid TEXT NOT NULL DEFAULT '',
    payload TEXT NOT NULL,
    client TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_kind_seq ON events (kind, seq);
CREATE INDEX IF NOT EXISTS events_day ON events (day);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
"""


def _default(obj: Any) -> Any:
    if isinstance(obj, Fraction):
        return f"{obj.numerator}/{obj.denominator}"
    raise DtypeError(f"cannot journal {type(obj).__name__}")


_INT64_MAX = 2**63 - 1
_ENCODER = msgspec.json.Encoder(enc_hook=_default)


def trade_day(ts_ns: int, instrument: str | Instrument = "ES") -> str:
    """The CME trading day (ISO) of ``ts_ns`` for ``instrument``'s session hours."""
    inst = instrument if isinstance(instrument, Instrument) else get_instrument(instrument or "ES")
    return trading_day_of(ts_ns, inst.trading_hours).isoformat()


@dataclass(frozen=True, slots=True)
class Entry:
    """One record to append."""

    kind: str
    ts_ns: int
    payload: Any  # a dict, a msgspec Struct or a dataclass; encoded as JSON
    instrument: str = ""
    account: str = ""
    cid: str = ""
    day: str | None = None  # default: the trading day of ts_ns for the instrument
    client: str = ""  # the bridge client (the server's desk) the record belongs to


@dataclass(frozen=True, slots=True)
class JournalEvent:
    seq: int
    ts_ns: int
    day: str
    kind: str
    instrument: str
    account: str
    cid: str
    payload: Any  # the decoded JSON
    raw: bytes
    client: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "ts_ns": self.ts_ns, "day": self.day, "kind": self.kind,
            "instrument": self.instrument, "account": self.account, "cid": self.cid,
            "client": self.client, "payload": self.payload,
        }  # fmt: skip


@dataclass(slots=True)
class Restored:
    """What a restarted server needs of the journal up to the end of ``day``."""

    day: str | None
    risk_state: RiskState | None  # the latest snapshot (None: none journalled)
    positions: PositionBook  # every execution and adoption replayed, in journal order
    fills: list[Fill] = field(default_factory=list)  # each execution once, as applied
    last_seq: int = 0
    #: executions journalled after the latest risk snapshot (a crash between the two appends),
    #: each with the round trips it closed: :meth:`risk_manager` feeds them to the risk state
    after_snapshot: list[tuple[Fill, list[Trade]]] = field(default_factory=list)

    def risk_manager(
        self,
        params: RiskParams | None = None,
        sessions: TradingSessions | Mapping[str, TradingSessions] | None = None,
        broker: BrokerProfile | None = None,
    ) -> RiskManager:
        """A :class:`RiskManager` on the restored state, with the executions journalled after
        the snapshot applied (``on_fill``, or the position moved when the order is not among
        its working ones; ``on_realised`` with each closed trade's net). Risk positions are
        keyed by the fill's instrument, as the desk's intents are by the order's."""
        state = None if self.risk_state is None else RiskState.from_dict(self.risk_state.to_dict())
        risk = RiskManager(params, sessions, broker, state)
        for fill, closed in self.after_snapshot:
            if fill.cid in risk.state.pending:
                risk.on_fill(fill.cid, fill.quantity)
            else:
                symbol = fill.instrument
                risk.set_position(symbol, risk.position(symbol) + fill.side.sign * fill.quantity)
            for trade in closed:
                risk.on_realised(float(trade.net), fill.t)
        return risk

    @property
    def trades(self) -> list[Trade]:
        """Round trips closed on ``day`` (every closed one when ``day`` is None)."""
        return [
            t for t in self.positions.closed_trades()
            if self.day is None or trade_day(t.closed_t or 0, t.instrument) == self.day
        ]  # fmt: skip


class Journal:
    """An append-only SQLite journal. Thread-safe (one connection behind a lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # isolation_level=None: autocommit; a lone INSERT is its own committed transaction.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        has_events = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'"
        ).fetchone()
        version = None
        if has_events:
            row = self._db.execute("SELECT max(version) FROM schema_version").fetchone()
            version = row[0]
        if version is not None and version > SCHEMA_VERSION:
            self._db.close()
            raise JournalVersionError(
                f"{self.path}: journal schema {version} is newer than this orderflow's "
                f"({SCHEMA_VERSION})"
            )
        if version is not None and version < SCHEMA_VERSION:
            self._migrate(version)
        self._db.executescript(_SCHEMA)  # idempotent: IF NOT EXISTS
        if version is None:
            self._db.execute(
                "INSERT INTO schema_version VALUES (?, ?)", (SCHEMA_VERSION, time.time_ns())
            )

    def _migrate(self, version: int) -> None:
        """Bring an older file up to :data:`SCHEMA_VERSION` in one transaction (records are
        never rewritten: a column is added, its old rows take the default)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if version < 2:
                self._db.execute("ALTER TABLE events ADD COLUMN client TEXT NOT NULL DEFAULT ''")
            self._db.execute(
                "INSERT INTO schema_version VALUES (?, ?)", (SCHEMA_VERSION, time.time_ns())
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    # ---- writing -------------------------------------------------------------------------------
    def append(
        self,
        kind: str,
        ts_ns: int,
        payload: Any,
        instrument: str = "",
        account: str = "",
        cid: str = "",
        day: str | None = None,
    ) -> int:
        """Write one record and commit it (synced to disk) before returning its ``seq``."""
        return self.append_many([Entry(kind, ts_ns, payload, instrument, account, cid, day)])[0]

    def append_many(self, entries: Sequence[Entry]) -> list[int]:
        """Write records in one transaction (one sync); their ``seq`` s once committed."""
        rows = [self.row_of(e) for e in entries]
        seqs: list[int] = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for row in rows:
                    cur = self._db.execute(
                        "INSERT INTO events (ts_ns, day, kind, instrument, account, cid, payload,"
                        " client) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        row,
                    )
                    seqs.append(int(cur.lastrowid or 0))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return seqs

    def copy_records(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Records of another journal copied as they are, ``seq`` included, in one
        transaction (a repair: :mod:`orderflow.trading.journal_check`). Columns: seq, ts_ns,
        day, kind, instrument, account, cid, payload, client."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO events (seq, ts_ns, day, kind, instrument, account, cid, payload,"
                    " client) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    @staticmethod
    def row_of(e: Entry) -> tuple[Any, ...]:
        if e.kind not in KINDS:
            raise ArgumentError(f"journal kind {e.kind!r}: one of {', '.join(sorted(KINDS))}")
        if not 0 <= int(e.ts_ns) <= _INT64_MAX:
            raise TradingInputError(
                f"journal ts_ns {e.ts_ns}: outside 0..2^63-1, SQLite cannot hold it"
            )
        day = e.day or trade_day(e.ts_ns, e.instrument or "ES")
        text = _ENCODER.encode(e.payload).decode()
        return (int(e.ts_ns), day, e.kind, e.instrument, e.account, e.cid, text, e.client)

    # Typed helpers: what the desk and the risk manager produce, as they produce it.
    def command(self, cmd: OrderCommand, account: str = "") -> int:
        return self.append("command", cmd.t, cmd, cmd.instrument, account, cmd.cid)

    def command_ack(
        self, ts_ns: int, ref: int, status: str, reason: str = "", instrument: str = ""
    ) -> int:
        payload = {"ref": ref, "status": status, "reason": reason}
        return self.append("command_ack", ts_ns, payload, instrument)

    def order_update(self, ev: OrderEvent, instrument: str = "", account: str = "") -> int:
        return self.append("order_update", ev.t, ev, instrument, account, ev.cid)

    def execution(self, fill: Fill, instrument: str = "", account: str = "") -> int:
        """An execution, with the instrument and account it is applied to."""
        return self.append("execution", fill.t, fill, instrument or fill.instrument,
                           account or fill.account, fill.cid)  # fmt: skip

    def position_adopted(
        self, ts_ns: int, account: str, instrument: str, quantity: int, avg_price_ticks: Fraction
    ) -> int:
        payload = {"quantity": quantity, "avg_price_ticks": avg_price_ticks}
        return self.append("position_adopted", ts_ns, payload, instrument, account)

    def risk_decision(
        self,
        intent: OrderIntent,
        decision: RiskDecision,
        account: str = "",
        state: RiskState | None = None,
    ) -> int:
        """The decision on an intent; with ``state`` (the manager's, after the check: an
        accepted order is already counted) both commit in one transaction, so a crash never
        leaves an accepted order the restored state does not know."""
        payload = {"intent": asdict(intent), "accepted": decision.accepted,
                   "reason": str(decision.reason), "detail": decision.detail,
                   "code": decision.code}  # fmt: skip
        entries = [Entry("risk_decision", intent.ts_ns, payload, intent.symbol, account,
                         intent.client_id)]  # fmt: skip
        if state is not None:
            entries.append(Entry("risk_state", intent.ts_ns, state.to_dict(), account=account,
                                 day=state.day))  # fmt: skip
        return self.append_many(entries)[0]

    def risk_event(self, event: RiskEvent, account: str = "") -> int:
        return self.append("risk_event", event.ts_ns, asdict(event), account=account)

    def risk_state(self, state: RiskState, ts_ns: int, account: str = "") -> int:
        return self.append("risk_state", ts_ns, state.to_dict(), account=account, day=state.day)

    # ---- reading -------------------------------------------------------------------------------
    def events(
        self,
        since: int = 0,
        kinds: Iterable[str] | None = None,
        day: str | None = None,
        until_day: str | None = None,
        client: str | None = None,
        limit: int | None = None,
    ) -> Iterator[JournalEvent]:
        """Records with ``seq > since`` in journal order, of ``kinds``, of ``day`` (or up to
        and including ``until_day``), of ``client``; the first ``limit`` of them."""
        sql = "SELECT seq, ts_ns, day, kind, instrument, account, cid, payload, client FROM events"
        where: list[str] = ["seq > ?"]
        args: list[int | str] = [since]
        if kinds is not None:
            ks = list(kinds)
            where.append(f"kind IN ({', '.join('?' * len(ks))})")
            args += ks
        if day is not None:
            where.append("day = ?")
            args.append(day)
        if until_day is not None:
            where.append("day <= ?")
            args.append(until_day)
        if client is not None:
            where.append("client = ?")
            args.append(client)
        tail = "" if limit is None else f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._db.execute(f"{sql} WHERE {' AND '.join(where)} ORDER BY seq{tail}", args)
            fetched = rows.fetchall()
        for seq, ts, d, kind, inst, acct, cid, text, cl in fetched:
            raw = text.encode()
            yield JournalEvent(seq, ts, d, kind, inst, acct, cid, msgspec.json.decode(raw), raw,
                               cl)  # fmt: skip

    def clients(self) -> list[str]:
        """The bridge clients the journal has records of (``''``: records of no client)."""
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT client FROM events ORDER BY client")
            return [r[0] for r in rows.fetchall()]

    def last_seq(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])

    def days(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT day FROM events ORDER BY day").fetchall()
        return [r[0] for r in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])

    def restore_day(self, day: str | None = None, client: str | None = None) -> Restored:
        """The state up to the end of ``day`` (default: the journal's last day): the executions
        and adoptions replayed through a fresh :class:`PositionBook` (positions, P&L, trades),
        and the latest :class:`RiskState` snapshot. Open orders are not rebuilt: on reconnect
        NinjaTrader's report is the truth (``reconcile.py``). Marks are not journalled: MAE/MFE
        of a replayed trade see its fill prices only. ``client``: that bridge client's records
        only (None: every record)."""
        if day is None:
            known = self.days()
            day = known[-1] if known else None
        book = PositionBook()
        out = Restored(day, None, book)
        seen: set[str] = set()
        kinds = ("execution", "position_adopted", "risk_state")
        for ev in self.events(kinds=kinds, until_day=day, client=client):
            out.last_seq = ev.seq
            try:
                self._restore_one(ev, out, book, seen)
            except (ValueError, TypeError, KeyError, ArithmeticError, msgspec.DecodeError) as exc:
                raise JournalError(
                    f"{self.path}: record {ev.seq} ({ev.kind}) does not restore: {exc}; run "
                    "`orderflow journal check`, then `orderflow journal repair`",
                    field="trading.journal", seq=ev.seq,
                ) from exc  # fmt: skip
        return out

    @staticmethod
    def _restore_one(ev: JournalEvent, out: Restored, book: PositionBook, seen: set[str]) -> None:
        if ev.kind == "execution":
            fill = msgspec.json.decode(ev.raw, type=Fill)
            if fill.execution_id in seen:
                return  # a resent execution: journalled, counted once
            seen.add(fill.execution_id)
            if ev.instrument != fill.instrument or ev.account != fill.account:
                fill = msgspec.structs.replace(fill, instrument=ev.instrument,
                                               account=ev.account)  # fmt: skip
            out.after_snapshot.append((fill, book.apply(fill)))
            out.fills.append(fill)
        elif ev.kind == "position_adopted":
            p = ev.payload
            avg = Fraction(p["avg_price_ticks"])
            book.position(ev.account, ev.instrument).adopt(p["quantity"], avg, ev.ts_ns)
        else:
            out.risk_state = RiskState.from_dict(ev.payload)
            out.after_snapshot.clear()

    def trades(self, day: str | None = None, client: str | None = None) -> list[Trade]:
        """Closed round trips (of ``day``, by the trading day they closed; of ``client``),
        replayed."""
        restored = self.restore_day(None, client)
        trades = restored.positions.closed_trades()
        if day is not None:
            trades = [t for t in trades if trade_day(t.closed_t or 0, t.instrument) == day]
        return trades

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- performance -------------------------------------------------------------------------------
def _ordered(trades: Iterable[Trade]) -> list[Trade]:
    closed = [t for t in trades if t.closed_t is not None]
    return sorted(closed, key=lambda t: (t.closed_t or 0, t.number))


def performance(trades: Iterable[Trade]) -> dict[str, Any]:
    """Closed trades' statistics, net of commission and fees, exact ``Decimal`` currency:

    - ``win_rate``: winners / trades (a trade at exactly 0 is neither winner nor loser);
    - ``avg_win`` / ``avg_loss``: mean net of the winners / of the losers (negative);
    - ``expectancy``: net P&L / trades (= win rate x avg win + loss rate x avg loss);
    - ``profit_factor``: winners' sum / |losers' sum| (None without a loser);
    - ``max_drawdown``: the largest fall of the closed-trade equity curve (cumulative net
      from 0, trades in closing order) from its running peak, >= 0.
    """
    ts = _ordered(trades)
    nets = [t.net for t in ts]
    wins = [n for n in nets if n > 0]
    losses = [n for n in nets if n < 0]
    total = sum(nets, Decimal(0))
    peak = equity = dd = Decimal(0)
    for n in nets:
        equity += n
        peak = max(peak, equity)
        dd = max(dd, peak - equity)
    won, lost = sum(wins, Decimal(0)), sum(losses, Decimal(0))
    return {
        "trades": len(ts), "wins": len(wins), "losses": len(losses),
        "scratches": len(nets) - len(wins) - len(losses),
        "net": total, "gross": sum((t.gross for t in ts), Decimal(0)),
        "commission": sum((t.commission for t in ts), Decimal(0)),
        "fees": sum((t.fees for t in ts), Decimal(0)),
        "win_rate": Decimal(len(wins)) / len(ts) if ts else None,
        "avg_win": won / len(wins) if wins else None,
        "avg_loss": lost / len(losses) if losses else None,
        "expectancy": total / len(ts) if ts else None,
        "profit_factor": won / -lost if losses else None,
        "max_drawdown": dd, "largest_win": max(wins, default=None),
        "largest_loss": min(losses, default=None),
    }  # fmt: skip


def pnl_by_day(trades: Iterable[Trade]) -> list[dict[str, Any]]:
    """Per CME trading day a trade closed: trades, wins, losses, gross, costs and net."""
    days: dict[str, list[Trade]] = {}
    for t in _ordered(trades):
        days.setdefault(trade_day(t.closed_t or 0, t.instrument), []).append(t)
    out = []
    for day, ts in sorted(days.items()):
        p = performance(ts)
        out.append({"day": day, **{k: p[k] for k in ("trades", "wins", "losses", "gross",
                                                        "commission", "fees", "net")}})  # fmt: skip
    return out


def trade_rows(trades: Iterable[Trade]) -> list[dict[str, Any]]:
    """Closed trades as plain rows (``Trade.to_dict`` and the trading day it closed): prices
    in the exchange's units, currency rounded to the cent."""
    return [{"day": trade_day(t.closed_t or 0, t.instrument), **t.to_dict()}
            for t in _ordered(trades)]  # fmt: skip


def report(trades: Iterable[Trade]) -> dict[str, Any]:
    """Everything the API and the CLI show, as plain JSON values: ``stats``
    (:func:`performance`), ``by_day`` (:func:`pnl_by_day`) and ``trades`` (:func:`trade_rows`)."""
    ts = _ordered(trades)
    return {"stats": plain(performance(ts)), "by_day": plain(pnl_by_day(ts)),
            "trades": trade_rows(ts)}  # fmt: skip


def plain(value: Any, places: Decimal | None = None) -> Any:
    """For JSON: Decimals as numbers rounded to the cent (ratios to 1e-4), recursively."""
    if isinstance(value, Decimal):
        return float(money(value) if places is None else value.quantize(places))
    if isinstance(value, Mapping):
        ratio = {"win_rate", "profit_factor"}
        return {k: plain(v, Decimal("0.0001") if k in ratio else places) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v, places) for v in value]
    return value
