"""The dashboard's viewer stream and backfill on the real server (uvicorn on 127.0.0.1) fed ESH4
as the bridge's batches over a real WebSocket, watched by real WebSocket viewers: the snapshot's
book equals /api/book; snapshot plus deltas carry every print once (none lost, none twice) and
end on the server's book; frames come at most 30 a second under a feed as fast as the server
takes it; bars' footprint cells and POC equal the pipeline's own footprint; heatmap columns
equal a brute-force recomputation from the depth events at every 250 ms bucket; bad query
values are 422 naming the field."""

from __future__ import annotations

import json
import threading
import time
from functools import cache
from typing import Any

import httpx
import msgspec
import numpy as np
import pytest
from websockets.sync.client import connect

from orderflow.analytics.footprint import stacked_imbalances
from orderflow.server.hub import Hub
from tests.integration.test_server import Server, esh4_batches

pytestmark = pytest.mark.slow

TICK = 0.25


class Watcher:
    """A viewer reading every frame in a thread (arrival time, frame)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.frames: list[tuple[float, dict[str, Any]]] = []
        self.ready, self.stop = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _read(self) -> None:
        with connect(self.url, max_size=None) as ws:
            self.ready.set()
            while not self.stop.is_set():
                try:
                    self.frames.append((time.monotonic(), json.loads(ws.recv(timeout=0.2))))
                except TimeoutError:
                    continue

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


@cache
def fed() -> dict[str, Any]:
    """ESH4 batch by batch (each ack awaited: one batch per engine pass) with a viewer
    attached from the first batch on and a second one attached half-way (its snapshot taken
    with /api/book beside it); everything the server said and served."""
    batches, _ = esh4_batches()
    server = Server()
    out: dict[str, Any] = {"batches": batches}
    try:
        with connect(server.ws, max_size=None) as ws:
            ws.send(json.dumps({"type": "hello", "protocol": 2, "client": "nt8"}))
            json.loads(ws.recv())
            acks = []
            ws.send(msgspec.json.encode(batches[0]).decode())
            acks.append(json.loads(ws.recv()))
            first = Watcher(server.ws + "/view?instrument=ESH4&levels=10")
            t0 = time.monotonic()
            half = len(batches) // 2
            for i, b in enumerate(batches[1:], 1):
                ws.send(msgspec.json.encode(b).decode())
                acks.append(json.loads(ws.recv()))
                if i == half:  # nothing is fed while the second viewer's snapshot comes
                    with connect(server.ws + "/view?instrument=ESH4&levels=10") as second:
                        out["mid_snapshot"] = json.loads(second.recv())
                        out["mid_book"] = httpx.get(server.http + "/api/book/ESH4").json()
            out["feed_s"] = time.monotonic() - t0
            time.sleep(0.5)  # the last frame goes out
            first.close()
        out["acks"] = acks
        out["frames"] = first.frames
        out["book"] = httpx.get(server.http + "/api/book/ESH4").json()
        get = httpx.Client(base_url=server.http, timeout=30).get
        out["bars"] = get("/api/view/ESH4/bars?limit=100000").json()["bars"]
        out["heat"] = get("/api/view/ESH4/heat?limit=20000").json()["columns"]
        out["prints"] = get("/api/view/ESH4/prints?limit=200000").json()["prints"]
        out["signals"] = get("/api/view/ESH4/signals").json()["signals"]
        out["bad"] = {
            q: (r := get(f"/api/view/ESH4/{q}")).json() | {"status": r.status_code}
            for q in ("prints?limit=0", "prints?limit=abc", "heat?from_ts=-5",
                      "bars?from_ts=10&to_ts=5", "signals?limit=99999999999",
                      "heat?limit=20001")
        }  # fmt: skip
        out["unknown"] = get("/api/view/NQH4/bars").status_code
    finally:
        server.stop()
    return out


def test_snapshot_book_equals_the_api_book() -> None:
    f = fed()
    snap, book = f["mid_snapshot"], f["mid_book"]
    assert snap["type"] == "snapshot" and snap["instrument"] == "ESH4"
    assert snap["tick_size"] == TICK
    assert snap["book"]["bids"] == [[r["price"], r["size"]] for r in book["bid"]]
    assert snap["book"]["asks"] == [[r["price"], r["size"]] for r in book["ask"]]
    assert len(snap["book"]["bids"]) == 10 and snap["book"]["stale"] is False
    assert len(snap["prints"]) == 500 and len(snap["heat"]) > 100 and snap["bars"]
    assert snap["metrics"]["ts"] == snap["ts"] > 0


def test_snapshot_and_deltas_carry_every_print_once_and_end_on_the_book() -> None:
    f = fed()
    frames = [fr for _, fr in f["frames"]]
    assert frames[0]["type"] == "snapshot"
    assert all(fr["type"] == "delta" for fr in frames[1:])
    prints = list(frames[0]["prints"])
    book = frames[0]["book"]
    for fr in frames[1:]:
        assert "prints_dropped" not in fr
        prints += fr.get("prints", [])
        book = fr.get("book", book)
    # the snapshot's 500 are the latest of what came before it: the rest is the backfill's
    assert prints == f["prints"][-len(prints) :]
    n_ticks = sum(len(b.ticks) for b in f["batches"])
    assert len(f["prints"]) == n_ticks
    assert sum(p[2] for p in f["prints"]) == sum(t.size for b in f["batches"] for t in b.ticks)
    assert book["bids"] == [[r["price"], r["size"]] for r in f["book"]["bid"]]
    assert book["asks"] == [[r["price"], r["size"]] for r in f["book"]["ask"]]
    # signals: every one sent in an ack appears once, in order, with increasing ids
    sent = [s for a in f["acks"] for s in a["signals"]]
    streamed = [s for fr in frames for s in fr.get("signals", [])]
    assert [s["id"] for s in f["signals"]] == list(range(1, len(sent) + 1))
    assert [{k: v for k, v in s.items() if k != "id"} for s in f["signals"]] == sent
    ids = [s["id"] for s in streamed]
    assert ids == sorted(set(ids)) and ids[-1] == len(sent)


def test_deltas_come_at_most_30_a_second() -> None:
    f = fed()
    times = [t for t, fr in f["frames"][1:]]
    assert len(times) > 10
    span = times[-1] - times[0]
    # a frame every 1/30 s at most (the flusher's clock; arrival adds jitter of a frame)
    assert len(times) - 1 <= 30 * span + 2
    per_batch = len(f["acks"]) / max(f["feed_s"], 1e-9)
    assert per_batch > 30  # the feed was faster than the frames: they were merged


def test_bars_footprint_equals_the_pipeline_footprint() -> None:
    f = fed()
    hub = Hub()
    for b in f["batches"]:
        hub.apply(b, "nt8")
    series = hub.instruments["ESH4"].pipeline.bars.series[0]
    closed = series.bars()
    bars = f["bars"]
    assert [b["closed"] for b in bars] == [True] * len(closed) + [False]
    for i, (bar, rec) in enumerate(zip(bars, closed, strict=False)):
        cells = series.bar_cells(i)
        assert bar["start_ts"] == int(rec["ts_open"]) and bar["end_ts"] == int(rec["ts_close"])
        assert bar["cells"] == [[int(c["price"]) * TICK, int(c["bid"]), int(c["ask"])]
                                for c in cells]  # fmt: skip
        assert bar["poc"] == int(rec["poc"]) * TICK
        assert bar["volume"] == int(rec["volume"])
        assert bar["delta"] == sum(c[2] - c[1] for c in bar["cells"])
        total = {c[0]: c[1] + c[2] for c in bar["cells"]}
        assert total[bar["poc"]] == max(total.values())  # POC: the most volume
    forming = series.forming_cells()
    assert bars[-1]["cells"] == [[int(c["price"]) * TICK, int(c["bid"]), int(c["ask"])]
                                 for c in forming]  # fmt: skip
    assert any(b["imbalances"] for b in bars)
    assert any(i["stacked"] for b in bars for i in b["imbalances"])
    for k, bar in enumerate(bars):
        cells = {c[0]: c for c in bar["cells"]}
        fp = hub.instruments["ESH4"].pipeline.params.footprint
        cells_k = series.bar_cells(k) if k < len(closed) else series.forming_cells()
        stacks = stacked_imbalances(cells_k, fp)
        for imb in bar["imbalances"]:
            c = cells[imb["price"]]
            if imb["side"] == "ask":  # ask(p) against bid(p - 1)
                own, other = c[2], cells.get(imb["price"] - TICK, [0, 0, 0])[1]
            else:
                own, other = c[1], cells.get(imb["price"] + TICK, [0, 0, 0])[2]
            assert own >= 1.5 * other and own - other >= 10
            assert imb["ratio"] == (round(own / other, 4) if other else None)
            side = 0 if imb["side"] == "ask" else 1  # a zone of its side holds its price
            assert imb["stacked"] == any(
                z["side"] == side and z["low"] * TICK <= imb["price"] <= z["high"] * TICK
                for z in stacks
            )


def test_bars_carry_the_session_vwap_after_the_last_batch_that_formed_them() -> None:
    """Each bar's VWAP is the session's over every print of the batches up to the last one
    after which it was the forming bar (the bar of the latest event time, depth or print), in
    plain Python."""
    f = fed()
    starts = [b["start_ts"] for b in f["bars"]]
    want: dict[int, float] = {}
    pv = v = 0.0
    latest = 0
    for b in f["batches"]:
        for t in b.ticks:
            pv, v = pv + t.price * t.size, v + t.size
        latest = max([latest] + [d.t for d in b.depth] + [t.t for t in b.ticks])
        if v:
            want[max(s for s in starts if s <= latest)] = pv / v
    assert len(want) == len(starts) > 10
    for bar in f["bars"]:
        got = bar["vwap"]
        assert got is not None and got["vwap"] == pytest.approx(want[bar["start_ts"]], rel=1e-9)
        ks = [b["k"] for b in got["bands"]]
        assert ks == sorted(ks) and len(ks) == 3
        for band in got["bands"]:
            assert band["lower"] < got["vwap"] < band["upper"]
            assert band["upper"] - got["vwap"] == pytest.approx(got["vwap"] - band["lower"])
    # the forming bar's is the VWAP the stream shows now
    assert f["bars"][-1]["vwap"]["vwap"] == pytest.approx(
        f["frames"][-1][1].get("vwap", {}).get("vwap", f["bars"][-1]["vwap"]["vwap"])
    )


def test_the_snapshot_carries_the_metrics_history() -> None:
    """One sample per 250 ms bucket with a batch (its last), oldest first, at most 600; the
    latest is the snapshot's own metrics."""
    snap = fed()["mid_snapshot"]
    h = snap["metrics_history"]
    assert 100 < len(h) <= 600
    ts = [r[0] for r in h]
    assert ts == sorted(set(ts)) and all(t % 250_000_000 == 0 for t in ts)
    m = snap["metrics"]
    assert h[-1][0] == m["ts"] - m["ts"] % 250_000_000
    assert h[-1][1:] == [m["imbalance"], m["microprice"], m["mid"], m["ofi"], m["momentum"]]
    assert all(r[3] is None or 4700 < r[3] < 4900 for r in h)


