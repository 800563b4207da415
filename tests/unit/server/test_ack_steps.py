"""The hub's shortcuts for batches without bars or order reports (:mod:`.ack_steps`): every
ack the same bytes, JSON and MessagePack, as the full steps give, one batch at a time and
pipelined (coalesced runs), with bars, order reports, a refusal and a gap among them; and the
shared "no series changed" Counter never written to (a stale one would put a bar's metrics
in the ack of every later batch without bars)."""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

import msgspec

from orderflow.core.errors import OrderflowError
from orderflow.model.instruments import get_instrument
from orderflow.protocol import Ack, Bar, Batch, Depth, PositionUpdate, Tick, encode
from orderflow.server.ack_steps import NO_SERIES
from orderflow.server.hub import Hub, InstrumentState

ES = get_instrument("ESH4")
T0 = 1_703_545_200_000_000_000
NS = 1_000_000_000


class FullStepsHub(Hub):
    """The hub with the steps the shortcuts skip done in full: a Counter of changed series
    for every batch, the trading engine's report path asked of every batch."""

    def _rest_of(
        self,
        st: InstrumentState,
        batch: Batch,
        client: str | None,
        applied: dict[str, int],
        feeder: str | None = None,
    ) -> Counter[str]:
        if client is not None:
            self.names[(client, st.instrument.contract or st.instrument.symbol)] = batch.instrument
        applied["ticks"] += len(batch.ticks)
        st.ticks += len(batch.ticks)
        changed = Counter[str]()
        for bar in batch.bars:
            prices = (bar.open, bar.high, bar.low, bar.close)
            bad = st.bars.add_wire(bar.series, bar.t, prices, bar.volume, bar.closed, bar.period)
            changed += bad or Counter({f"series:{bar.series}": 1})
        applied["bars"] += len(batch.bars)
        reporter = client if client is not None else feeder
        if not self.counters["recovering"] or self.trading.unjournalled(reporter, batch):
            for k, v in self.trading.apply_batch(reporter, st.instrument, batch).items():
                applied[k] = applied.get(k, 0) + v
        if batch.ticks and not self.counters["recovering"]:
            self.trading.prints(client, st.instrument, batch.ticks[-1].price)
        st.last_ts = max(st.last_ts, st.pipeline.last_ts)
        return changed


