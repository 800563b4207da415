"""No journal fault stops a restart for good: the real server (``orderflow serve`` in a
subprocess) trades a little through a WebSocket bridge, then its journal is damaged the ways
an attacker, a crash or a careless operator would: a legacy row that does not restore
(commission Infinity, 1e300, NaN, written with sqlite3 directly), the file deleted while the
server runs, truncated, overwritten in the middle. Each start on a damaged journal stops with
one line naming the file and what to do (never a traceback); ``orderflow journal check`` says
what is wrong (by record ``seq``); after the documented operator action (``orderflow journal
repair``, or a journal gone while today's recording exists) the server starts with the kill
switch held until an operator resets it with the token, and that reset is journalled and
sticks across the next restart."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.test_risk_inputs import BOOK, ENV, INST, T0, Bridge, execution
from tests.serving import Serve, http, write_config

pytestmark = pytest.mark.slow

TOKEN = "journal-faults-secret"
SERVE_ENV = {**ENV, "ORDERFLOW_SERVER__TOKEN": TOKEN}
AUTH = {"x-orderflow-token": TOKEN}
ROUND_TRIPS = 6


def journal_path(folder: Path) -> Path:
    return folder / "journal" / "orderflow.sqlite"


def cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orderflow.cli.main", "--config", str(folder / "config.yaml"),
         *args],
        cwd=folder, env={**os.environ, **ENV}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def risk(serve: Serve) -> dict[str, Any]:
    r = http().get(f"{serve.http}/api/risk", headers=AUTH, timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json()["clients"]["nt8"]["risk"])


def trade(serve: Serve, first: int = 0, n: int = ROUND_TRIPS) -> None:
    """Round trips of one ES contract reported by the bridge (each journalled and recorded)."""
    bridge = Bridge(serve.ws, "json", TOKEN)
    try:
        assert bridge.batch(**BOOK)["type"] == "ack"
        for k in range(first, first + n):
            assert bridge.batch(executions=[execution(10 * k, 4810.0, "Long")])["type"] == "ack"
            assert bridge.batch(executions=[execution(10 * k + 1, 4810.5, "Short")])["type"] \
                == "ack"  # fmt: skip
    finally:
        bridge.close()


@pytest.fixture(scope="module")
def traded_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose server traded today and was stopped cleanly (journal checkpointed):
    traded once for the module, each test damaging a copy of it."""
    folder = tmp_path_factory.mktemp("traded")
    write_config(folder)
    s = Serve(folder, env=SERVE_ENV)
    try:
        trade(s)
        assert risk(s)["realised_today"] > 0
    finally:
        s.stop()
    assert cli(folder, "journal", "check").returncode == 0
    return folder


@pytest.fixture
def traded(traded_once: Path, tmp_path: Path) -> Path:
    """A test's own copy of that folder (the journal, today's recording; its config naming
    the copy): the same state a server of its own would have left, without its start."""
    folder = tmp_path / "traded"
    shutil.copytree(traded_once, folder, ignore=shutil.ignore_patterns("serve-*.log"))
    write_config(folder)
    return folder


