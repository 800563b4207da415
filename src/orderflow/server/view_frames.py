"""The pieces of the dashboard's frames, read from an instrument's engine (prices in exchange
units, times ns of the data clock): book, metrics, bars with footprint cells and imbalances,
profile, VWAP bands, cumulative delta, clusters, account, health. See docs/protocol.md
("Viewer stream"). Each is O(what it shows), never O(history)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from orderflow.analytics.footprint import imbalances, stacked_imbalances
from orderflow.engine.runner import profile_summary
from orderflow.model.dtypes import NO_PRICE
from orderflow.model.instruments import get_instrument
from orderflow.server.answers import PROFILE_NODES
from orderflow.server.order_views import order_list
from orderflow.server.view import prices_of
from orderflow.server.view_trades import account_trades
from orderflow.server.wire import json_float

if TYPE_CHECKING:
    from orderflow.server.hub import Hub, InstrumentState

__all__ = [
    "account_view",
    "bar_dict",
    "bar_dicts",
    "bars_between",
    "book_view",
    "closed_bars",
    "delta_view",
    "health_view",
    "profile_view",
    "record",
    "vwap_view",
]

_NO_PRICE = int(NO_PRICE)
_SIDE = {0: "bid", 1: "ask"}


def book_view(st: InstrumentState, levels: int) -> dict[str, Any]:
    """BOOK without ``changes`` (the stream adds those): rows best first, walls."""
    pipe = st.pipeline
    px = st.instrument.to_price
    book = pipe.book
    bp, bs, ap, as_ = book.top_rows(levels)
    walls = [{"price": px(w.price), "side": _SIDE[int(w.side)], "size": int(w.size)}
             for w in pipe.metrics.walls()] if pipe.groups else []  # fmt: skip
    return {
        "bids": [[p, q] for p, q in zip(prices_of(bp, px), bs.tolist(), strict=True)],
        "asks": [[p, q] for p, q in zip(prices_of(ap, px), as_.tolist(), strict=True)],
        "levels": levels,
        "stale": st.stale,
        "walls": walls,
    }


def book_changes(before: dict[str, Any] | None, now: dict[str, Any]) -> list[dict[str, Any]]:
    """Pulling and stacking since the previous frame: every price whose resting size went
    down (``pull``) or up (``stack``), with the change."""
    if before is None:
        return []
    out: list[dict[str, Any]] = []
    for side, key in (("bid", "bids"), ("ask", "asks")):
        if before[key] == now[key]:  # a side that did not move changed nothing
            continue
        old, new = dict(before[key]), dict(now[key])
        for p in sorted(old.keys() | new.keys()):
            d = new.get(p, 0) - old.get(p, 0)
            if d:
                out.append({"price": p, "side": side, "kind": "stack" if d > 0 else "pull",
                            "size": abs(d)})  # fmt: skip
    return out


def bar_dict(st: InstrumentState, rec: Any, cells: np.ndarray, closed: bool,
             vwaps: Mapping[int, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """A BAR: the footprint series' bar record with its cells (``[price, bid, ask]`` low to
    high), its diagonal imbalances (stacked ones marked) and the session VWAP with its bands
    after the last batch that updated it (``vwaps``: the view's, by bar start; null when not
    known). :func:`bar_dicts` of the one bar."""
    return bar_dicts(st, [rec.item()], rec.dtype.names, cells, [len(cells)], closed, vwaps)[0]


def closed_bars(st: InstrumentState, lo: int, hi: int,
                vwaps: Mapping[int, Any] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Closed bars ``lo`` to ``hi`` (excluded) of the first bar series, as :func:`bar_dict`
    makes each: built together (:func:`bar_dicts`) when their cells lie one after another
    in the series' cells, as the series writes them."""
    series = st.pipeline.bars.series[0]
    recs = series.bars()[lo:hi]
    if not len(recs):
        return []
    start, count = recs["cell_start"], recs["cell_count"]
    if len(recs) > 1 and not np.array_equal(start[1:], start[:-1] + count[:-1]):
        return [closed_bar(st, i, vwaps) for i in range(lo, hi)]
    a = int(start[0])
    cells = series.cells()[a : a + int(count.sum())]
    return bar_dicts(st, recs.tolist(), recs.dtype.names, cells, count.tolist(), True, vwaps)


