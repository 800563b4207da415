"""Staleness heals, and an instrument belongs to the client that feeds it: against the real
``orderflow serve`` (a subprocess on its own folder), real WebSocket and HTTP clients.

- a stray REST client's batch (off the grid or not) for the bridge's instrument is refused
  with 409 before it is recorded or applied, and the bridge's book stays fresh; another
  WebSocket client gets an ``error`` frame with code ``instrument_owned`` and status 409;
  ownership passes on when the owner disconnects, or when a REST owner is silent longer than
  ``server.rest_owner_silence_s``;
- the owner's own bad batch makes the ladder stale: a ``snapshot_request`` goes out at once and
  again with back-off (attempt 1, 2, 3 announcing 1 s, 2 s, 4 s), until the owner's snapshot
  heals it, after which no more come;
- the stale-book kill switch (``trading.risk.book_stale_ms``) fires while the book stays stale
  (no earlier than the setting after the last trustworthy update), and not when a snapshot
  heals it in time.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from orderflow.server.recording import read_recording, recording_files
from tests.conftest import PROJECT_ROOT
from tests.serving import Serve, http, write_config

T0 = 1_703_545_200_000_000_000  # 2023-12-25 23:00 UTC
ES = "ES 03-24"
#: the subprocess runs this tree's code (the editable install points at another checkout)
ENV = {"PYTHONPATH": f"{PROJECT_ROOT / 'src'}:{PROJECT_ROOT}"}


def depth(i: int, price: float = 4810.0, size: int = 10) -> list[dict[str, Any]]:
    """An update of the inside bid (position 0)."""
    return [{"t": T0 + i, "side": "bid", "op": "update", "pos": 0, "price": price, "size": size}]


def ladder(i: int, bids: list[tuple[float, int]], asks: list[tuple[float, int]]) -> list[dict]:
    rows = [{"t": T0 + i, "side": "bid", "op": "add", "pos": p, "price": px, "size": q}
            for p, (px, q) in enumerate(bids)]  # fmt: skip
    rows += [{"t": T0 + i, "side": "ask", "op": "add", "pos": p, "price": px, "size": q}
             for p, (px, q) in enumerate(asks)]  # fmt: skip
    return rows


BIDS = [(4810.0, 40), (4809.75, 12)]
ASKS = [(4810.25, 28), (4810.5, 9)]


class Bridge:
    """A WebSocket client speaking the protocol as the bridge does."""

    def __init__(self, url: str, name: str) -> None:
        self.ws: ClientConnection = connect(url).__enter__()
        self.ws.send(json.dumps({"type": "hello", "protocol": 1, "client": name}))
        welcome = json.loads(self.ws.recv(10))
        assert welcome["type"] == "welcome", welcome
        self.seq = welcome["last_seq"]
        self.requests: list[dict[str, Any]] = []

    def send(self, rows: list[dict], snapshot: bool = False) -> int:
        self.seq += 1
        self.ws.send(json.dumps({"type": "batch", "seq": self.seq, "instrument": ES,
                                 "snapshot": snapshot, "depth": rows}))  # fmt: skip
        return self.seq

    def answer(self, seq: int, timeout: float = 10.0) -> dict[str, Any]:
        """The ack or error of batch ``seq`` (snapshot requests on the way are kept)."""
        while True:
            msg = self.next(timeout)
            if msg["type"] in ("ack", "error") and msg.get("seq") == seq:
                return msg

    def next(self, timeout: float = 10.0) -> dict[str, Any]:
        while True:
            msg = json.loads(self.ws.recv(timeout))
            if msg["type"] == "heartbeat":
                continue
            if msg["type"] == "snapshot_request":
                self.requests.append(msg)
            return msg

    def request(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next snapshot request."""
        while True:
            msg = self.next(timeout)
            if msg["type"] == "snapshot_request":
                return msg

    def close(self) -> None:
        self.ws.close()


def health(server: Serve) -> dict[str, Any]:
    return http().get(f"{server.http}/health", timeout=10).json()


def recorded(folder: Path) -> list[Any]:
    return [r for f in recording_files(folder / "recordings") for r in read_recording(f).records]


