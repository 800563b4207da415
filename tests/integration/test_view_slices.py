"""Frames built in steps, with the loop free between every two of them: the real server
(uvicorn on 127.0.0.1, in this process) with every frame step and every folding slice cut to
its least (``FRAME_SLICE_NS`` and ``FOLD_SLICE_NS`` 0: the loop polls its sockets after each
step), fed ESH4 by the bridge's batches over a real WebSocket while a real viewer reads every
frame. Batches land between the steps of a frame and between the views' folds, and still:
snapshot plus deltas carry every print once, every heat column a frame carries is the
backfill's column of that bucket (each once, in time order), the closed bars equal the
backfill's, and the last book is /api/book's."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import msgspec
import pytest
from websockets.sync.client import connect

from orderflow.server import view as view_mod
from orderflow.server import view_stream
from tests.integration.test_server import Server, esh4_batches
from tests.integration.test_view_stream import Watcher

pytestmark = pytest.mark.slow


def feed_in_steps(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setattr(view_stream, "FRAME_SLICE_NS", 0)
    monkeypatch.setattr(view_mod, "FOLD_SLICE_NS", 0)
    batches, _ = esh4_batches()
    server = Server()
    out: dict[str, Any] = {"batches": batches}
    try:
        with connect(server.ws, max_size=None) as ws:
            ws.send(json.dumps({"type": "hello", "protocol": 2, "client": "nt8"}))
            json.loads(ws.recv())
            ws.send(msgspec.json.encode(batches[0]).decode())
            json.loads(ws.recv())
            viewer = Watcher(server.ws + "/view?instrument=ESH4&levels=10")
            for b in batches[1:]:
                ws.send(msgspec.json.encode(b).decode())
                json.loads(ws.recv())
            time.sleep(0.5)  # the last frame goes out
            viewer.close()
        out["frames"] = [fr for _, fr in viewer.frames]
        get = httpx.Client(base_url=server.http, timeout=30).get
        out["book"] = get("/api/book/ESH4").json()
        out["bars"] = get("/api/view/ESH4/bars?limit=100000").json()["bars"]
        out["heat"] = get("/api/view/ESH4/heat?limit=20000").json()["columns"]
        out["prints"] = get("/api/view/ESH4/prints?limit=200000").json()["prints"]
    finally:
        server.stop()
    return out


def test_frames_built_in_steps_lose_nothing_and_repeat_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    f = feed_in_steps(monkeypatch)
    frames = f["frames"]
    assert frames[0]["type"] == "snapshot" and len(frames) > 10
    assert all(fr["type"] == "delta" for fr in frames[1:])
    # prints: every one once, in order, ending on the backfill's last
    prints = list(frames[0]["prints"])
    for fr in frames[1:]:
        assert "prints_dropped" not in fr
        prints += fr.get("prints", [])
    assert prints == f["prints"][-len(prints) :]
    assert len(f["prints"]) == sum(len(b.ticks) for b in f["batches"])
    # heat: each column a frame carries is the backfill's of that bucket, once, in order
    # (a frame carries the latest 120 at most: a feed this fast closes more between two)
    by_ts = {c["ts"]: c for c in f["heat"]}
    streamed = [c for fr in frames for c in fr.get("heat", [])]
    assert len(streamed) > 500
    ts = [c["ts"] for c in streamed]
    assert ts == sorted(set(ts))
    assert all(c == by_ts[c["ts"]] for c in streamed if c["ts"] in by_ts)
    assert sum(c["ts"] in by_ts for c in streamed) > 500
    # bars: the closed ones streamed equal the backfill's (cells, VWAP and all)
    closed = {b["start_ts"]: b for b in f["bars"] if b["closed"]}
    sent = {b["start_ts"]: b for fr in frames for b in fr.get("bars", []) if b["closed"]}
    assert len(sent) > 10 and all(b == closed[t] for t, b in sent.items())
    # the book ends on the server's
    book = frames[0]["book"]
    for fr in frames[1:]:
        book = fr.get("book", book)
    assert book["bids"] == [[r["price"], r["size"]] for r in f["book"]["bid"]]
    assert book["asks"] == [[r["price"], r["size"]] for r in f["book"]["ask"]]
