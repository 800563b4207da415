"""What is wrong with a trading journal, and a repaired copy of it.

:func:`check_journal` opens the SQLite file on a connection of its own and says whether it can
be trusted: SQLite's own check (``integrity_check``, or the faster ``quick_check``) and every
record, one by one, against what a restore needs (:func:`record_problem`: the payload decodes
as its kind's struct, every price, quantity and amount is finite and plausible). A server does
not start on a journal that fails (``orderflow serve`` stops with one line naming the file);
``orderflow journal check`` prints the same findings with the records' ``seq``.

:func:`repair_journal` keeps what can be kept: the records that read and restore are copied,
in order and with their ``seq``, into a new file; a ``note`` record (``journal_repaired``, the
dropped ``seq`` s) closes it for each client; the damaged file is moved aside beside it, never
deleted. A server started on the repaired journal engages each client's kill switch
(``journal_repaired``) until an operator resets it: records may be missing.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import msgspec

from orderflow.core.errors import TradingInputError
from orderflow.trading.checks import MAX_CONTRACTS, ticks_value
from orderflow.trading.journal import KINDS, Entry, Journal
from orderflow.trading.orders import Fill, OrderCommand, OrderEvent
from orderflow.trading.positions import check_fill
from orderflow.trading.risk import RiskState

__all__ = [
    "REPAIRED",
    "BadRecord",
    "JournalCheck",
    "check_journal",
    "record_problem",
    "repair_journal",
]

#: the ``note`` action a repair leaves for each client (the restore engages the kill switch)
REPAIRED = "journal_repaired"
#: how many bad records a check lists (the count is always whole)
MAX_LISTED = 1000
#: unreadable ``seq`` s stepped over in a row before a repair stops reading
MAX_MISSES = 1_000
_MAX_NS = (1 << 63) - 1
_COLUMNS = "seq, ts_ns, day, kind, instrument, account, cid, payload, client"


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A record that does not restore: its ``seq``, kind, client and why."""

    seq: int
    kind: str
    client: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "client": self.client, "reason": self.reason}


@dataclass(slots=True)
class JournalCheck:
    """The findings of :func:`check_journal`."""

    path: str
    exists: bool = True
    error: str | None = None  # the file cannot be opened or read at all
    integrity: list[str] = field(default_factory=list)  # SQLite's findings ("ok" left out)
    records: int = 0
    bad: list[BadRecord] = field(default_factory=list)  # the first MAX_LISTED
    bad_count: int = 0
    clients: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exists and self.error is None and not self.integrity and not self.bad_count

    def summary(self) -> str:
        """One line: what is wrong (or that nothing is)."""
        return " ".join(self._summary().split())

    def _summary(self) -> str:
        if not self.exists:
            return f"{self.path}: no journal file"
        if self.error is not None:
            return f"{self.path}: cannot be read: {self.error}"
        if self.integrity:
            return f"{self.path}: SQLite integrity check failed: {self.integrity[0]}"
        if self.bad_count:
            first = self.bad[0]
            ids = ", ".join(str(b.seq) for b in self.bad[:5])
            more = f" and {self.bad_count - 5} more" if self.bad_count > 5 else ""
            return (f"{self.path}: {self.bad_count} record(s) do not restore (seq {ids}{more}); "
                    f"seq {first.seq} ({first.kind}): {first.reason}")  # fmt: skip
        return f"{self.path}: ok, {self.records} records"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "ok": self.ok, "exists": self.exists, "error": self.error,
            "integrity": self.integrity, "records": self.records, "bad_count": self.bad_count,
            "bad": [b.to_dict() for b in self.bad], "clients": self.clients,
            "summary": self.summary(),
        }  # fmt: skip


