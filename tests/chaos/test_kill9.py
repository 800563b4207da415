"""``kill -9`` at random points: what the server acknowledged survives, exactly once.

The real server (``orderflow serve`` as a subprocess, its recordings and journal in a
temporary folder) and a raw WebSocket client playing the bridge: ESH4 depth and prints as
NinjaTrader's depth batches (from the Databento MBO file, cut as ``orderflow feed`` cuts it)
with order updates and executions of manual round trips between them, pipelined (up to
``WINDOW`` batches unacknowledged). The server is SIGKILLed at seeded random points (right
after the client sent a batch, or right after it read an ack) and started again on the same
folder each time (sometimes a start is SIGKILLed too, while it replays the recording); the
client reconnects and resends from its last ack.

The promise tested (``server/recording.py``, ``docs/protocol.md``): a batch is appended to the
recording (one ``write``, unbuffered) before it is applied and so before its ack is sent, so
after a crash of the process:

- ``welcome.last_seq`` is at least the last batch the client saw acknowledged, and the
  recording holds every batch up to it, byte for byte what was sent, and none after it;
- the recovered book is the book of a server fed exactly batches ``1..last_seq``;
- the client's resend from its last ack is applied once: every resent batch up to
  ``last_seq`` is answered ``duplicate``, the rest are applied;
- the journal holds every execution of batches ``1..last_seq`` once, and no other;

and after the last restart, once everything is fed, the state (book, analytics, positions and
P&L, counters, the journal's executions) equals that of a server that was never killed.
What a crash may lose is only what was never acknowledged: a batch in flight is either in the
recording (and applied at restart: ``last_seq`` says so) or not at all. The last test runs the
real Python client through the same kills (its own resend buffer and reconnection).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from orderflow.client import OrderflowClient
from orderflow.client.feed import build_batches
from orderflow.io.formats import load_stream
from orderflow.protocol import Batch, Execution, OrderUpdate, packed
from orderflow.server.hub import Hub
from orderflow.server.recording import read_recording, recording_files
from tests.conftest import ES_MBO, need
from tests.serving import PYTHONPATH, Serve, free_port, http, write_config

pytestmark = pytest.mark.slow

SEEDS = (7, 31, 2024)
KILLS = 4  # per seed
WINDOW = 32  # batches a client sends before it waits for an ack
CLIENT = "nt8"
KEY = "ESH4"
REPORTS_EVERY = 30  # depth batches between two batches of NinjaTrader's order reports
ACK_TIMEOUT_S = 120.0  # only a hang waits this long (the first batches may compile kernels)


# ---- the input ------------------------------------------------------------------------------


def reports(k: int, name: str, t: int, price: float) -> Batch:
    """A manual order filled (round trip ``k // 2``: bought at ``price``, sold a point
    higher): NinjaTrader's order update and execution, as the bridge forwards them."""
    buy = k % 2 == 0
    px = price if buy else price + 1.0
    cid = f"man-{k}"
    update = OrderUpdate(t, cid, "Filled", 1, 1, avg_fill_price=px, order_id=f"o{k}")
    fill = Execution(t, cid, f"x-{k}", px, 1, "Long" if buy else "Short", order_id=f"o{k}")
    return Batch(instrument=name, orders=[update], executions=[fill])


@pytest.fixture(scope="module")
def feed() -> list[Batch]:
    """ESH4's depth batches with order reports between them, numbered from 1."""
    depth = [fb.batch for fb in build_batches(load_stream(need(ES_MBO)), 10, 100)]
    out: list[Batch] = []
    price, k = None, 0
    for i, b in enumerate(depth):
        out.append(b)
        if b.ticks:
            price = b.ticks[-1].price
        if i % REPORTS_EVERY == REPORTS_EVERY - 1 and price is not None:
            out.append(reports(k, b.instrument, b.depth[-1].t, price))
            k += 1
    if k % 2:  # end flat
        out.append(reports(k, out[-1].instrument, out[-1].depth[-1].t, price or 0.0))
    return [msgspec.structs.replace(b, seq=i + 1) for i, b in enumerate(out)]


def executions_of(batches: list[Batch]) -> Counter[str]:
    return Counter(e.execution_id for b in batches for e in b.executions)


@pytest.fixture(scope="module")
def books(feed: list[Batch]) -> list[dict[str, Any]]:
    """``books[k]``: the whole book (as ``GET /api/book`` shows it) after batches ``1..k``,
    from a hub fed them one by one in this process."""
    hub = Hub()
    out = [{"bid": [], "ask": []}]
    for b in feed:
        hub.apply(b, CLIENT)
        out.append(book_of(hub))
    return out


