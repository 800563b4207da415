"""The views fold what the Hub queued later, off the ack's path, and that changes nothing they
show: on ESH4 (the bridge's 439 batches) the heat columns, prints, metrics history and bars'
VWAPs folded later (by the loop's slices, between reads, or by a full queue) equal those
folded at once after every batch; a read right after a batch (a frame, a snapshot, a
backfill) sees that batch; a full queue folds at once and loses nothing; on a running loop
the queue is folded without any reader, every instrument's in every slice; a heat ring that
grows holds what one allocated whole holds."""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any

import msgspec
import pytest

from orderflow.analytics import heatmap
from orderflow.protocol import Batch
from orderflow.server import view as view_mod
from orderflow.server.hub import Hub
from orderflow.server.view import MAX_PENDING, InstrumentView
from tests.conftest import ES_MBO, need


@cache
def batches() -> list[Batch]:
    from orderflow.client.feed import build_batches
    from orderflow.io.formats import load_stream

    return [fb.batch for fb in build_batches(load_stream(need(ES_MBO)))]


def state(iv: InstrumentView) -> dict[str, Any]:
    """Everything the views show of an instrument, as plain values."""
    ts, meta, sizes = iv.heat.block(0, iv.heat.capacity)
    prints, dropped = iv.prints_since(0, 10**9)
    return {
        "closed": iv.heat.closed, "heat_ts": ts.tolist(), "heat_meta": meta.tolist(),
        "heat_sizes": sizes.tolist(), "current": iv.heat._cur.tolist(),
        "prints": prints.tolist(), "dropped": dropped, "n_prints": iv.n_prints,
        "last_price": iv.last_price, "history": [list(r) for r in iv.metrics_history],
        "vwaps": dict(iv.bar_vwaps), "version": iv.version, "events": iv.events,
        "folded": iv.folded,
    }  # fmt: skip


def at_once(n: int) -> dict[str, Any]:
    """The first ``n`` batches, every one folded as soon as it is applied."""
    hub = Hub()
    for b in batches()[:n]:
        hub.apply(b, "nt8")
        assert not hub.view.read("ESH4").pending
    return state(hub.view.read("ESH4"))


def test_folding_later_on_a_loop_equals_folding_at_once_on_esh4() -> None:
    """The loop folds in slices while batches keep coming (some between two slices, some
    with reads between them): the same columns, prints, history and VWAPs, exactly."""
    n = len(batches())
    hub = Hub()
    queued: list[int] = []

    async def feed() -> None:
        for i, b in enumerate(batches()):
            hub.apply(b, "nt8")
            queued.append(len(hub.view.get("ESH4").pending))
            if i % 3 == 0:
                await asyncio.sleep(0)  # one of the loop's slices may run
            if i % 50 == 49:
                hub.view.read("ESH4")  # a reader folds the rest at once
        # the loop's slices fold the rest (a loaded machine runs them later, never not)
        for _ in range(400):
            await asyncio.sleep(0.025)
            if not hub.view.get("ESH4").pending:
                break

    asyncio.run(feed())
    iv = hub.view.get("ESH4")
    assert not iv.pending and iv.folded == n and iv.overflows == 0
    assert max(queued) >= 4  # batches did wait in the queue
    got, want = state(iv), at_once(n)
    assert got["closed"] > 14_000 and len(got["heat_ts"]) == 14_400  # the ring is full
    assert got == want


def test_a_read_right_after_a_batch_sees_it() -> None:
    """Applied on a running loop, a batch is only queued; the reader that comes next (before
    the loop has folded anything) reads it: its prints, its heat columns, its metrics."""
    hub = Hub()
    k = 120
    want = at_once(k)

    async def feed() -> dict[str, Any]:
        for b in batches()[:k]:
            hub.apply(b, "nt8")
        iv = hub.view.get("ESH4")
        assert iv.pending  # nothing folded yet: the loop has not run
        read = state(hub.view.read("ESH4"))
        assert not iv.pending
        return read

    got = asyncio.run(feed())
    assert got == want
    ticks = sum(len(b.ticks) for b in batches()[:k])
    assert got["n_prints"] == ticks and got["prints"][-1][0] == batches()[k - 1].ticks[-1].t
    pipe = hub.find("ESH4")
    assert pipe is not None
    m = pipe.pipeline.metrics
    last = got["history"][-1]
    assert last[0] == pipe.pipeline.last_ts - pipe.pipeline.last_ts % 250_000_000
    assert last[1:3] == [m.imbalance, m.microprice]


