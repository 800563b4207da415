"""A viewer's frames are written from the caller's task only when that cannot wait or overtake:
the transport writable and holding under DIRECT_BUFFER bytes, nothing queued or being written
by the writer task. Else they queue, and every later frame queues behind them until the writer
has written them: the socket gets every frame once, in the order sent. (The transport here
stands in for uvicorn's, as the scope key hands it over; a real server's viewers, reading or
not, are tested in tests/integration/test_view_idle.py and tests/chaos/test_view_viewers.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

from orderflow.server.view_stream import DIRECT_BUFFER, Viewer
from orderflow.server.watchdog import WS_WRITER_KEY


class Transport:
    def __init__(self) -> None:
        self.held = 0
        self.closing = False

    def get_write_buffer_size(self) -> int:
        return self.held

    def is_closing(self) -> bool:
        return self.closing


class Socket:
    """Takes every frame (as uvicorn's send does, waiting while the transport is paused)."""

    def __init__(self) -> None:
        self.transport = Transport()
        self.writable = asyncio.Event()
        self.writable.set()
        self.scope: dict[str, Any] = {WS_WRITER_KEY: (self.transport, self.writable)}
        self.got: list[bytes] = []
        self.tasks: list[asyncio.Task[Any] | None] = []

    async def send_bytes(self, data: bytes) -> None:
        await self.writable.wait()
        self.got.append(data)
        self.tasks.append(asyncio.current_task())

    async def close(self, code: int = 1000, reason: str = "") -> None:
        return None


def test_frames_go_direct_then_queue_behind_a_backlog_in_order() -> None:
    async def run() -> tuple[Socket, Viewer, asyncio.Task[Any] | None]:
        s = Socket()
        v = Viewer(s, "ESH4", 10, 100, 5.0, binary=True)  # type: ignore[arg-type]
        v.start()
        me = asyncio.current_task()
        await v.send(b"0")
        await v.send(b"1")
        assert v.direct == 2 and s.tasks == [me, me]  # written from this task, at once
        s.transport.held = DIRECT_BUFFER  # the kernel stopped taking: the transport holds
        await v.send(b"2")
        s.transport.held = 0  # taken again, but "2" still waits for the writer
        await v.send(b"3")
        assert s.got == [b"0", b"1"] and v.direct == 2
        s.writable.clear()  # paused: nothing direct, the writer waits
        await asyncio.sleep(0.01)
        await v.send(b"4")
        s.writable.set()
        for _ in range(100):
            await asyncio.sleep(0)
        await v.send(b"5")  # the backlog written: direct again
        await v.stop()
        return s, v, me

    s, v, me = asyncio.run(run())
    assert s.got == [b"0", b"1", b"2", b"3", b"4", b"5"]
    assert v.sent == 6 and v.direct == 3
    assert s.tasks[5] is me and all(t is not me for t in s.tasks[2:5])


def test_a_closed_viewer_or_transport_takes_nothing_direct() -> None:
    async def run() -> tuple[Socket, Viewer]:
        s = Socket()
        v = Viewer(s, "ESH4", 10, 100, 5.0, binary=True)  # type: ignore[arg-type]
        v.start()
        s.transport.closing = True
        await v.send(b"0")  # queued: the writer's send fails or the reader ends it
        assert v.direct == 0
        v.open = False
        await v.send(b"1")  # closed: dropped
        await v.stop()
        return s, v

    s, v = asyncio.run(run())
    assert v.direct == 0 and b"1" not in s.got
