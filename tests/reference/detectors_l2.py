"""Detectors on price levels only (L2: NinjaTrader depth, MBP-10, or an L3 book's top N) + trades.

:class:`L2Detector` is fed one event group at a time: the group's prints (price ticks, size,
aggressor side: BID = buyer lifted the offer, ASK = seller hit the bid) and the top-N levels
*after* the group; it remembers the levels before. :func:`detect_l2` runs it over a recorded
:class:`~orderflow.book.common.DepthRecord` and a trade array. Without order ids nothing here is
certain, so the iceberg estimate states a range and a confidence.

Rules (parameters in :class:`L2Params`):

* **absorption** — prints against the best level of one side, at its price, add up to at least
  ``absorption_min_volume`` within ``absorption_window_ns`` and to at least
  ``absorption_min_ratio`` times the size the level showed when the episode began (it was
  refreshed), while the level still holds as best after the group. A level that gives way
  (the best moves through it) ends its episode. Fires once per episode. Direction: the side
  that held (bid +1). Score ``min(1, volume / (2 * min_volume))``.
* **sweep** — prints of one aggressor side at ``sweep_min_levels`` or more distinct prices
  within ``sweep_window_ns`` (0: the one event group). Fires once per sweep, at the end of the
  group that reaches the count. Direction: the aggressor's (buyers +1). Score
  ``min(1, levels / sweep_score_levels)``.
* **exhaustion** — after a run of at least ``exhaustion_run_ticks`` (trade prices within
  ``exhaustion_run_window_ns``, low to high before the high, carrying at least
  ``exhaustion_min_run_volume`` of aggressive volume in the run's direction), no new extreme
  for ``exhaustion_quiet_ns`` and aggressive volume in the run's direction since the extreme at
  most ``exhaustion_dry_ratio`` times the run's rate over the same time. Checked at every
  group, fires once per extreme. Direction: against the run. Score ``min(1, run / (2 *
  run_ticks))``.
* **iceberg_l2** — while a level stays best, in each group with prints at it the size that
  reappeared, ``prints + (size after - size before)``, counts as a refill when positive.
  ``hidden_estimate`` = the sum of refills. A lower bound follows from conservation alone:
  ``low = max(0, traded - shown at start - size added in groups without prints)`` (every
  visible add was consumed first); the estimate is the upper end, because part of a refill may
  be a new order that arrived in the same group. ``confidence = low / estimate``. Fires when
  the refill count reaches ``iceberg_min_refills`` (and on each further refill) with the
  estimate at least ``iceberg_min_hidden`` and the traded size above the size shown at the
  start. Direction: the defending side. Score ``0.5 * min(1, refills / iceberg_score_refills)
  + 0.5 * confidence``.

Complexity per group: O(prints + N) plus, for exhaustion, O(prints in the run window) when the
group has prints.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from orderflow.book.common import DepthRecord
from orderflow.model.dtypes import NO_PRICE, TRADE_DTYPE
from orderflow.model.enums import Action, Flags, Side
from orderflow.model.instruments import Instrument
from orderflow.signals.model import Signal, clip01, side_direction

__all__ = ["L2Detector", "L2Params", "detect_l2", "mbo_trades"]

_BUYER, _SELLER = int(Side.BID), int(Side.ASK)


@dataclass(frozen=True, slots=True)
class L2Params:
    """Thresholds of the L2 detectors (defaults sized for ES/NQ; sizes in contracts)."""

    absorption_min_volume: int = 50
    absorption_min_ratio: float = 1.0
    absorption_window_ns: int = 30_000_000_000
    sweep_min_levels: int = 3
    sweep_window_ns: int = 0
    sweep_score_levels: int = 5
    exhaustion_run_ticks: int = 8
    exhaustion_run_window_ns: int = 120_000_000_000
    exhaustion_min_run_volume: int = 50
    exhaustion_quiet_ns: int = 10_000_000_000
    exhaustion_dry_ratio: float = 0.25
    iceberg_min_refills: int = 2
    iceberg_min_hidden: int = 10
    iceberg_score_refills: int = 6


def _size_at(prices: np.ndarray, sizes: np.ndarray, price: int) -> int:
    hit = np.flatnonzero(prices == price)
    return int(sizes[hit[0]]) if len(hit) else 0


@dataclass(slots=True)
class _Absorb:
    first_ts: int
    shown_at_start: int
    prints: deque[tuple[int, int]] = field(default_factory=deque)
    volume: int = 0
    fired: bool = False


@dataclass(slots=True)
class _Ice:
    price: int
    first_ts: int
    shown_at_start: int
    traded: int = 0
    refill: int = 0
    refills: int = 0
    added: int = 0
    cancelled: int = 0
    refill_sizes: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Sweep:
    first_ts: int
    sizes: dict[int, int] = field(default_factory=dict)
    fired: bool = False


@dataclass(slots=True)
class _Extreme:
    price: int
    ts: int
    run: int
    start_price: int
    run_volume: int
    rate_per_ns: float
    after_volume: int


class L2Detector:
    """Absorption, sweeps, exhaustion and L2 iceberg estimates, one event group at a time."""

    def __init__(self, instrument: str, params: L2Params | None = None) -> None:
        self.instrument = instrument
        self.params = params or L2Params()
        self._prev: tuple[np.ndarray, ...] | None = None
        self._absorb: tuple[dict[int, _Absorb], dict[int, _Absorb]] = ({}, {})
        self._ice: list[_Ice | None] = [None, None]
        self._sweep: list[_Sweep | None] = [None, None]
        self._prints: deque[tuple[int, int, int, int]] = deque()  # ts, price, size, side
        self._extreme: list[_Extreme | None] = [None, None]  # [up-run high, down-run low]
        self._fired_extreme: list[tuple[int, int] | None] = [None, None]
        self._out: list[Signal] = []

    def on_group(
        self,
        ts: int,
        trade_price: Sequence[int],
        trade_size: Sequence[int],
        trade_side: Sequence[int],
        bid_price: np.ndarray,
        bid_size: np.ndarray,
        ask_price: np.ndarray,
        ask_size: np.ndarray,
    ) -> list[Signal]:
        """Feed one group: its prints and the top-N levels after it (NO_PRICE: empty)."""
        self._out = []
        now = (bid_price, bid_size, ask_price, ask_size)
        prev = self._prev
        prints = list(zip(trade_price, trade_size, trade_side, strict=True))
        if prev is not None:
            for side in (0, 1):
                # nothing to track on a side without prints, episodes or open absorption
                if prints or self._absorb[side] or self._ice[side] is not None:
                    self._levels(ts, side, prints, prev, now)
        if prints:
            self._sweeps(ts, prints, prev, now)
            self._run(ts, prints)
        self._exhaustion(ts)
        self._prev = now
        return self._out

    # ---- absorption and iceberg (per resting side) ---------------------------------------
    def _levels(
        self,
        ts: int,
        side: int,
        prints: list[tuple[int, int, int]],
        prev: tuple[np.ndarray, ...],
        now: tuple[np.ndarray, ...],
    ) -> None:
        pp, ps = prev[2 * side], prev[2 * side + 1]
        np_, ns = now[2 * side], now[2 * side + 1]
        best_before = int(pp[0]) if len(pp) else NO_PRICE
        best_after = int(np_[0]) if len(np_) else NO_PRICE
        aggressor = _SELLER if side == 0 else _BUYER
        traded = 0
        if best_before != NO_PRICE:
            traded = sum(sz for px, sz, sd in prints if sd == aggressor and px == best_before)
        shown_before = int(ps[0]) if best_before != NO_PRICE else 0
        shown_after = _size_at(np_, ns, best_before) if best_before != NO_PRICE else 0
        holds = best_before != NO_PRICE and best_after == best_before
        gave_way = best_after == NO_PRICE or (
            best_before != NO_PRICE
            and (best_after < best_before if side == 0 else best_after > best_before)
        )
        self._absorption(ts, side, best_before, traded, shown_before, holds, gave_way)
        self._iceberg(ts, side, best_before, traded, shown_before, shown_after, holds)

    def _absorption(
        self,
        ts: int,
        side: int,
        price: int,
        traded: int,
        shown_before: int,
        holds: bool,
        gave_way: bool,
    ) -> None:
        p = self.params
        book = self._absorb[side]
        if gave_way and price != NO_PRICE:
            # every episode at or beyond the old best is broken
            for k in [k for k in book if (k >= price if side == 0 else k <= price)]:
                del book[k]
        if traded <= 0:
            return
        ep = book.get(price)
        horizon = ts - p.absorption_window_ns
        if ep is not None:
            while ep.prints and ep.prints[0][0] < horizon:
                ep.volume -= ep.prints.popleft()[1]
            if not ep.prints:
                ep = None
        if ep is None and not gave_way:
            ep = book[price] = _Absorb(ts, shown_before)
        if ep is None:
            return
        ep.prints.append((ts, traded))
        ep.volume += traded
        if (
            holds
            and not ep.fired
            and ep.volume >= p.absorption_min_volume
            and ep.volume >= p.absorption_min_ratio * ep.shown_at_start
        ):
            ep.fired = True
            self._out.append(
                Signal(
                    instrument=self.instrument,
                    ts_event=ts,
                    direction=side_direction(side),
                    score=clip01(ep.volume / (2 * p.absorption_min_volume)),
                    detector="absorption",
                    price=price,
                    evidence={
                        "side": "bid" if side == 0 else "ask",
                        "price": price,
                        "volume": ep.volume,
                        "prints": len(ep.prints),
                        "shown_at_start": ep.shown_at_start,
                        "volume_over_shown": round(ep.volume / max(ep.shown_at_start, 1), 3),
                        "first_ts": ep.first_ts,
                        "duration_ns": ts - ep.first_ts,
                        "min_volume": p.absorption_min_volume,
                        "min_ratio": p.absorption_min_ratio,
                        "window_ns": p.absorption_window_ns,
                    },
                )
            )

    def _iceberg(
        self,
        ts: int,
        side: int,
        price: int,
        traded: int,
        shown_before: int,
        shown_after: int,
        holds: bool,
    ) -> None:
        p = self.params
        ep = self._ice[side]
        if ep is not None and ep.price != price:
            ep = self._ice[side] = None
        if traded > 0:
            if ep is None:
                ep = self._ice[side] = _Ice(price, ts, shown_before)
            ep.traded += traded
            reappeared = traded + shown_after - shown_before
            refilled = reappeared > 0
            if refilled:
                ep.refill += reappeared
                ep.refills += 1
                ep.refill_sizes.append(reappeared)
        elif ep is not None:
            change = shown_after - shown_before
            if change > 0:
                ep.added += change
            else:
                ep.cancelled -= change
            refilled = False
        else:
            return
        if not holds:
            self._ice[side] = None
        if not (
            refilled
            and ep.refills >= p.iceberg_min_refills
            and ep.refill >= p.iceberg_min_hidden
            and ep.traded > ep.shown_at_start
        ):
            return
        low = max(0, ep.traded - ep.shown_at_start - ep.added)
        confidence = min(1.0, low / ep.refill)
        self._out.append(
            Signal(
                instrument=self.instrument,
                ts_event=ts,
                direction=side_direction(side),
                score=clip01(
                    0.5 * min(1.0, ep.refills / p.iceberg_score_refills) + 0.5 * confidence
                ),
                detector="iceberg_l2",
                price=price,
                evidence={
                    "side": "bid" if side == 0 else "ask",
                    "price": price,
                    "traded": ep.traded,
                    "shown_at_start": ep.shown_at_start,
                    "refills": ep.refills,
                    "refill_sizes": ep.refill_sizes[-20:],
                    "added_without_prints": ep.added,
                    "cancelled_without_prints": ep.cancelled,
                    "hidden_estimate": ep.refill,
                    "hidden_low": low,
                    "hidden_high": ep.refill,
                    "confidence": round(confidence, 4),
                    "level_held": holds,
                    "first_ts": ep.first_ts,
                    "duration_ns": ts - ep.first_ts,
                    "min_refills": p.iceberg_min_refills,
                    "min_hidden": p.iceberg_min_hidden,
                },
            )
        )

    # ---- sweeps --------------------------------------------------------------------------
    def _sweeps(
        self,
        ts: int,
        prints: list[tuple[int, int, int]],
        prev: tuple[np.ndarray, ...] | None,
        now: tuple[np.ndarray, ...],
    ) -> None:
        p = self.params
        for agg in (_BUYER, _SELLER):
            mine = [(px, sz) for px, sz, sd in prints if sd == agg]
            if not mine:
                continue
            sw = self._sweep[agg]
            if sw is None or ts - sw.first_ts > p.sweep_window_ns:
                sw = self._sweep[agg] = _Sweep(ts)
            for px, sz in mine:
                sw.sizes[px] = sw.sizes.get(px, 0) + sz
            levels = len(sw.sizes)
            if sw.fired or levels < p.sweep_min_levels:
                continue
            sw.fired = True
            prices = sorted(sw.sizes, reverse=agg == _SELLER)
            rest = 1 if agg == _BUYER else 0  # the side that was eaten (asks for buyers)
            # fixed when ported to numba: checked len(prev[0]), the bids, for either side
            before = (
                int(prev[2 * rest][0]) if prev is not None and len(prev[2 * rest]) else NO_PRICE
            )
            after = int(now[2 * rest][0]) if len(now[2 * rest]) else NO_PRICE
            moved = None if NO_PRICE in (before, after) else abs(after - before)
            self._out.append(
                Signal(
                    instrument=self.instrument,
                    ts_event=ts,
                    direction=1 if agg == _BUYER else -1,
                    score=clip01(levels / p.sweep_score_levels),
                    detector="sweep",
                    price=prices[-1],
                    evidence={
                        "aggressor": "buyer" if agg == _BUYER else "seller",
                        "levels": levels,
                        "prices": prices,
                        "sizes": [sw.sizes[x] for x in prices],
                        "volume": sum(sw.sizes.values()),
                        "first_ts": sw.first_ts,
                        "duration_ns": ts - sw.first_ts,
                        "touch_moved_ticks": moved,
                        "min_levels": p.sweep_min_levels,
                        "window_ns": p.sweep_window_ns,
                    },
                )
            )

    # ---- exhaustion ----------------------------------------------------------------------
    def _run(self, ts: int, prints: list[tuple[int, int, int]]) -> None:
        """New prints: re-derive the candidate extremes of both directions. O(window)."""
        p = self.params
        q = self._prints
        for px, sz, sd in prints:
            q.append((ts, px, sz, sd))
        horizon = ts - p.exhaustion_run_window_ns
        while q and q[0][0] < horizon:
            q.popleft()
        rows = list(q)
        for k, (sign, agg) in enumerate(((1, _BUYER), (-1, _SELLER))):
            # the extreme (first time reached), and the opposite extreme before it
            i_ext = max(range(len(rows)), key=lambda i: (sign * rows[i][1], -i))
            ext_price, ext_ts = rows[i_ext][1], rows[i_ext][0]
            i_start = min(range(i_ext + 1), key=lambda i: (sign * rows[i][1], -i))
            start_price, start_ts = rows[i_start][1], rows[i_start][0]
            run_vol = sum(r[2] for r in rows[i_start : i_ext + 1] if r[3] == agg)
            after = sum(r[2] for r in rows[i_ext + 1 :] if r[3] == agg)
            span = max(ext_ts - start_ts, p.exhaustion_quiet_ns)
            self._extreme[k] = _Extreme(
                ext_price,
                ext_ts,
                sign * (ext_price - start_price),
                start_price,
                run_vol,
                run_vol / span,
                after,
            )

    def _exhaustion(self, ts: int) -> None:
        p = self.params
        for k, ex in enumerate(self._extreme):
            if ex is None or self._fired_extreme[k] == (ex.price, ex.ts):
                continue
            quiet = ts - ex.ts
            if (
                ex.run < p.exhaustion_run_ticks
                or ex.run_volume < p.exhaustion_min_run_volume
                or quiet < p.exhaustion_quiet_ns
                or ex.after_volume > p.exhaustion_dry_ratio * ex.rate_per_ns * quiet
            ):
                continue
            self._fired_extreme[k] = (ex.price, ex.ts)
            self._out.append(
                Signal(
                    instrument=self.instrument,
                    ts_event=ts,
                    direction=-1 if k == 0 else 1,
                    score=clip01(ex.run / (2 * p.exhaustion_run_ticks)),
                    detector="exhaustion",
                    price=ex.price,
                    evidence={
                        "run": "up" if k == 0 else "down",
                        "extreme_price": ex.price,
                        "extreme_ts": ex.ts,
                        "start_price": ex.start_price,
                        "run_ticks": ex.run,
                        "run_volume": ex.run_volume,
                        "volume_since_extreme": ex.after_volume,
                        "allowed_volume": round(p.exhaustion_dry_ratio * ex.rate_per_ns * quiet, 3),
                        "quiet_ns": quiet,
                        "min_run_ticks": p.exhaustion_run_ticks,
                        "min_run_volume": p.exhaustion_min_run_volume,
                        "dry_ratio": p.exhaustion_dry_ratio,
                        "run_window_ns": p.exhaustion_run_window_ns,
                    },
                )
            )


def mbo_trades(events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The prints of an MBO array (its TRADE records, aggressor side as recorded) as
    :data:`TRADE_DTYPE`, and the index of the event group each belongs to (groups end at
    records flagged LAST outside a snapshot)."""
    flags = events["flags"]
    ends = (flags & (Flags.LAST | Flags.SNAPSHOT)) == Flags.LAST
    group = np.concatenate(([0], np.cumsum(ends)[:-1])) if len(events) else np.zeros(0, np.int64)
    is_trade = events["action"] == Action.TRADE
    src = events[is_trade]
    out = np.zeros(len(src), dtype=TRADE_DTYPE)
    for k in ("ts_event", "ts_recv", "sequence", "price", "size", "side", "flags"):
        out[k] = src[k]
    return out, group[is_trade].astype(np.int64)


