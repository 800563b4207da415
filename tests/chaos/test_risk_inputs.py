"""Risk trusts nothing: hostile executions, order updates, position updates and reports sent to
the real server (``orderflow serve`` in a subprocess, journal and recordings in its folder), by
REST and by WebSocket (JSON and MessagePack, which can carry NaN and infinities). Each is
refused with a 400 (an ``error`` on the WebSocket) naming the field; nothing of its batch is
applied or journalled; ``/api/risk`` stays 200 with finite P&L, the daily loss limit still
trips on a real losing trade, and the next start restores the same finite state."""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.conftest import PROJECT_ROOT
from tests.serving import Serve, http, write_config

pytestmark = pytest.mark.slow

INST = "ES 03-24"
# the REST tests feed a contract of their own: an instrument belongs to the client that feeds
# it, and REST and the WebSocket bridge are two clients of one server here
REST_INST = "ES 06-24"
T0 = 1_703_545_200_000_000_000
ES_SIDE = 1.29 + 1.50  # the default broker profile's ES commission and fees per contract side
LIMIT = 300.0
#: the server runs this tree's code (not whatever orderflow the virtualenv installed)
ENV = {"PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "src"), str(PROJECT_ROOT)])}


def execution(n: int, price: Any = 4810.0, side: str = "Long", **kw: Any) -> dict[str, Any]:
    return {"t": T0 + n, "cid": f"m-{n}", "execution_id": f"x-{n}", "price": price,
            "quantity": 1, "market_position": side, **kw}  # fmt: skip


#: (what is sent, the field the refusal must name); each an execution unless it says otherwise
HOSTILE: list[tuple[str, dict[str, Any], str]] = [
    ("commission NaN", {"executions": [execution(1, commission=math.nan)]},
     "executions[0].commission"),
    ("commission Infinity", {"executions": [execution(1, commission=math.inf)]},
     "executions[0].commission"),
    ("commission 1e300", {"executions": [execution(1, commission=1e300)]},
     "executions[0].commission"),
    ("commission -1e6", {"executions": [execution(1, commission=-1e6)]},
     "executions[0].commission"),
    ("commission 51 per contract", {"executions": [execution(1, commission=51.0)]},
     "executions[0].commission"),
    ("price off the grid", {"executions": [execution(1, price=4810.1)]}, "executions[0].price"),
    ("price NaN", {"executions": [execution(1, price=math.nan)]}, "executions[0].price"),
    ("price 1e300", {"executions": [execution(1, price=1e300)]}, "executions[0].price"),
    ("price far from the market", {"executions": [execution(1, price=48100.0)]},
     "executions[0].price"),
    ("quantity 0", {"executions": [execution(1, quantity=0)]}, "executions[0].quantity"),
    ("quantity -1", {"executions": [execution(1, quantity=-1)]}, "executions[0].quantity"),
    ("quantity 2^63", {"executions": [execution(1, quantity=1 << 63)]},
     "executions[0].quantity"),
    ("time 2^63", {"executions": [execution(1, t=(1 << 63) - 1)]}, "executions[0].t"),
    ("second execution bad", {"executions": [execution(1), execution(2, commission=-1.0)]},
     "executions[1].commission"),
    ("order update quantity 2^63",
     {"orders": [{"t": T0, "cid": "m-1", "state": "Working", "quantity": 1 << 63}]},
     "orders[0].quantity"),
    ("order update limit NaN",
     {"orders": [{"t": T0, "cid": "m-1", "state": "Working", "quantity": 1,
                  "limit_price": math.nan}]}, "orders[0].limit_price"),
    ("order update stop off the grid",
     {"orders": [{"t": T0, "cid": "m-1", "state": "Working", "quantity": 1,
                  "stop_price": 4800.1}]}, "orders[0].stop_price"),
    ("position average Infinity",
     {"positions": [{"t": T0, "market_position": "Long", "quantity": 1,
                     "average_price": math.inf}]}, "positions[0].average_price"),
    ("position quantity -1",
     {"positions": [{"t": T0, "market_position": "Long", "quantity": -1,
                     "average_price": 4810.0}]}, "positions[0].quantity"),
]  # fmt: skip
JSON_SAFE = [h for h in HOSTILE if "NaN" not in h[0] and "Infinity" not in h[0]]
BOOK = {"depth": [
    {"t": T0, "side": "bid", "op": "add", "pos": 0, "price": 4810.0, "size": 5},
    {"t": T0, "side": "ask", "op": "add", "pos": 0, "price": 4810.25, "size": 7},
]}  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    f = tmp_path_factory.mktemp("risk-inputs")
    write_config(f, daily_loss_limit=LIMIT)
    return f


@pytest.fixture(scope="module")
def serve(folder: Path) -> Iterator[Serve]:
    s = Serve(folder, env=ENV)
    try:
        yield s
    finally:
        s.stop()


class Bridge:
    """A WebSocket client as the bridge is one: hello, sequenced batches, one answer each."""

    def __init__(self, url: str, encoding: str, token: str | None = None) -> None:
        self.encoding = encoding
        self._connection = connect(url, max_size=None)
        self.ws: ClientConnection = self._connection.__enter__()
        hello = {"type": "hello", "protocol": 1, "client": "nt8", "encoding": encoding}
        self.send({**hello, "token": token} if token else hello)
        welcome = self.recv()
        assert welcome["type"] == "welcome", welcome
        self.seq = welcome["last_seq"]

    def send(self, msg: dict[str, Any]) -> None:
        if self.encoding == "msgpack":
            self.ws.send(msgspec.msgpack.encode(msg))
        else:
            self.ws.send(json.dumps(msg))

    def recv(self) -> dict[str, Any]:
        raw = self.ws.recv(timeout=20)
        out = msgspec.msgpack.decode(raw) if isinstance(raw, bytes) else json.loads(raw)
        return dict(out)

    def batch(self, **body: Any) -> dict[str, Any]:
        """Send one batch; its ack or error (commands and heartbeats skipped)."""
        self.seq += 1
        self.send({"type": "batch", "instrument": INST, "seq": self.seq, **body})
        while True:
            msg = self.recv()
            if msg["type"] in ("ack", "error"):
                return msg

    def close(self) -> None:
        self._connection.__exit__(None, None, None)


def risk(serve: Serve) -> dict[str, Any]:
    r = http().get(f"{serve.http}/api/risk", timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json()["clients"].get("nt8", {}).get("risk", {}))


def journalled_executions(folder: Path) -> list[str]:
    db = sqlite3.connect(folder / "journal" / "orderflow.sqlite")
    try:
        rows = db.execute("SELECT payload FROM events WHERE kind = 'execution' ORDER BY seq")
        return [json.loads(r[0])["execution_id"] for r in rows]
    finally:
        db.close()


def assert_finite(status: dict[str, Any]) -> None:
    for key in ("day_pnl", "realised_today", "unrealised", "equity"):
        assert isinstance(status[key], float | int) and math.isfinite(status[key]), status


@pytest.mark.parametrize(("what", "body", "field"), JSON_SAFE, ids=[h[0] for h in JSON_SAFE])
def test_rest_refuses_a_hostile_report_naming_the_field(serve, what, body, field):
    http().post(f"{serve.http}/l2_update", json={"instrument": REST_INST, **BOOK}, timeout=10)
    r = http().post(f"{serve.http}/order_update", json={"instrument": REST_INST, **body},
                   timeout=10)  # fmt: skip
    assert r.status_code == 400, (what, r.text)
    error = r.json()["error"]
    assert error["details"]["field"] == field and error["message"].startswith(f"{field}:")
    assert http().get(f"{serve.http}/api/risk", timeout=10).status_code == 200


@pytest.mark.parametrize("encoding", ["msgpack", "json"])
def test_websocket_refuses_hostile_reports_and_the_loss_limit_still_works(
    serve, folder, encoding
):  # fmt: skip
    cases = HOSTILE if encoding == "msgpack" else JSON_SAFE
    bridge = Bridge(serve.ws, encoding)
    try:
        assert bridge.batch(**BOOK)["type"] == "ack"
        before = journalled_executions(folder)
        start = risk(serve)
        for i, (what, body, field) in enumerate(cases):
            # a good execution rides along: the batch is refused whole, it is not booked either
            merged = {**body, "executions": [*body.get("executions", []),
                                             execution(900 + i, commission=2.0)]}  # fmt: skip
            got = bridge.batch(**merged)
            assert got["type"] == "error", (what, got)
            assert got["field"] == field, (what, got)
            status = risk(serve)
            assert_finite(status)
            assert status["realised_today"] == start.get("realised_today", 0.0), (what, status)
            assert status.get("daily_stop") == start.get("daily_stop"), (what, status)
        assert journalled_executions(folder) == before  # nothing of a refused batch journalled
        # a real losing round trip still trips the daily loss limit, with exact P&L
        n = 1000 if encoding == "msgpack" else 2000
        assert bridge.batch(executions=[execution(n, 4810.0, "Long")])["type"] == "ack"
        assert bridge.batch(executions=[execution(n + 1, 4800.0, "Short")])["type"] == "ack"
        status = risk(serve)
        assert_finite(status)
        assert status["daily_stop"] == "daily_loss_limit"
        loss = status["realised_today"] - start.get("realised_today", 0.0)
        assert loss == pytest.approx(-500 - 2 * ES_SIDE, abs=0.01)
    finally:
        bridge.close()


def test_a_hostile_report_message_is_refused_naming_the_field(serve):
    bridge = Bridge(serve.ws, "msgpack")
    try:
        for position, field in (
            ({"instrument": INST, "market_position": "Long", "quantity": 1,
              "average_price": math.nan}, "positions[0].average_price"),
            ({"instrument": "XX 99-99", "market_position": "Long", "quantity": 1,
              "average_price": 4810.0}, "positions[0].instrument"),
            ({"instrument": INST, "market_position": "Long", "quantity": 1 << 63,
              "average_price": 4810.0}, "positions[0].quantity"),
        ):  # fmt: skip
            bridge.send({"type": "report", "t": T0, "positions": [position], "orders": []})
            got = bridge.recv()
            while got["type"] not in ("error",):
                got = bridge.recv()
            assert got["field"] == field, got
            assert_finite(risk(serve))
    finally:
        bridge.close()


def test_the_next_start_restores_finite_state(folder, serve):
    """Last in the module: after everything above, the journal restores as it was."""
    status = risk(serve)
    serve.stop()
    again = Serve(folder, env=ENV)
    try:
        restored = risk(again)
        assert_finite(restored)
        assert restored["realised_today"] == status["realised_today"]
        assert restored["daily_stop"] == "daily_loss_limit"
    finally:
        again.stop()
