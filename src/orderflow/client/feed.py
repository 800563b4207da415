"""Play a recorded data file into a running server, as NinjaTrader's market replay would.

An MBO file (Databento DBN, or anything :func:`~orderflow.io.formats.load_stream` reads as
``mbo``) becomes the position-indexed depth events NinjaTrader shows for the top ``levels``
(:func:`~orderflow.io.nt_convert.mbo_to_nt_depth`), with the prints as ticks carrying the
inside quote before them; a NinjaTrader depth dump (``nt_depth``) is sent as recorded, with its
trades. Batches end at exchange event boundaries (``Flags.LAST``) once they hold
``batch_events`` events, and are paced by event time divided by ``speed`` (None: as fast as
possible).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import numpy as np

from orderflow.client.ws import DepthForm, Encoding, OrderflowClient, RestClient
from orderflow.core.errors import ParameterError
from orderflow.io.formats import LoadedStream, load_stream
from orderflow.io.nt_feed import NtBatch, nt_batches
from orderflow.model.dtypes import NO_PRICE
from orderflow.model.enums import Flags, NtOperation, Side
from orderflow.model.instruments import Instrument
from orderflow.protocol import Ack, Batch, Depth, Tick
from orderflow.server.replay import Playback

__all__ = ["FeedBatch", "FeedSummary", "build_batches", "feed_batches", "feed_file", "nt_name"]

_OPS: dict[int, Literal["add", "update", "remove"]] = {
    int(NtOperation.ADD): "add",
    int(NtOperation.UPDATE): "update",
    int(NtOperation.REMOVE): "remove",
}
_MONTHS = "FGHJKMNQUVXZ"
#: how often a paused or waiting feeder looks at the playback's controls (s)
POLL_S = 0.05

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class FeedBatch:
    """One batch to send and the event times (ns) of its first and last depth events."""

    batch: Batch
    t_first: int
    t_last: int


@dataclass(slots=True)
class FeedSummary:
    """What a feed did. ``book`` and ``metrics`` are the last applied batch's ack's."""

    batches: int = 0
    events: int = 0  # depth events and ticks sent
    acks: int = 0
    signals: int = 0
    duplicates: int = 0
    errors: int = 0
    snapshot_requests: int = 0
    resent: int = 0
    elapsed_s: float = 0.0  # the whole feed, connecting included
    paced_s: float = 0.0  # from the first paced batch to the end
    book: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    last_ack: Ack | None = None

    @property
    def events_per_s(self) -> float:
        return self.events / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def top(self) -> tuple[list[float] | None, list[float] | None]:
        """Best bid and best ask as ``[price, size]`` (None for an empty side)."""
        bids, asks = self.book.get("bids") or [], self.book.get("asks") or []
        return (bids[0] if bids else None, asks[0] if asks else None)


def nt_name(inst: Instrument, ts_ns: int | None = None) -> str:
    """NinjaTrader's name of a contract: ESH4 -> ``ES 03-24`` (the decade from ``ts_ns``,
    the data's time, else 2020s). Without a contract, the root."""
    c = inst.contract
    if not c or not c.startswith(inst.symbol):
        return inst.contract or inst.symbol
    code, year = c[len(inst.symbol)], c[len(inst.symbol) + 1 :]
    if code not in _MONTHS or not year.isdigit():
        return c
    if len(year) == 1:
        now = (
            int(np.datetime64(ts_ns, "ns").astype("datetime64[Y]").astype(int)) + 1970
            if ts_ns
            else 2020
        )
        full = now // 10 * 10 + int(year)
        if full < now - 1:  # a contract expires after the data, not years before
            full += 10
        year = f"{full % 100:02d}"
    return f"{inst.symbol} {_MONTHS.index(code) + 1:02d}-{year}"


def to_wire(nb: NtBatch, inst: Instrument, name: str, seq: int) -> FeedBatch:
    """One :class:`~orderflow.io.nt_feed.NtBatch` as the wire's ``Batch`` (prices in the
    exchange's units, as NinjaTrader gives them)."""
    px = inst.to_price
    ticks = [
        Tick(int(t["ts_event"]), px(int(t["price"])), int(t["size"]),
             None if b == NO_PRICE else px(int(b)), None if a == NO_PRICE else px(int(a)))
        for t, b, a in zip(nb.trades, nb.bid, nb.ask, strict=True)
    ]  # fmt: skip
    depth = [
        Depth(int(e["ts_event"]), "bid" if e["side"] == Side.BID else "ask",
              _OPS[int(e["operation"])], int(e["position"]), px(int(e["price"])),
              int(e["size"]), bool(e["flags"] & int(Flags.RESET)))
        for e in nb.depth
    ]  # fmt: skip
    batch = Batch(instrument=name, seq=seq, depth=depth, ticks=ticks)
    return FeedBatch(batch, nb.t_first, nb.t_last)


