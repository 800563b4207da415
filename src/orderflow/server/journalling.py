"""The server trading engine's journal writer: one transaction per unit of work. (How a
restarted server rebuilds each client's order desk from the records is the trading node's
:mod:`orderflow.trading.journal_replay`, re-exported here.)

Writing (:class:`JournalWriter`): the engine adds records while it handles one thing (a batch
of order reports, an API command, a report, an acknowledgement, a kill) and commits them in one
transaction before anything of it leaves the process: no command goes on the wire, no ack goes
back to the bridge and no API answer is given before the records it depends on are durable.
A failed commit keeps the records in memory, in order, and writes them with the next commit
that succeeds (NinjaTrader's reports are facts: they are applied whatever the journal says);
the caller refuses the commands of a failed commit (``journal_unavailable``).

Replaying (:func:`replay_desk`): a client's records in journal order drive a fresh
:class:`OrderDesk` through the same calls the live node made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from orderflow.trading.journal import Entry, Journal
from orderflow.trading.journal_replay import (
    Replayed,
    command_payload,
    decision_fields,
    decision_payload,
    replay_desk,
    report_payload,
)

__all__ = [
    "JournalWriter",
    "Replayed",
    "command_payload",
    "decision_fields",
    "decision_payload",
    "replay_desk",
    "report_payload",
]

log = logging.getLogger("orderflow.server")

#: records kept in memory while the journal fails; beyond, the oldest are dropped (counted)
MAX_BACKLOG = 100_000


class JournalWriter:
    """Records of one unit of work, committed together (one sync)."""

    def __init__(self, journal: Journal, on_alert: Callable[[str, str, str], None] | None = None):
        self.journal = journal
        self.on_alert = on_alert
        self.pending: list[Entry] = []
        self.failing: str | None = None  # the last commit's error while it fails
        self.commits = 0
        self.records = 0
        self.failures = 0
        self.dropped = 0
        self.unstorable = 0
        self.commit_ns_total = 0
        self.commit_ns_max = 0

    def add(self, entry: Entry) -> None:
        """Queue a record for the next commit. A record no journal could store (a time
        beyond int64, a payload that does not encode) is dropped here, logged and alerted
        (``journal_unstorable``): kept, it would fail every later commit and with them every
        command, the engine's own flatten included."""
        try:
            Journal.row_of(entry)
        except (ValueError, TypeError, OverflowError) as exc:
            self.unstorable += 1
            log.error("journal %s: record %s dropped: %s", self.journal.path, entry.kind, exc)
            if self.on_alert is not None:
                self.on_alert("journal_unstorable", entry.instrument, f"{entry.kind}: {exc}")
            return
        self.pending.append(entry)
        if len(self.pending) > MAX_BACKLOG:
            del self.pending[0]
            self.dropped += 1

    def commit(self) -> bool:
        """Write what was added in one transaction; False (kept for the next try, alerted
        once per outage) when the journal cannot take it."""
        if not self.pending:
            return self.failing is None
        t0 = time.perf_counter_ns()
        try:
            if not self.journal.path.exists():  # SQLite would write on into the unlinked file
                raise FileNotFoundError(f"{self.journal.path} was removed: restart the server")
            self.journal.append_many(self.pending)
        except Exception as exc:  # sqlite3.Error, OSError (disk full, locked, removed)
            self.failures += 1
            if self.failing is None:
                log.error("journal %s: commit failed: %s", self.journal.path, exc)
                if self.on_alert is not None:
                    self.on_alert("journal_unavailable", "", f"{self.journal.path}: {exc}")
            self.failing = f"{type(exc).__name__}: {exc}"
            return False
        dt = time.perf_counter_ns() - t0
        self.commits += 1
        self.records += len(self.pending)
        self.commit_ns_total += dt
        self.commit_ns_max = max(self.commit_ns_max, dt)
        self.pending = []
        if self.failing is not None:
            log.warning("journal %s: writing again", self.journal.path)
        self.failing = None
        return True

    def status(self) -> dict[str, Any]:
        return {
            "path": str(self.journal.path), "ok": self.failing is None, "error": self.failing,
            "commits": self.commits, "records": self.records, "failures": self.failures,
            "backlog": len(self.pending), "dropped": self.dropped,
            "unstorable": self.unstorable,
            "commit_us_mean": round(self.commit_ns_total / self.commits / 1e3, 1)
            if self.commits else None,
            "commit_us_max": round(self.commit_ns_max / 1e3, 1),
        }  # fmt: skip
