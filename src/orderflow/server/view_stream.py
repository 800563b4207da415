"""The dashboard's viewer stream (``WS /ws/view``): a snapshot on connect, then merged deltas
at most ``server.view.frame_hz`` (30) times a second.

One flusher task per server does all the work on the event loop, where the engine runs too,
so a step of a frame is never interleaved with a batch (that is the "engine lock", held only
while values are copied). Per frame and instrument, when the instrument's version moved (or
every half second for account and health) it builds one delta (latest-wins fields only when
changed; appends of prints, signals and heat columns since the previous frame, capped),
encodes it once per book depth and form asked for (JSON text, or MessagePack bytes for
``format=msgpack``: the dashboard's; its heat columns and prints written straight as bytes by
compiled passes, their rows built only for the JSON text), and writes those same bytes or
text to each viewer: at once from its own task (one write of the WebSocket message's bytes,
made once: :mod:`.view_send`) while the viewer's transport takes it without waiting and holds under
``DIRECT_BUFFER`` bytes, else through the viewer's bounded queue and writer task. While no
viewer's frame is due (the market did not move, nothing a frame shows is due) the flusher
sets no timer of the frame rate: it waits for the next batch's folding (:meth:`Views.moved`),
a new viewer, a replay action or the account and health coming due.
A frame is built in steps, and once a run of them has held the loop ``FRAME_SLICE_NS`` (50
us) the loop polls its sockets before the next (a bridge's batch arriving meanwhile waits for
one step, not a frame): folding the batches the views queued, reading the book metrics, the
appends behind their cursors, bars and the other latest-wins values, account and health,
profile, clusters, each book depth; then, from what those steps copied (or what never
changes: a closed bar), the rows of prints and heat columns a chunk at a time, each closed
bar, each encoding. A viewer whose queue is full, or whose socket has not taken a frame
within ``send_timeout_s``, is closed with 1013 ("viewer too slow"); nothing waits for it. New
viewers get their snapshot at the next frame, whose reading is then one step, so snapshot and
deltas neither overlap nor miss anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np
import orjson
from fastapi import WebSocket

from orderflow.server import view_frames as vf
from orderflow.server._view_kernels import array_header
from orderflow.server.answers import Answers
from orderflow.server.view import (
    InstrumentView,
    heat_packed,
    heat_rows,
    metrics_rows,
    print_rows,
    prints_packed,
)
from orderflow.server.view_send import plain_protocol, takes_frames, ws_frame
from orderflow.server.watchdog import WS_WRITER_KEY, takes_write_now

if TYPE_CHECKING:
    from orderflow.server.hub import InstrumentState
    from orderflow.server.replay import Playback
    from orderflow.server.state import ServerState

__all__ = ["FORMATS", "ViewStream", "Viewer", "pack"]

#: frames to send: who gets each (viewers) and the frame
_Frames = list[tuple[list["Viewer"], dict[str, Any]]]

log = logging.getLogger("orderflow.server")

#: what one delta frame carries at most of each append (more: the latest, and a count dropped)
MAX_PRINTS, MAX_SIGNALS, MAX_HEAT = 2000, 200, 120
#: what a snapshot carries of the history
SNAP_PRINTS, SNAP_SIGNALS, SNAP_BARS, SNAP_HEAT = 500, 200, 120, 600
#: account and health are read at most this often (seconds) and sent when they changed
SLOW_S = 0.5
#: profile and clusters likewise (what they show moves slowly; reading them is O(levels))
MID_S = 0.25
#: the longest a frame's building holds the event loop before it lets it poll its sockets
#: (ns; one step can take longer: a frame's reading of the state, one closed bar, one
#: encoding)
FRAME_SLICE_NS = 50_000
#: turns of folding before a frame's reading at most (the last folds what is left at once)
FOLD_TURNS = 8
#: prints and heat columns made into rows this many at a time (one step of a frame each)
CHUNK_PRINTS, CHUNK_HEAT = 1000, 40
#: their bytes (the binary form) made this many chunks at a time (a compiled pass is about a
#: fifth of the rows' cost)
PACK_CHUNKS = 4
CLOSE_TIMEOUT_S = 1.0
#: a frame is written from the flusher's own task only while the viewer's transport holds
#: fewer bytes than this not yet taken by the kernel (a viewer that reads keeps it near 0;
#: one that does not fills it and its frames queue, so it is still dropped as too slow)
DIRECT_BUFFER = 64 * 1024
TOO_SLOW = "viewer too slow"
#: the forms a viewer may ask for (``?format=``): JSON text frames, or MessagePack binary
#: frames holding the same values
FORMATS = ("json", "msgpack")


class Viewer:
    """One viewer's socket: a bounded queue of encoded frames and the task writing it."""

    def __init__(self, socket: WebSocket, key: str, levels: int, queue_frames: int,
                 send_timeout_s: float, binary: bool = False) -> None:  # fmt: skip
        self.socket = socket
        self.key = key
        self.levels = levels
        #: MessagePack binary frames (``format=msgpack``), else JSON text
        self.binary = binary
        self.queue: asyncio.Queue[str | bytes] = asyncio.Queue(queue_frames)
        self.send_timeout_s = send_timeout_s
        self.open = True
        self.fresh = True  # waiting for its snapshot
        self.sent = 0
        self.closed_code: int | None = None
        #: set when the server closed the viewer: its handler stops waiting for its messages
        self.closed = asyncio.Event()
        #: called once when the viewer is closed as too slow
        self.on_drop: Callable[[], None] | None = None
        #: of the frames sent, those written from the flusher's task (:meth:`send`)
        self.direct = 0
        self._writer: asyncio.Task[None] | None = None
        #: frames offered to the writer task and not yet written by it
        self._backlog = 0
        # uvicorn's transport and its "writable" event (absent under another server: then
        # every frame goes through the queue and the writer task)
        scope = getattr(socket, "scope", None)
        self._direct: tuple[Any, asyncio.Event] | None = (
            scope.get(WS_WRITER_KEY) if isinstance(scope, dict) else None
        )
        #: its WebSocket protocol, whose transport takes a frame's bytes (:mod:`.view_send`)
        self.proto = None if self._direct is None else plain_protocol(self._direct[0])

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def offer(self, frame: str | bytes) -> None:
        """Queue a frame; never waits. A full queue closes the viewer (1013)."""
        if not self.open:
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.close(1013, TOO_SLOW)
            return
        self._backlog += 1

    def _may_write_now(self) -> bool:
        """Nothing queued or being written (so nothing is overtaken), and the transport takes
        a write without waiting and holds little: a write now cannot suspend the caller."""
        direct = self._direct
        if direct is None or not self.open or self._backlog:
            return False
        return takes_write_now(direct, DIRECT_BUFFER)

    async def send(self, frame: str | bytes, wire: bytes | None = None) -> None:
        """Write a frame at once from the caller's task (the flusher's: one write, no hop to
        the writer task, no timer) when :meth:`_may_write_now` holds; else :meth:`offer` it.
        ``wire``: its WebSocket bytes (:mod:`.view_send`), written as they are if they may."""
        if not self._may_write_now():
            self.offer(frame)
            return
        try:
            if wire is not None and self.proto is not None and takes_frames(self.proto):
                self._direct[0].write(wire)  # type: ignore[index]
            elif isinstance(frame, bytes):
                await self.socket.send_bytes(frame)
            else:
                await self.socket.send_text(frame)
        except Exception as exc:  # the viewer went away: its reader sees it and ends
            log.debug("viewer write failed: %s", exc)
            self.open = False
            return
        self.direct += 1
        self.sent += 1

    def close(self, code: int, reason: str) -> None:
        """Stop sending and close the socket in the background (a viewer that does not read
        may never take the close frame: it gets a second)."""
        if not self.open:
            return
        self.open = False
        self.closed_code = code
        self.closed.set()
        if code == 1013:
            log.info("viewer of %s closed: %s", self.key, reason)
            if self.on_drop is not None:
                self.on_drop()
        if self._writer is not None and self._writer is not asyncio.current_task():
            self._writer.cancel()

        async def closing() -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.socket.close(code, reason), CLOSE_TIMEOUT_S)

        asyncio.get_running_loop().create_task(closing())

    async def _write_loop(self) -> None:
        try:
            while self.open:
                frame = await self.queue.get()
                send = (self.socket.send_bytes(frame) if isinstance(frame, bytes)
                        else self.socket.send_text(frame))  # fmt: skip
                try:
                    await asyncio.wait_for(send, self.send_timeout_s)
                except TimeoutError:
                    self.close(1013, TOO_SLOW)
                    return
                finally:
                    self._backlog -= 1
                self.sent += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the viewer went away: its reader sees it and ends
            log.debug("viewer writer stopped: %s", exc)
            self.open = False

    async def stop(self) -> None:
        self.open = False
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer


@dataclass
class _Cursor:
    """What the viewers of one instrument were last sent."""

    iv: InstrumentView | None = None
    version: int = -1
    prints: int = 0
    heat: int = 0
    signals: int = 0
    bars: int = 0
    forming: tuple[int, ...] | None = None
    books: dict[int, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    profile_key: tuple[int, int] = (-1, -1)
    profile: dict[str, Any] | None = None
    clusters_version: int = -1
    clusters: list[dict[str, Any]] = field(default_factory=list)
    vwap: dict[str, Any] | None = None
    delta: dict[str, Any] | None = None
    account: dict[str, Any] | None = None
    health: dict[str, Any] | None = None
    replay: dict[str, Any] | None = None
    slow_at: float = 0.0
    mid_at: float = 0.0
    mid_version: int = -1
    events: int = 0
    events_at: float = 0.0
    events_per_s: float = 0.0


class ViewStream:
    """Every viewer of the server and the flusher that feeds them (see the module)."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.hub = state.hub
        self.params = state.hub.view.params
        self.viewers: dict[str, list[Viewer]] = {}
        self.cursors: dict[str, _Cursor] = {}
        self.playback: Playback | None = None
        #: the viewers' own reading of the clusters: the bridge's answers keep theirs (a read
        #: raises versions and moves the refresh clock), so viewers never change an ack
        self.answers = Answers(refresh_ms=0.0)
        self.frames = 0
        self.dropped = 0  # viewers closed as too slow
        #: times the flusher found no frame due and waited (:meth:`_idle`), not ticking
        self.idled = 0
        self._task: asyncio.Task[None] | None = None
        #: what the flusher waits on while no frame is due (None: it is not waiting)
        self._waiting: asyncio.Future[None] | None = None

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.viewers.values())

    def status(self) -> dict[str, int]:
        """For /health: viewers attached, frames built, viewers closed as too slow."""
        return {"attached": self.count, "frames": self.frames, "dropped_slow": self.dropped}

    def add(self, viewer: Viewer) -> bool:
        """Take a viewer (False: the server has ``max_viewers`` already)."""
        if self.count >= self.params.max_viewers:
            return False
        self.viewers.setdefault(viewer.key, []).append(viewer)
        viewer.on_drop = lambda: self._dropped(viewer)
        viewer.start()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        self.poke()  # its snapshot goes with the next frame, not after an idle wait
        return True

    def poke(self) -> None:
        """Something a frame shows changed outside the market's batches (a viewer came, the
        replay was acted on): end the flusher's idle wait, if it waits."""
        fut = self._waiting
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _dropped(self, viewer: Viewer) -> None:
        self.dropped += 1
        self.remove(viewer)

    def remove(self, viewer: Viewer) -> None:
        vs = self.viewers.get(viewer.key, [])
        if viewer in vs:
            vs.remove(viewer)
        if not vs:
            self.viewers.pop(viewer.key, None)
            self.cursors.pop(viewer.key, None)

    async def _run(self) -> None:
        """The frames: one timer for every viewer, due ``frame_hz`` times a second while a
        frame is due; while none is, no timer of the frame rate but one wait (:meth:`_idle`)."""
        period = 1.0 / self.params.frame_hz
        next_at = time.monotonic()
        last_at = next_at - period  # when the last frame was started
        while self.viewers:
            next_at += period
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            now = time.monotonic()
            next_at = max(next_at, now - period)
            try:
                wait = self._idle_for(now)
                if wait is not None:
                    await self._idle(wait)
                    # the next frame as soon as the frame rate allows: at once, or a period
                    # after the last one
                    next_at = max(time.monotonic(), last_at + period) - period
                    continue
                last_at = now
                await self.flush(sliced=True)
            except Exception:  # a viewer's frame must never take the server down
                log.exception("viewer frame failed")

    def _idle_for(self, now: float) -> float | None:
        """None when a frame may carry something: a viewer waits for its snapshot, a viewed
        instrument's market moved since its cursor (or since its profile and clusters were
        read), its account and health are due (SLOW_S) or the replay's state changed; else
        how long until the account and health are due."""
        replay = self._replay()
        wait = SLOW_S
        for key, vs in self.viewers.items():
            cur = self.cursors.get(key)
            st = self.hub.find(key)
            if cur is None or st is None or any(v.fresh for v in vs):
                return None
            iv = self.hub.view.get(st.pipeline.name)
            if (iv is not cur.iv or iv.pending or iv.version != cur.version
                    or iv.version != cur.mid_version or replay != cur.replay):  # fmt: skip
                return None
            wait = min(wait, cur.slow_at + SLOW_S - now)
        return wait if wait > 0 else None

    async def _idle(self, timeout: float) -> None:
        """Wait until a batch's folding has run (:meth:`Views.moved`), :meth:`poke` or
        ``timeout`` seconds: no wakeup while nothing a frame shows changes."""
        self.idled += 1
        fut = self._waiting = self.hub.view.moved()
        timer = asyncio.get_running_loop().call_later(timeout, _wake, fut)
        try:
            await fut
        finally:
            timer.cancel()
            self._waiting = None

    # ---- one frame -----------------------------------------------------------------------
    async def flush(self, sliced: bool = False) -> None:
        """One frame for every instrument with viewers. ``sliced``: the loop polls its
        sockets between the steps (see the module); else the frame is built in one go."""
        now = time.monotonic()
        slicer = _Slicer(sliced)
        for key in list(self.viewers):
            await self._flush_one(key, now, slicer)
        self.frames += 1

    async def _flush_one(self, key: str, now: float, slicer: _Slicer) -> None:
        st = self.hub.find(key)
        for turn in range(FOLD_TURNS):  # what the batches left, folded in slices
            if st is None:
                return
            iv = self.hub.view.get(st.pipeline.name)
            last = turn == FOLD_TURNS - 1 or not slicer.on
            if iv.fold(None if last else FRAME_SLICE_NS) and (last or not slicer.spent()):
                break  # all folded, and the reading starts in a slice of its own
            await slicer.breathe(force=True)
            st = self.hub.find(key)
        if st is None:
            return
        # from here to the end of the reading, nothing awaits: the frame reads one state
        live = [v for v in self.viewers.get(key, []) if v.open]
        if not live:
            return
        cur = self.cursors.setdefault(key, _Cursor(iv=iv))
        if cur.iv is not iv:  # the market state was rebuilt (a seek back): start over
            cur = self.cursors[key] = _Cursor(iv=iv)
            for v in live:
                v.fresh = True
        fresh = [v for v in live if v.fresh]
        old = [v for v in live if not v.fresh]
        frames: _Frames = []
        if old:
            # with a new viewer the whole reading is one step: its snapshot starts where
            # the cursor is; else the parts of a delta (each latest-wins or behind its own
            # cursor) are read in steps of their own
            steps = _Slicer(False) if fresh else slicer
            frames += await self._delta(st, iv, cur, old, now, steps)
        else:
            self._advance(st, iv, cur, now)
        snaps: dict[int, dict[str, Any]] = {}
        for v in fresh:
            if v.levels not in snaps:
                snaps[v.levels] = self.snapshot(st, iv, cur, v.levels)
            v.fresh = False
        frames += [([v for v in fresh if v.levels == k], snap) for k, snap in snaps.items()]
        # the reading is done: what is left works on copies, the loop polling between
        await slicer.breathe()
        for viewers, frame in frames:
            as_text, binary = any(not v.binary for v in viewers), any(v.binary for v in viewers)
            await _resolve(frame, slicer, as_text, binary)
            if "wall_ns" in frame:  # when it was sent: the page's lag
                frame["wall_ns"] = time.time_ns()
            # each form once, shared by every viewer asking for it (no per-viewer encoding)
            text = _encode(frame) if as_text else ""
            packed = pack(frame) if binary else b""
            # and its WebSocket bytes, once, for the viewers whose transport takes them
            wires = {f: ws_frame(packed if f else text)
                     for f in {v.binary for v in viewers if v.proto is not None}}  # fmt: skip
            await slicer.breathe()
            for v in viewers:  # written now when its socket takes it without waiting
                await v.send(packed if v.binary else text, wires.get(v.binary))
                await slicer.breathe()

    def _replay(self) -> dict[str, Any] | None:
        return self.playback.state() if self.playback is not None else None

    def _slow(self, st: InstrumentState, iv: InstrumentView, cur: _Cursor,
              now: float) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:  # fmt: skip
        """Account and health, read at most every SLOW_S (None: not read now)."""
        if now - cur.slow_at < SLOW_S and cur.health is not None:
            return None, None
        dt = now - cur.events_at if cur.events_at else 0.0
        if dt > 0:
            cur.events_per_s = (iv.events - cur.events) / dt
        cur.events, cur.events_at, cur.slow_at = iv.events, now, now
        lag = self.playback.lag_ms(st.pipeline.last_ts) if self.playback is not None else None
        health = vf.health_view(self.hub, st, lag, cur.events_per_s)
        return vf.account_view(self.hub, st.pipeline.name), health

    def _advance(self, st: InstrumentState, iv: InstrumentView, cur: _Cursor,
                 now: float) -> None:  # fmt: skip
        """Move the cursor to now without building a delta (no one to send it to)."""
        iv.sync_signals(st)
        cur.version, cur.prints, cur.heat = iv.version, iv.n_prints, iv.heat.closed
        cur.signals = iv.signals_seen
        cur.bars = len(st.pipeline.bars.series[0])
        cur.books.clear()

    async def _delta(self, st: InstrumentState, iv: InstrumentView, cur: _Cursor,
                     viewers: list[Viewer], now: float, steps: _Slicer) -> _Frames:  # fmt: skip
        """The delta frame of each book depth the viewers asked for (and who gets it),
        its heavy parts left to :func:`_resolve`; the cursor moved. ``steps``: the loop may
        poll its sockets between the market's part, the slow parts, the analytics and each
        book depth."""
        out: dict[str, Any] = {"type": "delta", "ts": st.pipeline.last_ts}
        moved = iv.version != cur.version
        if moved:
            cur.version = iv.version
            await self._market(st, iv, cur, out, steps)
        await steps.breathe()
        account, health = self._slow(st, iv, cur, now)
        replay = self._replay()
        await steps.breathe()
        await self._analytics(st, iv, cur, now, out, steps)
        await steps.breathe()
        for name, value in (("account", account), ("health", health), ("replay", replay)):
            if value is None:
                continue
            seen = {k: v for k, v in value.items() if k != "wall_ns"}
            last = getattr(cur, name)
            if last is None or {k: v for k, v in last.items() if k != "wall_ns"} != seen:
                out[name] = value
                setattr(cur, name, value)
        books: dict[int, dict[str, Any] | None] = {}
        for v in viewers:
            if v.levels not in books:
                await steps.breathe()
                frame = dict(out)
                if moved:
                    book = vf.book_view(st, v.levels)
                    before = cur.books.get(v.levels)
                    if (
                        before is None
                        or before["bids"] != book["bids"]
                        or before["asks"] != book["asks"]
                        or before["walls"] != book["walls"]
                        or before["stale"] != book["stale"]
                    ):
                        book["changes"] = vf.book_changes(before, book)
                        frame["book"] = book
                        cur.books[v.levels] = book
                if len(frame) <= 2:
                    books[v.levels] = None
                    continue
                frame["wall_ns"] = time.time_ns()  # when it was sent: the page's lag
                books[v.levels] = frame
        return [([v for v in viewers if v.levels == k], f) for k, f in books.items() if f]

    async def _market(self, st: InstrumentState, iv: InstrumentView, cur: _Cursor,
                      out: dict[str, Any], steps: _Slicer) -> None:  # fmt: skip
        """The market's part of a delta: what changed since the cursor, the cursor moved (in
        three steps: the metrics, the appends behind their cursors, then bars and the other
        latest-wins values)."""
        pipe, inst = st.pipeline, st.instrument
        px = inst.to_price
        metrics = self.hub.metrics(st)
        if metrics:
            metrics = {**metrics, "ts": pipe.last_ts,
                       "last": px(iv.last_price) if iv.n_prints else None}  # fmt: skip
        if metrics != cur.metrics:
            out["metrics"] = cur.metrics = metrics
        await steps.breathe()
        prints, dropped = iv.prints_since(cur.prints, MAX_PRINTS)
        cur.prints = iv.n_prints
        if len(prints):
            out["prints"] = _Joined(print_rows, prints, CHUNK_PRINTS, px, packed=prints_packed)
        if dropped:
            out["prints_dropped"] = dropped
        iv.sync_signals(st)
        new = iv.signals_seen - cur.signals
        if new > 0:
            out["signals"] = list(iv.signals)[-min(new, MAX_SIGNALS, len(iv.signals)) :]
        cur.signals = iv.signals_seen
        cols = iv.heat.block(cur.heat, MAX_HEAT)
        cur.heat = iv.heat.closed
        if len(cols[0]):
            out["heat"] = _Joined(heat_rows, cols, CHUNK_HEAT, inst, packed=heat_packed)
        await steps.breathe()
        forming = pipe.bars.series[0].forming()
        bars = self._bars(st, cur, forming)
        if bars:
            out["bars"] = bars
        vwap = vf.vwap_view(metrics)
        if vwap != cur.vwap:
            out["vwap"] = cur.vwap = vwap
        delta = vf.delta_view(st, forming)
        if cur.delta is None or (delta["cum"], delta["bar_delta"]) != (
            cur.delta["cum"],
            cur.delta["bar_delta"],
        ):
            out["delta"] = cur.delta = delta

    def _bars(self, st: InstrumentState, cur: _Cursor, f: Any) -> list[dict[str, Any]]:
        """Bars closed since the cursor, and the forming one (``f``) when it changed."""
        series = st.pipeline.bars.series[0]
        n = len(series)
        vw = self.hub.view.get(st.pipeline.name).bar_vwaps
        # a closed bar never changes (and its VWAP was kept while it formed): built later
        out: list[Any] = [_Later(vf.closed_bar, st, i, vw)
                          for i in range(max(cur.bars, n - SNAP_BARS), n)]  # fmt: skip
        cur.bars = n
        r = None if f is None else vf.record(f)
        sig = (
            None
            if r is None
            else tuple(int(r[k]) for k in ("ts_open", "volume", "high", "low", "close"))
        )
        if sig != cur.forming:
            cur.forming = sig
            if r is not None:  # its record and cells are copies: the dict is built later
                start = int(r["ts_open"])
                kept = {start: vw[start]} if start in vw else {}
                out.append(_Later(vf.bar_dict, st, f, series.forming_cells(), False, kept))
        return out

    async def _analytics(self, st: InstrumentState, iv: InstrumentView, cur: _Cursor,
                         now: float, out: dict[str, Any], steps: _Slicer) -> None:  # fmt: skip
        """Profile and clusters (O(price levels) and O(clusters) to read, a step each): at
        most every MID_S, when the market moved since they were last read."""
        if now - cur.mid_at < MID_S or iv.version == cur.mid_version:
            return
        cur.mid_at, cur.mid_version = now, iv.version
        pipe = st.pipeline
        prof = pipe.profiles.current
        pkey = (-1, -1) if prof is None else (id(prof), prof.total)
        if pkey != cur.profile_key:
            cur.profile_key = pkey
            profile = vf.profile_view(st)
            if profile != cur.profile:
                out["profile"] = cur.profile = profile
        await steps.breathe()
        clusters, _ = self.answers.full(pipe)
        if clusters["version"] != cur.clusters_version:
            cur.clusters_version = clusters["version"]
            out["clusters"] = cur.clusters = clusters["items"]

    # ---- the snapshot --------------------------------------------------------------------
    def snapshot(self, st: InstrumentState, iv: InstrumentView, cur: _Cursor,
                 levels: int) -> dict[str, Any]:  # fmt: skip
        """Everything a new viewer starts from, as of the cursor (the frame just sent)."""
        pipe, inst = st.pipeline, st.instrument
        px = inst.to_price
        metrics = self.hub.metrics(st)
        if metrics:
            metrics = {**metrics, "ts": pipe.last_ts,
                       "last": px(iv.last_price) if iv.n_prints else None}  # fmt: skip
        book = vf.book_view(st, levels)
        book["changes"] = []
        cur.books.setdefault(levels, book)
        prints, _ = iv.prints_since(0, SNAP_PRINTS)
        series = pipe.bars.series[0]
        n = len(series)
        bars: list[Any] = [_Later(vf.closed_bar, st, i, iv.bar_vwaps)
                           for i in range(max(0, n - SNAP_BARS), n)]  # fmt: skip
        f = vf.forming_bar(st, None, iv.bar_vwaps)
        if f is not None:
            bars.append(f)
        clusters, _ = self.answers.full(pipe)
        tick = float(inst.tick_size)
        account, health = cur.account, cur.health
        if health is None:
            lag = self.playback.lag_ms(pipe.last_ts) if self.playback is not None else None
            health = vf.health_view(self.hub, st, lag, 0.0)
            account = vf.account_view(self.hub, pipe.name)
        return {
            "type": "snapshot",
            "wall_ns": time.time_ns(),
            "instrument": pipe.name,
            "tick_size": tick,
            "ts": pipe.last_ts,
            "book": book,
            "metrics": metrics,
            "prints": _Joined(print_rows, prints, CHUNK_PRINTS, px, packed=prints_packed),
            "signals": list(iv.signals)[-SNAP_SIGNALS:],
            "bars": bars,
            "profile": vf.profile_view(st),
            "vwap": vf.vwap_view(metrics),
            "delta": vf.delta_view(st),
            "clusters": clusters["items"],
            "account": account,
            "health": health,
            "replay": self._replay(),
            "heat": _Joined(
                heat_rows, iv.heat.block(0, SNAP_HEAT), CHUNK_HEAT, inst, packed=heat_packed
            ),
            "metrics_history": _Later(metrics_rows, list(iv.metrics_history), tick),
        }

    async def stop(self) -> None:
        for vs in list(self.viewers.values()):
            for v in vs:
                await v.stop()
        if self._task is not None:
            self._task.cancel()


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _rows(x: Any) -> Any:
    """A :class:`_Joined` part as its rows (the JSON form's hook; :func:`_resolve` built them)."""
    if isinstance(x, _Joined) and x.value is not None:
        return x.value
    raise TypeError(f"not a frame value: {type(x).__name__}")