def build_batches(
    stream: LoadedStream, levels: int = 10, batch_events: int = 100, instrument: str | None = None
) -> list[FeedBatch]:
    """A loaded ``mbo`` or ``nt_depth`` stream as the batches a NinjaTrader bridge would send
    (numbered from 1; a client renumbers them; cut by :func:`~orderflow.io.nt_feed.nt_batches`).
    ``instrument``: the name to send (default the NinjaTrader name of the stream's contract)."""
    inst = stream.instrument
    cut = nt_batches(stream, levels, batch_events)
    name = instrument or nt_name(inst, cut[0].t_first if cut else None)
    return [to_wire(nb, inst, name, k + 1) for k, nb in enumerate(cut)]


def _window(
    batches: list[FeedBatch], start_s: float, duration_s: float | None
) -> tuple[list[FeedBatch], int, int]:
    """The batches to send (up to the window's end), the index of the first paced one and the
    event time pacing counts from."""
    if not batches:
        return batches, 0, 0
    t0 = batches[0].t_first + int(start_s * 1e9)
    ts = np.array([b.t_last for b in batches], dtype=np.int64)
    first = int(np.searchsorted(ts, t0, side="left"))
    if duration_s is not None:
        batches = batches[: int(np.searchsorted(ts, t0 + int(duration_s * 1e9), side="right"))]
    return batches, first, t0


class Pacer:
    """When each batch is due: its last event's time since the window start, over ``speed``
    (the clock starts at the first paced batch); None never waits."""

    def __init__(self, speed: float | None, first: int, t0: int) -> None:
        if speed is not None and speed <= 0:
            raise ParameterError(f"speed must be positive or None, got {speed}", field="speed")
        self.speed, self.first, self.t0 = speed, first, t0
        self.wall0 = 0.0

    def delay(self, i: int, t_event: int) -> float:
        if self.speed is None or i < self.first:
            return 0.0
        if i == self.first:
            self.wall0 = time.perf_counter()
        return self.wall0 + (t_event - self.t0) / 1e9 / self.speed - time.perf_counter()

    def tail(self, duration_s: float | None) -> float:
        """What is left of a window of ``duration_s`` of event time once its batches are sent."""
        if self.speed is None or duration_s is None or not self.wall0:
            return 0.0
        return self.wall0 + duration_s / self.speed - time.perf_counter()

    def paced_s(self, end: float) -> float:
        return end - self.wall0 if self.wall0 else 0.0


async def due(playback: Playback, t_last: int, c: OrderflowClient) -> bool:
    """Wait until the batch ending at ``t_last`` is due by the playback's controls. False: a
    seek back came first; every batch sent was acknowledged and the market state dropped:
    start again from the first batch."""
    while not playback.restart:
        wait = playback.due_in(t_last)
        if wait <= 0:
            return True
        await asyncio.sleep(min(wait, POLL_S))
    await c.drain()
    playback.restart_market()
    return False


async def held(playback: Playback, c: OrderflowClient) -> bool:
    """At the end: done, unless the playback holds (then wait for a seek back: True)."""
    playback.done()
    while playback.hold and not playback.restart:
        await asyncio.sleep(POLL_S)
    if not playback.restart:
        return False
    playback.restart_market()
    return True


def _count(summary: FeedSummary, fb: FeedBatch) -> None:
    summary.batches += 1
    summary.events += len(fb.batch.depth) + len(fb.batch.ticks) + len(fb.batch.bars)