def test_a_full_queue_folds_at_once_and_loses_nothing() -> None:
    """Without a loop (a recovery, a warm-up) nothing folds until the queue is full: then
    all of it at once; the queue never holds more than MAX_PENDING and the result is the
    same as folding every batch at once."""
    hub = Hub()
    n = 300  # two entries a batch: the queue fills twice
    longest = 0
    for b in batches()[:n]:
        hub.apply(b, "nt8")
        longest = max(longest, len(hub.view.get("ESH4").pending))
    iv = hub.view.get("ESH4")
    assert MAX_PENDING - 2 <= longest < MAX_PENDING and iv.overflows == 2
    assert len(iv.pending) == 2 * n - 2 * MAX_PENDING
    assert state(hub.view.read("ESH4")) == at_once(n)


def test_a_running_loop_folds_without_readers() -> None:
    """No viewer, no backfill: the loop's own slices fold every batch, at most
    FOLD_SLICE_NS at a time (here 0: one batch a slice), each FOLD_WAIT_S after the last (here
    0: one a turn of the loop)."""
    hub = Hub()
    k = 60

    async def feed() -> list[int]:
        left = []
        for b in batches()[:k]:
            hub.apply(b, "nt8")
        for _ in range(3):
            await asyncio.sleep(0)
            left.append(len(hub.view.get("ESH4").pending))
        await asyncio.sleep(0.05)
        return left

    old = view_mod.FOLD_SLICE_NS, view_mod.FOLD_WAIT_S
    view_mod.FOLD_SLICE_NS, view_mod.FOLD_WAIT_S = 0, 0.0
    try:
        left = asyncio.run(feed())
    finally:
        view_mod.FOLD_SLICE_NS, view_mod.FOLD_WAIT_S = old
    assert left[0] > left[1] > left[2] > 0  # one slice per turn of the loop
    iv = hub.view.get("ESH4")
    assert not iv.pending and iv.folded == k and iv.overflows == 0
    assert state(iv) == at_once(k)


def test_an_ack_written_starts_the_folding_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop folds after the batch's ack is written (Views.after_ack), not while the ack
    waits: with the timer far off nothing folds until then, and a slice runs in the loop's
    next turn after it; the timer alone folds the rest, and what is folded equals folding at
    once."""
    hub = Hub()
    k = 20
    monkeypatch.setattr(view_mod, "FOLD_SLICE_NS", 0)
    # far enough that 20 applies on a loaded machine do not reach it (the timer is armed at
    # the first apply)
    monkeypatch.setattr(view_mod, "FOLD_WAIT_S", 0.3)

    async def feed() -> list[int]:
        for b in batches()[:k]:
            hub.apply(b, "nt8")
        pending = hub.view.get("ESH4").pending
        left = [len(pending)]
        await asyncio.sleep(0)
        left.append(len(pending))  # the timer is not due: nothing folded
        hub.view.after_ack()
        await asyncio.sleep(0)
        left.append(len(pending))  # one slice, at once
        monkeypatch.setattr(view_mod, "FOLD_WAIT_S", 0.001)  # the timers now come at once
        hub.view.after_ack()  # (a slice asked for the rest: a timer again)
        await asyncio.sleep(0.5)
        left.append(len(pending))
        return left

    left = asyncio.run(feed())
    assert left[0] == left[1] == 2 * k and left[2] < left[1] and left[3] == 0
    iv = hub.view.get("ESH4")
    assert iv.folded == k and state(iv) == at_once(k)


def test_a_ring_that_grows_equals_one_allocated_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ring larger than RING_AT_ONCE_BYTES grows as columns come (doubling, copied) and
    takes no column straight from the kernel: on ESH4 (12,222 columns in the first batch
    after the pre-open, then the ring full and going round) it holds exactly what the ring
    allocated whole at the start holds."""
    n = 200
    whole = at_once(n)
    monkeypatch.setattr(heatmap, "RING_AT_ONCE_BYTES", 0)
    hub = Hub()
    hub.apply(batches()[0], "nt8")
    assert len(hub.view.read("ESH4").heat._ts) < hub.view.params.heat_columns  # it grows
    assert at_once(n) == whole