@pytest.fixture
def serve(tmp_path: Path):
    started: list[Serve] = []

    def start(**risk: Any) -> Serve:
        config = {"server": {"record_dir": str(tmp_path / "recordings"),
                             "rest_owner_silence_s": 1.0}}  # fmt: skip
        write_config(tmp_path, config, **risk)
        s = Serve(tmp_path, env=ENV)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def test_a_stray_client_cannot_feed_the_bridges_instrument(serve, tmp_path):
    server = serve()
    bridge = Bridge(server.ws, "nt8-ES")
    ack = bridge.answer(bridge.send(ladder(1, BIDS, ASKS), snapshot=True))
    assert ack["stale"] is False and ack["book"] == {"bids": [list(r) for r in BIDS],
                                                     "asks": [list(r) for r in ASKS]}  # fmt: skip
    # a stray REST batch, off the grid, for the bridge's instrument: 409, applied nowhere
    stray = {"instrument": ES, "depth": depth(2, price=4810.1)}
    r = http().post(f"{server.http}/l2_update", json=stray, timeout=10)
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "instrument_owned"
    assert err["details"]["field"] == "instrument" and err["details"]["owner"] == "nt8-ES"
    # on the grid it is refused just the same (nobody but the owner feeds the instrument)
    r = http().post(f"{server.http}/l2_update", json={"instrument": "ESH4", "depth": depth(3)})
    assert r.status_code == 409, r.text
    es = health(server)["instruments"]["ESH4"]
    assert es["stale"] is False and es["stale_reason"] is None
    ack = bridge.answer(bridge.send(depth(4, size=41)))
    assert ack["stale"] is False and ack["book"]["bids"][0] == [4810.0, 41]
    assert bridge.requests == []
    # another WebSocket client: an error frame with code and status 409, its seq used up
    other = Bridge(server.ws, "stray-ws")
    err = other.answer(other.send(depth(5, size=99)))
    assert (err["type"], err["code"], err["status"], err["field"]) == (
        "error", "instrument_owned", 409, "instrument")  # fmt: skip
    ack = bridge.answer(bridge.send(depth(6, size=42)))
    assert ack["stale"] is False and ack["book"]["bids"][0] == [4810.0, 42]
    h = health(server)
    assert h["feeds"]["owners"] == {"ESH4": "nt8-ES"}
    assert h["counters"]["refused_not_owner"] == 3
    # never recorded: the recording holds the bridge's three batches, and of the stray
    # WebSocket client's refusal only a marker of the sequence number it used up
    records = recorded(tmp_path)
    assert [(r.client, r.batch.seq, r.refused) for r in records] == [
        ("nt8-ES", 1, None), ("nt8-ES", 2, None), ("stray-ws", 1, "seq"),
        ("nt8-ES", 3, None)]  # fmt: skip
    assert records[2].batch.n_depth == 0
    # the owner disconnects: ownership passes on, to the REST client ("rest:127.0.0.1")
    bridge.close()
    deadline = time.monotonic() + 10
    while "nt8-ES" in health(server)["clients"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    r = http().post(f"{server.http}/l2_update", json={"instrument": ES, "depth": depth(7)})
    assert r.status_code == 200, r.text
    assert health(server)["feeds"]["owners"] == {"ESH4": "rest:127.0.0.1"}
    err = other.answer(other.send(depth(8)))
    assert (err["code"], err["status"]) == ("instrument_owned", 409)
    # a REST owner silent longer than server.rest_owner_silence_s (1 s) loses it
    time.sleep(1.3)
    ack = other.answer(other.send(depth(9, size=7)))
    assert ack["type"] == "ack" and ack["book"]["bids"][0] == [4810.0, 7]
    assert health(server)["feeds"]["owners"] == {"ESH4": "stray-ws"}
    other.close()


def test_the_owners_bad_batch_asks_for_a_snapshot_with_backoff_until_one_heals_it(serve):
    server = serve()
    bridge = Bridge(server.ws, "nt8-ES")
    assert bridge.answer(bridge.send(ladder(1, BIDS, ASKS), snapshot=True))["stale"] is False
    bad = bridge.send(depth(2, price=4810.1))  # off the grid: refused, its depth lost
    err = bridge.answer(bad)
    assert err["type"] == "error" and err["field"] == "depth[0].price"
    first = bridge.request()
    assert (first["instrument"], first["reason"], first["attempt"], first["retry_s"]) == (
        ES, "refused", 1, 1.0)  # fmt: skip
    # depth meanwhile is not applied to a ladder that cannot be trusted
    ack = bridge.answer(bridge.send(depth(3, size=55)))
    assert ack["stale"] is True and ack["book"]["bids"][0] == [4810.0, 40]
    # asked again, with back-off
    assert [(r["attempt"], r["retry_s"]) for r in (bridge.request(), bridge.request())] == [
        (2, 2.0), (3, 4.0)]  # fmt: skip
    waiting = health(server)["feeds"]["waiting_for_snapshot"]["ESH4"]
    assert (waiting["reason"], waiting["attempts"]) == ("refused", 3)
    # the owner answers with the whole ladder: fresh again, equal to it
    healed_bids, healed_asks = [(4810.0, 50), (4809.75, 3)], [(4810.25, 8)]
    ack = bridge.answer(bridge.send(ladder(4, healed_bids, healed_asks), snapshot=True))
    assert ack["stale"] is False
    assert ack["book"] == {"bids": [list(r) for r in healed_bids],
                           "asks": [list(r) for r in healed_asks]}  # fmt: skip
    h = health(server)
    assert h["instruments"]["ESH4"]["stale"] is False
    assert h["feeds"]["waiting_for_snapshot"] == {}
    ack = bridge.answer(bridge.send(depth(5, size=51)))
    assert ack["stale"] is False and ack["book"]["bids"][0] == [4810.0, 51]
    # and no request follows (the next was due 4 s after the third)
    n = len(bridge.requests)
    with pytest.raises(TimeoutError):
        bridge.request(timeout=4.5)
    assert len(bridge.requests) == n == 3
    bridge.close()


def kill_state(server: Serve, client: str) -> dict[str, Any]:
    r = http().get(f"{server.http}/api/risk", timeout=10).json()["clients"][client]
    return {"kill": r["risk"]["kill"], "reason": r["risk"]["kill_reason"], "events": r["events"]}


def test_the_stale_book_kill_switch_fires_as_set_and_not_when_healed_in_time(serve):
    server = serve(book_stale_ms=2_000.0)
    bridge = Bridge(server.ws, "nt8-ES")
    assert bridge.answer(bridge.send(ladder(1, BIDS, ASKS), snapshot=True))["stale"] is False
    # stale, then healed within the setting, while the feed goes on: no kill
    bridge.answer(bridge.send(depth(2, price=4810.1)))
    bridge.answer(bridge.send(ladder(3, BIDS, ASKS), snapshot=True))
    end = time.monotonic() + 3.0
    i = 4
    while time.monotonic() < end:
        assert bridge.answer(bridge.send(depth(i, size=10 + i % 5)))["stale"] is False
        i += 1
        time.sleep(0.1)
    assert kill_state(server, "nt8-ES")["kill"] is False
    # stale and never healed, while depth keeps coming (and a stray REST client keeps another
    # instrument's book fresh): the kill fires, no earlier than book_stale_ms after the last
    # trustworthy update of the bridge's own book
    last_fresh = time.time_ns()
    assert bridge.answer(bridge.send(depth(i, size=20)))["stale"] is False
    bridge.answer(bridge.send(depth(i + 1, price=4810.1)))
    deadline = time.monotonic() + 20
    i += 2
    while not (state := kill_state(server, "nt8-ES"))["kill"]:
        assert time.monotonic() < deadline, state
        assert bridge.answer(bridge.send(depth(i)))["stale"] is True
        nq = {"instrument": "NQ 03-24", "depth": depth(i, price=16800.0, size=i)}
        assert http().post(f"{server.http}/l2_update", json=nq, timeout=10).json()["stale"] is False
        i += 1
        time.sleep(0.1)
    assert state["reason"] == "book_stale"
    kill = [e for e in state["events"] if e["detail"] == "book_stale"]
    assert len(kill) == 1 and kill[0]["reason"] == "kill_switch"
    assert kill[0]["t"] - last_fresh >= 2_000_000_000
    bridge.close()