def _encode(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame, default=_rows, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _plain(x: Any) -> Any:
    """A NumPy value as the builtin one the JSON form writes, a :class:`_Joined` part as its
    bytes or rows (MessagePack's encoder hook)."""
    if isinstance(x, np.generic | np.ndarray):
        return x.tolist()
    if isinstance(x, _Joined):
        if x.packed_value is not None:
            return x.packed_value
        return _rows(x)
    raise TypeError(f"not a frame value: {type(x).__name__}")


_PACKER = msgspec.msgpack.Encoder(enc_hook=_plain)


def pack(frame: dict[str, Any]) -> bytes:
    """A frame as MessagePack: the same values as its JSON text (maps, arrays, strings,
    integers, floats, booleans, nil), smaller and with nothing to parse as text."""
    return _PACKER.encode(frame)


class _Later:
    """A heavy part of a frame built after the frame's reading, from what the reading took:
    copies (prints, heat columns) or what never changes (a closed bar). Built once (the
    frames of several book depths share it)."""

    __slots__ = ("args", "built", "fn", "value")

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.fn, self.args = fn, args
        self.built, self.value = False, None

    def __call__(self) -> Any:
        if not self.built:
            self.value, self.built = self.fn(*self.args), True
        return self.value


class _Slicer:
    """Lets the loop poll its sockets once a step of a frame has held it FRAME_SLICE_NS (or
    at once with ``force``); off: a frame is built in one go."""

    def __init__(self, on: bool) -> None:
        self.on = on
        self.t0 = time.perf_counter_ns()

    def spent(self) -> bool:
        """This step has held the loop FRAME_SLICE_NS already."""
        return time.perf_counter_ns() - self.t0 >= FRAME_SLICE_NS

    async def breathe(self, force: bool = False) -> None:
        if self.on and (force or time.perf_counter_ns() - self.t0 >= FRAME_SLICE_NS):
            await asyncio.sleep(0)
            self.t0 = time.perf_counter_ns()


class _Joined:
    """Rows of an array (or of a tuple of arrays cut alike) built ``chunk`` at a time by
    ``fn(part, *args)``, then joined: a frame's prints and heat columns. With ``packed``
    (``packed(part, *args)``: the MessagePack bytes of those rows, None when it cannot say
    them) the binary form takes the bytes, made a chunk at a time too, and the rows are built
    only for the JSON text form."""

    __slots__ = ("args", "chunk", "data", "fn", "packed", "packed_value", "value")

    def __init__(self, fn: Callable[..., list[Any]], data: Any, chunk: int, *args: Any,
                 packed: Callable[..., bytes | None] | None = None) -> None:  # fmt: skip
        self.fn, self.data, self.chunk, self.args = fn, data, chunk, args
        self.packed = packed
        self.value: list[Any] | None = None
        self.packed_value: msgspec.Raw | None = None

    def _parts(self, chunk: int) -> Iterator[Any]:
        whole = isinstance(self.data, tuple)
        n = len(self.data[0]) if whole else len(self.data)
        for a in range(0, n, chunk):
            yield (tuple(x[a : a + chunk] for x in self.data) if whole
                   else self.data[a : a + chunk])  # fmt: skip

    async def build(self, slicer: _Slicer) -> list[Any]:
        if self.value is None:
            out: list[Any] = []
            for part in self._parts(self.chunk):
                out += self.fn(part, *self.args)
                await slicer.breathe()
            self.value = out
        return self.value

    async def pack(self, slicer: _Slicer) -> bool:
        """The bytes made (False: ``packed`` could not say them; the rows must be built)."""
        if self.packed_value is None and self.packed is not None:
            out, n = [], 0
            for part in self._parts(self.chunk * PACK_CHUNKS):
                items = self.packed(part, *self.args)
                if items is None:
                    return False
                out.append(items)
                n += len(part[0]) if isinstance(part, tuple) else len(part)
                await slicer.breathe()
            self.packed_value = msgspec.Raw(array_header(n) + b"".join(out))
        return self.packed_value is not None


async def _resolve(frame: dict[str, Any], slicer: _Slicer, text: bool = True,
                   binary: bool = False) -> None:  # fmt: skip
    """The frame's :class:`_Later` and :class:`_Joined` parts (values, or items of list
    values) built, the loop polling between them when they took long. For the binary form
    (``binary``) a part with packed bytes stays in the frame (the encoders' hooks take its
    bytes, or its rows): its rows are built only for the JSON text form (``text``)."""
    for k, v in frame.items():
        if isinstance(v, _Joined):
            if not (binary and await v.pack(slicer)):
                frame[k] = await v.build(slicer)
            elif text:
                await v.build(slicer)
        elif isinstance(v, _Later):
            frame[k] = v()
            await slicer.breathe()
        elif isinstance(v, list):
            for i, x in enumerate(v):
                if isinstance(x, _Later):
                    v[i] = x()
                    await slicer.breathe()
