"""What the dashboard's viewers see of each instrument, recorded cheaply as batches apply.

The Hub calls :meth:`Views.took` with a batch's classified prints and :meth:`Views.applied`
after each applied batch (or coalesced run): the prints go into a ring of arrays (a slice
copy), the batch's depth events close exact heatmap columns per bucket of data time (one
jitted pass, O(events + rows); :mod:`orderflow.analytics.heatmap`), and a
version counter moves. Nothing else happens on the trading path: the viewer stream
(:mod:`.view_stream`) reads book, metrics, bars and signals itself, at most 30 times a second,
and the backfill routes read these rings. Everything is bounded (``server.view``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from orderflow.analytics.heatmap import HeatColumns
from orderflow.core.errors import ParameterError
from orderflow.core.units import PRICE_SCALE
from orderflow.model.dtypes import NO_PRICE, NT_DEPTH_DTYPE, TRADE_DTYPE
from orderflow.server.answers import signal_dict

if TYPE_CHECKING:
    from orderflow.engine.pipeline import Pipeline
    from orderflow.model.instruments import Instrument


class InstrumentState(Protocol):
    """What the views read of the Hub's instrument state (:class:`.hub.InstrumentState`)."""

    instrument: Instrument
    pipeline: Pipeline

    @property
    def stale(self) -> bool: ...


__all__ = ["PRINT_DTYPE", "InstrumentView", "ViewParams", "Views", "heat_rows",
           "metrics_rows", "print_rows"]  # fmt: skip

#: one print as the views keep it: event time, price (ticks), size, aggressor (+1 buy, -1 sell)
PRINT_DTYPE = np.dtype([("ts", "i8"), ("price", "i8"), ("size", "i8"), ("side", "i1")])
#: a trade's aggressor (Side: BID 0 = bought at the offer, ASK 1, NONE 2) as the wire's sign
_SIGN = np.array([1, -1, 0], dtype=np.int8)
_NO_PRICE = int(NO_PRICE)
#: the book rows the heatmap reads (a NinjaTrader ladder has far fewer)
HEAT_ROWS = 1000
#: book-metrics samples kept (one per heat bucket, the last of it): the snapshot's history
METRICS_HISTORY = 600
#: bars whose session VWAP is kept (a day of 1-minute bars is 1,440)
BAR_VWAPS = 20_000


@dataclass(frozen=True, slots=True)
class ViewParams:
    """The viewer stream's bounds (settings ``server.view``)."""

    heat_bucket_ms: float = 250.0
    heat_ticks: int = 200
    heat_history_s: float = 3600.0
    prints: int = 200_000
    signals: int = 10_000
    max_viewers: int = 16
    frame_hz: float = 30.0
    queue_frames: int = 8
    send_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        if not (
            1 <= self.heat_bucket_ms <= 60_000
            and 1 <= self.heat_ticks <= 5000
            and 1 <= self.heat_history_s <= 7 * 86_400
            and 1000 <= self.prints <= 100_000_000
            and 10 <= self.signals <= 10_000_000
            and 1 <= self.max_viewers <= 1024
            and 1 <= self.frame_hz <= 30
            and 1 <= self.queue_frames <= 1024
            and 0.1 <= self.send_timeout_s <= 60
        ):
            raise ParameterError(f"server.view: a bound is out of range: {self}", field="view")

    @property
    def heat_bucket_ns(self) -> int:
        return round(self.heat_bucket_ms * 1e6)

    @property
    def heat_columns(self) -> int:
        return max(1, round(self.heat_history_s * 1000 / self.heat_bucket_ms))

    @classmethod
    def from_settings(cls, s: Any) -> ViewParams:
        """From the settings' ``server.view`` section (any object with these attributes)."""
        return cls(**{k: getattr(s, k) for k in cls.__dataclass_fields__})