def book_of(hub: Hub) -> dict[str, Any]:
    st = hub.instruments[KEY]
    view = st.pipeline.book.depth(500)
    px = st.instrument.to_price
    return {
        side: [{"price": px(int(p)), "size": int(q)}
               for p, q in zip(view[f"{side}_price"], view[f"{side}_size"], strict=True) if q > 0]
        for side in ("bid", "ask")
    }  # fmt: skip


# ---- the client -----------------------------------------------------------------------------


@dataclass
class Plan:
    """Where a session ends: SIGKILL right after the client *sent* batch ``at``, or right
    after it *read* the ack of a batch at or beyond ``at``; None: feed to the end.
    ``boot_kill_s``: before the session, a start of the server is SIGKILLed after that many
    seconds, while it may still be replaying the recording (None: no such start)."""

    kind: str | None = None
    at: int = 0
    boot_kill_s: float | None = None


@dataclass
class Bridge:
    """The client's memory across sessions: what it sent and what the server acknowledged."""

    feed: list[Batch]
    encoding: str
    acked: int = 0  # every batch up to this one is acknowledged
    sent: int = 0  # the highest batch ever sent
    books: dict[int, dict[str, Any]] = field(default_factory=dict)  # seq -> its ack's book
    problems: list[str] = field(default_factory=list)

    def frame(self, msg: Any) -> str | bytes:
        if self.encoding == "msgpack":
            return msgspec.msgpack.encode(msg)
        return msgspec.json.encode(msg).decode()

    def read(self, raw: str | bytes) -> dict[str, Any]:
        out = json.loads(raw) if isinstance(raw, str) else msgspec.msgpack.decode(raw)
        return dict(out)

    async def session(
        self, serve: Serve, plan: Plan, on_welcome: Callable[[int], None] | None = None
    ) -> int:
        """One connection: hello, ``on_welcome(last_seq)`` (before anything is resent), resend
        from the last ack, feed on until ``plan`` kills the server (or to the end). Returns the
        welcome's ``last_seq``."""
        async with connect(serve.ws, max_size=None) as ws:
            hello = {"type": "hello", "protocol": 1, "client": CLIENT, "encoding": self.encoding}
            await ws.send(self.frame(hello))
            welcome = self.read(await asyncio.wait_for(ws.recv(), 30))
            assert welcome["type"] == "welcome", welcome
            last_seq = int(welcome["last_seq"])
            if last_seq < self.acked:
                self.problems.append(f"welcome.last_seq {last_seq} < acknowledged {self.acked}")
            if last_seq > self.sent:
                self.problems.append(f"welcome.last_seq {last_seq} > sent {self.sent}")
            if on_welcome is not None:
                on_welcome(last_seq)
            killed = asyncio.Event()
            moved = asyncio.Event()
            reader = asyncio.get_running_loop().create_task(
                self._read(ws, serve, plan, last_seq, killed, moved)
            )
            try:
                await self._send(ws, serve, plan, killed, moved)
                if plan.kind is None:
                    while self.acked < len(self.feed):
                        moved.clear()
                        await asyncio.wait_for(moved.wait(), ACK_TIMEOUT_S)
                        if reader.done():
                            break
                    await ws.send(self.frame({"type": "bye", "reason": "done"}))
                else:
                    await asyncio.wait_for(killed.wait(), ACK_TIMEOUT_S)
                await asyncio.wait_for(reader, ACK_TIMEOUT_S)
            finally:
                reader.cancel()
            return last_seq

    async def _send(self, ws: ClientConnection, serve: Serve, plan: Plan, killed: asyncio.Event,
                    moved: asyncio.Event) -> None:  # fmt: skip
        i = self.acked
        while i < len(self.feed) and not killed.is_set():
            while i - self.acked >= WINDOW and not killed.is_set():
                moved.clear()
                await asyncio.wait_for(moved.wait(), ACK_TIMEOUT_S)
            if killed.is_set():
                return
            try:
                await ws.send(self.frame(self.feed[i]))
            except ConnectionClosed:
                return
            i += 1
            self.sent = max(self.sent, i)
            if plan.kind == "sent" and i >= plan.at:
                serve.kill()
                killed.set()
                return

    async def _read(self, ws: ClientConnection, serve: Serve, plan: Plan, last_seq: int,
                    killed: asyncio.Event, moved: asyncio.Event) -> None:  # fmt: skip
        """Every answer, to the end of the connection (acks already on the socket when the
        server died are read too: the server sent them, so they count)."""
        try:
            while True:
                msg = self.read(await ws.recv())
                kind = msg.get("type")
                if kind == "ack":
                    self._ack(msg, last_seq)
                    moved.set()
                    if plan.kind == "acked" and msg["seq"] >= plan.at and not killed.is_set():
                        serve.kill()
                        killed.set()
                elif kind == "error":
                    self.problems.append(f"error: {msg}")
                    moved.set()
        except ConnectionClosed:
            pass
        finally:
            killed.set()  # a closed connection ends the session either way
            moved.set()

    def _ack(self, msg: dict[str, Any], last_seq: int) -> None:
        seq, first = int(msg["seq"]), int(msg.get("first_seq") or msg["seq"])
        duplicate = bool(msg["duplicate"])
        if first > self.acked + 1:
            self.problems.append(f"ack {first}..{seq} after {self.acked}: acks out of order")
        if duplicate != (seq <= last_seq):
            self.problems.append(f"ack of {seq}: duplicate={duplicate}, last_seq {last_seq}")
        if not duplicate:
            self.books[seq] = msg["book"]
        self.acked = max(self.acked, seq)


