"""Wire to domain, in one place: what the bridge and the API send, as the engine's values.

Market data: a batch's depth events (a list or columns) and prints become the engine's
``NT_DEPTH_DTYPE`` and ``TRADE_DTYPE`` arrays with prices in exact ticks; a price off the
instrument's grid, or implausibly far from the last price seen, refuses the whole batch with a
:class:`RequestError` naming the event (nothing applied). Ladder rows and metrics go back as
exchange prices and JSON numbers.

NinjaTrader's reports and API commands: order updates, executions, positions and the reconnect
report become the trading layer's structs (prices in ticks, enums, the broker profile's
costs); an API command's body gives checked values or a :class:`RequestError` naming the field.
Every function here is pure.
"""

from __future__ import annotations

import struct
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from itertools import chain
from typing import Any, Protocol

import msgspec
import numpy as np

from orderflow.analytics.trades import AggressorClassifier
from orderflow.core.errors import OrderflowError, RequestError
from orderflow.core.units import (
    PRICE_SCALE,
    first_implausible,
    floats_to_ticks,
    floats_to_ticks_or_none,
)
from orderflow.model.dtypes import NO_PRICE, NT_DEPTH_DTYPE, TRADE_DTYPE
from orderflow.model.enums import Flags, NtOperation, Side
from orderflow.model.instruments import Instrument, get_instrument
from orderflow.protocol import (
    MAX_POSITION,
    MAX_PRICE,
    MAX_SIZE,
    Batch,
    DepthColumns,
    RawRows,
    RawTicks,
    Report,
    Tick,
    column_array,
    column_list,
)
from orderflow.server._wire_kernels import (
    OK,
    RESET_BIT,
    batch_pass,
    packed_pass,
    raw_rows_pass,
    rows_pass,
)
from orderflow.trading.broker import BrokerProfile
from orderflow.trading.money import price_to_ticks_exact
from orderflow.trading.node import BracketLegs
from orderflow.trading.orders import (
    Fill,
    OrderAction,
    OrderEvent,
    OrderState,
    OrderType,
    fill_event,
    order_event,
)
from orderflow.trading.reconcile import BrokerOrder, BrokerPosition, BrokerReport
from orderflow.trading.strategy import split_targets

__all__ = [
    "MAX_ABS_TICKS",
    "BatchReports",
    "Conversion",
    "ConversionUndo",
    "MarketState",
    "batch_reports",
    "body_enum",
    "body_int",
    "body_ticks",
    "bracket_legs",
    "broker_report",
    "commit_conversion",
    "convert_batch",
    "convert_columns_run",
    "convert_exact",
    "fast_conversion",
    "json_float",
    "price_levels",
    "row_levels",
    "undo_conversion",
    "undo_of",
]

# ---- Market data ---------------------------------------------------------------------------

_OPS = {"add": int(NtOperation.ADD), "update": int(NtOperation.UPDATE),
        "remove": int(NtOperation.REMOVE)}  # fmt: skip
_SIDES = {"bid": int(Side.BID), "ask": int(Side.ASK)}
_LAST, _RESET = int(Flags.LAST), int(Flags.RESET)
_REMOVE = _OPS["remove"]
_OP_OF = np.zeros(256, dtype=np.int8)  # a column's character -> the engine's code
_OP_OF[[ord("a"), ord("u"), ord("r")]] = [_OPS["add"], _OPS["update"], _OPS["remove"]]
_SIDE_OF = np.zeros(256, dtype=np.int8)
_SIDE_OF[[ord("b"), ord("a")]] = [_SIDES["bid"], _SIDES["ask"]]
#: a depth event's side and operation as one code, ``side << 2 | op``: two plain lookups
#: (no tuple per event)
_SIDE_CODE = {s: v << 2 for s, v in _SIDES.items()}
#: the code with NinjaTrader's IsReset, ``_CODE[reset][side][op]``: three lookups and no
#: arithmetic per event (the cheapest of the forms measured in a comprehension)
_CODE = {r: {s: {o: v | ov | (RESET_BIT if r else 0) for o, ov in _OPS.items()}
             for s, v in _SIDE_CODE.items()} for r in (False, True)}  # fmt: skip