def bar_dicts(st: InstrumentState, rows: list[tuple[Any, ...]], names: Any,
              cells: np.ndarray, counts: list[int], closed: bool,
              vwaps: Mapping[int, Any] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """BARs (:func:`bar_dict`) of bar records (``rows``: each as the record's ``item()``,
    fields ``names``) whose cells are ``counts[k]`` at a time of ``cells``, in turn. The
    cells' columns are read as lists and their prices converted once for every bar, and
    the imbalances found in one call of the footprint's own rule: each bar's prices moved
    apart from the next bar's (no two bars' cells are neighbouring prices), so the rule sees
    each bar alone, as one call per bar would."""
    to_price = st.instrument.to_price
    fp = st.pipeline.params.footprint
    k = len(counts)
    if k > 1 and len(cells):
        ticks = cells["price"]
        apart = cells.copy()
        gap = int(ticks.max()) - int(ticks.min()) + 3
        apart["price"] += np.repeat(np.arange(k, dtype=np.int64) * gap, counts)
        buy, sell = imbalances(apart, fp)
    else:
        buy, sell = imbalances(cells, fp)
    price, bid, ask = cells["price"].tolist(), cells["bid"].tolist(), cells["ask"].tolist()
    prices = prices_of(cells["price"], to_price)
    flagged = np.flatnonzero(buy | sell).tolist()
    buys = sells = None
    if flagged:
        buys, sells = buy.tolist(), sell.tolist()
    tick = float(st.instrument.tick_size)
    ks = st.pipeline.params.vwap.multipliers
    out: list[dict[str, Any]] = []
    f = 0  # the next flagged cell's place in flagged
    a = 0  # this bar's first cell
    for r, n in zip(rows, counts, strict=True):
        e = a + n
        imb: list[dict[str, Any]] = []
        if f < len(flagged) and flagged[f] < e:
            assert buys is not None and sells is not None
            # each side's stacked zones (low, high), as stacked_imbalances finds them (a
            # zone takes stacked_count imbalances of its side at least: fewer, and there is
            # none)
            zones: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])
            if max(sum(buys[a:e]), sum(sells[a:e])) >= fp.stacked_count:
                for side, low, high, _ in stacked_imbalances(cells[a:e], fp).tolist():
                    zones[side].append((low, high))
            while f < len(flagged) and flagged[f] < e:
                j = flagged[f]
                f += 1
                p = price[j]
                for flag, side, own, other, other_j, neighbour, zone in (
                    (buys, "ask", ask, bid, j - 1, p - 1, zones[0]),
                    (sells, "bid", bid, ask, j + 1, p + 1, zones[1]),
                ):
                    if not flag[j]:
                        continue
                    opp = (other[other_j] if a <= other_j < e and price[other_j] == neighbour
                           else 0)  # fmt: skip
                    imb.append({"price": prices[j], "side": side,
                                "ratio": round(own[j] / opp, 4) if opp else None,
                                "stacked": any(lo <= p <= hi for lo, hi in zone),
                                "diagonal": True})  # fmt: skip
        rec = dict(zip(names, r, strict=True))
        poc, start = int(rec["poc"]), int(rec["ts_open"])
        v = vwaps.get(start) if vwaps else None
        out.append({
            "start_ts": start,
            "end_ts": int(rec["ts_close"]),
            "open": to_price(int(rec["open"])),
            "high": to_price(int(rec["high"])),
            "low": to_price(int(rec["low"])),
            "close": to_price(int(rec["close"])),
            "volume": int(rec["volume"]),
            "delta": int(rec["delta"]),
            "poc": None if poc == _NO_PRICE else to_price(poc),
            "closed": closed,
            "cells": [[p, b, q] for p, b, q in zip(prices[a:e], bid[a:e], ask[a:e],
                                                   strict=True)],
            "imbalances": imb,
            "vwap": None if v is None else {"vwap": json_float(v[0], tick), "bands": [
                {"k": float(x), "upper": json_float(u, tick), "lower": json_float(lo, tick)}
                for x, u, lo in zip(ks, v[1], v[2], strict=True)]},
        })  # fmt: skip
        a = e
    return out


