"""Signal quality, measured: hit rate and forward returns per detector, with 95% intervals.

Definitions (all in event time, prices in ticks):

* **mid path** — ``(best bid + best ask) / 2`` at every recorded event boundary where both sides
  are present and the book is neither crossed nor locked (pre-open boundaries drop out).
* **forward return** of a signal at horizon ``h`` — ``direction * (mid(t + h) - mid(t))``,
  where ``mid(x)`` is the mid of the last valid boundary at or before ``x``. A signal with no
  valid mid at or before ``t``, or whose ``t + h`` lies after the last boundary, is left out at
  that horizon (``n`` counts only the signals measured).
* **hit rate** — ``hits / (hits + misses)`` with a hit a forward return > 0 and a miss < 0;
  ties (0: the mid did not move) are excluded from the rate and reported as ``ties``; the
  95% interval is Wilson's score interval.
* **mean forward return** — over all ``n`` measured signals, ties included as 0; the 95%
  interval is Student's t (``mean +- t(0.975, n-1) * sd / sqrt(n)``; none for n < 2). Signals of
  one detector often overlap in time, so their returns are not independent and these intervals
  are optimistic: read them as a floor on the uncertainty.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from orderflow.book.common import DepthRecord
from orderflow.book.l3 import OrderBook
from orderflow.core.errors import ArgumentError
from orderflow.model.dtypes import NO_PRICE
from orderflow.model.instruments import Instrument
from orderflow.signals.detectors_l2 import L2Params, detect_l2, mbo_trades
from orderflow.signals.detectors_l3 import L3Params, best_before_groups, detect_l3
from orderflow.signals.detectors_pull import PullParams, detect_pull
from orderflow.signals.model import Signal
from orderflow.signals.params import DETECTORS as DETECTORS

__all__ = [
    "EvaluationReport",
    "evaluate",
    "evaluate_stream",
    "format_table",
    "forward_returns",
    "mid_path",
    "t_quantile_975",
]

_NS = 1_000_000_000
_Z975 = 1.959963984540054
# Student's t 0.975 quantiles for 1..30 degrees of freedom (standard table, 3 decimals)
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_quantile_975(dof: int) -> float:
    """Student's t 0.975 quantile: the table up to 30 degrees of freedom, then the
    Cornish-Fisher expansion (Abramowitz & Stegun 26.7.5; error < 1e-4 there)."""
    if dof < 1:
        raise ArgumentError("dof must be >= 1")
    if dof <= len(_T975):
        return _T975[dof - 1]
    z, v = _Z975, float(dof)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / v + g2 / v**2 + g3 / v**3 + g4 / v**4


def _wilson(hits: int, trials: int) -> tuple[float | None, float | None]:
    if trials == 0:
        return None, None
    z, p = _Z975, hits / trials
    den = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / den
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / den
    return centre - half, centre + half


def mid_path(depth: DepthRecord) -> tuple[np.ndarray, np.ndarray]:
    """(times ns, mid in ticks) at every valid boundary (two-sided, not crossed, not locked)."""
    return mid_from_top(depth.ts_event, depth.bid_price[:, 0], depth.ask_price[:, 0])


def mid_from_top(ts: np.ndarray, bid: np.ndarray, ask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(times ns, mid in ticks) from best bid/ask columns, keeping only valid boundaries."""
    ok = (bid != NO_PRICE) & (ask != NO_PRICE) & (bid < ask)
    return ts[ok].astype(np.int64), (bid[ok] + ask[ok]) / 2.0


def forward_returns(
    signals: Sequence[Signal], ts: np.ndarray, mid: np.ndarray, horizons_ns: Sequence[int]
) -> np.ndarray:
    """Signed forward mid moves (ticks), shape ``(signals, horizons)``; NaN where unmeasured."""
    out = np.full((len(signals), len(horizons_ns)), np.nan)
    if len(signals) == 0 or len(ts) == 0:
        return out
    t0 = np.array([s.ts_event for s in signals], dtype=np.int64)
    sign = np.array([s.direction for s in signals], dtype=np.float64)
    i0 = np.searchsorted(ts, t0, side="right") - 1
    have = i0 >= 0
    m0 = np.where(have, mid[np.maximum(i0, 0)], np.nan)
    for k, h in enumerate(horizons_ns):
        th = t0 + int(h)
        i1 = np.searchsorted(ts, th, side="right") - 1
        ok = have & (th <= ts[-1])
        out[:, k] = np.where(ok, sign * (mid[np.maximum(i1, 0)] - m0), np.nan)
    return out