def _batches() -> list[Batch]:
    """A session's worth of small batches: a book, then each second a depth update and a
    print, a closed 1-minute bar (series 0) every 7th, a forming one (series 1) every 11th,
    a position report every 13th; one batch with an off-grid price (refused), one sequence
    number skipped (a gap, then a snapshot that heals it)."""
    book = [Depth(t=T0, side="bid", op="add", pos=i, price=4800.0 - i * 0.25, size=10 + i)
            for i in range(5)]  # fmt: skip
    book += [Depth(t=T0, side="ask", op="add", pos=i, price=4800.25 + i * 0.25, size=12 + i)
             for i in range(5)]  # fmt: skip
    out = [Batch(instrument="ES 03-24", seq=1, snapshot=True, depth=book)]
    seq = 1
    for k in range(1, 120):
        t = T0 + k * NS
        seq += 1
        if k == 60:
            seq += 1  # a gap: the ladder is stale until the snapshot below
        side = "bid" if k % 2 else "ask"
        price = 4800.0 if side == "bid" else 4800.25
        size = 10 + k % 9
        if k == 40:
            price += 0.1  # off the grid: refused
        depth = [Depth(t=t, side=side, op="update", pos=0, price=price, size=size)]
        trade = 4800.25 if k % 3 else 4800.0
        ticks = [Tick(t=t, price=trade, size=1 + k % 4, bid=4800.0, ask=4800.25)]
        bars = []
        if k % 7 == 0:
            m = (t // (60 * NS)) * 60 * NS
            bars.append(Bar(series=0, t=m - 60 * NS, open=4800.0, high=4800.5, low=4799.75,
                            close=4800.25, volume=20 + k, period="1 Minute"))  # fmt: skip
        if k % 11 == 0:
            bars.append(Bar(series=1, t=t, open=4800.0, high=4800.25, low=4800.0, close=trade,
                            volume=k, closed=False, period="5 Minute"))  # fmt: skip
        positions = []
        if k % 13 == 0:
            positions.append(PositionUpdate(t=t, market_position="Long", quantity=1,
                                            average_price=4800.25))  # fmt: skip
        if k == 70:  # the snapshot the gap asked for
            out.append(Batch(instrument="ES 03-24", seq=seq, snapshot=True, depth=[
                Depth(t=t, side=d.side, op="add", pos=d.pos, price=d.price, size=d.size)
                for d in book]))  # fmt: skip
            continue
        out.append(Batch(instrument="ES 03-24", seq=seq, depth=depth, ticks=ticks, bars=bars,
                         positions=positions))  # fmt: skip
    return out


def _bytes(ack: Ack | None) -> tuple[bytes, bytes] | None:
    if ack is None:
        return None
    same = msgspec.structs.replace(ack, processing_us=0.0)  # the one field that is a timing
    return encode(same), encode(same, "msgpack")


def _outcomes(hub: Hub, batches: list[Batch], pipelined: bool) -> list[Any]:
    if not pipelined:
        out = []
        for b in batches:
            try:
                out.append((b.seq, _bytes(hub.apply(b, "nt8")[0]), None))
            except Exception as exc:  # a refusal answers with its error
                out.append((b.seq, None, type(exc).__name__))
        return out
    got = []
    for i in range(0, len(batches), 9):  # frames received together, as a pipelining client
        for b, ack, _, err in hub.apply_many(batches[i : i + 9], "nt8"):
            got.append((b.seq, _bytes(ack), None if err is None else type(err).__name__))
    return got


def test_every_ack_is_the_same_bytes_as_the_full_steps_give():
    batches = _batches()
    for pipelined in (False, True):
        fast, full = Hub(), FullStepsHub()
        got, want = _outcomes(fast, batches, pipelined), _outcomes(full, batches, pipelined)
        assert got == want
        assert not NO_SERIES  # never written to
        # the run did meet what the shortcuts must not hide: bars, reports, refusals, gaps
        acks = [msgspec.json.decode(a[1][0]) for a in got if a[1] is not None]
        with_bars = [a for a in acks if a["bar_metrics"]]
        assert len(with_bars) >= 10
        assert {m["series"] for a in with_bars for m in a["bar_metrics"]} == {0, 1}
        assert any(a["applied"].get("positions") for a in acks)
        assert sum(1 for a in got if a[2] is not None) >= 1
        assert fast.counters["gaps"] == 1 and fast.counters["refused"] >= 1
        if pipelined:
            assert fast.counters["coalesced"] > 0


def test_a_batch_without_bars_after_one_with_bars_carries_no_bar_metrics():
    hub = Hub()
    batches = _batches()
    bar_at = next(i for i, b in enumerate(batches) if b.bars)
    for b in batches[:bar_at]:
        hub.apply(b, "nt8")
    with_bar, _ = hub.apply(batches[bar_at], "nt8")
    assert with_bar.bar_metrics is not None and with_bar.applied["bars"] == 1
    after, _ = hub.apply(batches[bar_at + 1], "nt8")
    assert not batches[bar_at + 1].bars
    assert after.bar_metrics is None and after.applied["bars"] == 0 and after.rejected == {}
    assert not NO_SERIES


def test_a_written_shared_counter_would_be_seen():
    """The guard above holds: a NO_SERIES written to puts bar metrics in an ack without bars
    (what the equality test would then catch)."""
    hub = Hub()
    batches = _batches()
    bar_at = next(i for i, b in enumerate(batches) if b.bars and b.bars[0].series == 0)
    for b in batches[: bar_at + 1]:
        hub.apply(b, "nt8")
    NO_SERIES["series:0"] = 1
    try:
        stale, _ = hub.apply(batches[bar_at + 1], "nt8")
    finally:
        NO_SERIES.clear()
    assert stale.bar_metrics is not None  # what a stale shared Counter would send
    clean, _ = hub.apply(batches[bar_at + 2], "nt8")
    assert clean.bar_metrics is None


def test_the_ladders_rows_as_lists_are_its_rows():
    """``Ladder.top_lists`` (the ack's book and ratios) gives ``top_rows`` as integers after
    every batch: snapshots, updates, a refused batch, a stale ladder, any ``n``."""
    hub = Hub()
    for b in _batches():
        with contextlib.suppress(OrderflowError):  # a refusal: the ladder as it stands
            hub.apply(b, "nt8")
        book = hub.state("ES 03-24").pipeline.book
        for n in (0, 1, 3, 5, 10, 500):
            assert book.top_lists(n) == tuple(a.tolist() for a in book.top_rows(n))
