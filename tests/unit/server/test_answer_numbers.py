"""An answer's book and metrics read by one compiled call (``server._answer_kernels``) are the
Python read's (``answer_metrics.book_and_metrics_read``): on every ESH4 batch as the bridge
sends it, from the first (an empty side: null mid, microprice and ratios) to the last, with the
default depths and bands and with others (a ratio deeper than the book, bands at half steps),
as Python values and as JSON and MessagePack bytes; a price whose fixed-point product could
pass 2**53 is refused by the call and read the Python way; the arrays the call fills are
reused without a value of one answer reaching the next."""

from __future__ import annotations

from typing import Any

import numpy as np

from orderflow.analytics.params import VwapParams
from orderflow.book.ladder import LadderBook
from orderflow.engine.pipeline import PipelineParams
from orderflow.model.instruments import get_instrument
from orderflow.protocol import Batch, Depth, encode
from orderflow.server import answer_metrics as am
from orderflow.server._answer_kernels import F_ROWS, I_SIZES, INEXACT, OK, ack_numbers
from orderflow.server.hub import Hub
from tests.integration.test_server import esh4_batches


def both(hub: Hub, name: str) -> tuple[Any, Any]:
    st = hub.find(name)
    assert st is not None
    compiled = am._compiled(st.instrument, st.pipeline, am.BOOK_LEVELS)
    assert compiled is not None  # a NinjaTrader ladder: the compiled call answers
    return compiled, am.book_and_metrics_read(st.instrument, st.pipeline, am.BOOK_LEVELS)


def test_every_esh4_book_and_metrics_are_the_python_reads() -> None:
    batches = esh4_batches()[0]
    params = PipelineParams(ratio_levels=(2, 3, 70), vwap=VwapParams(multipliers=(0.5, 1.25, 3.0)))
    seen = {"null_mid": 0, "null_ratio": 0, "bands": 0}
    for hub in (Hub(), Hub(params)):
        for i in range(len(batches) + 1):
            b = batches[i] if i < len(batches) else asks_gone(hub, batches[-1])
            ack, _ = hub.apply(b, "nt8")
            (book, metrics), (ref_book, ref_metrics) = both(hub, ack.instrument)
            assert (book, metrics) == (ref_book, ref_metrics) == (ack.book, ack.metrics)
            for encoding in ("json", "msgpack"):
                assert encode([book, metrics], encoding) == encode([ref_book, ref_metrics],
                                                                    encoding)  # fmt: skip
            seen["null_mid"] += metrics["mid"] is None
            seen["null_ratio"] += any(r["ratio"] is None for r in metrics["bid_ask_ratio"])
            seen["bands"] += len(metrics["vwap_bands"])
    # the nulls were met (the ask side removed at the end), the bands were built
    assert seen["null_mid"] == seen["null_ratio"] == 2
    assert seen["bands"] > 3 * len(batches)


def asks_gone(hub: Hub, last: Batch) -> Batch:
    """The batch after ``last`` that removes every ask row (the next answer's mid, microprice,
    imbalance and ratios are null)."""
    st = hub.find(last.instrument)
    assert st is not None
    t, px = max([d.t for d in last.depth] + [x.t for x in last.ticks]), st.instrument.to_price
    gone = [Depth(t + 1, "ask", "remove", 0, px(p), q) for p, q in st.pipeline.book.rows(1)]
    return Batch(last.instrument, last.seq + 1, depth=gone)


def ladder(bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> LadderBook:
    book = LadderBook(get_instrument("ES"))
    book.apply_snapshot(bids, asks)
    return book


def call(book: LadderBook, tick_fixed: int) -> tuple[int, list[int], list[float]]:
    out_i, out_f = np.zeros(I_SIZES + 20, np.int64), np.zeros(F_ROWS + 20 + 1 + 2)
    st = np.array([0, 0, 0, 0, 0], np.int64)
    ints, floats = np.zeros((1, 64), np.int64), np.zeros((1, 64))
    ofi = np.zeros((1, 3), np.int64)
    status = ack_numbers(book.row_buffer(), 10, np.array([5], np.int64), ints, floats, ofi, ofi,
                         st, np.array([1.0]), tick_fixed, 0.25, out_i, out_f)  # fmt: skip
    return status, out_i.tolist(), out_f.tolist()


def test_a_price_that_may_not_be_exact_is_left_to_the_python_read() -> None:
    tf = get_instrument("ES").tick_fixed  # 0.25 as fixed point
    edge = 2**53 // tf  # the largest tick whose product is within 2**53
    status, ints, floats = call(ladder([(edge, 3), (edge - 1, 4)], [(edge + 0, 1)]), tf)
    assert status == OK and ints[:2] == [2, 1]
    assert floats[F_ROWS : F_ROWS + 2] == [edge * tf / 1e9, (edge - 1) * tf / 1e9]
    assert ints[I_SIZES : I_SIZES + 2] == [3, 4] and floats[F_ROWS + 10 + 0] == edge * tf / 1e9
    for bad in ([(edge + 1, 3)], [(-edge - 1, 3)]):
        assert call(ladder(bad, [(edge, 1)]), tf)[0] == INEXACT
        assert call(ladder([(edge - 5, 1)], bad), tf)[0] == INEXACT


def test_the_reused_arrays_carry_nothing_from_one_answer_to_the_next() -> None:
    batches = esh4_batches()[0][:60]
    deep, shallow = Hub(), Hub(PipelineParams(ratio_levels=(1,)))
    for b in batches:
        for hub in (deep, shallow):  # alternated: two layouts, and one layout for both hubs
            hub.apply(b, "nt8")
            compiled, ref = both(hub, b.instrument)
            assert compiled == ref
    # a side with fewer rows than the last answer's: no row of the last answer is left over
    st = deep.find(batches[0].instrument)
    assert st is not None
    st.pipeline.book.apply_snapshot([(19_000, 5)], [(19_001, 7), (19_002, 8)])
    book, metrics = am.book_and_metrics(st.instrument, st.pipeline)
    assert book == {"bids": [[4750.0, 5]], "asks": [[4750.25, 7], [4750.5, 8]]}
    assert [r["ratio"] for r in metrics["bid_ask_ratio"]] == [5 / 7, 5 / 15, 5 / 15]
