"""The book and the metrics every answer carries, from one read of the ladder's top rows.

An ack's book (the top rows of each side, exchange prices) and its bid/ask size ratios read
the same rows: they are read once, as Python integers, and both are built from them (the
ratios by :func:`~orderflow.engine.pipeline.size_ratios`, as
:meth:`~orderflow.engine.pipeline.Pipeline.bid_ask_ratios` builds them from the book's depth).

On a NinjaTrader ladder, :func:`book_and_metrics` reads every number of both in one compiled
call (:func:`~orderflow.server._answer_kernels.ack_numbers`) into two arrays kept per
thread, turned into Python numbers by one ``tolist`` each: the same doubles and integers as
the reads here (:func:`metrics`, :func:`~orderflow.server.wire.row_levels`), which stay for
other books, an instrument before its first event group, and a price too large to be exact.
An answer a WebSocket session writes gets them as its encoding's bytes instead
(:func:`book_and_metrics_msgpack`, :func:`book_and_metrics_json`): the bytes msgspec gives
for the dicts, without the dicts.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from orderflow.book.ladder import LadderBook
from orderflow.engine.pipeline import size_ratios
from orderflow.model.dtypes import NO_PRICE
from orderflow.server._answer_kernels import (
    F_ROWS,
    I_SIZES,
    OK,
    ack_json,
    ack_json_numbers,
    ack_msgpack,
    ack_numbers,
    json_capacity,
    msgpack_capacity,
)
from orderflow.server.wire import json_float, row_levels

if TYPE_CHECKING:
    from orderflow.engine.pipeline import Pipeline
    from orderflow.model.instruments import Instrument
    from orderflow.protocol import Encoding

__all__ = ["BOOK_LEVELS", "Top", "book_and_metrics", "book_and_metrics_json",
           "book_and_metrics_msgpack", "book_and_metrics_read", "book_metrics_top", "book_top",
           "metrics"]  # fmt: skip

#: the best bid's and the best ask's price as the answer's book lists them (None: a side is
#: empty): what the server's own readers of an answer look at (the crossed-book checks)
Top = tuple[float, float] | None

#: ladder rows per side in an answer's book
BOOK_LEVELS = 10


def _rows(pipe: Pipeline, n: int) -> tuple[list[int], list[int], list[int], list[int]]:
    rows: tuple[list[int], list[int], list[int], list[int]] = pipe.book.top_lists(n)
    return rows


def _ratios(pipe: Pipeline, rows: tuple[list[int], list[int]] | None) -> list[Any]:
    """The bid/ask size ratios at ``params.ratio_levels`` (``rows`` as :func:`metrics` takes
    them; read here when None)."""
    levels = pipe.params.ratio_levels
    if pipe.book is None or not levels:
        return []
    if rows is None:
        _, bs, _, as_ = _rows(pipe, max(levels))
        rows = bs, as_
    return size_ratios(levels, *rows)


def metrics(inst: Instrument, pipe: Pipeline, rows: tuple[list[int], list[int]] | None = None
            ) -> dict[str, Any]:  # fmt: skip
    """An instrument's metrics as every answer carries them (prices in exchange units; empty
    before its first event group). ``rows``: the ladder's bid and ask sizes, best first, at
    least ``max(params.ratio_levels)`` rows or the whole side (read here when None). Each
    reader is read once (``headline()``: the book metrics' rows, the VWAP's sums)."""
    if not pipe.groups:
        return {}
    spread, mid, micro, imbalance, ofi, ofi_sum = pipe.metrics.headline()
    tick = float(inst.tick_size)
    ratio = _ratios(pipe, rows)
    volume, vw, sd = pipe.vwap.headline()
    bands: list[dict[str, Any]] = []
    if volume:
        for k, w in zip(pipe.params.vwap.multipliers, pipe.vwap.params.multipliers, strict=True):
            u, lo = vw + w * sd, vw - w * sd
            bands.append({"k": float(k), "upper": None if u != u else u * tick,
                          "lower": None if lo != lo else lo * tick})  # fmt: skip
    return {
        "spread": None if spread is None else spread * tick,
        "mid": None if mid != mid else mid * tick,
        "microprice": None if micro != micro else micro * tick,
        "imbalance": None if imbalance != imbalance else imbalance,
        "ofi": ofi,
        "ofi_window": ofi_sum,
        "cumulative_delta": pipe.delta.value,
        "vwap": None if vw != vw else vw * tick,
        "vwap_bands": bands,
        "momentum": json_float(pipe.momentum.score),
        "bid_ask_ratio": ratio,
    }


def book_and_metrics(
    inst: Instrument, pipe: Pipeline, levels: int = BOOK_LEVELS
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An answer's ``book`` (the top ``levels`` rows a side) and ``metrics``, from one read
    of the ladder (on a NinjaTrader ladder with event groups: one compiled call)."""
    got = _compiled(inst, pipe, levels)
    return got if got is not None else book_and_metrics_read(inst, pipe, levels)