def test_no_instrument_waits_on_another_to_be_folded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two instruments fed turn about on a running loop, each slice's time spent at once
    (FOLD_SLICE_NS 0), a slice each turn of the loop (FOLD_WAIT_S 0): each slice still folds a
    batch of each, so neither queue fills (a full one would fold at once, on its feeder's
    ack) and both end as folding at once makes them."""
    monkeypatch.setattr(view_mod, "FOLD_SLICE_NS", 0)
    monkeypatch.setattr(view_mod, "FOLD_WAIT_S", 0.0)
    hub = Hub()
    n = 200  # 400 entries each: more than a queue holds

    async def feed() -> None:
        for b in batches()[:n]:
            for name in ("ESH4", "ESM4"):
                hub.apply(msgspec.structs.replace(b, instrument=name), f"nt8-{name}")
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)

    asyncio.run(feed())
    want = at_once(n)
    for name in ("ESH4", "ESM4"):
        iv = hub.view.get(name)
        assert iv.overflows == 0 and not iv.pending and iv.folded == n
        assert state(iv) == want


def test_a_wait_for_the_next_batch_ends_with_its_folding_and_never_piles_up() -> None:
    """What the viewer stream waits on while it has nothing to do: one future however often
    it is asked for (a server with viewers and no feed asks twice a second), done by the
    folding of the next batch applied, not before; then a fresh one."""
    hub = Hub()

    async def run() -> tuple[bool, bool, bool, bool]:
        hub.apply(batches()[0], "nt8")
        await asyncio.sleep(0.01)  # its folding ran: nothing to wait for now
        first = hub.view.moved()
        same = all(hub.view.moved() is first for _ in range(1000))
        await asyncio.sleep(0.01)
        before = first.done()  # no batch: still waiting
        hub.apply(batches()[1], "nt8")
        await asyncio.wait_for(first, 1.0)
        return same, before, first.done(), hub.view.moved() is not first

    same, before, after, fresh = asyncio.run(run())
    assert same and not before and after and fresh
    assert hub.view.get("ESH4").folded == 2


def test_coalesced_runs_folded_later_equal_folded_at_once() -> None:
    """A pipelining client's runs (one pipeline pass and one view entry a run), folded only
    when read at the end (each run's entry taking the book's rows and the metrics sample just
    before the next run moves the pipeline): the same as each run folded as soon as it is
    applied."""
    later, now = Hub(), Hub()
    for i in range(0, 100, 5):
        run = batches()[i : i + 5]
        later.apply_many(run, "nt8")
        now.apply_many(run, "nt8")
        assert not now.view.read("ESH4").pending
    assert later.counters["coalesced"] > 60
    assert len(later.view.get("ESH4").pending) > 30  # nothing folded until the read
    assert state(later.view.read("ESH4")) == state(now.view.read("ESH4"))


def test_batches_a_session_answers_arm_no_timer_and_fold_after_its_answer() -> None:
    """Batches applied while a WebSocket session applies them (``Views.acking``: it writes
    their answers, then calls after_ack) arm no timer: nothing folds, however long the loop
    runs, until after_ack; then a slice runs in the loop's next turn, the rest after it,
    and what is folded equals folding at once."""
    hub = Hub()
    k = 10

    async def feed() -> list[Any]:
        hub.view.acking = True
        for b in batches()[:k]:
            hub.apply(b, "nt8")
        hub.view.acking = False
        pending = hub.view.get("ESH4").pending
        left: list[Any] = [len(pending), hub.view._timer]
        await asyncio.sleep(0.02)  # a timer (FOLD_WAIT_S) would have folded by now
        left.append(len(pending))
        hub.view.after_ack()
        await asyncio.sleep(0)
        left.append(len(pending))
        for _ in range(500):  # the rest folds in the turns after (on a loaded machine, later)
            if not pending:
                break
            await asyncio.sleep(0.01)
        left.append(len(pending))
        return left

    left = asyncio.run(feed())
    assert left[:3] == [2 * k, None, 2 * k] and left[3] < 2 * k and left[4] == 0
    assert state(hub.view.get("ESH4")) == at_once(k)


def test_rows_read_in_place_are_the_rows_a_copy_holds() -> None:
    """A batch's entry folded before its book moves reads the ladder's rows in place: after
    each of ESH4's first batches they are the very rows ``top_rows`` copies (both sides)."""
    hub = Hub()
    for b in batches()[:60]:
        hub.apply(b, "nt8")
        book = hub.find("ESH4").pipeline.book  # type: ignore[union-attr]
        got, want = book.top_views(view_mod.HEAT_ROWS), book.top_rows(view_mod.HEAT_ROWS)
        assert [a.tolist() for a in got] == [a.tolist() for a in want]
    assert len(want[0]) and len(want[2])  # both sides had rows


