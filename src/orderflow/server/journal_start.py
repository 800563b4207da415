"""The trading journal at ``orderflow serve``'s start: a journal that cannot be trusted stops the
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
from typing import TYPE_CHECKING

from orderflow.core.errors import JournalError
from orderflow.trading.journal import Entry, Journal
from orderflow.trading.journal_check import check_journal

if TYPE_CHECKING:
    from orderflow.server.trading import ClientTrading, ServerTrading

__all__ = [
    "FIX", "JOURNAL_MISSING", "JOURNAL_REPAIRED", "hold", "hold_client", "open_journal", "release",
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


def hold_client(trading: ServerTrading, ct: ClientTrading, reason: str, detail: str) -> None:
    """Engage ``ct``'s kill switch for ``reason`` (journalled with its state) and alert."""
    if ct.risk.state.kill and ct.risk.state.kill_reason == reason:
        return
    now = time.time_ns()
    trading._rec(ct, "note", now, {"action": "hold_kill", "reason": reason, "detail": detail})
    trading._risk_events(ct, [ct.risk.kill(reason, now)])
    if trading.on_alert is not None:
        trading.on_alert(reason, ct.client, detail)


def hold(trading: ServerTrading, reason: str, clients: Iterable[str], detail: str) -> None:
    """Hold the kill switch of ``clients``, of every client already known, and of any that
    appears later (``ServerTrading.of``), until an operator resets it."""
    trading.held = (reason, detail)
    for name in sorted(set(clients) | set(trading.clients)):
        hold_client(trading, trading.of(name), reason, detail)
    trading._flush()


def release(trading: ServerTrading) -> None:
    """An operator reset every client: clients that appear later start free too; journalled
    (a ``reset_kill`` note of no client ends a repair's hold of every client)."""
    if trading.held is not None:
        reason, _ = trading.held
        trading.held = None
        if trading.writer is not None:
            note = {"action": "reset_kill", "was": reason}
            trading.writer.add(Entry("note", time.time_ns(), note))


def hold_if_missing(
    trading: ServerTrading | None, path: Path, today: list[Path], clients: Iterable[str]
) -> None:
    """A journal missing at start while today's recording (``today``) exists: :func:`hold`."""
    if trading is None or not today:
        return
    detail = (f"{path} was missing at start while today's recording exists "
              f"({', '.join(f.name for f in today)}): positions, orders and the day's P&L are "
              "unknown; check them in NinjaTrader, then POST /api/kill/reset")  # fmt: skip
    hold(trading, JOURNAL_MISSING, clients, detail)
