"""Replay a file (or an array) through a :class:`~orderflow.engine.pipeline.Pipeline`, with
progress, and summarise the session the way ``orderflow analyze`` prints it.

Any supported file works: order-by-order (DBN MBO, LOBSTER), price levels (MBP-10, NinjaTrader
depth dumps with their prints), prints only (DBN trades/TBBO, NinjaTrader ticks and Tick Replay)
and ready-made bars (DBN OHLCV, NinjaTrader and CME bar exports: bars and their metrics only,
since a profile, a delta or a signal needs the prints). Prints without an aggressor side are
classified: by the bid/ask rule when quotes came with them, else by the tick rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from orderflow.analytics.bars import UNKNOWN, BarKind, BarSeries, BarSpec
from orderflow.analytics.trades import AggressorClassifier
from orderflow.core.errors import DecodeError, ParameterError
from orderflow.core.time import ns_to_iso
from orderflow.engine.pipeline import BOOK_KINDS, Pipeline, PipelineParams
from orderflow.model.dtypes import NO_PRICE, TRADE_DTYPE
from orderflow.model.enums import Action, Side
from orderflow.model.instruments import Instrument

__all__ = [
    "CHUNK",
    "BarsOnly",
    "bars_summary",
    "profile_summary",
    "run_file",
    "run_stream",
    "summarize",
]

#: records per pipeline call in a replay (the result does not depend on it). A fused call's
#: top-N rows (~0.5 KB a group) are read again by each stage after the book: at 16,384 records
#: they stay in the core's cache between stages, at 65,536 they do not (ESH4: 5-8% less CPU a
#: replay, a quarter of the chunk buffers; docs/performance.md)
CHUNK = 16_384

ProgressFn = Callable[[int, int], None]
#: a trade's ``side`` is its aggressor: BID = a buyer lifted the offer
_AGGRESSOR = {int(Side.BID): "buy", int(Side.ASK): "sell", int(Side.NONE): "none"}


@dataclass(slots=True)
class BarsOnly:
    """A file of ready-made bars: the bar series they form (metrics computed on load)."""

    instrument: Instrument
    source_format: str
    series: BarSeries
    bar_seconds: int


def _stream_trades(stream: Any) -> np.ndarray | None:
    """The prints that came with a book stream (NT dump trades, MBP-10 trade events)."""
    if "trades" in stream.extra:
        return np.asarray(stream.extra["trades"])
    mbp = stream.extra.get("mbp10")
    if mbp is None:
        return None
    ev = mbp.events[mbp.events["action"] == Action.TRADE]
    out = np.zeros(len(ev), dtype=TRADE_DTYPE)
    for k in ("ts_event", "ts_recv", "sequence", "price", "size", "side", "flags"):
        out[k] = ev[k]
    return out


def classify_if_needed(
    trades: np.ndarray, quotes: np.ndarray | None, rule: str = "auto"
) -> tuple[np.ndarray, str]:
    """Prints whose aggressor is unknown get one: ``auto`` uses the bid/ask rule when quotes
    came with them, else the tick rule; ``bidask`` / ``tick`` force a rule (``bidask`` needs
    quotes). Prints that carry the exchange's aggressor keep it."""
    if rule not in ("auto", "bidask", "tick"):
        raise ParameterError(f"aggressor rule must be auto, bidask or tick, not {rule!r}")
    if len(trades) == 0 or np.any(trades["side"] != Side.NONE):
        return trades, "recorded"
    if rule == "bidask" and (quotes is None or len(quotes) == 0):
        raise DecodeError("the bid/ask rule needs quotes and this file has none", field="aggressor")
    if rule != "tick" and quotes is not None and len(quotes):
        i = np.searchsorted(quotes["ts_event"], trades["ts_event"], side="right") - 1
        ok = i >= 0
        bid = np.where(ok, quotes["bid_price"][np.maximum(i, 0)], NO_PRICE)
        ask = np.where(ok, quotes["ask_price"][np.maximum(i, 0)], NO_PRICE)
        return AggressorClassifier("bidask").apply(trades, bid, ask), "bid/ask rule"
    return AggressorClassifier("tick").apply(trades), "tick rule"


