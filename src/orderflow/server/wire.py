"""Wire to domain: what the bridge sends, as the engine's arrays and numbers, and back.

Market data: a batch's depth events (a list or columns) and prints become the engine's
``NT_DEPTH_DTYPE`` and ``TRADE_DTYPE`` arrays with prices in exact ticks; a price off the
instrument's grid, or implausibly far from the last price seen, refuses the whole batch with a
:class:`RequestError` naming the event (nothing applied). Ladder rows and metrics go back as
exchange prices and JSON numbers.
"""

from __future__ import annotations

import time
from collections import Counter
from itertools import chain
from typing import Any, Protocol

import msgspec
import numpy as np

from orderflow.analytics.trades import AggressorClassifier
from orderflow.core.errors import RequestError
from orderflow.core.units import (
    PRICE_SCALE,
    first_implausible,
    floats_to_ticks,
    floats_to_ticks_or_none,
)
from orderflow.model.dtypes import NO_PRICE, NT_DEPTH_DTYPE, TRADE_DTYPE
from orderflow.model.enums import Flags, NtOperation, Side
from orderflow.model.instruments import Instrument
from orderflow.protocol import Batch, DepthColumns

__all__ = [
    "MAX_ABS_TICKS",
    "ConversionUndo",
    "MarketState",
    "convert_batch",
    "convert_columns_run",
    "json_float",
    "price_levels",
    "undo_conversion",
    "undo_of",
]

# ---- Market data ---------------------------------------------------------------------------

_OPS = {"add": int(NtOperation.ADD), "update": int(NtOperation.UPDATE),
        "remove": int(NtOperation.REMOVE)}  # fmt: skip
_SIDES = {"bid": int(Side.BID), "ask": int(Side.ASK)}
_LAST, _RESET = int(Flags.LAST), int(Flags.RESET)
_REMOVE = _OPS["remove"]
#: (side, op) of a depth event -> side << 2 | op
_OP_OF = np.zeros(256, dtype=np.int8)  # a column's character -> the engine's code
_OP_OF[[ord("a"), ord("u"), ord("r")]] = [_OPS["add"], _OPS["update"], _OPS["remove"]]
_SIDE_OF = np.zeros(256, dtype=np.int8)
_SIDE_OF[[ord("b"), ord("a")]] = [_SIDES["bid"], _SIDES["ask"]]
_CODES = {(s, o): (sv << 2) | ov for s, sv in _SIDES.items() for o, ov in _OPS.items()}
_EXACT = 1 << 53
#: no price beyond this many ticks from zero (keeps every tick index far from int64 overflow)
MAX_ABS_TICKS = 1 << 40


class MarketState(Protocol):
    """What converting a batch reads and changes of an instrument's state: its instrument,
    the aggressor classifier, the rejection counts and the plausibility reference (the
    server's ``InstrumentState``)."""

    instrument: Instrument
    classifier: AggressorClassifier
    rejected: Counter[str]
    ref_ticks: int | None