async def feed_batches(
    batches: list[FeedBatch],
    url: str,
    *,
    speed: float | None = None,
    start_s: float = 0.0,
    duration_s: float | None = None,
    encoding: Encoding = "json",
    client: str = "feed",
    token: str | None = None,
    progress: Progress | None = None,
    columns: bool | DepthForm = "packed",
    playback: Playback | None = None,
) -> FeedSummary:
    """Send batches over WebSocket (``url`` ws://.../ws), paced, and wait for every ack
    (the arguments as for :func:`feed_file`). ``playback``: the dashboard's controls pace
    the batches instead of ``speed`` (play, pause, speed, seek; see
    :mod:`orderflow.server.replay`)."""
    t_start = time.perf_counter()
    batches, first, t0 = _window(batches, start_s, duration_s)
    pacer = Pacer(speed, first, t0)
    summary = FeedSummary()
    c = OrderflowClient(url, client, token=token, encoding=encoding, resume=False,
                        columns=columns)  # fmt: skip
    async with c:
        i = 0
        while i < len(batches):
            fb = batches[i]
            if playback is not None:
                if not await due(playback, fb.t_last, c):
                    i = 0
                    continue
            elif (delay := pacer.delay(i, fb.t_last)) > 0:
                await asyncio.sleep(delay)
            await c.send_batch(fb.batch)
            if playback is not None:
                playback.sent(fb.t_last)
            _count(summary, fb)
            if progress is not None:
                progress(i + 1, len(batches))
            i += 1
            if i == len(batches) and playback is not None:
                await c.drain()
                if await held(playback, c):
                    i = 0
        await c.drain()
        if (rest := pacer.tail(duration_s)) > 0:
            await asyncio.sleep(rest)
        end = time.perf_counter()
    s = c.stats
    summary.acks, summary.signals, summary.duplicates = s.acks, s.signals, s.duplicates
    summary.errors, summary.snapshot_requests = s.errors, s.snapshot_requests
    summary.resent = s.resent
    summary.elapsed_s = end - t_start
    summary.paced_s = pacer.paced_s(end)
    _finish(summary, c.last_ack)
    return summary


def _feed_rest(
    batches: list[FeedBatch],
    url: str,
    speed: float | None,
    start_s: float,
    duration_s: float | None,
    token: str | None,
    progress: Progress | None,
) -> FeedSummary:
    t_start = time.perf_counter()
    batches, first, t0 = _window(batches, start_s, duration_s)
    pacer = Pacer(speed, first, t0)
    summary = FeedSummary()
    last: Ack | None = None
    base = url.replace("ws://", "http://").replace("wss://", "https://").removesuffix("/ws")
    with RestClient(base, token=token) as rest:
        for i, fb in enumerate(batches):
            if (delay := pacer.delay(i, fb.t_last)) > 0:
                time.sleep(delay)
            _count(summary, fb)
            try:
                ack = rest.post_batch(fb.batch)
            except httpx.HTTPStatusError:
                summary.errors += 1
                continue
            summary.acks += 1
            summary.signals += len(ack.signals)
            summary.duplicates += int(ack.duplicate)
            if not ack.duplicate:
                last = ack
            if progress is not None:
                progress(i + 1, len(batches))
    if (left := pacer.tail(duration_s)) > 0:
        time.sleep(left)
    end = time.perf_counter()
    summary.elapsed_s = end - t_start
    summary.paced_s = pacer.paced_s(end)
    _finish(summary, last)
    return summary


def _finish(summary: FeedSummary, ack: Ack | None) -> None:
    summary.last_ack = ack
    if ack is not None:
        summary.book = dict(ack.book)
        summary.metrics = dict(ack.metrics)


def feed_file(
    path: str | os.PathLike[str],
    url: str,
    speed: float | None = 1.0,
    levels: int = 10,
    batch_events: int = 100,
    transport: Literal["ws", "rest"] = "ws",
    encoding: Encoding = "json",
    progress: Progress | None = None,
    *,
    start_s: float = 0.0,
    duration_s: float | None = None,
    client: str = "feed",
    token: str | None = None,
    instrument: str | None = None,
    columns: bool | DepthForm = "packed",
) -> FeedSummary:
    """Play ``path`` into the server at ``url`` (``ws://host:port/ws``; for REST the same or
    ``http://host:port``) and wait for every answer.

    ``speed``: event time runs ``speed`` times faster than real time (None: no pacing).
    ``start_s``: pacing starts that many seconds of event time after the first batch; the
    batches before go as fast as possible (the book is built, as a replay fast-forwards).
    ``duration_s``: stop after that much event time from the start. ``progress(done, total)``
    is called after each batch. A WebSocket feed numbers its batches from 1 under ``client``
    (a server that already has batches of that name answers ``duplicate`` for them).
    ``columns``: how the WebSocket batches carry depth (``DepthForm``: packed by default)."""
    batches = build_batches(load_stream(path), levels, batch_events, instrument)
    if transport == "rest":
        return _feed_rest(batches, url, speed, start_s, duration_s, token, progress)
    if transport != "ws":
        raise ParameterError(f"transport must be ws or rest, got {transport!r}", field="transport")
    return asyncio.run(
        feed_batches(batches, url, speed=speed, start_s=start_s, duration_s=duration_s,
                     encoding=encoding, client=client, token=token, progress=progress,
                     columns=columns)
    )  # fmt: skip
