"""A session writes its answers from its own task while its client keeps up (no hop to the
writer task), and queues them once the client stops reading: real uvicorn on 127.0.0.1, real
WebSocket clients, ESH4's batches."""

from __future__ import annotations

import contextlib
import json
import socket
import threading

import httpx
import msgspec
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from orderflow.protocol import Batch, Depth
from orderflow.server.limits import Limits
from orderflow.server.state import ServerState
from tests.integration.test_orders_server import T0, wait_for
from tests.integration.test_server import Server, esh4_batches


def state_of(s: Server) -> ServerState:
    state: ServerState = s.app.state.server
    return state


def test_a_reading_client_gets_every_ack_in_order_written_from_its_session():
    """30 ESH4 batches one at a time, each ack read before the next batch: every ack comes,
    in order, and each was written by the session itself (the writer task wrote none)."""
    batches = esh4_batches()[0][:30]
    s = Server()
    try:
        with connect(s.ws, max_size=None) as ws:
            ws.send(json.dumps({"type": "hello", "protocol": 2, "client": "nt8",
                                "encoding": "msgpack"}))  # fmt: skip
            assert msgspec.msgpack.decode(ws.recv(timeout=10))["type"] == "welcome"
            for b in batches:
                ws.send(msgspec.msgpack.encode(b))
                ack = msgspec.msgpack.decode(ws.recv(timeout=10))
                while ack["type"] == "heartbeat":
                    ack = msgspec.msgpack.decode(ws.recv(timeout=10))
                assert (ack["type"], ack["seq"], ack["instrument"]) == ("ack", b.seq, "ESH4")
            conn = state_of(s).conns["nt8"]
            assert conn.direct >= len(batches)  # the acks (the welcome went by the writer)
            assert not conn.slow
    finally:
        s.stop()


def test_a_client_that_stops_reading_is_answered_through_its_queue_and_dropped():
    """Its socket takes little and it never reads: the first acks are written directly, then
    the transport holds more than the bound and the answers queue, the queue (16) overflows
    and the client is dropped as a slow consumer, while another client is answered."""
    levels = [
        Depth(t=T0, side=side, op="add", pos=i, price=price, size=5 + i)
        for side, sign in (("bid", -1), ("ask", 1))
        for i in range(10)
        for price in [4810.0 + 0.125 * (1 + sign) + sign * 0.25 * i]
    ]
    book = Batch(instrument="ES 03-24", snapshot=True, depth=levels)
    frame = msgspec.json.encode(book).decode()
    s = Server(limits=Limits(send_queue=16))
    try:
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", s.port))
        with connect(s.ws, sock=raw, max_queue=1, compression=None, close_timeout=0.2) as slow:
            slow.send(json.dumps({"type": "hello", "protocol": 1, "client": "slow"}))
            wait_for(lambda: "slow" in state_of(s).conns, timeout=30)
            conn = state_of(s).conns["slow"]

            def flood() -> None:
                with contextlib.suppress(ConnectionClosed, OSError):
                    for _ in range(20_000):
                        slow.send(frame)

            threading.Thread(target=flood, daemon=True).start()
            wait_for(lambda: conn.slow, timeout=60)
            assert conn.direct > 0  # written directly while the transport held little
            assert conn.queue.qsize() == 16  # then queued, until the queue was full
            with connect(s.ws) as ok:
                ok.send(json.dumps({"type": "hello", "protocol": 1, "client": "ok"}))
                assert json.loads(ok.recv(timeout=10))["type"] == "welcome"
                ok.send(msgspec.json.encode(msgspec.structs.replace(book, seq=1)).decode())
                answer = json.loads(ok.recv(timeout=10))
                assert (answer["type"], answer["seq"]) == ("ack", 1)
            wait_for(lambda: list(httpx.get(f"{s.http}/health").json()["clients"]) == [],
                     timeout=30)  # fmt: skip
            with contextlib.suppress(OSError):
                raw.shutdown(socket.SHUT_RDWR)
    finally:
        s.stop()


def test_a_pipelining_client_still_gets_its_batches_applied_together():
    """150 ESH4 batches sent before any answer is read: the batches that wait while one is
    applied still go through the engine together (fewer acks than batches, every batch
    covered once, in order), the direct writes notwithstanding."""
    batches = esh4_batches()[0][:150]
    s = Server()
    try:
        with connect(s.ws, max_size=None, compression=None) as ws:
            ws.send(json.dumps({"type": "hello", "protocol": 2, "client": "pipe",
                                "encoding": "msgpack"}))  # fmt: skip
            assert msgspec.msgpack.decode(ws.recv(timeout=10))["type"] == "welcome"
            for b in batches:
                ws.send(msgspec.msgpack.encode(b))
            covered: list[int] = []
            acks = 0
            while not covered or covered[-1] != batches[-1].seq:
                msg = msgspec.msgpack.decode(ws.recv(timeout=30))
                if msg["type"] == "heartbeat":
                    continue
                assert msg["type"] == "ack", msg
                acks += 1
                covered += range(msg.get("first_seq") or msg["seq"], msg["seq"] + 1)
        assert covered == [b.seq for b in batches]
        assert acks < len(batches) and state_of(s).hub.counters["coalesced"] > 0
    finally:
        s.stop()