def record(rec: Any) -> dict[str, Any]:
    """A bar record's fields as builtin values, read in one call (a NumPy record's fields
    read one at a time cost about 3 us each)."""
    return dict(zip(rec.dtype.names, rec.item(), strict=True))


def closed_bar(
    st: InstrumentState, i: int, vwaps: Mapping[int, Any] | None = None
) -> dict[str, Any]:
    """Closed bar ``i`` of the first bar series."""
    series = st.pipeline.bars.series[0]
    return bar_dict(st, series.bars()[i], series.bar_cells(i), True, vwaps)


def forming_bar(
    st: InstrumentState, rec: Any = None, vwaps: Mapping[int, Any] | None = None
) -> dict[str, Any] | None:
    """The forming bar of the first series (``rec``: its record, when already read)."""
    series = st.pipeline.bars.series[0]
    rec = series.forming() if rec is None else rec
    return None if rec is None else bar_dict(st, rec, series.forming_cells(), False, vwaps)


def bars_between(st: InstrumentState, from_ts: int, to_ts: int, limit: int,
                 vwaps: Mapping[int, Any] | None = None) -> list[Any]:  # fmt: skip
    """BARs (closed, then the forming one) starting in ``[from_ts, to_ts]``, at most ``limit``
    (the latest)."""
    series = st.pipeline.bars.series[0]
    starts = series.bars()["ts_open"]
    a = int(np.searchsorted(starts, from_ts, side="left"))
    b = int(np.searchsorted(starts, to_ts, side="right"))
    out: list[Any] = closed_bars(st, a, b, vwaps)
    f = forming_bar(st, None, vwaps)
    if f is not None and from_ts <= f["start_ts"] <= to_ts:
        out.append(f)
    return out[-limit:] if limit else []


def profile_view(st: InstrumentState) -> dict[str, Any] | None:
    """PROFILE: POC, value area, HVN/LVN and the volume at every price."""
    pipe = st.pipeline
    p = profile_summary(pipe, PROFILE_NODES)
    prof = pipe.profiles.current
    if p is None or prof is None:
        return None
    arr = prof.arrays()
    px = st.instrument.to_price
    levels = [[px(q), v] for q, v in zip(arr["price"].tolist(), arr["total"].tolist(),
                                         strict=True) if v]  # fmt: skip
    return {"poc": p["poc"], "vah": p["vah"], "val": p["val"], "hvn": p["hvn"], "lvn": p["lvn"],
            "levels": levels}  # fmt: skip