def test_the_compiled_fold_equals_the_steps_on_esh4(monkeypatch: pytest.MonkeyPatch) -> None:
    """ESH4 folded batch by batch with the fold's compiled calls (the prints' ring write, a
    batch's heat columns in one call, the bars' VWAPs made once a bar) and with the steps they
    replace (numpy's field writes, the heat's field views and calls, a VWAP value at each
    sample): the same ring, columns (past the ring's end, round it), history and VWAPs."""
    import numpy as np

    from orderflow.analytics.heatmap import HeatColumns

    n = 200  # (the ring full and going round from the first batch after the pre-open)
    got = at_once(n)

    def take_prints(self: InstrumentView, trades: np.ndarray) -> None:
        k = len(trades)
        if not k:
            return
        if len(self.prints) < self.params.prints and self.n_prints + k > len(self.prints):
            grown = np.zeros(max(1024, 2 * (self.n_prints + k)), dtype=view_mod.PRINT_DTYPE)
            grown[: len(self.prints)] = self.prints
            self.prints = grown
        i = self.n_prints % len(self.prints)
        j = min(k, len(self.prints) - i)
        for dst, src in ((slice(i, i + j), slice(0, j)), (slice(0, k - j), slice(j, k))):
            if src.stop > src.start:
                rows, t = self.prints[dst], trades[src]
                rows["ts"], rows["price"], rows["size"] = t["ts_event"], t["price"], t["size"]
                rows["side"] = np.array([1, -1, 0], np.int8)[np.minimum(t["side"], 2)]
        self.n_prints += k
        self.last_price = int(trades["price"][-1])

    def apply_batch(self: HeatColumns, depth: Any, prints: Any, rows: Any) -> None:
        self.apply_depth(depth, prints["ts_event"], prints["price"], rows)

    def keep_vwap(self: InstrumentView, sample: tuple[Any, ...]) -> None:
        keep_sample(self, (*sample[:6], None, None))
        start, vw = sample[6:]
        if start is not None:
            value = vw[0].value_of(vw[1])
            if value.volume:
                if start not in self.vwaps and len(self.vwaps) >= view_mod.BAR_VWAPS:
                    del self.vwaps[next(iter(self.vwaps))]
                self.vwaps[start] = (value.vwap, value.upper, value.lower)

    keep_sample = InstrumentView.keep_sample
    monkeypatch.setattr(InstrumentView, "take_prints", take_prints)
    monkeypatch.setattr(HeatColumns, "apply_batch", apply_batch)
    monkeypatch.setattr(InstrumentView, "keep_sample", keep_vwap)
    want = at_once(n)
    assert got["closed"] > 14_000 and len(got["heat_ts"]) == 14_400 and got["vwaps"]
    assert got == want