@dataclass(eq=False)
class InstrumentView:
    """One instrument's rings: prints, heat columns, signals (see the module)."""

    params: ViewParams
    heat: HeatColumns
    prints: np.ndarray
    #: prints taken so far (the ring holds the last ``len(prints)``)
    n_prints: int = 0
    #: raised by every applied batch: the stream sends a frame only when it moved
    version: int = 0
    events: int = 0
    signals: deque[dict[str, Any]] = field(default_factory=deque)
    signals_seen: int = 0
    last_price: int = _NO_PRICE
    #: the prints of the batch being applied (from :meth:`Views.took` to :meth:`Views.applied`)
    batch_prints: np.ndarray | None = None
    #: ``[bucket ts, imbalance, microprice, mid, ofi, momentum]`` (prices in ticks), the last
    #: sample of each heat bucket with a batch, the latest :data:`METRICS_HISTORY`
    metrics_history: deque[list[Any]] = field(default_factory=lambda: deque(maxlen=METRICS_HISTORY))
    #: each bar's (by start time) session VWAP and bands (ticks) after the last batch that
    #: updated it: ``(vwap, upper, lower)``
    bar_vwaps: dict[int, tuple[float, tuple[float, ...], tuple[float, ...]]] = field(
        default_factory=dict
    )

    def sample(self, pipe: Pipeline) -> None:
        """The book metrics and the forming bar's session VWAP after an applied batch. O(1)."""
        ts = pipe.last_ts
        b = ts - ts % self.params.heat_bucket_ns
        m = pipe.metrics
        row: list[Any] = [b, m.imbalance, m.microprice, m.mid, float(m.ofi), pipe.momentum.score]
        h = self.metrics_history
        if h and h[-1][0] == b:
            h[-1] = row
        else:
            h.append(row)
        series = pipe.bars.series
        start = series[0].forming_open() if series else None
        if start is None:
            return
        vw = pipe.vwap.value()
        if vw.volume:
            if start not in self.bar_vwaps and len(self.bar_vwaps) >= BAR_VWAPS:
                del self.bar_vwaps[next(iter(self.bar_vwaps))]
            self.bar_vwaps[start] = (vw.vwap, vw.upper, vw.lower)

    @classmethod
    def new(cls, params: ViewParams) -> InstrumentView:
        heat = HeatColumns(params.heat_bucket_ns, params.heat_ticks, params.heat_columns)
        return cls(params, heat, np.zeros(0, dtype=PRINT_DTYPE),
                   signals=deque(maxlen=params.signals))  # fmt: skip

    def take_prints(self, trades: np.ndarray) -> None:
        """Append classified prints (TRADE_DTYPE). O(prints)."""
        n = len(trades)
        if not n:
            return
        cap = self.params.prints
        if len(self.prints) < cap and self.n_prints + n > len(self.prints):
            grown = np.zeros(min(cap, max(1024, 2 * (self.n_prints + n))), dtype=PRINT_DTYPE)
            grown[: len(self.prints)] = self.prints
            self.prints = grown
        if n > cap:
            self.n_prints += n - cap
            trades = trades[n - cap :]
            n = cap
        i = self.n_prints % len(self.prints)
        k = min(n, len(self.prints) - i)
        for dst, src in ((slice(i, i + k), slice(0, k)), (slice(0, n - k), slice(k, n))):
            if src.stop > src.start:
                rows = self.prints[dst]
                t = trades[src]
                rows["ts"], rows["price"], rows["size"] = t["ts_event"], t["price"], t["size"]
                rows["side"] = _SIGN[np.minimum(t["side"], 2)]
        self.n_prints += n
        self.last_price = int(trades["price"][-1])

    def prints_since(self, k: int, limit: int) -> tuple[np.ndarray, int]:
        """Prints from number ``k`` on (at most ``limit``, the latest), and how many of those
        were not returned (dropped by the cap or already gone from the ring)."""
        kept = min(self.n_prints, len(self.prints))
        lo = max(k, self.n_prints - kept, self.n_prints - limit)
        dropped = max(0, lo - k)
        return self._range(lo, self.n_prints), dropped

    def _range(self, lo: int, hi: int) -> np.ndarray:
        if hi <= lo:
            return self.prints[:0].copy()
        cap = len(self.prints)
        idx = np.arange(lo, hi) % cap
        return self.prints[idx]

    def prints_between(self, from_ts: int, to_ts: int, limit: int) -> np.ndarray:
        """Kept prints with ``from_ts <= ts <= to_ts``, oldest first; at most ``limit`` (the
        latest). O(log kept + limit)."""
        kept = min(self.n_prints, len(self.prints))
        rows = self._range(self.n_prints - kept, self.n_prints)
        ts = rows["ts"]
        a = int(np.searchsorted(ts, from_ts, side="left"))
        b = int(np.searchsorted(ts, to_ts, side="right"))
        return rows[max(a, b - limit) : b]

    def sync_signals(self, st: InstrumentState) -> None:
        """Take the pipeline's new signals (each with its id: its number, from 1)."""
        sigs = st.pipeline.signals
        first = max(self.signals_seen, sigs.first_kept)  # the pipeline keeps the latest
        for i, s in enumerate(sigs.since(self.signals_seen), start=first):
            d = signal_dict(s, st.instrument)
            d["id"] = i + 1
            self.signals.append(d)
        self.signals_seen = len(sigs)


