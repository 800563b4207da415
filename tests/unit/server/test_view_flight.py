"""View work stands aside while a bridge's batch waits for its ack: from the moment the
batch's frame is read (``Views.arrived``) until its ack is written (``Views.after_ack``), or
it turned out to be no batch (``Views.settled``), at most ``FLIGHT_MAX_S``, no slice of the
views' folding runs and no step of a frame starts; then they go on, and what they show is
what they would have shown (a real asyncio loop, ESH4's bridge batches through a Hub, the
real ViewStream and a viewer's socket taking every frame)."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from orderflow.server import view as view_mod
from orderflow.server import view_stream
from orderflow.server.hub import Hub
from orderflow.server.view_stream import Viewer, ViewStream
from tests.unit.server.test_view_fold import at_once, batches, state


class Socket:
    """A viewer's socket that keeps every frame."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def send_bytes(self, data: bytes) -> None:
        self.frames.append(msgspec.msgpack.decode(data))

    async def send_text(self, text: str) -> None:
        self.frames.append(msgspec.json.decode(text))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        return None


def test_folding_waits_for_the_ack_of_the_batch_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The folding's timer comes due while a batch is in flight: nothing is folded until its
    ack is written; then the slice runs in the loop's next turn, and the rest folds to what
    folding at once gives."""
    monkeypatch.setattr(view_mod, "FOLD_SLICE_NS", 0)
    monkeypatch.setattr(view_mod, "FOLD_WAIT_S", 0.0)
    monkeypatch.setattr(view_mod, "FLIGHT_MAX_S", 60.0)
    hub = Hub()
    k = 20

    async def feed() -> list[int]:
        views = hub.view
        views.arrived()  # the next batch's frame was read
        for b in batches()[:k]:
            hub.apply(b, "nt8")
        pending = views.get("ESH4").pending
        left = [len(pending)]
        for _ in range(5):
            await asyncio.sleep(0.001)
        left.append(len(pending))  # the timer came due, and stood aside
        views.after_ack()
        await asyncio.sleep(0)
        left.append(len(pending))  # one slice at once
        for _ in range(200):
            await asyncio.sleep(0.001)
            if not pending:
                break
        left.append(len(pending))
        return left

    left = asyncio.run(feed())
    assert left[0] == left[1] == 2 * k and left[2] < left[1] and left[3] == 0
    iv = hub.view.get("ESH4")
    assert iv.folded == k and state(iv) == at_once(k)
    assert hub.view.stood_aside >= 1 and hub.view.flight_expired == 0


def test_a_frame_does_not_start_while_a_batch_waits_for_its_ack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A viewer is attached and the market moved; while a batch is in flight no frame is
    built (nor any step of one); the ack written, the frame goes out, and it shows the
    batches applied until then."""
    monkeypatch.setattr(view_mod, "FLIGHT_MAX_S", 60.0)
    monkeypatch.setattr(view_stream, "FRAME_SLICE_NS", 0)
    hub = Hub()
    stream = ViewStream(type("S", (), {"hub": hub})())
    socket = Socket()
    seen: list[tuple[int, int]] = []

    async def feed() -> None:
        views = hub.view
        for b in batches()[:30]:
            hub.apply(b, "nt8")
        p = stream.params
        viewer = Viewer(socket, "ESH4", 10, p.queue_frames, p.send_timeout_s, binary=True)  # type: ignore[arg-type]
        stream.add(viewer)
        for _ in range(200):  # the snapshot
            await asyncio.sleep(0.005)
            if socket.frames:
                break
        views.arrived()
        frames, sent = stream.frames, len(socket.frames)
        seen.append((frames, sent))
        for b in batches()[30:60]:
            hub.apply(b, "nt8")
        for _ in range(20):  # two frame periods and more: the flusher is due, and waits
            await asyncio.sleep(0.005)
        seen.append((stream.frames - frames, len(socket.frames) - sent))
        views.after_ack()
        ticks = sum(len(b.ticks) for b in batches()[30:60])
        for _ in range(200):
            await asyncio.sleep(0.005)
            if sum(len(f.get("prints", [])) for f in socket.frames[sent:]) >= ticks:
                break
        seen.append((stream.frames - frames, len(socket.frames) - sent))
        await stream.stop()

    asyncio.run(feed())
    # nothing built (not one step of a frame) and nothing sent while the batch was in flight
    assert seen[1] == (0, 0)
    assert seen[2][0] >= 1 and seen[2][1] >= 1
    assert socket.frames[0]["type"] == "snapshot"
    # then the deltas show the batches applied while the frame stood aside, every print once
    ticks = sum(len(b.ticks) for b in batches()[30:60])
    got = sum(len(f.get("prints", [])) for f in socket.frames[seen[0][1] :])
    assert 0 < ticks < view_stream.MAX_PRINTS and got == ticks
    assert hub.view.stood_aside >= 1


def test_view_work_waits_at_most_flight_max_for_an_ack_never_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch that is never acked (refused, or the client went away): view work waits
    FLIGHT_MAX_S at most, counted as expired, and then folds."""
    monkeypatch.setattr(view_mod, "FOLD_SLICE_NS", 0)
    monkeypatch.setattr(view_mod, "FOLD_WAIT_S", 0.0)
    monkeypatch.setattr(view_mod, "FLIGHT_MAX_S", 0.05)
    hub = Hub()

    async def feed() -> tuple[bool, int]:
        views = hub.view
        views.arrived()
        calm = asyncio.get_running_loop().create_task(views.calm())
        for b in batches()[:5]:
            hub.apply(b, "nt8")
        await asyncio.sleep(0)
        waiting = not calm.done()
        await asyncio.wait_for(calm, 10)
        for _ in range(400):
            await asyncio.sleep(0.005)
            if not views.get("ESH4").pending:
                break
        return waiting, len(views.get("ESH4").pending)

    waiting, left = asyncio.run(feed())
    assert waiting and left == 0
    assert hub.view.flight_expired == 1


def test_a_message_that_is_no_batch_lets_view_work_go_on() -> None:
    """``settled`` (the frame read was a heartbeat or a command, or was refused) ends the
    wait at once, as an ack does; with nothing in flight ``calm`` returns at once."""
    hub = Hub()

    async def run() -> tuple[bool, bool]:
        views = hub.view
        await asyncio.wait_for(views.calm(), 1)  # nothing in flight
        views.arrived()
        calm = asyncio.get_running_loop().create_task(views.calm())
        await asyncio.sleep(0)
        waiting = not calm.done()
        views.settled()
        await asyncio.sleep(0)
        return waiting, calm.done()

    assert asyncio.run(run()) == (True, True)
    assert hub.view.stood_aside == 1 and hub.view.flight_expired == 0
