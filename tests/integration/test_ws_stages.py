"""The WebSocket's path over a real socket (uvicorn on 127.0.0.1): answers leave in order
(pipelined, heartbeats among the batches), a silent connection still gets the server's
heartbeats (one timer per connection), a connection silent for the idle timeout is closed
(one timer per connection), and the stage probe
(``orderflow.server.stages``, what ``benchmarks/bench_roundtrip.py`` reads) marks every stage
of each round trip in the path's order, and nothing while none is installed."""

from __future__ import annotations

import json

import msgspec
import pytest
from websockets.sync.client import connect

from orderflow.server import connection, stages
from orderflow.server.app import create_app
from orderflow.server.threaded import ThreadedServer
from tests.integration.test_server import esh4_batches

pytestmark = pytest.mark.slow


@pytest.fixture
def server():
    s = ThreadedServer(create_app())
    yield s
    s.stop()


def hello(ws, client: str, encoding: str = "msgpack") -> dict:
    ws.send(json.dumps({"type": "hello", "protocol": 2, "client": client,
                        "encoding": encoding}))  # fmt: skip
    return decode(ws.recv())


def decode(frame: bytes | str) -> dict:
    return msgspec.msgpack.decode(frame) if isinstance(frame, bytes) else json.loads(frame)


def test_the_stage_probe_marks_every_stage_of_each_round_trip_in_order(server):
    batches = esh4_batches()[0][:40]
    assert stages.PROBE is None  # nothing installed: no marks are taken
    probe = stages.StageProbe(capacity=100)
    stages.install(probe)
    try:
        with connect(server.ws, compression=None) as ws:
            assert hello(ws, "probe")["type"] == "welcome"
            for b in batches:
                ws.send(msgspec.msgpack.encode(b))
                ack = decode(ws.recv())
                assert ack["type"] == "ack" and ack["seq"] == b.seq
    finally:
        stages.install(None)
    rows = probe.kept()
    assert len(rows) == len(batches)  # one row per ack written
    path = rows[:, stages.FRAME :]  # data_in: uvicorn's hook, installed by the benchmark only
    assert (path > 0).all()
    assert (path[:, 1:] >= path[:, :-1]).all()  # every stage after the one before it
    assert (rows[1:, stages.FRAME] > rows[:-1, stages.SENT]).all()  # one round trip at a time
    before = probe.n
    with connect(server.ws, compression=None) as ws:
        hello(ws, "unprobed")
        ws.send(msgspec.msgpack.encode(msgspec.structs.replace(batches[0], instrument="MES 03-24")))
        assert decode(ws.recv())["type"] == "ack"
    assert probe.n == before


def test_answers_keep_their_order_pipelined_with_heartbeats_among_them(server):
    """A pipelining client (every batch sent before any answer is read, heartbeats among
    them, JSON and MessagePack): every batch is answered once, in order, and each heartbeat's
    echo comes after the acks of the batches sent before it."""
    batches = esh4_batches()[0][:150]
    for encoding in ("msgpack", "json"):
        name = "ES 03-24" if encoding == "msgpack" else "MES 03-24"
        with connect(server.ws, compression=None, max_size=None) as ws:
            hello(ws, f"order-{encoding}", encoding)
            for b in batches:
                b = msgspec.structs.replace(b, instrument=name)
                ws.send(msgspec.msgpack.encode(b) if encoding == "msgpack"
                        else msgspec.json.encode(b).decode())  # fmt: skip
                if b.seq % 10 == 0:
                    ws.send(json.dumps({"type": "heartbeat", "t": b.seq}))
            covered: list[int] = []
            beats = 0
            while not covered or covered[-1] != batches[-1].seq:
                msg = decode(ws.recv())
                if msg["type"] == "heartbeat":
                    assert covered and covered[-1] >= msg["t"]
                    beats += 1
                    continue
                assert msg["type"] == "ack", msg
                covered += range(msg["first_seq"], msg["seq"] + 1)
            assert covered == [b.seq for b in batches]
            while beats < len(batches) // 10:  # the echoes of the last heartbeats
                msg = decode(ws.recv())
                if msg["type"] == "heartbeat":
                    beats += 1


def test_a_silent_connection_gets_heartbeats_and_answers_still_come(server, monkeypatch):
    monkeypatch.setattr(connection, "HEARTBEAT_S", 0.2)
    batch = esh4_batches()[0][0]
    with connect(server.ws, compression=None) as ws:
        hello(ws, "silent")
        for _ in range(2):
            msg = decode(ws.recv(timeout=10))
            assert msg["type"] == "heartbeat" and msg["t"] > 0
        ws.send(msgspec.msgpack.encode(batch))
        while (msg := decode(ws.recv(timeout=10)))["type"] == "heartbeat":
            pass
        assert msg["type"] == "ack" and msg["seq"] == batch.seq
        assert decode(ws.recv(timeout=10))["type"] == "heartbeat"


def test_a_connection_silent_for_the_idle_timeout_is_closed_and_a_talking_one_is_not(
    server, monkeypatch
):
    """One timer per connection keeps the idle timeout: a client that says nothing after its
    hello is disconnected; one that keeps sending (heartbeats) over several timeouts is
    not."""
    import time

    from websockets.exceptions import ConnectionClosed

    from orderflow.server import ws as ws_module

    monkeypatch.setattr(ws_module, "IDLE_TIMEOUT_S", 0.5)
    monkeypatch.setattr(connection, "HEARTBEAT_S", 60.0)
    with connect(server.ws, compression=None) as talking:
        hello(talking, "talking")
        end = time.monotonic() + 2.0
        beat = 0
        while time.monotonic() < end:  # four idle timeouts long, a frame every 0.1 s
            beat += 1
            talking.send(json.dumps({"type": "heartbeat", "t": beat}))
            assert decode(talking.recv(timeout=10)) == {"type": "heartbeat", "t": beat}
            time.sleep(0.1)
    with connect(server.ws, compression=None) as silent:
        hello(silent, "silent")
        with pytest.raises(ConnectionClosed):
            silent.recv(timeout=10)
