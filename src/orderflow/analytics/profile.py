"""Volume profile: volume per price (ticks) with the buy/sell split, POC, value area, HVN/LVN.

A profile adds every trade's size at its price (integer ticks): ``total[p] = sum(v)``,
``buy[p]`` the part whose aggressor bought (``Side.BID``), ``sell[p]`` the part whose aggressor
sold (``Side.ASK``). A trade with unknown aggressor (``Side.NONE``) counts in ``total`` only, so
``buy + sell + unknown == total`` at every price. Trades of size <= 0 are ignored. All counts
are exact int64; the volume total, range and trade count are O(1) reads; everything else is
O(price levels) over the traded range ``[low, high]`` (zero-volume gaps inside it included).

Point of control (POC): the price with the most volume. Ties go to the price nearest the middle
of the traded range, ``(low + high) / 2`` (the Market Profile convention, as Linnsoft and
Sierra Chart state it); when two tied prices are equally near, the lower one.

Value area (default 70%, ``ProfileParams.value_area``): the CBOT / Dalton ("Mind Over Markets",
appendix 1) expansion. Start with the POC; compare the sum of the next ``va_step`` (2) prices
above the area with the sum of the next ``va_step`` prices below; add the larger pair (on a tie,
the pair above); repeat until the area holds at least ``value_area * total`` volume. Near the
range edge a side offers fewer than ``va_step`` prices; a side with none left is not offered.
``va_step=1`` gives the single-price variant. The target is compared exactly in integers
(``value_area`` is read as the decimal it prints as, e.g. 0.7 = 7/10), so the area always holds
at least the fraction asked for and is the smallest the rule allows.

High/low-volume nodes: the profile is smoothed by a centred box of ``smoothing`` ticks (odd;
zero volume beyond the traded range): ``W[p] = sum(total[p-h .. p+h])``, ``s[p] = W[p]/(2h+1)``.
A run of equal ``s`` values is a *peak* when both neighbours are lower (beyond the range counts as
lower) and a *trough* when both neighbours inside the range are higher. Peaks with
``s >= hvn_ratio * mean(s)`` are high-volume nodes (HVN); troughs with ``s <= lvn_ratio * mean(s)``
are low-volume nodes (LVN), the mean taken over ``[low, high]``. A node is reported at the middle
of its run (the lower middle for an even run), with the run's low and high. Comparisons are exact
integers on ``W``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
from numba import njit

from orderflow.analytics.params import ProfileParams as ProfileParams
from orderflow.analytics.params import ratio as ratio
from orderflow.analytics.vwap import PeriodClock, ResetInterval
from orderflow.core.errors import ArgumentError
from orderflow.model.instruments import Instrument

__all__ = [
    "Node",
    "ProfileNodes",
    "ProfileParams",
    "SessionProfiles",
    "ValueArea",
    "VolumeProfile",
    "profile_by_session",
]

_TOT, _BUY, _SELL = 0, 1, 2
# meta cells
_LO, _HI, _TOTAL, _BUYT, _SELLT, _COUNT = 0, 1, 2, 3, 4, 5


class ValueArea(NamedTuple):
    """Value area in ticks: ``val <= poc <= vah``; ``volume`` is what lies in ``[val, vah]``."""

    poc: int
    val: int
    vah: int
    volume: int
    total: int


class Node(NamedTuple):
    """A high- or low-volume node: its price, the run of equal smoothed values, its volumes."""

    price: int
    low: int
    high: int
    volume: int  # raw volume at ``price``
    smoothed: float  # box-smoothed volume at ``price``


class ProfileNodes(NamedTuple):
    hvn: tuple[Node, ...]
    lvn: tuple[Node, ...]


@njit(cache=True)
def _add(tr, i0, vol, base, meta):  # type: ignore[no-untyped-def]
    """Add trades from ``i0`` into ``vol`` (rows total, buy, sell; column = price - base).

    Stops at the first trade whose price lies outside the allocated columns and returns its
    index (the caller grows the ladder and resumes), else ``len(tr)``. O(trades).
    """
    cap = vol.shape[1]
    for i in range(i0, len(tr)):
        v = tr[i]["size"]
        if v <= 0:
            continue
        k = tr[i]["price"] - base
        if k < 0 or k >= cap:
            return i
        vol[_TOT, k] += v
        meta[_TOTAL] += v
        sd = tr[i]["side"]
        if sd == 0:
            vol[_BUY, k] += v
            meta[_BUYT] += v
        elif sd == 1:
            vol[_SELL, k] += v
            meta[_SELLT] += v
        if meta[_COUNT] == 0 or k < meta[_LO]:
            meta[_LO] = k
        if meta[_COUNT] == 0 or k > meta[_HI]:
            meta[_HI] = k
        meta[_COUNT] += 1
    return len(tr)


@njit(cache=True)
def _poc(tot, lo, hi):  # type: ignore[no-untyped-def]
    """Index of the largest volume in [lo, hi]; ties: nearest the middle, then the lower."""
    best, bestv = lo, -1
    for i in range(lo, hi + 1):
        v = tot[i]
        if v > bestv or (v == bestv and abs(2 * i - lo - hi) < abs(2 * best - lo - hi)):
            best, bestv = i, v
    return best


@njit(cache=True)
def _value_area(tot, poc, lo, hi, total, num, den, step):  # type: ignore[no-untyped-def]
    """Expand [a, b] from the POC until sum(tot[a..b]) * den >= num * total. O(levels)."""
    a, b = poc, poc
    acc = tot[poc]
    while acc * den < num * total:
        na = min(step, hi - b)
        nb = min(step, a - lo)
        if na == 0 and nb == 0:
            break
        up = 0
        for k in range(b + 1, b + 1 + na):
            up += tot[k]
        dn = 0
        for k in range(a - nb, a):
            dn += tot[k]
        if na > 0 and (nb == 0 or up >= dn):
            b += na
            acc += up
        else:
            a -= nb
            acc += dn
    return a, b, acc


@njit(cache=True)
def _va_read(tot, lo, hi, total, num, den, step):  # type: ignore[no-untyped-def]
    """The POC and the value area in one call: ``(poc, a, b, acc)``. O(levels)."""
    poc = _poc(tot, lo, hi)
    a, b, acc = _value_area(tot, poc, lo, hi, total, num, den, step)
    return poc, a, b, acc


@njit(cache=True)
def _va_of(vol, meta, num, den, step):  # type: ignore[no-untyped-def]
    """:func:`_va_read` of a profile's arrays (``vol``, ``meta``): ``(trades, poc, a, b, acc,
    total)``, nothing computed when it holds no trade (``trades`` 0)."""
    if meta[_COUNT] == 0:
        return 0, 0, 0, 0, 0, 0
    poc, a, b, acc = _va_read(vol[_TOT], meta[_LO], meta[_HI], meta[_TOTAL], num, den, step)
    return meta[_COUNT], poc, a, b, acc, meta[_TOTAL]


@njit(cache=True)
def _nodes(tot, lo, hi, h, hnum, hden, lnum, lden, out):  # type: ignore[no-untyped-def]
    """Peaks/troughs of the box-smoothed profile; rows of out: (kind 1=HVN 2=LVN, i, j, W).

    Returns the number of rows written. Thresholds: W*n*den >=/<= num*sum(W). O(levels).
    """
    n = hi - lo + 1
    pre = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        pre[i + 1] = pre[i] + tot[lo + i]
    w = np.empty(n, dtype=np.int64)
    sw = 0
    for i in range(n):
        w[i] = pre[min(i + h, n - 1) + 1] - pre[max(i - h, 0)]
        sw += w[i]
    rows = 0
    i = 0
    while i < n:
        j = i
        while j + 1 < n and w[j + 1] == w[i]:
            j += 1
        left = w[i - 1] if i > 0 else -1
        right = w[j + 1] if j + 1 < n else -1
        if left < w[i] and right < w[i] and w[i] * n * hden >= hnum * sw:
            out[rows, 0], out[rows, 1], out[rows, 2], out[rows, 3] = 1, i, j, w[i]
            rows += 1
        elif i > 0 and j + 1 < n and left > w[i] and right > w[i] and w[i] * n * lden <= lnum * sw:
            out[rows, 0], out[rows, 1], out[rows, 2], out[rows, 3] = 2, i, j, w[i]
            rows += 1
        i = j + 1
    return rows


@njit(cache=True)
def _top_nodes(tot, lo, hi, h, hnum, hden, lnum, lden, top):  # type: ignore[no-untyped-def]
    """:func:`_nodes`' HVN and LVN, the ``top`` most pronounced of each kind (the highest box
    sums for HVN, the lowest for LVN; among equal sums the lower price first), each kind in
    ascending price: ``[n_hvn, n_lvn, hvn..., lvn...]``, a node's price as the index (from
    ``lo``) of its run's middle. O(levels + nodes^2)."""
    out = np.empty((hi - lo + 1, 4), dtype=np.int64)
    rows = _nodes(tot, lo, hi, h, hnum, hden, lnum, lden, out)
    got = np.empty(2 + rows, dtype=np.int64)
    m = 2
    for kind in (1, 2):
        sign = -1 if kind == 1 else 1  # sorted by -W (HVN) or W (LVN), stable
        chosen = 0
        for k in range(rows):
            if out[k, 0] != kind:
                continue
            rank = 0  # nodes of this kind before it in that order
            wk = sign * out[k, 3]
            for j in range(rows):
                wj = sign * out[j, 3]
                if out[j, 0] == kind and (wj < wk or (wj == wk and j < k)):
                    rank += 1
            if rank < top:
                got[m] = (out[k, 1] + out[k, 2]) // 2
                m += 1
                chosen += 1
        got[kind - 1] = chosen
    return got[:m]