# ---- what the folder holds ------------------------------------------------------------------


def recorded(folder: Path) -> tuple[dict[int, list[bytes]], int]:
    """The client's recorded batches by seq (every copy, encoded) and the torn bytes seen."""
    by_seq: dict[int, list[bytes]] = {}
    torn = 0
    for path in recording_files(folder / "recordings"):
        result = read_recording(path)
        torn += result.torn_bytes
        for r in result.records:
            if r.client == CLIENT:
                by_seq.setdefault(r.batch.seq, []).append(msgspec.msgpack.encode(r.batch))
    return by_seq, torn


def journalled(folder: Path) -> Counter[str]:
    """The execution ids in the journal, with how often each is there."""
    db = sqlite3.connect(f"file:{folder / 'journal' / 'orderflow.sqlite'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT payload FROM events WHERE kind = 'execution'").fetchall()
    finally:
        db.close()
    return Counter(json.loads(p)["execution_id"] for (p,) in rows)


def state(serve: Serve) -> dict[str, Any]:
    """What the server shows of its state (everything but times and its session)."""
    with httpx.Client(base_url=serve.http, timeout=30) as http:
        book = http.get("/api/book/ESH4", params={"levels": 500}).json()
        analytics = http.get("/api/analytics/ESH4").json()
        positions = http.get("/api/positions").json()["positions"]
        inst = http.get("/health").json()["instruments"][KEY]
    counters = {k: inst[k] for k in ("stale", "batches", "depth_events", "ticks", "rejected")}
    return {"book": book, "analytics": analytics, "positions": positions, "counters": counters}


def check_restart(serve: Serve, bridge: Bridge, last_seq: int, books: list[Any]) -> list[str]:
    """Right after a restart (before the client resends anything): the recording, the journal
    and the whole book hold exactly batches 1..last_seq."""
    out = check_folder(serve.folder, bridge, last_seq)
    r = http().get(f"{serve.http}/api/book/ESH4", params={"levels": 500}, timeout=30)
    got = r.json() if r.status_code != 404 else {"bid": [], "ask": []}  # 404: no batch yet
    if {side: got[side] for side in ("bid", "ask")} != books[last_seq]:
        out.append(f"the recovered book is not the book of batches 1..{last_seq}")
    return out


def check_folder(folder: Path, bridge: Bridge, last_seq: int) -> list[str]:
    """The recording and the journal hold batches 1..last_seq, and nothing else."""
    out: list[str] = []
    by_seq, torn = recorded(folder)
    want = set(range(1, last_seq + 1))
    if missing := sorted(want - set(by_seq)):
        out.append(f"batches {missing[:10]} are not in the recording (last_seq {last_seq})")
    if extra := sorted(set(by_seq) - want):
        out.append(f"batches {extra[:10]} are recorded beyond last_seq {last_seq}")
    for seq, copies in by_seq.items():
        sent = msgspec.msgpack.encode(bridge.feed[seq - 1])
        if any(c != sent for c in copies):
            out.append(f"batch {seq} is recorded other than it was sent")
    if torn:
        out.append(f"a torn tail of {torn} bytes in the recording")
    want_x = executions_of(bridge.feed[:last_seq])
    got_x = journalled(folder)
    if got_x != want_x:
        out.append(f"journalled executions {dict(got_x)} != those of batches 1..{last_seq} "
                   f"{dict(want_x)}")  # fmt: skip
    return out


# ---- the tests ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory, feed: list[Batch]) -> dict[str, Any]:
    """The same input into a server that is never killed: its final state and journal."""
    folder = tmp_path_factory.mktemp("straight")
    write_config(folder)
    serve = Serve(folder)
    try:
        bridge = Bridge(feed, "json")
        asyncio.run(bridge.session(serve, Plan()))
        assert not bridge.problems, bridge.problems
        assert bridge.acked == len(feed)
        out = state(serve)
    finally:
        serve.kill()
    out["journal"] = journalled(folder)
    return out