def brute_heat(batches: list[Any]) -> dict[int, dict[str, Any]]:
    """Every bucket's largest size per price in plain Python, replaying the bridge's depth
    events one by one on a position-indexed ladder (lists): the state at the bucket's start
    and after every event in it; a bucket without events carries the state (window: 200 ticks
    either side of the bucket's first mid)."""
    bucket_ns, half = 250_000_000, 200
    rows: dict[str, list[tuple[int, int]]] = {"bid": [], "ask": []}
    out: dict[int, dict[str, Any]] = {}
    cur = -1

    def mid() -> int | None:
        bb = rows["bid"][0][0] if rows["bid"] else None
        aa = rows["ask"][0][0] if rows["ask"] else None
        return (bb + aa) // 2 if bb is not None and aa is not None else (bb or aa)

    def see(b: int) -> None:
        col = out.get(b)
        if col is None:
            m = mid()
            if m is None:
                return
            col = out[b] = {"p0": m - half, "sizes": {}}
        for p, q in rows["bid"] + rows["ask"]:
            if 0 <= p - col["p0"] <= 2 * half:
                col["sizes"][p] = max(col["sizes"].get(p, 0), q)

    for batch in batches:
        assert not batch.snapshot
        for e in batch.depth:
            b = e.t - e.t % bucket_ns
            if b > cur:
                for k in range(cur + bucket_ns if cur >= 0 else b, b + 1, bucket_ns):
                    see(k)  # the state at each bucket's start
                cur = b
            side, t = rows[e.side], round(e.price / TICK)
            if e.op == "remove":
                del side[e.pos]
            elif e.op == "update" and e.pos < len(side):
                side[e.pos] = (t, e.size)
            else:
                side.insert(e.pos, (t, e.size))
            see(cur)
    return out