def book_and_metrics_read(
    inst: Instrument, pipe: Pipeline, levels: int = BOOK_LEVELS
) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`book_and_metrics` read in Python: the ladder's top rows as Python integers,
    :func:`metrics` from them (any book; the reference of the compiled read)."""
    n = max(levels, max(pipe.params.ratio_levels, default=0))
    bp, bs, ap, as_ = _rows(pipe, n)
    tf = inst.tick_fixed
    book = {"bids": row_levels(bp[:levels], bs[:levels], tf),
            "asks": row_levels(ap[:levels], as_[:levels], tf)}  # fmt: skip
    return book, metrics(inst, pipe, (bs, as_))


class _Layout:
    """The compiled read's fixed inputs and its output arrays, for one shape of answer."""

    __slots__ = ("bands", "exact", "k", "keys", "levels", "nb", "out_b", "out_bv", "out_f",
                 "out_i", "out_j", "out_jb", "out_jbv", "owners", "ratio_levels", "ratios",
                 "tail")  # fmt: skip

    def __init__(self, levels: int, ratio_levels: tuple[int, ...], ks: tuple[float, ...],
                 widths: tuple[float, ...], owners: tuple[Any, ...] = ()) -> None:  # fmt: skip
        self.levels = levels
        self.ratio_levels = ratio_levels
        self.ratios = np.asarray(ratio_levels, dtype=np.int64)
        self.keys = tuple(float(k) for k in ks)
        #: the compiled ratios count rows as the Python slices do only for depths of 1 or more
        self.exact = all(n >= 1 for n in ratio_levels) and len(ks) == len(widths)
        self.out_i = np.zeros(I_SIZES + 2 * levels, dtype=np.int64)
        self.out_f = np.zeros(F_ROWS + 2 * levels + len(ratio_levels) + 2 * len(widths))
        self.nb = len(widths)
        self.k = np.asarray(self.keys, dtype=np.float64)
        self.out_b = np.zeros(msgpack_capacity(levels, len(ratio_levels), len(widths)),
                              dtype=np.uint8)  # fmt: skip
        self.bands = F_ROWS + 2 * levels + len(ratio_levels)
        #: a JSON answer's numbers: ``out_f``'s, then the spread in price units, the
        #: momentum's score and the bands' ``k`` (:func:`._answer_kernels.ack_json_numbers`)
        self.tail = len(self.out_f)
        self.out_j = np.zeros(self.tail + 2 + len(self.keys))
        self.out_j[self.tail + 2 :] = self.keys
        self.out_jb = np.zeros(json_capacity(levels, len(ratio_levels), len(widths)),
                               dtype=np.uint8)  # fmt: skip
        #: the two byte buffers as memoryviews: an answer's bytes are sliced from these (a
        #: memoryview's slice costs less than an array's on a cold cache; the same bytes)
        self.out_bv, self.out_jbv = self.out_b.data, self.out_jb.data
        #: the parameter objects the layout was made from: kept alive, so the ids that key it
        #: are never another object's while it is cached
        self.owners = owners


_local = threading.local()
#: a tick size (the instrument's decimal string) as the float the metrics scale by
_TICKS: dict[str, float] = {}


def _layout(levels: int, pipe: Pipeline) -> _Layout:
    """This thread's :class:`_Layout` for ``pipe``'s answers (output arrays are reused by the
    next call on the same thread: the caller turns them into Python numbers at once). Found
    by the identity of the pipeline's (frozen) parameters, made from their values."""
    params, vparams = pipe.params, pipe.vwap.params
    ident = (levels, id(params), id(vparams))
    cache: dict[Any, _Layout] | None = getattr(_local, "layouts", None)
    if cache is None:
        cache = _local.layouts = {}
    lay = cache.get(ident)
    if lay is None:
        if len(cache) >= 64:
            cache.clear()
        lay = cache[ident] = _Layout(levels, params.ratio_levels, params.vwap.multipliers,
                                     vparams.multipliers, (params, vparams))  # fmt: skip
    return lay