def refused_start(folder: Path) -> str:
    """A start that must fail: its one line of error (asserted to be just that)."""
    s = Serve(folder, env=SERVE_ENV, expect_exit=True)
    out = s.log_path.read_text()  # (Serve.output() flushes the log it closed)
    assert s.returncode == 2, out
    assert "Traceback" not in out, out
    errors = [line for line in out.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, out
    line = errors[0]
    assert str(journal_path(folder)) in line and "orderflow journal check" in line, line
    return line


def held_then_reset(folder: Path, reason: str) -> None:
    """The documented state after the operator's action: the server starts, every client's
    kill switch holds (entries refused) until an explicit reset with the token, which is
    journalled and sticks across a restart."""
    s = Serve(folder, env=SERVE_ENV)
    try:
        status = risk(s)
        assert status["kill"] and status["kill_reason"] == reason, status
        health = http().get(f"{s.http}/health", headers=AUTH, timeout=10).json()
        assert reason in json.dumps(health), health
        assert http().post(f"{s.http}/api/kill/reset", json={}, timeout=10).status_code == 401
        assert risk(s)["kill"]  # never silently reset, nor by anyone without the token
        r = http().post(f"{s.http}/api/kill/reset", json={}, headers=AUTH, timeout=10)
        assert r.status_code == 200 and not r.json()["clients"]["nt8"]["kill"], r.text
        trade(s, first=100, n=1)  # trading goes on: the journal takes it
    finally:
        s.stop()
    db = sqlite3.connect(journal_path(folder))
    notes = [
        json.loads(p)
        for (p,) in db.execute(
            "SELECT payload FROM events WHERE kind = 'note' AND client = 'nt8' ORDER BY seq"
        )
    ]
    db.close()  # fmt: skip
    assert {"action": "reset_kill", "was": reason} in notes, notes
    again = Serve(folder, env=SERVE_ENV)
    try:
        assert not risk(again)["kill"]  # the reset was journalled: it holds after a restart
    finally:
        again.stop()


def test_a_legacy_row_that_does_not_restore_stops_the_start_with_one_line(traded):
    folder = traded
    path = journal_path(folder)
    db = sqlite3.connect(path)
    seqs = []
    for i, commission in enumerate(["Infinity", "1E+300", "NaN", "-1000000"]):
        payload = {"execution_id": f"legacy-{i}", "cid": "m-legacy", "t": T0, "price_ticks": 19240,
                   "quantity": 1, "side": "Buy", "commission": commission, "fees": "1.50",
                   "instrument": "ESH4", "account": "Sim101"}  # fmt: skip
        cur = db.execute(
            "INSERT INTO events (ts_ns, day, kind, instrument, account, cid, payload, client)"
            " VALUES (?, ?, 'execution', 'ESH4', 'Sim101', 'm-legacy', ?, 'nt8')",
            (T0, "2023-12-26", json.dumps(payload)),
        )
        seqs.append(cur.lastrowid)
    db.commit()
    db.close()
    line = refused_start(folder)
    assert f"seq {seqs[0]}" in line and "commission" in line, line
    assert refused_start(folder) == line  # the same answer every time, never a crash loop
    got = cli(folder, "journal", "check", "--json")
    assert got.returncode == 1, got.stderr
    report = json.loads(got.stdout)
    assert not report["ok"] and report["integrity"] == []
    assert [b["seq"] for b in report["bad"]] == seqs
    assert all("commission" in b["reason"] for b in report["bad"])
    repaired = cli(folder, "journal", "repair", "--json")
    assert repaired.returncode == 0, repaired.stderr
    out = json.loads(repaired.stdout)
    assert out["repaired"] and out["dropped"] == seqs and Path(out["moved_aside"]).exists()
    assert cli(folder, "journal", "check").returncode == 0
    held_then_reset(folder, "journal_repaired")


def test_a_journal_deleted_while_serving_holds_the_kill_switch_after_restart(traded):
    folder = traded
    s = Serve(folder, env=SERVE_ENV)
    try:
        trade(s, first=50, n=1)
        bridge = Bridge(s.ws, "json", TOKEN)
        assert bridge.batch(**BOOK)["type"] == "ack"
        for suffix in ("", "-wal", "-shm"):
            Path(str(journal_path(folder)) + suffix).unlink(missing_ok=True)
        body = {"client": "nt8", "op": "submit", "cid": "after-delete", "instrument": INST,
                "action": "Buy", "order_type": "Market", "quantity": 1}  # fmt: skip
        r = http().post(f"{s.http}/api/commands", json=body, headers=AUTH, timeout=10)
        # never an order that is not journalled: the removed file is noticed
        assert r.status_code == 503 and "journal_unavailable" in r.text, r.text
        health = http().get(f"{s.http}/health", headers=AUTH, timeout=10).json()
        assert health["journal"]["ok"] is False, health["journal"]
        bridge.close()
    finally:
        s.kill()
    assert not journal_path(folder).exists()
    held_then_reset(folder, "journal_missing")


def test_a_truncated_journal_stops_the_start_and_repair_restarts_it(traded):
    folder = traded
    path = journal_path(folder)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    refused_start(folder)
    got = cli(folder, "journal", "check", "--json")
    assert got.returncode == 1
    report = json.loads(got.stdout)
    assert not report["ok"] and (report["integrity"] or report["error"]), report
    assert cli(folder, "journal", "repair").returncode == 0
    held_then_reset(folder, "journal_repaired")


def test_a_journal_overwritten_in_the_middle_stops_the_start_and_repair_restarts_it(traded):
    folder = traded
    path = journal_path(folder)
    size = path.stat().st_size
    page = 4096
    assert size >= 4 * page, size  # enough records to have a middle
    with open(path, "r+b") as f:
        f.seek((size // page // 2) * page)
        f.write(b"\xa5" * 1024)
    line = refused_start(folder)
    got = cli(folder, "journal", "check", "--json")
    assert got.returncode == 1, got.stdout
    report = json.loads(got.stdout)
    assert not report["ok"] and (report["error"] or report["integrity"] or report["bad"]), report
    assert "journal repair" in line
    assert cli(folder, "journal", "repair").returncode == 0
    assert cli(folder, "journal", "check").returncode == 0
    held_then_reset(folder, "journal_repaired")


def test_a_journal_moved_aside_while_todays_recording_exists_holds_the_kill_switch(traded):
    """The other documented action: move the damaged file aside and start on a new one."""
    folder = traded
    path = journal_path(folder)
    path.rename(path.with_name("orderflow.sqlite.aside"))
    held_then_reset(folder, "journal_missing")