def detect_l2(
    depth: DepthRecord,
    trades: np.ndarray,
    instrument: Instrument | str,
    params: L2Params | None = None,
    trade_group: np.ndarray | None = None,
) -> list[Signal]:
    """Run :class:`L2Detector` over recorded boundaries and prints. ``trade_group`` gives each
    print's boundary index; without it a print belongs to the first boundary at or after its
    ``ts_event``. Prints after the last boundary are dropped."""
    name = instrument if isinstance(instrument, str) else instrument.contract or instrument.symbol
    det = L2Detector(name, params)
    if trade_group is None:
        trade_group = np.searchsorted(depth.ts_event, trades["ts_event"], side="left")
    order = np.argsort(trade_group, kind="stable")
    grp = trade_group[order]
    tp, ts_, td = (trades[k][order].tolist() for k in ("price", "size", "side"))
    cuts = np.searchsorted(grp, np.arange(len(depth) + 1), side="left").tolist()
    out: list[Signal] = []
    bp, bs, ap, as_ = depth.bid_price, depth.bid_size, depth.ask_price, depth.ask_size
    ts_b = depth.ts_event.tolist()
    for g in range(len(depth)):
        a, b = cuts[g], cuts[g + 1]
        out.extend(det.on_group(ts_b[g], tp[a:b], ts_[a:b], td[a:b], bp[g], bs[g], ap[g], as_[g]))
    return out