def _exact_layout(levels: int, pipe: Pipeline) -> _Layout | None:
    """The compiled read's :class:`_Layout` where it can answer: a NinjaTrader ladder with
    event groups, and settings whose products stay exact; else None (the Python read)."""
    if type(pipe.book) is LadderBook and pipe.groups:
        lay = _layout(levels, pipe)
        if lay.exact:
            return lay
    return None


def _sources(inst: Instrument, pipe: Pipeline) -> tuple[Any, Any, Any, Any, Any, Any, int, float]:
    """The compiled read's arguments after the ladder's: the book metrics' headline arrays,
    the VWAP's sums and band widths, the tick as a fixed-point integer and as a double."""
    m_ints, m_floats, ofi, ofi_sum = pipe.metrics.headline_arrays()
    vst, widths = pipe.vwap.sums()
    size = inst.tick_size
    tick = _TICKS.get(size)
    if tick is None:
        tick = _TICKS[size] = float(size)
    return m_ints, m_floats, ofi, ofi_sum, vst, widths, inst.tick_fixed, tick


def _compiled(
    inst: Instrument, pipe: Pipeline, levels: int
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """:func:`book_and_metrics` from one compiled call (None: another book, no event group
    yet or a price that may not be exact: read the Python way)."""
    lay = _exact_layout(levels, pipe)
    if lay is None:
        return None
    out_i, out_f, src = lay.out_i, lay.out_f, _sources(inst, pipe)
    tick = src[-1]
    if ack_numbers(pipe.book.row_buffer(), levels, lay.ratios, *src, out_i, out_f) != OK:
        return None
    fi, ff = out_i.tolist(), out_f.tolist()
    nb, na, b0, r0, k0 = fi[0], fi[1], F_ROWS + levels, F_ROWS + 2 * levels, lay.bands
    a0 = I_SIZES + levels
    # each row a list [price, size], made in C
    bid_p, bid_q = ff[F_ROWS : F_ROWS + nb], fi[I_SIZES : I_SIZES + nb]
    book = {
        "bids": list(map(list, zip(bid_p, bid_q, strict=True))),
        "asks": list(map(list, zip(ff[b0 : b0 + na], fi[a0 : a0 + na], strict=True))),
    }
    spread, mid, micro, imbalance, vw = fi[2], ff[0], ff[1], ff[2], ff[3]
    ratio = [{"levels": n, "ratio": None if x != x else x}
             for n, x in zip(lay.ratio_levels, ff[r0:k0], strict=True)]  # fmt: skip
    bands: list[dict[str, Any]] = []
    if fi[5]:  # the VWAP's volume
        up, low = ff[k0 : k0 + lay.nb], ff[k0 + lay.nb : k0 + 2 * lay.nb]
        bands = [{"k": k, "upper": None if u != u else u, "lower": None if lo != lo else lo}
                 for k, u, lo in zip(lay.keys, up, low, strict=True)]  # fmt: skip
    score = pipe.momentum.score
    return book, {
        "spread": None if spread == NO_PRICE else spread * tick,
        "mid": None if mid != mid else mid,
        "microprice": None if micro != micro else micro,
        "imbalance": None if imbalance != imbalance else imbalance,
        "ofi": fi[3],
        "ofi_window": fi[4],
        "cumulative_delta": pipe.delta.value,
        "vwap": None if vw != vw else vw,
        "vwap_bands": bands,
        "momentum": None if score != score else score,  # wire.json_float, inline
        "bid_ask_ratio": ratio,
    }


def book_top(book: dict[str, Any]) -> Top:
    """:data:`Top` of an answer's ``book`` dict."""
    bids, asks = book["bids"], book["asks"]
    return (bids[0][0], asks[0][0]) if bids and asks else None


def book_and_metrics_msgpack(
    inst: Instrument, pipe: Pipeline, levels: int = BOOK_LEVELS
) -> tuple[msgspec.Raw, msgspec.Raw, Top] | tuple[dict[str, Any], dict[str, Any], Top]:
    """:func:`book_and_metrics` for an answer that goes out as MessagePack: on a NinjaTrader
    ladder with event groups, the book and the metrics as the MessagePack bytes msgspec
    gives for those dicts, written by one compiled call (no Python object per number), with
    the book's :data:`Top`; else (another book, before the first event group, a price that
    may not be exact) the dicts."""
    lay = _exact_layout(levels, pipe)
    if lay is not None:
        out_i, out_f, out_b = lay.out_i, lay.out_f, lay.out_b
        status, book_end, end = ack_msgpack(
            pipe.book.row_buffer(), levels, lay.ratios, *_sources(inst, pipe), out_i, out_f,
            lay.k, pipe.delta.value, pipe.momentum.score, out_b,
        )  # fmt: skip
        if status == OK:
            return _written(lay.out_bv, book_end, end, out_f, out_i, levels)
    return _dicts(inst, pipe, levels)


def _written(out_b: memoryview, book_end: int, end: int, out_f: np.ndarray, out_i: np.ndarray,
             levels: int) -> tuple[msgspec.Raw, msgspec.Raw, Top]:  # fmt: skip
    """The book (``out_b[:book_end]``) and the metrics (``out_b[book_end:end]``) a compiled
    call wrote (``out_b``: its byte buffer's memoryview), as ``msgspec.Raw``, with the book's
    :data:`Top` from the read's doubles (``out_f``) and counts (``out_i``)."""
    top = (float(out_f[F_ROWS]), float(out_f[F_ROWS + levels])) if out_i[0] and out_i[1] else None
    return msgspec.Raw(out_b[:book_end].tobytes()), msgspec.Raw(out_b[book_end:end].tobytes()), top


#: msgspec's JSON of a list of doubles: each as msgspec writes it in any answer (NaN: null)
_JSON_TOKENS = msgspec.json.Encoder()


def book_and_metrics_json(
    inst: Instrument, pipe: Pipeline, levels: int = BOOK_LEVELS
) -> tuple[msgspec.Raw, msgspec.Raw, Top] | tuple[dict[str, Any], dict[str, Any], Top]:
    """:func:`book_and_metrics` for an answer that goes out as JSON: on a NinjaTrader ladder
    with event groups, the book and the metrics as the JSON msgspec gives for those dicts,
    each double written by msgspec (one list of the compiled read's doubles, encoded once) and
    the rest around them by a compiled call (no Python list or dict per row, band or ratio),
    with the book's :data:`Top`; else the dicts (as :func:`book_and_metrics_msgpack`)."""
    lay = _exact_layout(levels, pipe)
    if lay is not None:
        out_i, out_j, tail = lay.out_i, lay.out_j, lay.tail
        if ack_json_numbers(pipe.book.row_buffer(), levels, lay.ratios, *_sources(inst, pipe),
                            out_i, out_j, tail, pipe.momentum.score) == OK:  # fmt: skip
            toks = _JSON_TOKENS.encode(out_j.tolist())
            status, book_end, end = ack_json(
                toks, len(out_j), levels, lay.ratios, lay.nb, tail, out_i, pipe.delta.value,
                lay.out_jb,
            )  # fmt: skip
            if status == OK:
                return _written(lay.out_jbv, book_end, end, out_j, out_i, levels)
    return _dicts(inst, pipe, levels)


def book_metrics_top(
    inst: Instrument, pipe: Pipeline, levels: int, encoding: Encoding | None
) -> tuple[Any, Any, Top]:
    """An answer's ``book`` and ``metrics`` with the book's :data:`Top`: the dicts
    (``encoding`` None), or for an answer that goes out in ``encoding`` its bytes where the
    compiled calls write them (:func:`book_and_metrics_msgpack`,
    :func:`book_and_metrics_json`; ``msgspec.Raw``, which msgspec's encoder of that format
    copies as they are)."""
    if encoding == "msgpack":
        return book_and_metrics_msgpack(inst, pipe, levels)
    if encoding == "json":
        return book_and_metrics_json(inst, pipe, levels)
    return _dicts(inst, pipe, levels)


def _dicts(
    inst: Instrument, pipe: Pipeline, levels: int
) -> tuple[dict[str, Any], dict[str, Any], Top]:
    """:func:`book_and_metrics` with the book's :data:`Top`."""
    book, metrics = book_and_metrics(inst, pipe, levels)
    return book, metrics, book_top(book)