def vwap_view(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """VWAP from the answer's metrics."""
    if metrics.get("vwap") is None:
        return None
    return {"vwap": metrics["vwap"], "bands": [
        {"k": b["k"], "upper": b["upper"], "lower": b["lower"]}
        for b in metrics.get("vwap_bands") or []]}  # fmt: skip


def delta_view(st: InstrumentState, forming: Any = None) -> dict[str, Any]:
    """DELTA (``forming``: the forming bar's record, when already read)."""
    pipe = st.pipeline
    f = pipe.bars.series[0].forming() if forming is None else forming
    return {"ts": pipe.last_ts, "cum": int(pipe.delta.value),
            "bar_delta": int(f["delta"]) if f is not None else 0}  # fmt: skip


def account_view(hub: Hub, name: str) -> dict[str, Any] | None:
    """ACCOUNT of instrument ``name`` from the trading engine (the same views as
    /api/positions, /api/orders and /api/risk); None when no trading node exists."""
    trading = hub.trading
    if not trading.clients:
        return None
    positions = [p for p in trading.positions() if _same(p.get("instrument"), name)]
    pos = positions[0] if positions else None
    orders = order_list(trading, hub.outbox)
    working = [{"cid": o["cid"], "side": o["action"], "kind": o["order_type"],
                "qty": o["quantity"], "price": o["limit_price"] or o["stop_price"] or None,
                "state": o["state"]}
               for o in orders if not o["terminal"] and _same(o["instrument"], name)]  # fmt: skip
    book = account_trades(hub)
    trades = book.of(hub, lambda i: _same(i, name))  # the exit reasons first
    fills: list[dict[str, Any]] = []
    px = _pricer(hub, name)
    for node in trading.clients.values():
        for order in node.desk.orders.orders.values():
            if not _same(order.instrument, name):
                continue
            for f in order.fills:
                fills.append({"ts": int(f.t), "side": order.action, "qty": int(f.quantity),
                              "price": px(int(f.price_ticks)), "cid": order.cid,
                              "reason": book.reasons.get(f.execution_id, "")})  # fmt: skip
    fills.sort(key=lambda f: f["ts"])
    reasons: list[str] = []
    kill = halted = False
    for s in trading.status().values():
        risk = s.get("risk") or {}
        kill = kill or bool(risk.get("kill"))
        if risk.get("kill_reason"):
            reasons.append(str(risk["kill_reason"]))
        if risk.get("daily_stop") or risk.get("trailing_breached"):
            halted = True
            reasons.append("daily_stop" if risk.get("daily_stop") else "trailing_drawdown")
    return {
        "account": ",".join(sorted(trading.clients)),
        "position": None if pos is None or not pos["quantity"] else {
            "qty": pos["quantity"], "avg_price": pos["avg_price"],
            "instrument": pos["instrument"]},
        "realised": round(sum(float(p["net_realized"]) for p in positions), 2),
        "open_pnl": round(sum(float(p["unrealized"]) for p in positions), 2),
        "working": working,
        "fills": fills[-50:],
        "trades": trades,
        "risk": {"state": "killed" if kill else "halted" if halted else "ok",
                 "reasons": reasons, "kill": kill},
        "simulated": hub.view.simulated_account,
    }  # fmt: skip


def _pricer(hub: Hub, name: str) -> Any:
    st = hub.find(name)
    if st is None:
        return float
    return st.instrument.to_price


@lru_cache(maxsize=256)
def _key(name: str) -> str:
    try:
        inst = get_instrument(name)
    except Exception:  # a name the instruments table does not know: compared as it is
        return name
    return inst.contract or inst.symbol


def _same(instrument: Any, name: str) -> bool:
    """Whether an order's or position's instrument (any of its names) is ``name``."""
    return isinstance(instrument, str) and _key(instrument) == _key(name)


def health_view(hub: Hub, st: InstrumentState, lag_ms: float | None,
                events_per_s: float) -> dict[str, Any]:  # fmt: skip
    """HEALTH: the feed's lag (``lag_ms``, the caller's: replay pacing, else receipt minus
    event time), stale flags, gaps, the latest alerts, events per second."""
    key = st.pipeline.name
    kind = "replay" if lag_ms is not None else "live"
    if lag_ms is None:
        lag_ms = hub.alerts.offset.get(key, 0) / 1e6
    alerts = [{"ts": a.ts_ns, "level": "warning", "kind": a.kind, "instrument": a.instrument,
               "message": a.detail} for a in list(hub.alerts.items)[-20:]]  # fmt: skip
    return {
        "lag_ms": round(float(lag_ms), 3),
        "lag_kind": kind,
        "stale": st.stale,
        "stale_reason": st.stale_reason or st.pipeline.book.stale_reason,
        "gaps": int(hub.counters.get("gaps", 0)),
        "alerts": alerts,
        "events_per_s": round(events_per_s, 1),
        "wall_ns": time.time_ns(),
    }
