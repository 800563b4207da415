"""Replay control through the API on a real server fed ESH4 by the real feeder: paused, nothing
is fed; a seek forward feeds to the target and stops there (the book then equals the book an
in-process replay has at that batch); speed and play run it to the end; a seek back rebuilds
the market state from the start (the book again equals the in-process one) and viewers get a
new snapshot; bad values are 422 naming the field; a trading replay cannot seek back (409);
with a token, POST /api/replay needs it. And ``orderflow run`` itself: the dashboard's address
is its first line, and its replay is controlled the same way."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import msgspec
import pytest
from websockets.sync.client import connect

from orderflow.cli.live import on_server_loop
from orderflow.client.feed import FeedBatch, feed_batches
from orderflow.server.app import create_app
from orderflow.server.replay import Playback
from orderflow.server.threaded import ThreadedServer, free_port
from tests.integration.test_server import esh4_batches, in_process_acks
from tests.serving import PYTHONPATH

pytestmark = pytest.mark.slow


def feed_batches_of() -> list[FeedBatch]:
    batches, _ = esh4_batches()
    return [FeedBatch(b, min(d.t for d in b.depth), max(d.t for d in b.depth)) for b in batches]


def wait_for(check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def book_of(http: httpx.Client) -> tuple[list[Any], list[Any]]:
    b = http.get("/api/book/ESH4").json()
    return [[r["price"], r["size"]] for r in b["bid"]], [[r["price"], r["size"]] for r in b["ask"]]


def test_pause_speed_seek_through_the_api() -> None:
    fbs = feed_batches_of()
    acks = in_process_acks()
    app = create_app()
    hub = app.state.hub
    server = ThreadedServer(app)
    pb = Playback("ESH4", fbs[0].t_first, fbs[-1].t_last, speed=60.0, playing=False, hold=True,
                  on_restart=on_server_loop(server, lambda: hub.drop("ESH4")))  # fmt: skip
    app.state.playback = pb
    http = httpx.Client(base_url=server.http, timeout=30)
    done: dict[str, Any] = {}

    def feed() -> None:
        try:
            asyncio.run(feed_batches(fbs, server.ws, client="run", playback=pb))
        except BaseException as exc:
            done["error"] = exc

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    stack = contextlib.ExitStack()
    try:
        time.sleep(0.5)  # paused from the start: nothing goes out
        state = http.get("/api/replay").json()
        assert state["playing"] is False and state["position_ts"] == fbs[0].t_first
        assert http.get("/api/view/instruments").json()["instruments"] == []
        # seek forward while paused: fed up to the target, then it waits there
        k = 150
        r = http.post("/api/replay", json={"action": "seek", "ts": fbs[k].t_last})
        assert r.status_code == 200 and r.json()["seeking_to"] == fbs[k].t_last
        state = wait_for(lambda: (s := http.get("/api/replay").json())["seeking_to"] is None and s)
        assert state["position_ts"] == fbs[k].t_last and state["playing"] is False
        time.sleep(0.3)
        assert http.get("/api/replay").json()["position_ts"] == fbs[k].t_last
        assert book_of(http) == (acks[k]["book"]["bids"], acks[k]["book"]["asks"])
        viewer = stack.enter_context(connect(server.ws + "/view?instrument=ESH4", max_size=None))
        assert json.loads(viewer.recv(timeout=5))["type"] == "snapshot"
        # speed and play: to the end
        assert http.post("/api/replay", json={"action": "speed", "speed": 600}).json()[
            "speed"] == 600.0  # fmt: skip
        assert http.post("/api/replay", json={"action": "play"}).json()["playing"] is True
        wait_for(lambda: http.get("/api/replay").json()["finished"])
        assert book_of(http) == (acks[-1]["book"]["bids"], acks[-1]["book"]["asks"])
        # seek back (paused first, so it stops at the target): rebuilt from the start
        http.post("/api/replay", json={"action": "pause"})
        j = 60
        r = http.post("/api/replay", json={"action": "seek", "ts": fbs[j].t_last})
        assert r.status_code == 200
        state = wait_for(
            lambda: (s := http.get("/api/replay").json())["seeking_to"] is None
            and not s["finished"] and s
        )  # fmt: skip
        assert state["position_ts"] == fbs[j].t_last
        assert book_of(http) == (acks[j]["book"]["bids"], acks[j]["book"]["asks"])
        types = []
        while "snapshot" not in types[1:] if types else True:
            types.append(json.loads(viewer.recv(timeout=10))["type"])
        assert types.count("snapshot") == 1  # a new snapshot on the same socket
        stack.close()
        # bad values: 422 naming the field
        for body, field in (({"action": "speed", "speed": 0.1}, "speed"),
                            ({"action": "speed", "speed": "fast"}, "speed"),
                            ({"action": "speed", "speed": 601}, "speed"),
                            ({"action": "seek", "ts": fbs[-1].t_last + 1}, "ts"),
                            ({"action": "seek", "ts": 1.5}, "ts"),
                            ({"action": "rewind"}, "action")):  # fmt: skip
            r = http.post("/api/replay", json=body)
            assert r.status_code == 422, body
            assert r.json()["error"]["details"]["field"] == field
        assert "error" not in done
    finally:
        stack.close()
        pb.hold = False
        pb.act("play")
        http.close()
        server.stop()


def test_a_trading_replay_cannot_seek_back_and_posts_need_the_token() -> None:
    token = "replay-Token_1"
    app = create_app(token=token)
    pb = Playback("ESH4", 1_000, 9_000, can_seek_back=False)
    pb.sent(5_000)
    app.state.playback = pb
    server = ThreadedServer(app)
    auth = {"authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=server.http) as http:
            assert http.post("/api/replay", json={"action": "pause"}).status_code == 401
            assert pb.playing is True  # refused: nothing changed
            r = http.post("/api/replay", json={"action": "seek", "ts": 2_000}, headers=auth)
            assert r.status_code == 409 and r.json()["error"]["details"]["field"] == "ts"
            assert pb.position_ts == 5_000 and pb.seek_ts is None
            r = http.post("/api/replay", json={"action": "seek", "ts": 7_000}, headers=auth)
            assert r.status_code == 200 and r.json()["seeking_to"] == 7_000
            assert http.get("/api/replay", headers=auth).json()["can_seek_back"] is False
    finally:
        server.stop()


def test_orderflow_run_prints_the_dashboard_first_and_is_controlled(tmp_path: Any) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")}
    env["PYTHONPATH"] = PYTHONPATH
    proc = subprocess.Popen(
        [sys.executable, "-m", "orderflow.cli.main", "run", "--no-trade", "--hold",
         "--port", str(port), "--speed", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=tmp_path, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first == f"dashboard http://127.0.0.1:{port}/"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:

            def replay() -> Any:
                try:
                    r = http.get("/api/replay")
                except httpx.HTTPError:  # not listening yet
                    return None
                return r.json() if r.status_code == 200 else None

            state = wait_for(replay, 120)
            assert state["speed"] == 1.0 and state["can_seek_back"] is True
            state = http.post("/api/replay", json={"action": "pause"}).json()
            assert state["playing"] is False
            target = state["start_ts"] + (state["end_ts"] - state["start_ts"]) * 9 // 10
            http.post("/api/replay", json={"action": "seek", "ts": target})
            got = wait_for(lambda: (s := replay()) and s["seeking_to"] is None and s, 120)
            assert got["position_ts"] == target and got["playing"] is False
            last = http.get("/api/view/instruments").json()["instruments"][0]["last_ts"]
            assert state["position_ts"] < last <= target  # fed up to the target, not beyond
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_orderflow_replay_serves_a_recording_paced_and_controlled(tmp_path: Any) -> None:
    """A server's recording of ESH4 played by ``orderflow replay --serve``: the dashboard's
    address first, the same market as the live feed at the end (cumulative delta +840, as
    the in-process replay), and its replay bar works (pause, seek)."""
    from tests.integration.test_server import Server

    record = tmp_path / "rec"
    server = Server(record_dir=record)
    try:
        with connect(server.ws, max_size=None) as ws:
            ws.send(json.dumps({"type": "hello", "protocol": 2, "client": "nt8"}))
            ws.recv()
            for b in esh4_batches()[0]:
                ws.send(msgspec.json.encode(b).decode())
                ws.recv()
    finally:
        server.stop()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")}
    env["PYTHONPATH"] = PYTHONPATH
    cmd = [sys.executable, "-m", "orderflow.cli.main", "replay", str(record), "--serve"]
    done = subprocess.run([*cmd, "--speed", "600", "--json"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["instruments"]["ESH4"]["cumulative_delta"]["final"] == 840
    assert out["batches"] == len(esh4_batches()[0]) and out["refused"] == 0
    port = free_port()
    proc = subprocess.Popen([*cmd, "--speed", "1", "--port", str(port), "--hold"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            cwd=tmp_path, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"dashboard http://127.0.0.1:{port}/"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:

            def replay() -> Any:
                try:
                    r = http.get("/api/replay")
                except httpx.HTTPError:
                    return None
                return r.json() if r.status_code == 200 else None

            state = wait_for(replay, 120)
            assert state["source"] == "rec" and state["can_seek_back"] is True
            http.post("/api/replay", json={"action": "pause"})
            http.post("/api/replay", json={"action": "seek", "ts": state["end_ts"]})
            got = wait_for(lambda: (s := replay()) and s["finished"] and s)
            assert got["seeking_to"] is None and got["position_ts"] == got["end_ts"]
            delta = wait_for(lambda: http.get("/api/analytics/ESH4").json())
            assert delta["cumulative_delta"]["final"] == 840
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