def run_stream(
    kind: str,
    array: np.ndarray,
    instrument: Instrument,
    params: PipelineParams | None = None,
    trades: np.ndarray | None = None,
    progress: ProgressFn | None = None,
    chunk: int = CHUNK,
) -> Pipeline:
    """Feed a whole normalised stream through a new pipeline in chunks."""
    pipe = Pipeline(instrument, kind, params)
    n = len(array)
    if kind == "trades":
        for start in range(0, n, chunk):
            pipe.process_trades(array[start : start + chunk])
            if progress is not None:
                progress(min(start + chunk, n), n)
        return pipe
    t_ts = trades["ts_event"] if trades is not None and len(trades) else None
    t_at = 0
    for start in range(0, n, chunk):
        part = array[start : start + chunk]
        prints = None
        if t_ts is not None:
            # prints up to the chunk's last event time belong to its groups
            t_end = int(np.searchsorted(t_ts, part["ts_event"][-1], side="right"))
            prints, t_at = trades[t_at:t_end], t_end  # type: ignore[index]
        pipe.process(part, prints)
        if progress is not None:
            progress(min(start + chunk, n), n)
    return pipe


def run_file(
    path: str | Path,
    params: PipelineParams | None = None,
    instrument: Instrument | None = None,
    progress: ProgressFn | None = None,
    aggressor: str = "auto",
    tz: str | None = None,
) -> tuple[Pipeline | BarsOnly, str]:
    """Load ``path`` and run it; returns the pipeline (or the bars) and the file's format.
    ``aggressor``: how prints without a recorded aggressor are classified (see
    :func:`classify_if_needed`); ``tz``: the zone of a NinjaTrader file's local clock (None:
    the format's default, :func:`orderflow.io.formats.load_stream`)."""
    from orderflow.io.formats import detect_format, load_stream

    # a DBN file names its instruments itself; --instrument then picks one of several
    given = None if detect_format(Path(path)).startswith("dbn:") else instrument
    stream = _one_instrument(load_stream(Path(path), instrument=given, tz=tz), instrument, path)
    kind = stream.kind
    if kind == "bars":
        return _load_bars(stream), stream.source_format
    if kind == "trades":
        trades, rule = classify_if_needed(stream.array, stream.extra.get("quotes"), aggressor)
        pipe = run_stream("trades", trades, stream.instrument, params, progress=progress)
        # a reader that classified its prints itself names its rule (NinjaTrader's database
        # files: the bid/ask rule on each tick's own stored quote)
        pipe.aggressor_rule = stream.extra.get("aggressor_rule", rule)
        return pipe, stream.source_format
    if kind not in BOOK_KINDS:
        raise DecodeError(
            f"{Path(path).name} holds {kind}: analyze needs prints, book data or bars",
            field="file",
        )
    pipe = run_stream(
        kind, stream.array, stream.instrument, params, _stream_trades(stream), progress
    )
    return pipe, stream.source_format


def _one_instrument(stream: Any, wanted: Instrument | None, path: str | Path) -> Any:
    """A stream of one instrument: a file that holds several (a DBN file of ESM4 and NQM4
    bars) is cut to the one asked for, and refused with the list when none was."""
    ids = stream.extra.get("instrument_id")
    if not isinstance(ids, np.ndarray) or len(ids) != len(stream.array):
        return stream
    present = np.unique(ids)
    if len(present) < 2:
        return stream
    known = stream.extra.get("instruments") or {}
    names = {int(i): (known[int(i)].contract or known[int(i)].symbol) if int(i) in known
             else str(int(i)) for i in present}  # fmt: skip
    pick = None
    if wanted is not None:
        for i in present.tolist():
            inst = known.get(int(i))
            if inst is not None and (
                (wanted.contract and inst.contract == wanted.contract)
                or (not wanted.contract and inst.symbol == wanted.symbol)
            ):
                pick = int(i)
    if pick is None:
        raise DecodeError(
            f"{Path(path).name} holds {len(present)} instruments ({', '.join(names.values())}): "
            "name one with --instrument",
            field="instrument",
        )
    keep = ids == pick
    extra = {**stream.extra, "instrument_id": ids[keep]}
    return type(stream)(stream.kind, stream.array[keep], known[pick], stream.source_format, extra)


