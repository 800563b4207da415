"""The viewer stream on the real server (uvicorn on 127.0.0.1, ESH4 fed as the bridge's batches,
real WebSocket viewers) when nothing changes and when its viewers read: with no batch coming
the flusher waits instead of ticking 30 times a second (a frame only as the account and health
come due), and the batches fed after such a wait reach the viewers, ending on the server's
book; a replay's speed changed while nothing is fed reaches them too; a viewer that reads has
every frame written from the flusher's own task (no hop to its writer task), in order; bursts
of batches between idle waits still get frames no more often than ``frame_hz``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import msgspec
import pytest
from websockets.sync.client import connect

from orderflow.server.app import create_app
from orderflow.server.replay import Playback
from orderflow.server.threaded import ThreadedServer
from orderflow.server.view import ViewParams
from orderflow.server.view_stream import SLOW_S
from tests.integration.test_server import esh4_batches
from tests.integration.test_view_stream import Watcher

pytestmark = pytest.mark.slow


def wait_for(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def feed(ws: Any, batches: list[Any]) -> None:
    for b in batches:
        ws.send(msgspec.json.encode(b).decode())
        json.loads(ws.recv())


def hello(ws: Any) -> None:
    ws.send(json.dumps({"type": "hello", "protocol": 2, "client": "nt8"}))
    json.loads(ws.recv())


def test_an_idle_stream_waits_and_the_next_batches_still_reach_the_viewers() -> None:
    batches, _ = esh4_batches()
    app = create_app()
    server = ThreadedServer(app)
    watchers: list[Watcher] = []
    try:
        with connect(server.ws, max_size=None) as ws:
            hello(ws)
            feed(ws, batches[:50])
            watchers = [Watcher(server.ws + "/view?instrument=ESH4&levels=10") for _ in range(5)]
            stream = app.state.view_stream
            wait_for(lambda: all(w.frames for w in watchers))
            wait_for(lambda: stream.idled > 0)  # the profile and clusters read, then nothing
            frames, idled = stream.frames, stream.idled
            time.sleep(1.0)  # no batch: 30 ticks of the frame clock before, a few waits now
            built = stream.frames - frames
            assert stream.idled > idled
            # a frame only as the account and health come due (every SLOW_S), not 30
            assert built <= 1.0 / SLOW_S + 2, built
            seen = [len(w.frames) for w in watchers]
            feed(ws, batches[50:120])
            wait_for(lambda: all(len(w.frames) > k for w, k in zip(watchers, seen, strict=True)))
            book = httpx.get(server.http + "/api/book/ESH4").json()
            bids = [[r["price"], r["size"]] for r in book["bid"]]
            asks = [[r["price"], r["size"]] for r in book["ask"]]

            def latest_book(w: Watcher) -> dict[str, Any]:
                return [f["book"] for _, f in w.frames if "book" in f][-1]

            # every viewer ends on the server's book
            wait_for(lambda: all(latest_book(w)["bids"] == bids and latest_book(w)["asks"]
                                 == asks for w in watchers))  # fmt: skip
            kept = httpx.get(server.http + "/api/view/ESH4/prints?limit=200000").json()["prints"]
            for w in watchers:  # every print once, in order: the snapshot's, then the deltas'
                prints = [p for _, f in w.frames for p in f.get("prints", [])]
                assert prints == kept[-len(prints) :] and len(prints) > 500
    finally:
        for w in watchers:
            w.close()
        server.stop()


def test_a_replay_speed_set_while_nothing_is_fed_reaches_the_viewer() -> None:
    batches, _ = esh4_batches()
    app = create_app()
    server = ThreadedServer(app)
    t0, t1 = batches[0].depth[0].t, batches[-1].depth[-1].t
    app.state.playback = Playback("ESH4", t0, t1, speed=60.0, playing=False, hold=True)
    try:
        with connect(server.ws, max_size=None) as ws:
            hello(ws)
            feed(ws, batches[:5])
        w = Watcher(server.ws + "/view?instrument=ESH4&levels=10")
        try:
            stream = app.state.view_stream
            wait_for(lambda: w.frames and stream.idled > 0)
            r = httpx.post(server.http + "/api/replay", json={"action": "speed", "speed": 2.5})
            assert r.status_code == 200 and r.json()["speed"] == 2.5
            got = wait_for(lambda: [f for _, f in w.frames if (f.get("replay") or {}).get("speed")
                                    == 2.5])  # fmt: skip
            assert got[0]["type"] == "delta" and got[0]["replay"]["playing"] is False
        finally:
            w.close()
    finally:
        server.stop()


@contextmanager
def one_viewer(app: Any) -> Iterator[tuple[Any, Watcher, list[Any]]]:
    """A real server for ``app`` fed ESH4's first batch, with one viewer that has its first
    frame: the feeding socket, the viewer and ESH4's batches."""
    batches, _ = esh4_batches()
    server = ThreadedServer(app)
    try:
        with connect(server.ws, max_size=None) as ws:
            hello(ws)
            feed(ws, batches[:1])
            w = Watcher(server.ws + "/view?instrument=ESH4&levels=10")
            try:
                wait_for(lambda: w.frames)
                yield ws, w, batches
            finally:
                w.close()
    finally:
        server.stop()


def test_a_reading_viewer_gets_every_frame_written_from_the_flusher() -> None:
    app = create_app()
    with one_viewer(app) as (ws, w, batches):
        (viewer,) = app.state.view_stream.viewers["ESH4"]
        feed(ws, batches[1:200])
        wait_for(lambda: viewer.sent == len(w.frames) and viewer.sent > 5)
        # none went through the writer task: no hop, no timer per frame
        assert viewer.direct == viewer.sent
        kinds = [f["type"] for _, f in w.frames]
        assert kinds[0] == "snapshot" and set(kinds[1:]) == {"delta"}
        ts = [f["ts"] for _, f in w.frames]
        assert ts == sorted(ts)  # in order


def test_bursts_between_idle_waits_get_frames_no_more_often_than_frame_hz() -> None:
    app = create_app(view=ViewParams(frame_hz=5))
    with one_viewer(app) as (ws, w, batches):
        stream = app.state.view_stream
        idled = stream.idled
        t0 = time.monotonic()
        for k in range(10):  # a burst, then a pause long enough to go idle
            feed(ws, batches[1 + 5 * k : 6 + 5 * k])
            time.sleep(0.35)
        span = time.monotonic() - t0
        starts = stream.frames
        assert stream.idled > idled  # it did wait between the bursts
    frames = [t for t, f in w.frames if f["type"] == "delta" and t >= t0]
    # at most 5 a second (+1 for the window's edges), waits and wakes included
    assert len(frames) <= 5 * span + 1, (len(frames), span)
    assert starts <= 5 * (time.monotonic() - t0) + 3