def record_problem(kind: str, ts_ns: Any, payload: str) -> str | None:
    """Why one record would not restore (None: it would). The same structs and checks the
    restore and the position book use, so a record that passes cannot make P&L NaN."""
    if isinstance(ts_ns, bool) or not isinstance(ts_ns, int) or not 0 <= ts_ns <= _MAX_NS:
        return f"ts_ns {ts_ns!r} is not a time"
    if kind not in KINDS:
        return f"unknown kind {kind!r}"
    if not isinstance(payload, str):
        return "the payload is not text"
    try:
        raw = payload.encode()
        data = msgspec.json.decode(raw)
        if not isinstance(data, dict):
            return "the payload is not an object"
        if kind == "execution":
            check_fill(msgspec.json.decode(raw, type=Fill))
        elif kind == "order_update":
            msgspec.json.decode(raw, type=OrderEvent)
        elif kind == "command":
            msgspec.json.decode(raw, type=OrderCommand)
        elif kind == "risk_state":
            RiskState.from_dict(data)
        elif kind in ("position", "position_adopted"):
            _position(data)
        elif kind == "risk_event" and not (
            isinstance(data.get("reason"), str) and isinstance(data.get("flatten"), bool)
        ):
            return "a risk event needs reason and flatten"
    except (msgspec.DecodeError, ValueError, TypeError, KeyError, ArithmeticError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _position(data: dict[str, Any]) -> None:
    qty = data["quantity"]
    if isinstance(qty, bool) or not isinstance(qty, int) or abs(qty) > MAX_CONTRACTS:
        raise TradingInputError(f"quantity {qty!r} is not a plausible position")
    avg = Fraction(str(data.get("avg_price_ticks", 0)))
    ticks_value(round(avg), "avg_price_ticks")


def _connect(path: Path) -> sqlite3.Connection:
    # a connection that only reads (mode=ro would fail on a WAL file whose -shm is gone)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout=5000")
    return db


def _rows(db: sqlite3.Connection) -> Iterator[tuple[Any, ...]]:
    yield from db.execute(f"SELECT {_COLUMNS} FROM events ORDER BY seq")


def check_journal(path: str | Path, full: bool = True) -> JournalCheck:
    """The journal at ``path`` checked: SQLite's ``integrity_check`` (``quick_check`` when not
    ``full``: the structure without the indexes' contents, faster) and every record."""
    path = Path(path)
    out = JournalCheck(str(path))
    if not path.exists():
        out.exists = False
        return out
    try:
        db = _connect(path)
    except sqlite3.Error as exc:
        out.error = f"{type(exc).__name__}: {exc}"
        return out
    try:
        pragma = "integrity_check" if full else "quick_check"
        found = [str(r[0]) for r in db.execute(f"PRAGMA {pragma}(20)").fetchall()]
        lines = [line.strip() for f in found for line in f.splitlines()]
        out.integrity = [x for x in lines if x and x != "ok" and not x.startswith("***")]
        clients: set[str] = set()
        for seq, ts, _day, kind, _inst, _acct, _cid, payload, client in _rows(db):
            out.records += 1
            clients.add(str(client))
            why = record_problem(kind, ts, payload)
            if why is not None:
                out.bad_count += 1
                if len(out.bad) < MAX_LISTED:
                    out.bad.append(BadRecord(int(seq), str(kind), str(client), why))
        out.clients = sorted(c for c in clients if c)
    except sqlite3.Error as exc:  # not a database, malformed pages, a truncated file
        out.error = f"{type(exc).__name__}: {exc}"
    finally:
        db.close()
    return out


def _salvage(path: Path) -> tuple[list[tuple[Any, ...]], list[int], str | None]:
    """The records that read and restore; the ``seq`` s of those that do not restore or could
    not be read; the first read error. Records are looked up one ``seq`` at a time, so a
    damaged page loses only the records on it (without a readable ``max(seq)``, the lookups
    stop after :data:`MAX_MISSES` in a row find nothing)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = _readable(path, Path(tmp))
        try:
            return _lookup(db)
        finally:
            db.close()


def _readable(path: Path, tmp: Path) -> sqlite3.Connection:
    """A connection that can read ``path``'s schema: the file itself, or (a truncated file,
    whose header promises pages it no longer has) a copy cut to whole pages with the header's
    page count set to what is there. The damaged file itself is never written."""
    db = _connect(path)
    try:
        db.execute("SELECT name FROM sqlite_master").fetchall()
        return db
    except sqlite3.Error:
        db.close()
    head = path.read_bytes()[:100]
    page = int.from_bytes(head[16:18], "big") if len(head) == 100 else 0
    page = 65_536 if page == 1 else page
    copy = tmp / "readable.sqlite"
    shutil.copyfile(path, copy)
    if page >= 512:
        pages = copy.stat().st_size // page
        with open(copy, "r+b") as f:
            f.truncate(pages * page)
            f.seek(28)
            f.write(pages.to_bytes(4, "big"))
    return _connect(copy)


def _lookup(db: sqlite3.Connection) -> tuple[list[tuple[Any, ...]], list[int], str | None]:
    kept: list[tuple[Any, ...]] = []
    dropped: list[int] = []
    unread: list[int] = []  # unreadable seqs, dropped once a later one reads
    stopped: str | None = None
    try:
        top: int | None = int(db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])
    except sqlite3.Error as exc:
        top, stopped = None, f"{type(exc).__name__}: {exc}"
    seq = misses = 0
    while (seq < top) if top is not None else misses < MAX_MISSES:
        seq += 1
        try:
            row = db.execute(f"SELECT {_COLUMNS} FROM events WHERE seq = ?", (seq,)).fetchone()
        except sqlite3.Error as exc:
            stopped = stopped or f"{type(exc).__name__}: {exc}"
            unread.append(seq)
            misses += 1
            continue
        if row is None:
            misses += 1
            continue
        misses = 0
        dropped += unread
        unread = []
        if record_problem(row[3], row[1], row[7]) is None:
            kept.append(row)
        else:
            dropped.append(seq)
    if top is not None:
        dropped += unread
    return kept, dropped, stopped


def repair_journal(path: str | Path) -> dict[str, Any]:
    """A repaired journal at ``path`` (see the module docstring); what was done. A journal
    that checks ok, or none, is left as it is."""
    path = Path(path)
    got = check_journal(path)
    if got.ok or not got.exists:
        return {"path": str(path), "repaired": False, "summary": got.summary()}
    kept, dropped, stopped = _salvage(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    fresh = path.with_name(f"{path.name}.repairing-{stamp}")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    clients = sorted({str(r[8]) for r in kept if r[8]} | set(got.clients))
    with Journal(fresh) as j:
        j.copy_records(kept)
        now = time.time_ns()
        detail = {"action": REPAIRED, "from": str(aside), "dropped": dropped[:MAX_LISTED],
                  "dropped_count": len(dropped), "error": stopped or got.summary()}  # fmt: skip
        j.append_many([Entry("note", now, detail, client=c) for c in clients]
                      or [Entry("note", now, detail)])  # fmt: skip
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(aside.with_name(aside.name + suffix))
    path.rename(aside)
    fresh.rename(path)
    return {
        "path": str(path), "repaired": True, "kept": len(kept), "dropped": dropped[:MAX_LISTED],
        "dropped_count": len(dropped), "moved_aside": str(aside), "clients": clients,
        "summary": f"{path}: kept {len(kept)} records, dropped {len(dropped)}; the damaged "
                   f"file is now {aside}; the kill switch of each client holds until reset",
    }  # fmt: skip