def convert_batch(st: MarketState, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
    """Depth events and prints as the engine's arrays, prices in exact ticks; a price off
    the grid or implausibly far from the last one refuses the whole batch, naming the
    event. One comprehension per column (attribute reads are cheap; numpy's conversion of
    a list of tuples into a structured array is not), the side and operation of an event
    in one dict lookup, and the checks in compiled passes."""
    now = time.time_ns()
    ev = batch.depth
    n = len(ev)
    if batch.columns is not None:
        depth = _depth_columns(st, batch, now)
        n = len(depth)
    else:
        depth = np.zeros(n, dtype=NT_DEPTH_DTYPE)
    if n and batch.columns is None:
        price = _to_ticks(st, [e.price for e in ev], "depth")
        code = np.array([_CODES[e.side, e.op] for e in ev], dtype=np.int8)
        op = code & 3
        keep = op != _REMOVE
        if not batch.snapshot:
            _check_plausible(st, price, "depth", keep)
        depth["price"] = price
        depth["operation"] = op
        depth["side"] = code >> 2
        depth["ts_event"] = np.array([e.t for e in ev], dtype=np.int64)
        depth["ts_recv"] = now
        depth["sequence"] = batch.seq
        depth["size"] = np.array([e.size for e in ev], dtype=np.int64)
        depth["position"] = np.array([e.pos for e in ev], dtype=np.int32)
        flags = depth["flags"]
        resets = [e.reset for e in ev]
        if True in resets:
            flags[np.array(resets, dtype=np.bool_)] = _RESET
        if not batch.snapshot:
            flags[-1] |= _LAST
    ticks_in = batch.ticks
    m = len(ticks_in)
    trades = np.zeros(m, dtype=TRADE_DTYPE)
    if m:
        # prices, bids and asks in one pass: a print off the grid refuses the batch, a
        # missing (None: NaN) or off-grid quote is NO_PRICE (it only steers the aggressor)
        nan = float("nan")
        prices = [t.price for t in ticks_in]
        quotes = [nan if q is None else q for t in ticks_in for q in (t.bid, t.ask)]
        allt, ok = floats_to_ticks_or_none(np.array(prices + quotes), st.instrument.tick_fixed)
        if not ok[:m].all():
            bad = int(np.flatnonzero(~ok[:m])[0])
            _off_tick(st, "ticks", bad, prices[bad])
        price = allt[:m]
        _check_plausible(st, price, "ticks", None)
        q = np.where(ok[m:], allt[m:], NO_PRICE)
        trades["price"] = price
        trades["ts_event"] = np.array([t.t for t in ticks_in], dtype=np.int64)
        trades["ts_recv"] = now
        trades["sequence"] = batch.seq
        trades["size"] = np.array([t.size for t in ticks_in], dtype=np.int64)
        trades["side"] = st.classifier.classify(price, q[0::2], q[1::2])
        st.ref_ticks = int(price[-1])
    elif n:
        kept = np.flatnonzero(depth["operation"] != _REMOVE)
        if len(kept):
            st.ref_ticks = int(depth["price"][kept[-1]])
    return depth, trades


def convert_columns_run(st: MarketState, run: list[Batch]) -> tuple[np.ndarray, np.ndarray] | None:
    """A run of batches that all carry depth as columns, converted in one pass over the
    joined columns (each batch's events keep its sequence number and end in a boundary).
    None when they do not all have columns or when the joined conversion refuses anything:
    then each is converted on its own, which names the batch and event at fault (the
    counters and the plausibility reference are put back first)."""
    cols = [b.columns for b in run]
    if any(c is None or c.reset for c in cols):
        return None
    lens = np.array([len(c.t) for c in cols if c is not None], dtype=np.int64)
    joined = msgspec.structs.replace(
        run[-1],
        ticks=[t for b in run for t in b.ticks],
        columns=DepthColumns(
            t=list(chain.from_iterable(c.t for c in cols if c is not None)),
            side="".join(c.side for c in cols if c is not None),
            op="".join(c.op for c in cols if c is not None),
            pos=list(chain.from_iterable(c.pos for c in cols if c is not None)),
            price=list(chain.from_iterable(c.price for c in cols if c is not None)),
            size=list(chain.from_iterable(c.size for c in cols if c is not None)),
        ),
    )
    rejected, ref = Counter(st.rejected), st.ref_ticks
    try:
        depth, trades = convert_batch(st, joined)
    except RequestError:
        st.rejected, st.ref_ticks = rejected, ref
        return None
    ends = np.cumsum(lens) - 1
    depth["flags"][ends] |= _LAST
    depth["sequence"] = np.repeat([b.seq for b in run], lens)
    if len(trades):
        trades["sequence"] = np.repeat([b.seq for b in run], [len(b.ticks) for b in run])
        if not run[-1].ticks:  # the plausibility reference is the last batch's, as one by one
            start = int(ends[-1] - lens[-1] + 1)
            kept = np.flatnonzero(depth["operation"][start:] != _REMOVE)
            if len(kept):
                st.ref_ticks = int(depth["price"][start + kept[-1]])
    return depth, trades


def _to_ticks(st: MarketState, prices: list[float], what: str) -> np.ndarray:
    """Exchange prices to ticks, exactly (one compiled pass); the first price off the grid
    refuses the batch, naming it."""
    inst = st.instrument
    ticks, bad = floats_to_ticks(np.array(prices, dtype=np.float64), inst.tick_fixed)
    if bad >= 0:
        _off_tick(st, what, bad, prices[bad])
    return ticks


def _off_tick(st: MarketState, what: str, i: int, price: float | None) -> None:
    st.rejected["off_tick"] += 1
    field = _price_field(what, i)
    raise RequestError(
        f"{field}: {price} is not on the {st.instrument.tick_size} grid", field=field
    )


def _check_plausible(
    st: MarketState, ticks: np.ndarray, what: str, check: np.ndarray | None
) -> None:
    """Prices (``check`` marks which; None: all) must lie within half the last price seen
    of it (a fat-fingered or corrupt price would otherwise stretch every price-indexed
    array). One compiled pass."""
    ref = st.ref_ticks
    if check is None:
        check = np.ones(len(ticks), dtype=np.bool_)
    i = first_implausible(ticks, check, ref, MAX_ABS_TICKS)
    if i >= 0:
        st.rejected["implausible_price"] += 1
        last = st.instrument.to_price(ref) if ref is not None else "-"
        field = _price_field(what, i)
        raise RequestError(
            f"{field}: {st.instrument.to_price(int(ticks[i]))} is implausibly far "
            f"from the last price {last}",
            field=field,
        )


def _depth_columns(st: MarketState, batch: Batch, now: int) -> np.ndarray:
    """Depth sent as columns, to the engine's array: numpy over whole columns."""
    c = batch.columns
    assert c is not None
    n = len(c.t)
    depth = np.zeros(n, dtype=NT_DEPTH_DTYPE)
    if not n:
        return depth
    price = _to_ticks(st, c.price, "columns.price")
    op = _OP_OF[np.frombuffer(c.op.encode(), dtype=np.uint8)]
    if not batch.snapshot:
        _check_plausible(st, price, "columns.price", op != _REMOVE)
    depth["price"] = price
    depth["operation"] = op
    depth["side"] = _SIDE_OF[np.frombuffer(c.side.encode(), dtype=np.uint8)]
    depth["ts_event"] = c.t
    depth["ts_recv"] = now
    depth["sequence"] = batch.seq
    depth["size"] = c.size
    depth["position"] = c.pos
    flags = depth["flags"]
    if c.reset:
        flags[np.array(c.reset, dtype=np.int64)] = _RESET
    if not batch.snapshot:
        flags[-1] |= _LAST
    return depth


def _price_field(what: str, i: int) -> str:
    """The field of event ``i``'s price: ``depth[3].price``, or ``columns.price[3]``."""
    return f"{what}[{i}]" if what.endswith(".price") else f"{what}[{i}].price"


#: what converting a batch changes before it is applied: the plausibility reference, the
#: aggressor classifier's memory and the rejection counts
ConversionUndo = tuple[int | None, int, int, Counter[str]]


def undo_of(st: MarketState) -> ConversionUndo:
    """What :func:`undo_conversion` puts back."""
    return st.ref_ticks, st.classifier.side, st.classifier.last_price, Counter(st.rejected)


def undo_conversion(st: MarketState, undo: ConversionUndo) -> None:
    """Put back what a conversion changed (the batch is not applied after all)."""
    st.ref_ticks, st.classifier.side, st.classifier.last_price, st.rejected = undo


def price_levels(
    ticks: np.ndarray, sizes: np.ndarray, tick_fixed: int, px: Any
) -> list[list[float | int]]:
    """``[[price, size], ...]`` of one ladder side (sorted), the prices as
    ``Instrument.to_price`` gives them: ``ticks * tick_fixed / PRICE_SCALE`` vectorised is the
    same float (both operands exact below 2**53, one correctly rounded division), else one by
    one."""
    t = ticks.tolist()
    # a ladder side is sorted, so its largest magnitude is at one end
    if t and max(abs(t[0]), abs(t[-1])) * tick_fixed >= _EXACT:
        prices = [px(x) for x in t]
    else:
        prices = (ticks * tick_fixed / PRICE_SCALE).tolist()
    return [[p, q] for p, q in zip(prices, sizes.tolist(), strict=True)]


def json_float(x: float, scale: float = 1.0) -> float | None:
    """A float for JSON: NaN (undefined, e.g. an empty side) becomes None."""
    return None if x != x else x * scale
