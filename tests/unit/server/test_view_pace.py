"""While a client's acks flow, a frame's steps are taken one an ack, in the gap after it: no
step starts while a batch is on its way through the loop (its bytes read, its apply, its ack
written), where a step at each of the batch's turns made its ack wait for most of a frame.
When no ack comes within ACK_PACE_S the steps go on as before (the loop polled between
them), so a server without a fast client builds its frames as it did."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from orderflow.server import view as view_mod
from orderflow.server import view_stream as vs_mod
from orderflow.server.hub import Hub
from orderflow.server.view import Views
from orderflow.server.view_stream import Viewer, ViewStream, _Slicer
from tests.unit.server.test_view_direct import Socket
from tests.unit.server.test_view_fold import batches  # (one load of ESH4 for both)


def test_a_step_waits_for_the_next_ack_only_while_acks_flow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No ack written lately: a step ends after one turn of the loop. Acks flowing: it waits
    for the next ack however many turns pass, and goes on right after it; no ack within
    ACK_PACE_S ends the wait."""
    monkeypatch.setattr(view_mod, "ACK_PACE_S", 0.05)

    async def turns_until(step: asyncio.Task[None], most: int) -> int:
        for n in range(most):
            if step.done():
                return n
            await asyncio.sleep(0)
        return most

    async def run() -> tuple[int, int, int, bool, float]:
        views = Views()
        slicer = _Slicer(True, views)
        idle = await turns_until(asyncio.create_task(slicer.breathe(force=True)), 50)
        views.after_ack()  # a client is being answered
        step = asyncio.create_task(slicer.breathe(force=True))
        waited = await turns_until(step, 50)
        views.after_ack()
        after = await turns_until(step, 50)
        loop = asyncio.get_running_loop()
        views.after_ack()
        t0 = loop.time()
        await slicer.breathe(force=True)  # no ack comes: ACK_PACE_S ends the wait
        return idle, waited, after, views.acks_flowing(), loop.time() - t0

    idle, waited, after, flowing, waited_s = asyncio.run(run())
    assert idle <= 2 and waited == 50 and after <= 2
    assert not flowing and 0.04 <= waited_s < 1.0


def test_no_step_of_a_frame_starts_while_a_batch_is_on_its_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ESH4's batches applied as a session applies them (turns of the loop before and after
    the Hub's call, then the ack written: Views.after_ack) with 5 viewers attached, every
    step of a frame yielding (FRAME_SLICE_NS 0) and 30 frames a second: frames are built and
    every viewer gets them, and none of their steps starts between a batch's first turn and
    its ack."""
    monkeypatch.setattr(vs_mod, "FRAME_SLICE_NS", 0)
    monkeypatch.setattr(view_mod, "ACK_PACE_S", 10.0)  # only acks end a wait here
    hub = Hub()
    stream = ViewStream(type("S", (), {"hub": hub})())
    flight = [False]
    started = {True: 0, False: 0}
    breathe = _Slicer.breathe

    async def counted(self: _Slicer, force: bool = False) -> None:
        await breathe(self, force)
        if self.on:
            started[flight[0]] += 1  # a step starts here

    monkeypatch.setattr(_Slicer, "breathe", counted)

    async def feed() -> list[Socket]:
        named = [msgspec.structs.replace(b, instrument="ESM4") for b in batches()[:160]]
        hub.apply(named[0], "nt8")
        sockets = [Socket() for _ in range(5)]
        for s in sockets:
            stream.add(Viewer(s, "ESM4", 40, 8, 2.0, binary=True))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)  # the snapshots, acks not flowing yet
        hub.view.after_ack()  # the client's first ack: they flow from here
        await asyncio.sleep(0.0005)
        for b in named[1:]:
            flight[0] = True
            for _ in range(7):  # the batch's turns before its apply
                await asyncio.sleep(0)
            hub.apply(b, "nt8")
            await asyncio.sleep(0)
            flight[0] = False
            hub.view.after_ack()
            await asyncio.sleep(0.0005)  # the client reads its ack, sends the next batch
        await stream.stop()
        return sockets

    sockets = asyncio.run(feed())
    assert stream.frames >= 5 and started[False] > 20
    assert all(len(s.got) >= 5 for s in sockets)
    assert started[True] == 0
