"""Viewers never hold up the trading path: a viewer that never reads (its socket's buffers
kept small on both ends, a congested path; JSON text or MessagePack frames) is closed with
1013 while the bridge's acks go on, all of them, and /health counts it; twenty viewers
attached leave every ack exactly as without them; one viewer over ``max_viewers`` is refused
with 1013; with a token set the stream and its backfill need it (a browser's WebSocket gives
it as ``?token=``)."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from typing import Any

import msgspec
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from orderflow.server.view import ViewParams
from tests.integration.test_server import Server, comparable, esh4_batches, in_process_acks
from tests.serving import http

pytestmark = pytest.mark.slow


def feed_all(server: Server, batches: list[Any]) -> list[dict[str, Any]]:
    """Every batch, each ack awaited: the acks."""
    acks = []
    with connect(server.ws, max_size=None) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "nt8"}))
        json.loads(ws.recv())
        for b in batches:
            ws.send(msgspec.json.encode(b).decode())
            acks.append(json.loads(ws.recv()))
    return acks


def never_reads(port: int, path: str) -> socket.socket:
    """A WebSocket upgrade on a socket with a tiny receive buffer that is never read after."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: the window
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())  # fmt: skip
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def narrow_server_side(server: Server, client: socket.socket) -> None:
    """The server's send buffer to ``client`` made as small as the kernel allows (a congested
    path to a viewer): frames back up after a few kilobytes instead of megabytes."""
    port = client.getsockname()[1]
    for proto in server.server.server_state.connections:
        transport = getattr(proto, "transport", None)
        peer = transport.get_extra_info("peername") if transport is not None else None
        if peer is not None and peer[1] == port:
            transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            return
    raise AssertionError("no server-side connection of that viewer")


def close_code(s: socket.socket) -> int | None:
    """Read the socket to its end: the code of the close frame the server sent, if any."""
    s.settimeout(10)
    data = b""
    try:
        while chunk := s.recv(1 << 20):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    i = 0
    while i + 2 <= len(data):  # walk the server's (unmasked) frames
        op, n = data[i] & 0x0F, data[i + 1] & 0x7F
        j = i + 2
        if n == 126:
            n, j = int.from_bytes(data[j : j + 2], "big"), j + 2
        elif n == 127:
            n, j = int.from_bytes(data[j : j + 8], "big"), j + 8
        if op == 8 and n >= 2:
            return int.from_bytes(data[j : j + 2], "big")
        i = j + n
    return None


@pytest.mark.parametrize("form", ["json", "msgpack"])
def test_a_viewer_that_never_reads_is_dropped_while_the_acks_go_on(form: str) -> None:
    batches, _ = esh4_batches()
    server = Server(view=ViewParams(send_timeout_s=0.5))
    try:
        feed_all(server, batches[:1])  # the instrument exists: viewers may attach
        slow = never_reads(server.port, f"/ws/view?instrument=ESH4&levels=200&format={form}")
        narrow_server_side(server, slow)
        stream = server.app.state.view_stream
        acks = feed_all_resumed(server, batches, 0.01, lambda: stream.dropped)
        deadline = time.monotonic() + 60
        while stream.dropped == 0 and time.monotonic() < deadline:
            http().get(server.http + "/api/view/instruments")
            time.sleep(0.05)
        assert stream.dropped == 1
        assert close_code(slow) in (1013, None)  # the close frame may sit behind the backlog
        assert [comparable(a) for a in acks] == in_process_acks()[1:]
        assert stream.count == 0
        viewers = http().get(server.http + "/health").json()["viewers"]
        assert viewers["dropped_slow"] == 1 and viewers["attached"] == 0
    finally:
        server.stop()


def test_twenty_viewers_leave_every_ack_as_it_was() -> None:
    batches, _ = esh4_batches()
    server = Server(view=ViewParams(max_viewers=20))
    got: list[list[str]] = [[] for _ in range(20)]
    stop = threading.Event()

    def watch(k: int, ready: threading.Event) -> None:
        with connect(server.ws + "/view?instrument=ESH4", max_size=None) as v:
            ready.set()
            while not stop.is_set():
                try:
                    got[k].append(json.loads(v.recv(timeout=0.2))["type"])
                except TimeoutError:
                    continue

    try:
        feed_all(server, batches[:1])  # the instrument exists: viewers may attach
        threads = []
        for k in range(20):
            ready = threading.Event()
            t = threading.Thread(target=watch, args=(k, ready), daemon=True)
            t.start()
            assert ready.wait(10)
            threads.append(t)
        with (
            pytest.raises((InvalidStatus, ConnectionClosed)),  # the 21st: 1013
            connect(server.ws + "/view?instrument=ESH4") as extra,
        ):
            extra.recv(timeout=5)
        acks = feed_all_resumed(server, batches)
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join(5)
        assert [comparable(a) for a in acks] == in_process_acks()[1:]
        assert all(g and g[0] == "snapshot" and "delta" in g for g in got)
    finally:
        server.stop()


def feed_all_resumed(
    server: Server, batches: list[Any], pause_s: float = 0.0, until: Any = None
) -> list[dict[str, Any]]:
    """Batches 2.. on a new connection of the same client (its last_seq is 1); ``pause_s``
    between batches while ``until()`` is false (then as fast as the acks come)."""
    acks = []
    with connect(server.ws, max_size=None) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "nt8"}))
        assert json.loads(ws.recv())["last_seq"] == 1
        for b in batches[1:]:
            ws.send(msgspec.json.encode(b).decode())
            acks.append(json.loads(ws.recv()))
            if pause_s and not (until and until()):
                time.sleep(pause_s)
    return acks


def test_with_a_token_the_stream_and_backfill_need_it() -> None:
    token = "view-Token_1"
    server = Server(token=token)
    try:
        with connect(server.ws, max_size=None,
                     additional_headers={"x-orderflow-token": token}) as ws:  # fmt: skip
            ws.send(json.dumps({"type": "hello", "protocol": 2, "client": "nt8"}))
            ws.recv()
            ws.send(msgspec.json.encode(esh4_batches()[0][0]).decode())
            ws.recv()
        assert http().get(server.http + "/api/view/ESH4/prints").status_code == 401
        ok = http().get(server.http + "/api/view/ESH4/prints",
                       headers={"authorization": f"Bearer {token}"})  # fmt: skip
        assert ok.status_code == 200
        with (
            pytest.raises((InvalidStatus, ConnectionClosed)),
            connect(server.ws + "/view?instrument=ESH4&token=wrong") as v,
        ):
            v.recv(timeout=5)
        with connect(server.ws + f"/view?instrument=ESH4&token={token}") as v:
            assert json.loads(v.recv(timeout=5))["type"] == "snapshot"
    finally:
        server.stop()