def evaluate(
    signals: Sequence[Signal],
    ts: np.ndarray,
    mid: np.ndarray,
    horizons_s: Sequence[float] = (1, 5, 30, 60),
    detectors: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """One row per (detector, horizon): n, hits, misses, ties, hit rate with its Wilson 95%
    interval, mean forward return (ticks) with its t 95% interval. Detectors in name order
    (``detectors`` adds rows with n = 0 for names that never fired)."""
    horizons_ns = [round(h * _NS) for h in horizons_s]
    fwd = forward_returns(signals, ts, mid, horizons_ns)
    names = sorted({s.detector for s in signals} | set(detectors or ()))
    det = np.array([s.detector for s in signals], dtype=object)
    rows = []
    for name in names:
        mine = fwd[det == name] if len(signals) else fwd[:0]
        for k, h in enumerate(horizons_s):
            x = mine[:, k]
            x = x[~np.isnan(x)]
            n = len(x)
            hits, misses = int((x > 0).sum()), int((x < 0).sum())
            lo, hi = _wilson(hits, hits + misses)
            mean = float(x.mean()) if n else None
            ci_lo = ci_hi = None
            if n >= 2:
                half = t_quantile_975(n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
                ci_lo, ci_hi = mean - half, mean + half  # type: ignore[operator]
            rows.append(
                {
                    "detector": name,
                    "horizon_s": h,
                    "n": n,
                    "hits": hits,
                    "misses": misses,
                    "ties": n - hits - misses,
                    "hit_rate": hits / (hits + misses) if hits + misses else None,
                    "hit_rate_lo": lo,
                    "hit_rate_hi": hi,
                    "mean_ticks": mean,
                    "mean_lo": ci_lo,
                    "mean_hi": ci_hi,
                }
            )
    return rows


def _f(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The evaluation rows as a fixed-width text table for the terminal."""
    head = (
        f"{'detector':<18} {'h(s)':>5} {'n':>5} {'hit%':>6} {'95% CI':>13} {'ties':>5} "
        f"{'mean tk':>8} {'95% CI':>17}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        hr = None if r["hit_rate"] is None else 100 * r["hit_rate"]
        hci = (
            "-"
            if r["hit_rate_lo"] is None
            else f"{100 * r['hit_rate_lo']:.0f}-{100 * r['hit_rate_hi']:.0f}"
        )
        mci = "-" if r["mean_lo"] is None else f"{r['mean_lo']:+.2f}..{r['mean_hi']:+.2f}"
        lines.append(
            f"{r['detector']:<18} {r['horizon_s']:>5g} {r['n']:>5} {_f(hr, '.1f'):>6} "
            f"{hci:>13} {r['ties']:>5} {_f(r['mean_ticks'], '+.3f'):>8} {mci:>17}"
        )
    return "\n".join(lines)


@dataclass(slots=True)
class EvaluationReport:
    """What :func:`evaluate_stream` measured."""

    instrument: str
    events: int
    boundaries: int
    first_ts: int
    last_ts: int
    horizons_s: tuple[float, ...]
    signals: list[Signal]
    rows: list[dict[str, Any]]
    counts: dict[str, int] = field(default_factory=dict)

    def table(self) -> str:
        return format_table(self.rows)


def evaluate_stream(
    mbo_events: np.ndarray,
    instrument: Instrument,
    horizons_s: Sequence[float] = (1, 5, 30, 60),
    l3_params: L3Params | None = None,
    l2_params: L2Params | None = None,
    depth_levels: int = 10,
    pull_params: PullParams | None = None,
) -> EvaluationReport:
    """Replay MBO records through the L3 book (top ``depth_levels`` at every boundary), run the
    L3 detectors on the records and the L2 detectors (pulling/stacking included, whether or
    not ``pull_params.enabled``) on the recorded levels and the prints, and measure every
    detector against the mid path."""
    name = instrument.contract or instrument.symbol
    res = OrderBook(instrument).apply_mbo(mbo_events, record_depth=max(1, depth_levels))
    depth = res.depth
    assert depth is not None
    best = best_before_groups(mbo_events, instrument, depth.bid_price[:, 0], depth.ask_price[:, 0])
    signals = detect_l3(mbo_events, name, l3_params, best=best)
    trades, group = mbo_trades(mbo_events)
    signals += detect_l2(depth, trades, name, l2_params, trade_group=group)
    signals += detect_pull(depth, trades, name, pull_params, trade_group=group)
    signals.sort(key=lambda s: s.ts_event)  # stable: L3 before L2 at equal times
    ts, mid = mid_path(depth)
    rows = evaluate(signals, ts, mid, horizons_s, DETECTORS)
    counts = {d: 0 for d in DETECTORS}
    for s in signals:
        counts[s.detector] = counts.get(s.detector, 0) + 1
    return EvaluationReport(
        instrument=name,
        events=len(mbo_events),
        boundaries=len(depth),
        first_ts=int(depth.ts_event[0]) if len(depth) else 0,
        last_ts=int(depth.ts_event[-1]) if len(depth) else 0,
        horizons_s=tuple(horizons_s),
        signals=signals,
        rows=rows,
        counts=counts,
    )