class VolumeProfile:
    """Volume at each price with buy/sell split, grown as prices arrive.

    ``update`` is O(trades) (plus an occasional O(width) re-allocation when prices leave the
    allocated ladder); ``total``/``low``/``high`` are O(1); POC, value area, nodes and the arrays
    are O(price levels) of the traded range.
    """

    def __init__(self, params: ProfileParams | None = None) -> None:
        self.params = params or ProfileParams()
        self._base = 0
        self._vol = np.zeros((3, 0), dtype=np.int64)
        self._meta = np.zeros(6, dtype=np.int64)
        self._va = ratio(self.params.value_area, "value_area")
        #: the value area's fraction and step as :func:`_va_of` takes them
        self._va_args = (self._va.numerator, self._va.denominator, self.params.va_step)
        self._hvn = ratio(self.params.hvn_ratio, "hvn_ratio")
        self._lvn = ratio(self.params.lvn_ratio, "lvn_ratio")

    # -- building ------------------------------------------------------------------------------

    def _cover(self, pmin: int, pmax: int) -> None:
        cap = self._vol.shape[1]
        if cap and self._base <= pmin and pmax < self._base + cap:
            return
        lo, hi = pmin, pmax
        if cap:
            lo, hi = min(lo, self._base), max(hi, self._base + cap - 1)
        margin = max(64, (hi - lo) // 2)
        base = lo - margin
        vol = np.zeros((3, hi - lo + 1 + 2 * margin), dtype=np.int64)
        if cap:
            off = self._base - base
            vol[:, off : off + cap] = self._vol
            if self._meta[_COUNT]:
                self._meta[_LO] += off
                self._meta[_HI] += off
        self._base, self._vol = base, vol

    def update(self, trades: np.ndarray) -> None:
        """Add trades (TRADE_DTYPE). O(trades)."""
        n, i = len(trades), 0
        while True:
            i = _add(trades, i, self._vol, self._base, self._meta)
            if i >= n:
                return
            p = int(trades[i]["price"])
            self._cover(p, p)

    def merge(self, other: VolumeProfile) -> None:
        """Add another profile's volume into this one (composites). O(other's levels)."""
        if other.trades == 0:
            return
        self._cover(other.low, other.high)
        lo, hi = other._meta[_LO], other._meta[_HI]
        off = other._base - self._base
        self._vol[:, off + lo : off + hi + 1] += other._vol[:, lo : hi + 1]
        m, o = self._meta, other._meta
        if m[_COUNT] == 0:
            m[_LO], m[_HI] = lo + off, hi + off
        else:
            m[_LO], m[_HI] = min(m[_LO], lo + off), max(m[_HI], hi + off)
        m[_TOTAL : _COUNT + 1] += o[_TOTAL : _COUNT + 1]

    def copy(self) -> VolumeProfile:
        out = VolumeProfile(self.params)
        out._base, out._vol, out._meta = self._base, self._vol.copy(), self._meta.copy()
        return out

    @classmethod
    def from_trades(
        cls,
        trades: np.ndarray,
        start_ns: int | None = None,
        end_ns: int | None = None,
        params: ProfileParams | None = None,
    ) -> VolumeProfile:
        """Batch: the profile of the trades with ``start_ns <= ts_event < end_ns``."""
        if start_ns is not None or end_ns is not None:
            ts = trades["ts_event"]
            keep = np.ones(len(trades), dtype=bool)
            if start_ns is not None:
                keep &= ts >= start_ns
            if end_ns is not None:
                keep &= ts < end_ns
            trades = trades[keep]
        out = cls(params)
        out.update(trades)
        return out

    @classmethod
    def composite(
        cls, profiles: Iterable[VolumeProfile], params: ProfileParams | None = None
    ) -> VolumeProfile:
        """One profile summing several (sessions, ranges)."""
        out = cls(params)
        for p in profiles:
            out.merge(p)
        return out

    # -- reads ---------------------------------------------------------------------------------

    @property
    def total(self) -> int:
        return int(self._meta[_TOTAL])

    @property
    def buy_total(self) -> int:
        return int(self._meta[_BUYT])

    @property
    def sell_total(self) -> int:
        return int(self._meta[_SELLT])

    @property
    def trades(self) -> int:
        """Trades counted (size > 0)."""
        return int(self._meta[_COUNT])

    @property
    def low(self) -> int:
        """Lowest traded price in ticks; ValueError when empty."""
        self._need()
        return int(self._meta[_LO]) + self._base

    @property
    def high(self) -> int:
        self._need()
        return int(self._meta[_HI]) + self._base

    def _need(self) -> None:
        if self._meta[_COUNT] == 0:
            raise ArgumentError("empty profile")

    def volume_at(self, price: int) -> tuple[int, int, int]:
        """(total, buy, sell) at a price in ticks. O(1)."""
        k = int(price) - self._base
        if 0 <= k < self._vol.shape[1]:
            return int(self._vol[0, k]), int(self._vol[1, k]), int(self._vol[2, k])
        return 0, 0, 0

    def arrays(self) -> dict[str, np.ndarray]:
        """Copies over ``[low, high]``: ``price`` (ticks), ``total``, ``buy``, ``sell``."""
        if self._meta[_COUNT] == 0:
            e = np.zeros(0, dtype=np.int64)
            return {"price": e, "total": e, "buy": e, "sell": e}
        lo, hi = int(self._meta[_LO]), int(self._meta[_HI])
        v = self._vol[:, lo : hi + 1]
        return {
            "price": np.arange(lo + self._base, hi + 1 + self._base, dtype=np.int64),
            "total": v[_TOT].copy(),
            "buy": v[_BUY].copy(),
            "sell": v[_SELL].copy(),
        }

    @property
    def poc(self) -> int | None:
        """Point of control in ticks (tie rule in the module docstring); None when empty."""
        if self._meta[_COUNT] == 0:
            return None
        return int(_poc(self._vol[_TOT], self._meta[_LO], self._meta[_HI])) + self._base

    def value_area(self) -> ValueArea | None:
        """POC, VAL, VAH and the volume inside; None when empty. O(levels), one compiled
        call."""
        n, poc, a, b, acc, total = _va_of(self._vol, self._meta, *self._va_args)
        if n == 0:
            return None
        base = self._base
        return ValueArea(poc + base, a + base, b + base, acc, total)

    def top_nodes(self, top: int) -> tuple[list[int], list[int]]:
        """The prices (ticks) of the ``top`` most pronounced HVN and LVN, each list in
        ascending price: the highest (HVN) or lowest (LVN) smoothed volume of :meth:`nodes`,
        the lower price first among equal ones, as ``engine.runner.profile_summary`` chooses them.
        One compiled call. O(levels + nodes^2)."""
        if self._meta[_COUNT] == 0:
            return [], []
        lo = int(self._meta[_LO])
        got = _top_nodes(self._vol[_TOT], lo, int(self._meta[_HI]), self.params.smoothing // 2,
                         self._hvn.numerator, self._hvn.denominator, self._lvn.numerator,
                         self._lvn.denominator, top).tolist()  # fmt: skip
        base, nh = lo + self._base, got[0]
        return [base + k for k in got[2 : 2 + nh]], [base + k for k in got[2 + nh :]]

    def nodes(self) -> ProfileNodes:
        """High- and low-volume nodes, each list in ascending price. O(levels)."""
        if self._meta[_COUNT] == 0:
            return ProfileNodes((), ())
        lo, hi = int(self._meta[_LO]), int(self._meta[_HI])
        h = self.params.smoothing // 2
        out = np.empty((hi - lo + 1, 4), dtype=np.int64)
        rows = _nodes(
            self._vol[_TOT],
            lo,
            hi,
            h,
            self._hvn.numerator,
            self._hvn.denominator,
            self._lvn.numerator,
            self._lvn.denominator,
            out,
        )
        hvn: list[Node] = []
        lvn: list[Node] = []
        for kind, i, j, w in out[:rows].tolist():
            k = lo + (i + j) // 2
            node = Node(
                k + self._base,
                lo + i + self._base,
                lo + j + self._base,
                int(self._vol[_TOT, k]),
                w / (2 * h + 1),
            )
            (hvn if kind == 1 else lvn).append(node)
        return ProfileNodes(tuple(hvn), tuple(lvn))

    def __repr__(self) -> str:
        if self._meta[_COUNT] == 0:
            return "VolumeProfile(empty)"
        return f"VolumeProfile({self.low}..{self.high}, total={self.total}, poc={self.poc})"


@njit(cache=True)
def _first_at_or_after(tr, i0, end):  # type: ignore[no-untyped-def]
    """Index of the first trade from ``i0`` stamped at or after ``end`` (else ``len(tr)``)."""
    for i in range(i0, len(tr)):
        if tr[i]["ts_event"] >= end:
            return i
    return len(tr)


class SessionProfiles:
    """One profile per reset period (session by default), kept for composites.

    ``keep`` bounds how many past periods are kept (None: all). ``update`` is O(trades).
    A trade belongs to the period open when it arrives (see ``analytics.vwap``).
    """

    def __init__(
        self,
        instrument: Instrument | None,
        params: ProfileParams | None = None,
        reset: ResetInterval = ResetInterval.SESSION,
        keep: int | None = None,
    ) -> None:
        self.params = params or ProfileParams()
        self._clock = PeriodClock(instrument, reset)
        self._profiles: dict[int, VolumeProfile] = {}
        self._keep = keep

    def update(self, trades: np.ndarray) -> None:
        clock, n = self._clock, len(trades)
        i = _first_at_or_after(trades, 0, clock.end)
        if i:
            self._profiles[clock.start].update(trades[:i] if i < n else trades)
        while i < n:
            clock.open_at(int(trades[i]["ts_event"]))
            self._profiles[clock.start] = VolumeProfile(self.params)
            if self._keep is not None:
                while len(self._profiles) > self._keep:
                    del self._profiles[next(iter(self._profiles))]
            j = _first_at_or_after(trades, i, clock.end)
            self._profiles[clock.start].update(trades[i:j])
            i = j

    @property
    def current(self) -> VolumeProfile | None:
        """The profile of the period open now (None before any trade)."""
        return self._profiles.get(self._clock.start)

    @property
    def sessions(self) -> Mapping[int, VolumeProfile]:
        """Period start (ns) -> profile, oldest first (read-only mapping; do not mutate)."""
        return MappingProxyType(self._profiles)

    def composite(
        self, last: int | None = None, starts: Iterable[int] | None = None
    ) -> VolumeProfile:
        """Composite of the ``last`` periods, or of the periods starting at ``starts``,
        or of all kept periods."""
        if starts is not None:
            chosen = [self._profiles[s] for s in starts]
        else:
            chosen = list(self._profiles.values())
            if last is not None:
                chosen = chosen[-last:] if last > 0 else []
        return VolumeProfile.composite(chosen, self.params)


def profile_by_session(
    trades: np.ndarray,
    instrument: Instrument | None,
    params: ProfileParams | None = None,
    reset: ResetInterval = ResetInterval.SESSION,
) -> dict[int, VolumeProfile]:
    """Batch: one profile per reset period, keyed by the period's start in ns."""
    sp = SessionProfiles(instrument, params, reset)
    sp.update(trades)
    return dict(sp.sessions)