def plans(seed: int, n: int) -> list[Plan]:
    """``KILLS`` kill points spread over the feed, then a session that runs to the end."""
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(2, n - 2), KILLS))
    out = [Plan(rng.choice(["sent", "acked"]), at) for at in cuts] + [Plan()]
    for plan in out[1:]:
        if rng.random() < 0.5:
            plan.boot_kill_s = rng.uniform(0.2, 1.5)
    return out


def kill_while_starting(folder: Path, after_s: float) -> None:
    """``orderflow serve`` on the folder, SIGKILLed ``after_s`` seconds after it was started
    (during the replay of the recording, or just after)."""
    cmd = [sys.executable, "-m", "orderflow.cli.main", "--config", str(folder / "config.yaml"),
           "serve", "--port", str(free_port())]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")}
    proc = subprocess.Popen(cmd, cwd=folder, env={**env, "PYTHONPATH": PYTHONPATH},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        proc.wait(after_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    proc.wait(10)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_acknowledged_batch_survives_kill_9_once(tmp_path, feed, books, straight, seed):
    write_config(tmp_path)
    bridge = Bridge(feed, "msgpack" if seed % 2 else "json")
    problems: list[str] = []
    for n, plan in enumerate(plans(seed, len(feed))):
        if plan.boot_kill_s is not None:
            kill_while_starting(tmp_path, plan.boot_kill_s)
        serve = Serve(tmp_path)
        where = f"seed {seed}, session {n} ({plan})"

        def restarted(last_seq: int, serve: Serve = serve, where: str = where, n: int = n,
                      out: list[str] = problems) -> None:  # fmt: skip
            print(f"{where}: last_seq {last_seq}, acked {bridge.acked}, sent {bridge.sent}")
            if n:  # the first session starts on an empty folder
                found = check_restart(serve, bridge, last_seq, books)
                out.extend(f"{where} (last_seq {last_seq}): {p}" for p in found)

        try:
            acked_before = bridge.acked
            asyncio.run(bridge.session(serve, plan, restarted))
            if plan.kind is None:
                final = state(serve)
        finally:
            serve.kill()
        problems += [f"{where}: {p}" for p in bridge.problems]
        bridge.problems.clear()
        assert bridge.acked >= acked_before
    # every ack's book was the book of exactly the batches up to it
    for seq, top in sorted(bridge.books.items()):
        ref = books[seq]
        want = {"bids": [[r["price"], r["size"]] for r in ref["bid"][:10]],
                "asks": [[r["price"], r["size"]] for r in ref["ask"][:10]]}  # fmt: skip
        if top != want:
            problems.append(f"seed {seed}: the ack of batch {seq} shows another book")
            break
    assert bridge.acked == len(feed)
    problems += [f"seed {seed}, final: {p}" for p in check_folder(tmp_path, bridge, len(feed))]
    for key in ("book", "analytics", "positions", "counters"):
        if final[key] != straight[key]:
            problems.append(f"seed {seed}: the final {key} differs from a run never killed:\n"
                            f"  killed:   {final[key]}\n  straight: {straight[key]}")  # fmt: skip
    if journalled(tmp_path) != straight["journal"]:
        problems.append(f"seed {seed}: the journal's executions differ from a run never killed")
    assert not problems, "\n".join(problems)


def test_the_python_client_resends_across_kill_9_and_ends_where_a_run_never_killed_ends(
    tmp_path, feed, straight
):
    """The real client (``orderflow.client.OrderflowClient``: its resend buffer, its
    reconnection with backoff) feeding while the server is SIGKILLed three times and started
    again on the same folder and port: it resends what was not acknowledged, the server
    applies each batch once, and the end state is that of a run never killed."""
    write_config(tmp_path)
    port = free_port()
    rng = random.Random(99)
    kills = set(rng.sample(range(20, len(feed) - 20), 3))
    serve = [Serve(tmp_path, port=port)]

    async def run() -> Any:
        client = OrderflowClient(serve[0].ws, CLIENT, backoff=(0.05, 0.5), resume=False)
        async with client:
            for i, batch in enumerate(feed):
                await client.send_batch(batch)
                if i + 1 in kills:
                    serve[0].kill()
                    serve[0] = await asyncio.to_thread(Serve, tmp_path, port)
            await client.drain(ACK_TIMEOUT_S)
        return client.stats

    try:
        stats = asyncio.run(run())
        final = state(serve[0])
    finally:
        serve[0].kill()
    assert stats.connects == 1 + len(kills)
    assert stats.errors == 0
    # the client sends depth as packed columns (its default): recorded as it sent them
    problems = check_folder(tmp_path, Bridge([packed(b) for b in feed], "json"), len(feed))
    problems += [f"the final {key} differs from a run never killed"
                 for key in ("book", "analytics", "positions", "counters")
                 if final[key] != straight[key]]  # fmt: skip
    assert not problems, "\n".join(problems)
    assert journalled(tmp_path) == straight["journal"]