#: a column's side character -> ``side << 2`` (its operation character: :data:`_OP_OF`)
_COL_SIDE = (_SIDE_OF << 2).astype(np.int8)
#: the same as byte tables: a column's characters become the codes in one ``bytes.translate``
#: each (a third of the time of two numpy lookups)
_SIDE_TABLE, _OP_TABLE = _COL_SIDE.astype(np.uint8).tobytes(), _OP_OF.astype(np.uint8).tobytes()
#: a depth event's record for :func:`._wire_kernels.rows_pass` (time, size, price, position,
#: ``side << 2 | op``, IsReset), and a print's (time, size, price, bid, ask): 8-byte fields
_ROW = struct.Struct("=qqdqqq")
_PRINT = struct.Struct("=qqddd")
#: ``side << 2 | op`` of a row's side and operation (IsReset goes beside it)
_SIDE_OP = _CODE[False]
_NO_INTS = np.empty(0, dtype=np.int64)  # the prints' columns of a batch without prints
_NO_FLOATS = np.empty(0, dtype=np.float64)
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
    event. The columns (as a batch carries them, or one comprehension per field of its
    rows) go through one compiled call for the depth, the prints and the prints' aggressor
    sides (:mod:`._wire_kernels`); anything it cannot prove (a price off the grid or
    implausible, an odd float) is converted the exact way (:func:`convert_exact`), which
    refuses the batch naming the event, or gives the same arrays."""
    fast = fast_conversion(st, batch)
    return commit_conversion(st, fast) if fast is not None else convert_exact(st, batch)


def _convert_fast(st: MarketState, batch: Batch) -> tuple[np.ndarray, np.ndarray] | None:
    """The compiled call, and the state moved; None: not provable there (nothing changed)."""
    fast = fast_conversion(st, batch)
    return commit_conversion(st, fast) if fast is not None else None


#: a batch converted by the compiled call, the state not moved yet (:func:`commit_conversion`):
#: the depth and prints arrays, the prints' quotes in ticks (row 0 the bids, row 1 the asks),
#: whether any depth event is not a remove and the last such one's price, the bid/ask rule's
#: side after the prints, the last print's price (None: the arrays say)
Conversion = tuple[np.ndarray, np.ndarray, np.ndarray, bool, int, int, int | None]
#: no window: every time passes (the caller checked them, ``protocol.check_batch``)
_NO_LO, _NO_HI = -(1 << 63), (1 << 63) - 1
#: packed columns are read as the machine's own numbers by the compiled call
_NATIVE = sys.byteorder == "little"


def fast_conversion(
    st: MarketState, batch: Batch, lo: int = _NO_LO, hi: int = _NO_HI
) -> Conversion | None:
    """The compiled call alone: nothing of ``st`` changes (:func:`commit_conversion` moves
    it). ``lo`` .. ``hi``: the window every depth event's and print's time must lie in
    (``protocol.check_batch``'s; by default none). None: not provable there (a price off the
    grid or implausible, an odd float, a time outside the window)."""
    now = time.time_ns()
    tf, ref = st.instrument.tick_fixed, st.ref_ticks
    has_ref, ref0 = ref is not None, ref if ref is not None else 0
    cl = st.classifier
    bidask = cl.rule == "bidask"
    plausible = not batch.snapshot
    ticks_in = batch.ticks
    m = len(ticks_in)
    nan = float("nan")
    c = batch.columns
    if c is not None and _NATIVE and type(c.t) is bytes and type(c.pos) is bytes and (
            type(c.price) is bytes and type(c.size) is bytes):  # fmt: skip
        # every column packed: their bytes and characters into the compiled call as decoded,
        # and the prints' five fields packed the same way by one struct call
        reset = np.array(c.reset, dtype=np.int64) if c.reset else _NO_INTS
        prints = _packed_prints(ticks_in)
        status, depth, trades, quotes, kept, new_ref, side, last = packed_pass(
            c.t, c.side.encode(), c.op.encode(), c.pos, c.price, c.size, reset, prints, m,
            cl.side, bidask, tf, batch.seq, now, ref0, has_ref, MAX_ABS_TICKS, plausible,
            plausible and len(c.t) > 0, lo, hi,
        )  # fmt: skip
        return None if status != OK else (depth, trades, quotes, kept, new_ref, side, last)
    ev = batch.depth
    if type(ev) is RawRows:
        # rows and prints read from the frame's MessagePack bytes when it was decoded
        # (server.frames); prints as objects (a batch made otherwise) in the same records
        pb = ticks_in.block if type(ticks_in) is RawTicks else _prints_block(ticks_in)
        status, depth, trades, quotes, kept, new_ref, side, last = raw_rows_pass(
            ev.block, pb, cl.side, bidask, tf, batch.seq, now, ref0, has_ref,
            MAX_ABS_TICKS, plausible, plausible, lo, hi,
        )  # fmt: skip
        return None if status != OK else (depth, trades, quotes, kept, new_ref, side, last)
    if c is None and _NATIVE:
        # rows: each event's fields packed as one record by one struct call (a call per
        # event costs less than a comprehension per field over the events, cold)
        n = len(ev)
        pack, so = _ROW.pack, _SIDE_OP
        rows = b"".join([pack(e.t, e.size, e.price, e.pos, so[e.side][e.op], e.reset)
                         for e in ev])  # fmt: skip
        status, depth, trades, quotes, kept, new_ref, side, last = rows_pass(
            rows, n, _packed_prints(ticks_in), m, cl.side, bidask, tf, batch.seq, now, ref0,
            has_ref, MAX_ABS_TICKS, plausible, plausible and n > 0, lo, hi,
        )  # fmt: skip
        return None if status != OK else (depth, trades, quotes, kept, new_ref, side, last)
    if m:
        kt = np.array([k.t for k in ticks_in], dtype=np.int64)
        kprice = np.array([k.price for k in ticks_in], dtype=np.float64)
        ksize = np.array([k.size for k in ticks_in], dtype=np.int64)
        kbid = np.array([nan if k.bid is None else k.bid for k in ticks_in], dtype=np.float64)
        kask = np.array([nan if k.ask is None else k.ask for k in ticks_in], dtype=np.float64)
    else:
        kt = ksize = _NO_INTS
        kprice = kbid = kask = _NO_FLOATS
    if c is not None:
        # packed columns are read in place (np.frombuffer), lists converted
        t, price = column_array(c, "t"), column_array(c, "price")
        size, pos = column_array(c, "size"), column_array(c, "pos")
        code = np.frombuffer(c.side.encode().translate(_SIDE_TABLE), dtype=np.int8) | (
            np.frombuffer(c.op.encode().translate(_OP_TABLE), dtype=np.int8)
        )
        if c.reset:
            code[np.array(c.reset, dtype=np.int64)] |= RESET_BIT
    else:
        ev = batch.depth
        cd = _CODE
        code = np.array([cd[e.reset][e.side][e.op] for e in ev], dtype=np.int8)
        t = np.array([e.t for e in ev], dtype=np.int64)
        price = np.array([e.price for e in ev], dtype=np.float64)
        size = np.array([e.size for e in ev], dtype=np.int64)
        pos = np.array([e.pos for e in ev], dtype=np.int32)
    n = len(t)
    depth = np.zeros(n, dtype=NT_DEPTH_DTYPE)
    trades = np.zeros(m, dtype=TRADE_DTYPE)
    quotes = np.empty((2, m), dtype=np.int64)
    qbid, qask = quotes[0], quotes[1]
    # one compiled call: depth and prints checked and filled, the prints classified
    status, kept, new_ref, side = batch_pass(
        depth, t, code, pos, price, size, trades, kt, kprice, ksize, kbid, kask, qbid, qask,
        cl.side, bidask, tf, batch.seq, now, ref0, has_ref, MAX_ABS_TICKS, plausible,
        plausible and n > 0, lo, hi,
    )  # fmt: skip
    return None if status != OK else (depth, trades, quotes, kept, new_ref, side, None)


def _packed_prints(ticks: Sequence[Tick]) -> bytes:
    """The prints as the compiled passes read them: one record a print, its time and size
    (int64), price, bid and ask (float64; NaN: no quote), in the machine's order (as
    :mod:`._wire_kernels` reads them)."""
    if not ticks:
        return b""
    pack, nan = _PRINT.pack, float("nan")
    return b"".join([pack(k.t, k.size, k.price, nan if k.bid is None else k.bid,
                          nan if k.ask is None else k.ask) for k in ticks])  # fmt: skip


def _prints_block(ticks: Sequence[Tick]) -> np.ndarray:
    """The prints as :func:`._wire_kernels.raw_rows_pass` takes them (one row a print, the
    records of :func:`_packed_prints`), for prints that came as objects."""
    return np.frombuffer(bytearray(_packed_prints(ticks)), np.int64).reshape(-1, 5)


def commit_conversion(st: MarketState, conv: Conversion) -> tuple[np.ndarray, np.ndarray]:
    """A batch checked whole by :func:`fast_conversion`: now the state moves (the
    classifier's memory, the plausibility reference). The depth and prints arrays."""
    depth, trades, quotes, kept, new_ref, side, last = conv
    if len(trades):
        cl = st.classifier
        last = int(trades[-1]["price"]) if last is None else last
        if cl.rule == "bidask":
            cl.side = int(side)
            cl.last_price = last
        else:
            trades["side"] = cl.classify(trades["price"], quotes[0], quotes[1])
        st.ref_ticks = last
    elif kept:
        st.ref_ticks = int(new_ref)
    return depth, trades


def convert_exact(st: MarketState, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
    """:func:`convert_batch` the exact way: every price through the exact conversion where
    the fast one cannot prove it, and a refusal naming the first event at fault. One
    comprehension per column, the side and operation of an event in two plain lookups, the
    checks in compiled passes."""
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
        sc, oc = _SIDE_CODE, _OPS
        code = np.array([sc[e.side] | oc[e.op] for e in ev], dtype=np.int8)
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
    cols = [b.columns for b in run if b.columns is not None]
    if len(cols) < len(run) or any(c.reset for c in cols):
        return None
    lens = np.array([c.n for c in cols], dtype=np.int64)
    joined = msgspec.structs.replace(
        run[-1],
        ticks=[t for b in run for t in b.ticks],
        columns=DepthColumns(
            t=_joined(cols, "t"),
            side="".join(c.side for c in cols),
            op="".join(c.op for c in cols),
            pos=_joined(cols, "pos"),
            price=_joined(cols, "price"),
            size=_joined(cols, "size"),
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


def _joined(cols: list[DepthColumns], name: str) -> Any:
    """One column of several batches: packed ones joined as bytes (no Python number made),
    else as one list."""
    parts = [getattr(c, name) for c in cols]
    if all(isinstance(p, bytes) for p in parts):
        return b"".join(parts)
    return list(chain.from_iterable(column_list(c, name) for c in cols))


def _to_ticks(st: MarketState, prices: list[float] | np.ndarray, what: str) -> np.ndarray:
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
    """Depth sent as columns, to the engine's array: numpy over whole columns; a packed
    column's values held to the bounds a list's get when it is decoded."""
    c = batch.columns
    assert c is not None
    n = c.n
    depth = np.zeros(n, dtype=NT_DEPTH_DTYPE)
    if not n:
        return depth
    if c.packed:
        _check_packed(c)
    price = _to_ticks(st, column_array(c, "price"), "columns.price")
    op = _OP_OF[np.frombuffer(c.op.encode(), dtype=np.uint8)]
    if not batch.snapshot:
        _check_plausible(st, price, "columns.price", op != _REMOVE)
    depth["price"] = price
    depth["operation"] = op
    depth["side"] = _SIDE_OF[np.frombuffer(c.side.encode(), dtype=np.uint8)]
    depth["ts_event"] = column_array(c, "t")
    depth["ts_recv"] = now
    depth["sequence"] = batch.seq
    depth["size"] = column_array(c, "size")
    depth["position"] = column_array(c, "pos")
    flags = depth["flags"]
    if c.reset:
        flags[np.array(c.reset, dtype=np.int64)] = _RESET
    if not batch.snapshot:
        flags[-1] |= _LAST
    return depth


#: a packed column's bounds: those its list form has (``protocol.Depth``), and what fails
_PACKED_BOUNDS = {
    "pos": (0, MAX_POSITION, f"is not a ladder position (0..{MAX_POSITION})"),
    "size": (0, MAX_SIZE, f"is not a size (0..{MAX_SIZE})"),
    "price": (-MAX_PRICE, MAX_PRICE, "is not a finite price within 1e9"),
}


def _check_packed(c: DepthColumns) -> None:
    """The first value of a packed column outside its bounds refuses the batch, naming it
    (``columns.price[3]``); a NaN is outside every bound."""
    for name, (lo, hi, why) in _PACKED_BOUNDS.items():
        if not isinstance(getattr(c, name), bytes):
            continue  # a list was held to them when it was decoded
        a = column_array(c, name)
        bad = np.flatnonzero(~((a >= lo) & (a <= hi)))
        if len(bad):
            i = int(bad[0])
            field = f"columns.{name}[{i}]"
            raise RequestError(f"{field}: {a[i].item()!r} {why}", field=field)


def _price_field(what: str, i: int) -> str:
    """The field of event ``i``'s price: ``depth[3].price``, or ``columns.price[3]``."""
    return f"{what}[{i}]" if what.endswith(".price") else f"{what}[{i}].price"


#: what converting a batch changes before it is applied: the plausibility reference, the
#: aggressor classifier's memory and the rejection counts (a plain dict: taken for every batch,
#: put back only for a refused one, and a Counter's own copy costs ten times a dict's)
ConversionUndo = tuple[int | None, int, int, dict[str, int]]


def undo_of(st: MarketState) -> ConversionUndo:
    """What :func:`undo_conversion` puts back."""
    return st.ref_ticks, st.classifier.side, st.classifier.last_price, dict(st.rejected)


def undo_conversion(st: MarketState, undo: ConversionUndo) -> None:
    """Put back what a conversion changed (the batch is not applied after all)."""
    st.ref_ticks, st.classifier.side, st.classifier.last_price, rejected = undo
    st.rejected = Counter(rejected)


def price_levels(
    ticks: np.ndarray, sizes: np.ndarray, tick_fixed: int, px: Any = None
) -> list[list[float | int]]:
    """``[[price, size], ...]`` of one ladder side, the prices exactly as
    ``Instrument.to_price`` gives them (``px``, kept for callers that pass it): the same
    expression in Python's integers, an exact product and one correctly rounded division. For
    a ladder's few rows this is cheaper than numpy's vectorised arithmetic and its exactness
    check."""
    return row_levels(ticks.tolist(), sizes.tolist(), tick_fixed)


def row_levels(ticks: list[int], sizes: list[int], tick_fixed: int) -> list[list[float | int]]:
    """:func:`price_levels` of rows already read as Python integers."""
    scale = PRICE_SCALE
    return [[t * tick_fixed / scale, q] for t, q in zip(ticks, sizes, strict=True)]


def json_float(x: float, scale: float = 1.0) -> float | None:
    """A float for JSON: NaN (undefined, e.g. an empty side) becomes None."""
    return None if x != x else x * scale


# ---- NinjaTrader's reports and API commands ----------------------------------------------
@dataclass(slots=True)
class BatchReports:
    """A batch's order reports as domain structs; ``unmapped``: those that did not map."""

    orders: list[OrderEvent] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    positions: list[BrokerPosition] = field(default_factory=list)
    unmapped: int = 0
    #: the broker profile has no costs for the executions' instrument: the order updates
    #: apply, then this is raised (nothing after them is converted)
    error: OrderflowError | None = None


def batch_reports(inst: Instrument, batch: Batch, broker: BrokerProfile,
                  account: str) -> BatchReports:  # fmt: skip
    """NinjaTrader's order updates, executions and positions of ``batch`` (instrument
    ``inst``): fees from the broker profile, the commission from the execution or, when
    NinjaTrader reports none, the profile's; a position's average price exact in ticks."""
    out = BatchReports()
    for u in batch.orders:
        try:
            out.orders.append(order_event(inst, u.cid, u.state, u.t, u.quantity, u.filled,
                                          u.limit_price, u.stop_price, u.order_id, u.error,
                                          u.comment))  # fmt: skip
        except (OrderflowError, ValueError):
            out.unmapped += 1
    if batch.executions:
        try:
            costs = broker.costs_for(inst.symbol)
        except OrderflowError as exc:
            out.error = exc
            return out
        fees_per = Decimal(str(costs.exchange_fee_per_side + costs.clearing_fee_per_side
                               + costs.nfa_fee_per_side))  # fmt: skip
        commission_per = Decimal(str(costs.commission_per_side))
        for e in batch.executions:
            commission = (Decimal(str(e.commission)) if e.commission
                          else commission_per * e.quantity)  # fmt: skip
            try:
                out.fills.append(fill_event(inst, e.execution_id, e.cid, e.t, e.price,
                                            e.quantity, e.market_position, commission,
                                            fees_per * e.quantity, account))  # fmt: skip
            except (OrderflowError, ValueError):
                out.unmapped += 1
    key = inst.contract or inst.symbol
    for p in batch.positions:
        qty = -p.quantity if p.market_position == "Short" else p.quantity
        qty = 0 if p.market_position == "Flat" else qty
        try:
            avg = price_to_ticks_exact(inst, p.average_price) if qty else Fraction(0)
        except (OrderflowError, ValueError):
            out.unmapped += 1
            continue
        out.positions.append(BrokerPosition(p.account, key, qty, avg))
    return out


def broker_report(msg: Report, account: str, now: int) -> BrokerReport:
    """NinjaTrader's report after a (re)connect (already checked) as the desk reconciles
    with it; a position without an account is ``account``'s; no time: ``now``."""
    positions = []
    for p in msg.positions:
        inst = get_instrument(p.instrument)
        qty = -p.quantity if p.market_position == "Short" else p.quantity
        if p.market_position == "Flat":
            qty = 0
        avg = price_to_ticks_exact(inst, p.average_price) if qty else Fraction(0)
        key = inst.contract or inst.symbol
        positions.append(BrokerPosition(p.account or account, key, qty, avg))
    orders = []
    for o in msg.orders:
        inst = get_instrument(o.instrument)
        orders.append(BrokerOrder(
            o.cid, inst.contract or inst.symbol, OrderState(o.state), o.quantity, o.filled,
            OrderAction(o.action) if o.action else None,
            OrderType(o.order_type) if o.order_type else None,
            inst.to_ticks(o.limit_price) if o.limit_price else None,
            inst.to_ticks(o.stop_price) if o.stop_price else None,
            o.oco, o.account,
        ))  # fmt: skip
    return BrokerReport(msg.t or now, positions, orders)


def bracket_legs(body: dict[str, Any], action: OrderAction, qty: int) -> BracketLegs:
    """A bracket's legs from the request: ``stop_ticks`` and ``target_ticks``, or
    ``targets_ticks`` with ``target_sizes`` (shares; a scale-out), distances in ticks from
    the entry's first fill."""
    if action not in (OrderAction.BUY, OrderAction.SELL_SHORT):
        raise RequestError("action: a bracket enters with Buy or SellShort", field="action")
    stop_ticks = body_int(body, "stop_ticks")
    targets = body.get("targets_ticks")
    if targets is None:
        return stop_ticks, ((body_int(body, "target_ticks"), qty),)
    sizes = body.get("target_sizes")
    if sizes is None and isinstance(targets, list):
        sizes = [1] * len(targets)
    if (not isinstance(targets, list) or not targets or not isinstance(sizes, list)
            or len(sizes) != len(targets)
            or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0
                       for x in [*targets, *sizes])):  # fmt: skip
        raise RequestError(
            "targets_ticks: positive integers, nearest first, with as many "
            "positive target_sizes (shares)",
            field="targets_ticks",
        )
    counts = split_targets(qty, sizes)
    return stop_ticks, tuple((t, n) for t, n in zip(targets, counts, strict=True) if n)


def body_enum(kind: Any, body: dict[str, Any], name: str) -> Any:
    try:
        return kind(body.get(name))
    except ValueError:
        raise RequestError(f"{name}: required to submit, one of {[str(k) for k in kind]}",
                           field=name) from None  # fmt: skip


def body_int(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise RequestError(f"{name}: a positive integer is required", field=name)
    return value


def body_ticks(inst: Instrument, body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if not value:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise RequestError(f"{name}: a number is expected", field=name)
    try:
        ticks = inst.to_ticks(float(value))
    except (OrderflowError, ValueError) as exc:
        raise RequestError(f"{name}: {exc}", field=name) from None
    if abs(ticks) > MAX_ABS_TICKS:  # no market is there; nor can the journal store it
        raise RequestError(f"{name}: {value} is not a price of {inst.symbol}", field=name)
    return ticks
