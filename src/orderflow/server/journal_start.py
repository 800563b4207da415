"""The trading journal at ``orderflow serve``'s start: each client's desk and risk state
restored from it (:func:`restore`, the records replayed by
:func:`~orderflow.server.journalling.replay_desk`); a journal that cannot be trusted stops the
start with one line; a journal that went missing holds the kill switch.

- A journal that fails its check (:func:`~orderflow.trading.journal_check.check_journal`:
  SQLite's ``quick_check``, then every record against what a restore needs) or that does not
  restore raises :class:`JournalError`: one line naming the file, what is wrong and what to do
  (``orderflow journal check``, then ``orderflow journal repair``). Never a traceback loop.
- A journal missing (or empty) at start while today's recording exists: the server traded or
  fed today and its journal vanished, so its positions, working orders and the day's P&L are
  unknown. Every client's kill switch is engaged (``journal_missing``; new entries refused,
  exits pass) for the clients the recording names and for any client that connects later,
  until an operator resets it (``POST /api/kill/reset`` with the token; journalled).
- A repaired journal (a ``journal_repaired`` note after the client's last reset) holds the
  client's kill switch the same way (``journal_repaired``): records may have been dropped.

The kill switch never resets by itself: these kills are not automatic kills
(``auto_kill_latches: false`` releases only a stale or crossed book and a lost connection).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from orderflow.core.errors import JournalError
from orderflow.server.journalling import replay_desk
from orderflow.server.trading import ServerTrading
from orderflow.trading.journal import Journal, JournalEvent
from orderflow.trading.journal_check import REPAIRED, check_journal
from orderflow.trading.risk import RiskManager, RiskState

__all__ = [
    "FIX", "JOURNAL_MISSING", "JOURNAL_REPAIRED", "hold_if_missing", "open_journal", "restore",
    "restore_failed",
]  # fmt: skip

JOURNAL_MISSING = "journal_missing"
JOURNAL_REPAIRED = "journal_repaired"
#: what the operator does about a journal that cannot be trusted
FIX = (
    "run `orderflow journal check` to see what is wrong, then `orderflow journal repair` "
    "(keeps every record that restores, moves the damaged file aside; the kill switch then "
    "holds until reset with POST /api/kill/reset)"
)


def open_journal(path: str | Path) -> tuple[Journal, bool]:
    """The journal at ``path`` for the server, and whether it was missing (or empty) before;
    :class:`JournalError` (one line) when it cannot be trusted."""
    path = Path(path)
    missing = not path.exists() or path.stat().st_size == 0
    if not missing:
        got = check_journal(path, full=False)
        if not got.ok:
            raise JournalError(f"trading.journal {got.summary()}; {FIX}",
                               field="trading.journal", path=str(path))  # fmt: skip
    try:
        return Journal(path), missing
    except (OSError, ValueError, sqlite3.Error) as exc:
        raise JournalError(f"trading.journal {path}: {exc}; {FIX}", field="trading.journal",
                           path=str(path)) from exc  # fmt: skip


def restore_failed(path: Path, exc: BaseException) -> JournalError:
    """A restore that raised: the one line the server stops with."""
    return JournalError(
        f"trading.journal {path}: does not restore: {type(exc).__name__}: {exc}; {FIX}",
        field="trading.journal", path=str(path),
    )  # fmt: skip


def hold_if_missing(
    trading: ServerTrading | None, path: Path, today: list[Path], clients: Iterable[str]
) -> None:
    """A journal missing at start while today's recording (``today``) exists: :func:`hold`."""
    if trading is None or not today:
        return
    detail = (f"{path} was missing at start while today's recording exists "
              f"({', '.join(f.name for f in today)}): positions, orders and the day's P&L are "
              "unknown; check them in NinjaTrader, then POST /api/kill/reset")  # fmt: skip
    trading.hold(JOURNAL_MISSING, clients, detail)


def restore(trading: ServerTrading, journal: Journal) -> None:
    """Each client's desk replayed from its records and its latest risk state; the gate
    stays shut until the client's next report (NinjaTrader's word is the truth). A journal
    that does not restore raises :class:`JournalError` (one line naming the file and what to
    do: the server does not start); a repaired one holds the kill switch."""
    try:
        for client in journal.clients():
            if client:
                _restore_client(trading, journal, client)
        # a repair that could name no client holds every client, present and to come
        repaired = _repaired_after_reset(list(journal.events(kinds=["note"], client="")))
        if repaired is not None:
            trading.hold(JOURNAL_REPAIRED, [], repaired)
    except JournalError:
        raise
    except Exception as exc:  # sqlite3.Error, a record this code cannot replay: never a loop
        raise restore_failed(journal.path, exc) from exc


def _repaired_after_reset(events: list[JournalEvent]) -> str | None:
    """The detail of a ``journal_repaired`` note later than the client's last kill reset."""
    detail = None
    for ev in events:
        if ev.kind == "note" and isinstance(ev.payload, dict):
            action = ev.payload.get("action")
            if action == REPAIRED:
                detail = (
                    f"the journal was repaired: {ev.payload.get('dropped_count', 0)} "
                    f"record(s) dropped, the damaged file is {ev.payload.get('from')}"
                )
            elif action == "reset_kill":
                detail = None
    return detail


def _restore_client(trading: ServerTrading, journal: Journal, client: str) -> None:
    ct = trading.of(client)
    t0 = time.perf_counter()
    events = list(journal.events(client=client))
    got = replay_desk(events, ct.desk)
    if got.risk_state is not None:
        try:
            state = RiskState.from_dict(got.risk_state)
        except (TypeError, ValueError, KeyError) as exc:
            # a state this code cannot read: trade nothing until someone looks
            got.mismatches.append(f"risk state not restored: {exc}")
            ct.risk.kill("journal_restore", time.time_ns())
        else:
            ct.risk = RiskManager(trading.params.risk, broker=trading.broker, state=state)
    ct.events = got.events[-100:]
    ct.strategy_state = got.strategy  # the strategy's hosts take it when they are made
    ct.flattening = got.flattening
    ct.desk.connection_lost()
    trading.journalled_batch[client] = got.last_batch_seq
    ct.restored = {
        "records": got.records, "last_seq": got.last_seq,
        "seconds": round(time.perf_counter() - t0, 3),
        "working_orders": sorted(o.cid for o in ct.desk.orders.working()),
        "mismatches": got.mismatches[:20],
    }  # fmt: skip
    if got.mismatches and trading.on_alert is not None:
        trading.on_alert("journal_replay", client, "; ".join(got.mismatches[:5]))
    repaired = _repaired_after_reset(events)
    if repaired is not None:
        trading.hold_client(ct, JOURNAL_REPAIRED, repaired)
        trading._flush()
