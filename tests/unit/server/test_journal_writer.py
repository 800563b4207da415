"""The server's journal writer keeps committing whatever one bad record holds."""

from __future__ import annotations

from pathlib import Path

from orderflow.server.journalling import JournalWriter
from orderflow.trading.journal import Entry, Journal


def test_a_record_no_journal_can_store_is_dropped_and_alerted_not_retried_forever(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    alerts: list[tuple[str, str, str]] = []
    writer = JournalWriter(journal, on_alert=lambda *a: alerts.append(a))
    writer.add(Entry("risk_event", 2**63, {"what": "beyond int64"}, instrument="ES 03-24"))
    writer.add(Entry("risk_event", 1_703_545_200_000_000_000, {"what": "fine"}))
    assert writer.commit()
    assert writer.status()["unstorable"] == 1 and writer.status()["ok"]
    assert [a[0] for a in alerts] == ["journal_unstorable"]
    assert alerts[0][1] == "ES 03-24" and "2^63" in alerts[0][2]
    events = journal.events()
    assert [e.payload for e in events] == [{"what": "fine"}]
    journal.close()
