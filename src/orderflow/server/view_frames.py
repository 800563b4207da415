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
    "bars_between",
    "book_view",
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
    known). The cells' columns are read as lists once (no NumPy scalar per cell)."""
    to_price = st.instrument.to_price
    fp = st.pipeline.params.footprint
    buy, sell = imbalances(cells, fp)
    price, bid, ask = cells["price"].tolist(), cells["bid"].tolist(), cells["ask"].tolist()
    prices = prices_of(cells["price"], to_price)
    imb: list[dict[str, Any]] = []
    flagged = np.flatnonzero(buy | sell).tolist()
    if flagged:
        buys, sells, n = buy.tolist(), sell.tolist(), len(price)
        # each side's stacked zones (low, high), as stacked_imbalances finds them (a zone
        # takes stacked_count imbalances of its side at least: fewer, and there is none)
        zones: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])
        if max(sum(buys), sum(sells)) >= fp.stacked_count:
            for side, low, high, _ in stacked_imbalances(cells, fp).tolist():
                zones[side].append((low, high))
        for j in flagged:
            p = price[j]
            for flag, side, own, other, other_j, neighbour, zone in (
                (buys, "ask", ask, bid, j - 1, p - 1, zones[0]),
                (sells, "bid", bid, ask, j + 1, p + 1, zones[1]),
            ):
                if not flag[j]:
                    continue
                opp = other[other_j] if 0 <= other_j < n and price[other_j] == neighbour else 0
                imb.append({"price": prices[j], "side": side,
                            "ratio": round(own[j] / opp, 4) if opp else None,
                            "stacked": any(lo <= p <= hi for lo, hi in zone),
                            "diagonal": True})  # fmt: skip
    r = record(rec)
    poc, start = int(r["poc"]), int(r["ts_open"])
    return {
        "start_ts": start,
        "end_ts": int(r["ts_close"]),
        "open": to_price(int(r["open"])),
        "high": to_price(int(r["high"])),
        "low": to_price(int(r["low"])),
        "close": to_price(int(r["close"])),
        "volume": int(r["volume"]),
        "delta": int(r["delta"]),
        "poc": None if poc == _NO_PRICE else to_price(poc),
        "closed": closed,
        "cells": [[p, b, a] for p, b, a in zip(prices, bid, ask, strict=True)],
        "imbalances": imb,
        "vwap": _bar_vwap(st, vwaps.get(start) if vwaps else None),
    }


def record(rec: Any) -> dict[str, Any]:
    """A bar record's fields as builtin values, read in one call (a NumPy record's fields
    read one at a time cost about 3 us each)."""
    return dict(zip(rec.dtype.names, rec.item(), strict=True))


def _bar_vwap(st: InstrumentState, v: Any) -> dict[str, Any] | None:
    if v is None:
        return None
    tick = float(st.instrument.tick_size)
    ks = st.pipeline.params.vwap.multipliers
    return {"vwap": json_float(v[0], tick), "bands": [
        {"k": float(k), "upper": json_float(u, tick), "lower": json_float(lo, tick)}
        for k, u, lo in zip(ks, v[1], v[2], strict=True)]}  # fmt: skip


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
    out: list[Any] = [closed_bar(st, i, vwaps) for i in range(a, b)]
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