def _load_bars(stream: Any) -> BarsOnly:
    bars = stream.array
    ts = bars["ts_event"]
    step = int(np.min(np.diff(ts))) if len(ts) > 1 else 60_000_000_000
    seconds = max(1, step // 1_000_000_000)
    series = BarSeries(BarSpec(BarKind.TIME, seconds))
    series.load_bars(bars)
    return BarsOnly(stream.instrument, stream.source_format, series, seconds)


# ---- summaries ---------------------------------------------------------------------------------
def _price(inst: Instrument, ticks: float | None) -> float | None:
    """Ticks (int or float) to the exchange's price; None stays None, NaN becomes None."""
    if ticks is None or ticks != ticks:
        return None
    if float(ticks).is_integer():
        return inst.to_price(int(ticks))
    return float(ticks) * float(inst.tick_size)


def _bar_label(spec: BarSpec) -> str:
    unit = {BarKind.TIME: "s", BarKind.TICK: " ticks", BarKind.VOLUME: " contracts"}
    if spec.kind == BarKind.TIME and spec.size % 60 == 0:
        return f"{spec.size // 60} min"
    if spec.kind == BarKind.RANGE:
        return f"{spec.size} tick range"
    return f"{spec.size}{unit[BarKind(spec.kind)]}"


def _bar_dict(inst: Instrument, row: Any) -> dict[str, Any]:
    return {
        "ts_open": ns_to_iso(int(row["ts_open"])),
        "open": _price(inst, int(row["open"])),
        "high": _price(inst, int(row["high"])),
        "low": _price(inst, int(row["low"])),
        "close": _price(inst, int(row["close"])),
        "volume": int(row["volume"]),
        "delta": None if int(row["delta"]) == UNKNOWN else int(row["delta"]),
        "atr": float(row["atr"]) * float(inst.tick_size),
    }


def summarize(pipe: Pipeline, top: int = 5) -> dict[str, Any]:
    """The session summary: volume, VWAP and bands, profile (POC, value area, nodes),
    cumulative delta, bars per series, top clusters, the book now, signal counts."""
    inst = pipe.instrument

    def px(ticks: float | None) -> float | None:
        return _price(inst, ticks)

    vw = pipe.vwap.value()
    prof = pipe.profiles.current
    vol_cl = sorted(pipe.volume_clusters.clusters(), key=lambda c: -c.volume)[:top]
    liq_cl = sorted(pipe.liquidity_clusters.clusters(), key=lambda c: -c.size)[:top]
    bars = []
    for k, spec in enumerate(pipe.params.bars):
        series = pipe.bars.series[k]
        last = series.last()
        bars.append(
            {
                "series": k,
                "bars": _bar_label(spec),
                "closed": len(series),
                "last": _bar_dict(inst, last) if last is not None else None,
            }
        )
    m = pipe.metrics
    book = None
    if pipe.book is not None and pipe.groups:
        spread = m.spread
        book = {
            "spread": px(spread) if spread is not None else None,
            "mid": px(m.mid),
            "microprice": px(m.microprice),
            "imbalance": m.imbalance,
            "size_ratio": m.size_ratio,
            "bid_ask_ratio": pipe.bid_ask_ratios(),
            "ofi_window": m.ofi_sum,
            "walls": [
                {"side": w.side.name.lower(), "price": px(w.price), "size": w.size}
                for w in m.walls()
            ],
        }
    buy = prof.buy_total if prof is not None else 0
    sell = prof.sell_total if prof is not None else 0
    return {
        "instrument": pipe.name,
        "kind": pipe.kind,
        "aggressor": pipe.aggressor_rule,
        "events": pipe.events,
        "event_groups": pipe.groups,
        "first_ts_event": ns_to_iso(pipe.first_ts) if pipe.first_ts else None,
        "last_ts_event": ns_to_iso(pipe.last_ts) if pipe.last_ts else None,
        "rejected": dict(pipe.rejected),
        "trades": pipe.trades,
        "volume": pipe.volume,
        "session": {
            "start": ns_to_iso(vw.period_start) if vw.volume else None,
            "volume": vw.volume,
            "buy_volume": buy,
            "sell_volume": sell,
        },
        "vwap": {
            "price": px(vw.vwap),
            "std": vw.std * float(inst.tick_size) if vw.volume else None,
            "bands": [
                {"k": k, "upper": px(u), "lower": px(lo)}
                for k, u, lo in zip(pipe.params.vwap.multipliers, vw.upper, vw.lower, strict=True)
            ],
        },
        "profile": profile_summary(pipe, top),
        "cumulative_delta": {
            "final": pipe.delta.value,
            "low": pipe.delta_low,
            "high": pipe.delta_high,
        },
        "bars": bars,
        "momentum": pipe.momentum.score if pipe.groups else None,
        "book": book,
        "volume_clusters": [
            {
                "low": px(c.low),
                "high": px(c.high),
                "volume": c.volume,
                "aggressor": _AGGRESSOR[int(c.side)],
                "strength": round(c.strength, 3),
                "age_s": c.age_ns / 1e9,
            }
            for c in vol_cl
        ],
        "liquidity_clusters": [
            {
                "side": c.side.name.lower(),
                "low": px(c.low),
                "high": px(c.high),
                "size": c.size,
                "orders": c.orders,
                "strength": round(c.strength, 3),
                "age_s": c.age_ns / 1e9,
            }
            for c in liq_cl
        ],
        "orders": _order_stats(pipe),
        "signals": {
            "counts": dict(sorted(pipe.signal_counts.items())),
            "total": len(pipe.signals),
            "accumulated": len(pipe.accumulated),
            "accumulated_long": pipe.accumulated.long,
            "accumulated_short": pipe.accumulated.short,
            "filtered": dict(pipe.accumulator.rejected),
        },
    }


def profile_summary(pipe: Pipeline, top: int = 5) -> dict[str, Any] | None:
    """The session profile now, prices in exchange units: POC, value area (VAL, VAH, its
    volume and share), total volume, and the ``top`` most pronounced HVN and LVN by price;
    None before any print. O(price levels)."""
    prof = pipe.profiles.current
    va = prof.value_area() if prof is not None else None
    if prof is None or va is None:
        return None
    inst = pipe.instrument

    def px(ticks: float | None) -> float | None:
        return _price(inst, ticks)

    nodes = prof.nodes()
    return {
        "poc": px(va.poc),
        "val": px(va.val),
        "vah": px(va.vah),
        "value_area_volume": va.volume,
        "total": va.total,
        "value_area_share": pipe.params.profile.value_area,
        "hvn": _top_nodes(nodes.hvn, px, top, strongest=True) if nodes else [],
        "lvn": _top_nodes(nodes.lvn, px, top, strongest=False) if nodes else [],
    }


def _top_nodes(nodes: Any, px: Callable[[Any], Any], top: int, strongest: bool) -> list[Any]:
    """The ``top`` most pronounced nodes (highest smoothed volume for HVN, lowest for LVN),
    listed by price."""
    chosen = sorted(nodes, key=lambda n: -n.smoothed if strongest else n.smoothed)[:top]
    return [px(n.price) for n in sorted(chosen, key=lambda n: n.price)]


def _order_stats(pipe: Pipeline) -> dict[str, Any] | None:
    """With order ids (L3): cancel-to-trade ratio per side over the detector's window, and
    order lifetimes (birth to full cancel or full fill)."""
    det = pipe.l3
    if det is None:
        return None
    return {
        "cancel_to_trade": {"bid": det.cancel_to_trade(0), "ask": det.cancel_to_trade(1)},
        "lifetimes": det.lifetime_histogram(),
    }


def bars_summary(b: BarsOnly) -> dict[str, Any]:
    """Summary of a bars-only file: what bars can tell without the prints."""
    inst = b.instrument
    bars = b.series.bars()
    name = inst.contract or inst.symbol
    if len(bars) == 0:
        return {"instrument": name, "kind": "bars", "bars": 0}
    return {
        "instrument": name,
        "kind": "bars",
        "bar_seconds": b.bar_seconds,
        "bars": len(bars),
        "first_ts_event": ns_to_iso(int(bars["ts_open"][0])),
        "last_ts_event": ns_to_iso(int(bars["ts_open"][-1])),
        "open": _price(inst, int(bars["open"][0])),
        "high": _price(inst, int(bars["high"].max())),
        "low": _price(inst, int(bars["low"].min())),
        "close": _price(inst, int(bars["close"][-1])),
        "volume": int(bars["volume"].sum()),
        "atr": float(bars["atr"][-1]) * float(inst.tick_size),
        "last": _bar_dict(inst, bars[-1]),
        "note": "ready-made bars: profile, delta, footprint and signals need the prints",
    }
