"""A viewer frame's WebSocket bytes (``view_send.ws_frame``) are the very bytes ``websockets``'
protocol writes for the same message (text or binary, every length form of the header), and a
viewer writes them to its transport as they are only while the connection's protocol is open
and plain: once it is closing or closed, has sent its close frame, is disconnected, carries an
extension or is inside a fragmented message, the frame goes through the socket as before; a
transport whose protocol is not the sans-I/O one never takes them. (The real server's viewers
receive them in tests/unit/server/test_view_binary.py.)"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from orderflow.server.view_send import plain_protocol, takes_frames, ws_frame
from orderflow.server.view_stream import Viewer
from orderflow.server.watchdog import WS_WRITER_KEY


@pytest.mark.parametrize("n", [0, 1, 125, 126, 127, 65535, 65536, 70_001])
def test_the_bytes_websockets_writes(n: int) -> None:
    data = bytes(range(256)) * (n // 256 + 1)
    data = data[:n]
    text = ("é" * n)[: max(0, n // 2)]  # multi-byte UTF-8
    assert ws_frame(data) == Frame(Opcode.BINARY, data).serialize(mask=False, extensions=[])
    assert ws_frame(text) == Frame(Opcode.TEXT, text.encode()).serialize(mask=False,
                                                                       extensions=[])  # fmt: skip


class Transport:
    def __init__(self, proto: Any) -> None:
        self.proto, self.wrote = proto, []

    def get_protocol(self) -> Any:
        return self.proto

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes) -> None:
        self.wrote.append(data)


class Socket:
    def __init__(self, transport: Any) -> None:
        self.writable = asyncio.Event()
        self.writable.set()
        self.scope = {WS_WRITER_KEY: (transport, self.writable)}
        self.got: list[str | bytes] = []

    async def send_bytes(self, data: bytes) -> None:
        self.got.append(data)

    async def send_text(self, data: str) -> None:
        self.got.append(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        return None


def _proto() -> Any:
    conn = SimpleNamespace(state=State.OPEN, extensions=[], expect_continuation_frame=False)
    return SimpleNamespace(conn=conn, close_sent=False, disconnected=False)


@pytest.mark.parametrize("spoil", [
    lambda p: setattr(p.conn, "state", State.CLOSING),
    lambda p: setattr(p.conn, "state", State.CLOSED),
    lambda p: setattr(p, "close_sent", True),
    lambda p: setattr(p, "disconnected", True),
    lambda p: p.conn.extensions.append(object()),
    lambda p: setattr(p.conn, "expect_continuation_frame", True),
])  # fmt: skip
def test_written_as_bytes_only_while_the_protocol_is_open_and_plain(spoil: Any) -> None:
    async def run() -> tuple[Transport, Socket, Viewer]:
        proto = _proto()
        t = Transport(proto)
        s = Socket(t)
        v = Viewer(s, "ESH4", 10, 8, 5.0, binary=True)  # type: ignore[arg-type]
        assert v.proto is proto and takes_frames(proto)
        await v.send(b"a", ws_frame(b"a"))
        await v.send("b", ws_frame("b"))
        spoil(proto)
        assert not takes_frames(proto)
        await v.send(b"c", ws_frame(b"c"))
        await v.send("d", ws_frame("d"))
        await v.send(b"e")  # no bytes made: the socket sends
        return t, s, v

    t, s, v = asyncio.run(run())
    assert t.wrote == [ws_frame(b"a"), ws_frame("b")]
    assert s.got == [b"c", "d", b"e"]
    assert v.sent == v.direct == 5


def test_another_protocol_takes_no_bytes() -> None:
    assert plain_protocol(object()) is None  # no get_protocol
    assert plain_protocol(Transport(None)) is None
    assert plain_protocol(Transport(SimpleNamespace(conn=SimpleNamespace()))) is None
    partial = _proto()
    del partial.close_sent
    assert plain_protocol(Transport(partial)) is None
    assert plain_protocol(Transport(_proto())) is not None
