"""``check_journal`` names every record that would not restore, ``restore_day`` refuses one
with a one-line JournalError naming the file and the record, and ``repair_journal`` keeps every
other record with its seq, moving the damaged file aside."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from orderflow.core.errors import JournalError
from orderflow.trading.journal import Journal
from orderflow.trading.journal_check import (
    REPAIRED,
    check_journal,
    record_problem,
    repair_journal,
)
from orderflow.trading.orders import Fill, Side
from orderflow.trading.risk import RiskState

T0 = 1_703_545_200_000_000_000


def fill(i: int, side: Side, price: int, commission: str = "1.29") -> Fill:
    return Fill(f"x{i}", "c", T0 + i, price, 1, side, Decimal(commission), Decimal("1.50"),
                "ESH4", "Sim101")  # fmt: skip


def legacy(path: Path, commission: str, execution_id: str) -> int:
    payload = {"execution_id": execution_id, "cid": "m", "t": T0, "price_ticks": 19240,
               "quantity": 1, "side": "Buy", "commission": commission, "fees": "1.5",
               "instrument": "ESH4", "account": "Sim101"}  # fmt: skip
    db = sqlite3.connect(path)
    cur = db.execute(
        "INSERT INTO events (ts_ns, day, kind, instrument, account, cid, payload, client)"
        " VALUES (?, '2023-12-26', 'execution', 'ESH4', 'Sim101', 'm', ?, 'nt8')",
        (T0, json.dumps(payload)),
    )
    db.commit()
    db.close()
    return int(cur.lastrowid or 0)


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        j.execution(fill(1, Side.BUY, 19240))
        j.execution(fill(2, Side.SELL, 19244))
    return path


def test_a_sound_journal_checks_ok(journal):
    got = check_journal(journal)
    assert got.ok and got.records == 2 and got.summary().endswith("ok, 2 records")


@pytest.mark.parametrize("commission", ["Infinity", "NaN", "1E+300", "-1000000", "-Infinity"])
def test_a_legacy_execution_is_named_by_seq_and_refuses_to_restore(journal, commission):
    seq = legacy(journal, commission, "bad")
    got = check_journal(journal)
    assert not got.ok and got.bad_count == 1
    assert got.bad[0].seq == seq and got.bad[0].kind == "execution"
    assert "commission" in got.bad[0].reason
    with Journal(journal) as j, pytest.raises(JournalError, match=f"record {seq} \\(execution\\)"):
        j.restore_day()


def test_record_problem_covers_each_kind():
    assert record_problem("execution", T0, "{not json") is not None
    assert record_problem("mystery", T0, "{}") == "unknown kind 'mystery'"
    assert record_problem("note", -1, "{}") is not None
    state = RiskState(balance=50_000.0).to_dict()
    assert record_problem("risk_state", T0, json.dumps(state)) is None
    bad = json.dumps({**state, "realised_today": 1e300})
    assert "realised_today" in (record_problem("risk_state", T0, bad) or "")
    assert (
        record_problem(
            "position_adopted", T0, json.dumps({"quantity": 1 << 63, "avg_price_ticks": "1"})
        )
        is not None
    )
    assert (
        record_problem("position", T0, json.dumps({"quantity": 1, "avg_price_ticks": "76961/4"}))
        is None
    )


def test_repair_keeps_every_other_record_with_its_seq(journal):
    seq = legacy(journal, "Infinity", "bad")
    with Journal(journal) as j:
        j.execution(fill(3, Side.BUY, 19240))
    out = repair_journal(journal)
    assert out["repaired"] and out["dropped"] == [seq] and out["kept"] == 3
    aside = Path(out["moved_aside"])
    assert aside.exists() and check_journal(aside).bad_count == 1  # kept, never deleted
    assert check_journal(journal).ok
    with Journal(journal) as j:
        rows = [(e.seq, e.kind) for e in j.events()]
        assert rows[:3] == [(1, "execution"), (2, "execution"), (4, "execution")]
        assert rows[3][1] == "note" and j.restore_day().positions.trades[0].net is not None
        note = next(e for e in j.events(kinds=["note"]))
        assert note.payload["action"] == REPAIRED and note.client == "nt8"


def test_a_file_that_is_not_a_database_cannot_be_read(tmp_path):
    path = tmp_path / "j.sqlite"
    path.write_bytes(b"this is not SQLite" * 500)
    got = check_journal(path)
    assert not got.ok and got.error is not None and "\n" not in got.summary()
