"""The viewer stream's binary form (``format=msgpack``) carries the very values of its JSON text:
on ESH4 (the bridge's batches through a real Hub and the real ViewStream, frames every 24
batches) viewers of both forms attached in the same frame get frame for frame a MessagePack
frame that decodes to what ``json.loads`` makes of the JSON one (snapshot and deltas: every
price, size, time and float exact, no NaN on either side) and is the very bytes msgspec
makes of those values (heat columns and prints are written by compiled passes); the bytes
are made once per frame and depth and shared by every binary viewer (the same object queued
to each); a viewer of another depth gets its own; the real server sends a ``format=msgpack``
viewer binary frames and refuses one asking for an unknown format."""

from __future__ import annotations

import asyncio
import json
from functools import cache
from typing import Any

import msgspec
import pytest

from orderflow.server import view_send, view_stream
from orderflow.server.hub import Hub
from orderflow.server.view_stream import Viewer, ViewStream
from tests.conftest import ES_MBO, need


class Capture:
    """A viewer's socket keeping every frame it is sent, as sent."""

    def __init__(self) -> None:
        self.frames: list[str | bytes] = []

    async def send_text(self, text: str) -> None:
        self.frames.append(text)

    async def send_bytes(self, data: bytes) -> None:
        self.frames.append(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        return None


#: the viewers: (levels, binary)
KINDS = [(40, False), (40, True), (40, True), (10, True), (10, False)]


@cache
def sent() -> list[list[str | bytes]]:
    """Every frame each of KINDS' viewers was sent while ESH4 was fed."""
    from orderflow.client.feed import build_batches
    from orderflow.io.formats import load_stream

    batches = [fb.batch for fb in build_batches(load_stream(need(ES_MBO)))]

    async def run() -> list[list[str | bytes]]:
        hub = Hub()
        stream = ViewStream(type("S", (), {"hub": hub})())
        hub.apply(batches[0], "nt8")
        sockets = [Capture() for _ in KINDS]
        for s, (levels, binary) in zip(sockets, KINDS, strict=True):
            stream.add(Viewer(s, "ESH4", levels, 10_000, 5.0, binary=binary))  # type: ignore[arg-type]
        assert stream._task is not None
        stream._task.cancel()  # frames are made here, at known points
        for i, b in enumerate(batches[1:]):
            hub.apply(b, "nt8")
            if i % 24 == 0:
                await stream.flush()
                await asyncio.sleep(0)
        await stream.flush()
        viewers = [v for vs in stream.viewers.values() for v in vs]
        while any(not v.queue.empty() for v in viewers):  # the writers send what is queued
            await asyncio.sleep(0)
        for _ in range(10):
            await asyncio.sleep(0)
        for v in viewers:
            await v.stop()
        return [s.frames for s in sockets]

    return asyncio.run(run())


def unpack(frame: str | bytes) -> Any:
    """A binary frame's values."""
    assert isinstance(frame, bytes)
    return msgspec.msgpack.decode(frame)


def test_a_binary_frame_decodes_to_the_json_frame() -> None:
    frames = sent()
    n = len(frames[0])
    assert n > 10 and all(len(f) == n for f in frames)
    for text_i, bin_i in ((0, 1), (4, 3)):  # the same depth in both forms
        for text, packed in zip(frames[text_i], frames[bin_i], strict=True):
            assert isinstance(text, str) and isinstance(packed, bytes)
            assert unpack(packed) == json.loads(text)
            assert len(packed) < len(text)
    kinds = [json.loads(t)["type"] for t in frames[0]]
    assert kinds[0] == "snapshot" and kinds[1:].count("delta") == n - 1
    first = unpack(frames[1][-1])
    assert first["prints"] and first["heat"] and first["book"]["levels"] == 40


def test_a_binary_frame_is_the_bytes_msgspec_makes_of_its_values() -> None:
    """Heat columns and prints are written by compiled passes, not by msgspec: the bytes are
    still msgspec's own (every integer's width, float64 floats, nil, headers)."""
    frames = sent()
    for i in (1, 3):
        for packed in frames[i]:
            assert msgspec.msgpack.encode(unpack(packed)) == packed


def test_the_bytes_are_made_once_per_frame_and_depth() -> None:
    frames = sent()
    # the two binary viewers of depth 40 were queued the very same bytes object
    assert all(a is b for a, b in zip(frames[1], frames[2], strict=True))
    # depth 10 is its own encoding, with its own book
    assert all(a is not b for a, b in zip(frames[1], frames[3], strict=True))
    books = [unpack(f).get("book") for f in frames[3]]
    assert all(b is None or b["levels"] == 10 for b in books)


def test_a_frame_with_numpy_values_packs_them_as_plain_numbers() -> None:
    import numpy as np

    frame = {"a": np.int64(7), "b": np.float64(0.25), "c": np.arange(3), "d": [np.int8(-1)]}
    assert msgspec.msgpack.decode(view_stream.pack(frame)) == {
        "a": 7, "b": 0.25, "c": [0, 1, 2], "d": [-1]}  # fmt: skip
    with pytest.raises(TypeError):
        view_stream.pack({"x": object()})


def test_the_real_server_sends_binary_frames_and_refuses_a_bad_format(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    from orderflow.client.feed import build_batches
    from orderflow.io.formats import load_stream
    from orderflow.server.app import create_app
    from orderflow.server.threaded import ThreadedServer

    first = next(iter(build_batches(load_stream(need(ES_MBO))))).batch
    # each frame's WebSocket bytes are made once and written to the transport as they are
    framed: list[str | bytes] = []

    def ws_frame(data: str | bytes) -> bytes:
        framed.append(data)
        return view_send.ws_frame(data)

    monkeypatch.setattr(view_stream, "ws_frame", ws_frame)
    took: list[bool] = []

    def takes_frames(proto: Any) -> bool:
        took.append(view_send.takes_frames(proto))
        return took[-1]

    monkeypatch.setattr(view_stream, "takes_frames", takes_frames)
    server = ThreadedServer(create_app())
    try:
        with connect(server.ws, max_size=None) as ws:
            ws.send(json.dumps({"type": "hello", "protocol": 2, "client": "nt8"}))
            ws.recv()
            ws.send(msgspec.json.encode(first).decode())
            ws.recv()
        view = f"{server.ws}/view?instrument=ESH4&levels=5"
        with connect(view + "&format=msgpack", max_size=None) as ws:
            snap = ws.recv(timeout=10)
            assert isinstance(snap, bytes) and framed[0] == snap
            frame = msgspec.msgpack.decode(snap)
            assert frame["type"] == "snapshot" and frame["book"]["levels"] == 5
        with connect(view + "&format=json", max_size=None) as ws:
            text = ws.recv(timeout=10)
            assert json.loads(text)["type"] == "snapshot" and text in framed[1:]
        # (a delta may follow a snapshot before the viewer leaves: framed and written too)
        assert len(took) >= 2 and all(took)  # every one written to the transport as its bytes
        # refused before the upgrade, as a bad ``levels`` is
        with pytest.raises(InvalidStatus) as refused:
            connect(view + "&format=xml")
        assert refused.value.response.status_code == 403
    finally:
        server.stop()