def test_heat_columns_equal_a_brute_force_recomputation() -> None:
    """Exact per 250 ms bucket of data time: every closed bucket the ring keeps (the last
    hour), each from the events, whatever the batches' edges (one batch spans ~16 s)."""
    f = fed()
    brute = brute_heat(f["batches"])
    cols = f["heat"]
    t = f["batches"][-1].depth[-1].t
    closed = sorted(k for k in brute if k < t - t % 250_000_000)  # the last one is open
    assert len(cols) == min(len(closed), 14_400)
    assert [c["ts"] for c in cols] == closed[-len(cols) :]
    for c in cols:
        want = brute[c["ts"]]
        assert c["step"] == TICK
        sizes = np.array(c["sizes"])
        # trimmed of empty prices at both ends, within the window fixed at the first mid
        lo = round(c["p0"] / TICK)
        assert sizes[0] > 0 and sizes[-1] > 0
        assert want["p0"] <= lo and lo + len(sizes) <= want["p0"] + 401
        got = {lo + int(i): int(sizes[i]) for i in np.flatnonzero(sizes)}
        assert got == want["sizes"], c["ts"]
    # the brightest price of the session's heat is where the most size rested
    assert max(max(c["sizes"]) for c in cols) == max(
        max(brute[c["ts"]]["sizes"].values()) for c in cols
    )


def test_bad_query_values_are_422_naming_the_field() -> None:
    bad = fed()["bad"]
    want = {"prints?limit=0": "limit", "prints?limit=abc": "limit", "heat?from_ts=-5": "from_ts",
            "bars?from_ts=10&to_ts=5": "to_ts", "signals?limit=99999999999": "limit",
            "heat?limit=20001": "limit"}  # fmt: skip
    for q, field in want.items():
        assert bad[q]["status"] == 422, q
        assert bad[q]["error"]["details"]["field"] == field, q
        assert bad[q]["error"]["code"] == "bad_value"
    assert fed()["unknown"] == 404