class Views:
    """Every instrument's :class:`InstrumentView`, fed by the Hub."""

    def __init__(self, params: ViewParams | None = None) -> None:
        self.params = params or ViewParams()
        self.of: dict[str, InstrumentView] = {}
        #: the market is orderflow's simulated one (``orderflow run`` without a recording)
        self.simulated_market = False
        #: the account trading is a simulated NinjaTrader (``orderflow run``'s)
        self.simulated_account = False

    def get(self, key: str) -> InstrumentView:
        iv = self.of.get(key)
        if iv is None:
            iv = self.of[key] = InstrumentView.new(self.params)
        return iv

    def took(self, st: InstrumentState, trades: np.ndarray) -> None:
        """A batch's classified prints (TRADE_DTYPE), before its book moves on."""
        iv = self.get(st.pipeline.name)
        iv.batch_prints = trades
        if len(trades):
            iv.take_prints(trades)

    def applied(self, st: InstrumentState, events: int, depth: np.ndarray | None = None) -> None:
        """A batch (or a coalesced run of ``events`` depth events) was applied: its NinjaTrader
        depth events (``depth``; None for a snapshot) walked into exact heatmap columns per
        bucket, or else the book's rows into the current column; the version moved.
        O(events + rows)."""
        iv = self.get(st.pipeline.name)
        iv.version += 1
        iv.events += events
        prints, iv.batch_prints = iv.batch_prints, None
        book = st.pipeline.book
        if book is None or not st.pipeline.groups or st.stale:
            iv.heat.unsync()
            return
        iv.sample(st.pipeline)
        rows = book.top_rows(HEAT_ROWS)
        if depth is not None and depth.dtype == NT_DEPTH_DTYPE:
            if prints is None:
                prints = np.zeros(0, dtype=TRADE_DTYPE)
            iv.heat.apply_depth(depth, prints["ts_event"], prints["price"], rows)
        else:
            bp, bs, ap, as_ = rows
            iv.heat.update(st.pipeline.last_ts, bp, bs, ap, as_, iv.last_price)
            iv.heat.resync(rows)

    def reset(self, key: str) -> None:
        """Forget an instrument's history (its market state is being rebuilt)."""
        self.of.pop(key, None)


def metrics_rows(iv: InstrumentView, tick: float) -> list[list[float | None]]:
    """The snapshot's ``metrics_history``: ``[ts, imbalance, microprice, mid, ofi,
    momentum]`` (prices in exchange units, null when undefined), oldest first."""

    def f(x: float, scale: float = 1.0) -> float | None:
        return None if x != x else x * scale

    return [[int(t), f(imb), f(mp, tick), f(mid, tick), f(ofi), f(mom)]
            for t, imb, mp, mid, ofi, mom in iv.metrics_history]  # fmt: skip


def print_rows(prints: np.ndarray, to_price: Any) -> list[list[Any]]:
    """PRINT rows of the wire: ``[ts, price, size, side]``."""
    return [
        [int(t), to_price(int(p)), int(q), int(s)]
        for t, p, q, s in zip(
            prints["ts"].tolist(), prints["price"].tolist(), prints["size"].tolist(),
            prints["side"].tolist(), strict=True,
        )
    ]  # fmt: skip


def heat_rows(
    block: tuple[np.ndarray, np.ndarray, np.ndarray], inst: Instrument
) -> list[dict[str, Any]]:
    """HEATCOLs of a block of columns (:meth:`HeatColumns.block`): each column's sizes without
    the empty prices at either end (``p0``: the first price with a size; a ladder of a few rows
    makes a few dozen sizes, not 401), bid/ask/last in exchange units (None: none), the
    trimming and the prices done on the whole block at once (a frame of a fast feed carries a
    hundred columns; one at a time they were most of its cost)."""
    ts, meta, sizes = block
    if not len(ts):
        return []
    nz = sizes != 0
    has = nz.any(axis=1)
    first = np.where(has, nz.argmax(axis=1), 0)
    end = np.where(has, sizes.shape[1] - nz[:, ::-1].argmax(axis=1), 0)
    scale, tick = inst.tick_fixed, float(inst.tick_size)

    def prices(t: np.ndarray) -> list[float | None]:
        p = (t.astype(np.int64) * scale / PRICE_SCALE).tolist()
        return [None if x == _NO_PRICE else v for x, v in zip(t.tolist(), p, strict=True)]

    p0 = ((meta[:, 0] + first) * scale / PRICE_SCALE).tolist()
    bid, ask, last = prices(meta[:, 1]), prices(meta[:, 2]), prices(meta[:, 3])
    firsts, ends = first.tolist(), end.tolist()
    return [
        {"ts": t, "p0": p0[i], "step": tick, "sizes": sizes[i, firsts[i] : ends[i]].tolist(),
         "bid": bid[i], "ask": ask[i], "last": last[i]}
        for i, t in enumerate(ts.tolist())
    ]  # fmt: skip
