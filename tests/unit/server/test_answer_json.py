"""An answer that goes out as JSON has its book and metrics written by msgspec's float tokens
and a compiled call around them (``answer_metrics.book_and_metrics_json``,
``_answer_kernels.ack_json``): the bytes msgspec gives for the dicts the other answers carry,
on every ESH4 batch (one by one and coalesced, the ask side removed at the end: nulls), with
other depths and bands; every integer as JSON writes it; a token list that is not the call's
numbers, or a price that may not be exact, gets the dicts."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from orderflow.analytics.params import VwapParams
from orderflow.engine.pipeline import PipelineParams
from orderflow.protocol import Ack, encode
from orderflow.server import answer_metrics as am
from orderflow.server._answer_kernels import INEXACT, OK, _dec, ack_json
from orderflow.server.hub import Hub
from tests.integration.test_server import esh4_batches
from tests.unit.server.test_answer_msgpack import asks_gone_after


def wire(ack: Ack) -> bytes:
    return encode(msgspec.structs.replace(ack, processing_us=0.0), "json")


def test_every_esh4_answer_as_json_is_the_dicts_bytes() -> None:
    batches = esh4_batches()[0]
    runs = [[b] for b in batches[:200]] + [batches[i : i + 7] for i in range(200, len(batches), 7)]
    runs.append([asks_gone_after(batches)])
    other = PipelineParams(ratio_levels=tuple(range(1, 18)),
                           vwap=VwapParams(multipliers=(0.5, 1.25, 3.0)))  # fmt: skip
    for params, some in ((None, runs), (other, runs[:100])):
        fast, slow, n = Hub(params), Hub(params), 0
        fast.acks_as = "json"
        for run in some:
            got, want = fast.apply_many(run, "nt8"), slow.apply_many(run, "nt8")
            for (_, a, _, ea), (_, b, _, eb) in zip(got, want, strict=True):
                assert (ea, eb) == (None, None) and a is not None and b is not None
                assert isinstance(a.book, msgspec.Raw) and isinstance(a.metrics, msgspec.Raw)
                assert wire(a) == wire(b)
                n += 1
            assert fast._top == am.book_top(want[-1][1].book)  # type: ignore[union-attr]
        assert n >= 100
        assert [x.detail for x in fast.alerts.items if x.kind != "latency_spike"] == [
            x.detail for x in slow.alerts.items if x.kind != "latency_spike"
        ]
        if some is runs:  # the last batch removed every ask
            last = msgspec.json.decode(a.metrics)
            assert last["mid"] is None and last["bid_ask_ratio"][0]["ratio"] is None
            assert msgspec.json.decode(a.book)["asks"] == []


@pytest.mark.parametrize("edge", [0, 9, 10, 99, 100, 12345, 10**18 - 1, 10**18, 2**63 - 1,
                                  -1, -9, -10, -(10**18), -(2**63) + 1, -(2**63)])  # fmt: skip
def test_integers_as_json_writes_them(edge: int) -> None:
    for v in {edge, max(-(2**63), edge - 1), min(2**63 - 1, edge + 1)}:
        out = np.zeros(24, np.uint8)
        end = _dec(out, 0, v)
        assert out[:end].tobytes() == msgspec.json.encode(v)


def test_tokens_that_are_not_the_numbers_are_refused() -> None:
    """A token list of another length, or not a list, is INEXACT (the caller answers with the
    dicts): nothing is read past the tokens it has."""
    n, ratios, out_i = 1, np.array([1], dtype=np.int64), np.zeros(8, dtype=np.int64)
    out_i[:2] = 1  # a row a side
    count = am.F_ROWS + 2 * n + 1 + 2
    out = np.zeros(4096, np.uint8)
    good = msgspec.json.encode([1.5] * count)
    assert ack_json(good, count, n, ratios, 0, count - 2, out_i, 0, out)[0] == OK
    for toks in (msgspec.json.encode([1.5] * (count - 1)), msgspec.json.encode([1.5] * (count + 1)),
                 b"", b"[]", b"1.5", good[:-1]):  # fmt: skip
        assert ack_json(toks, count, n, ratios, 0, count - 2, out_i, 0, out)[0] == INEXACT, toks


def test_a_price_that_may_not_be_exact_gets_the_dicts() -> None:
    hub = Hub()
    for b in esh4_batches()[0][:30]:
        hub.apply(b, "nt8")
    st = hub.find("ESH4")
    assert st is not None
    edge = 2**53 // st.instrument.tick_fixed  # beyond it a product may not be exact
    st.pipeline.book.apply_snapshot([(edge + 1, 3)], [(edge + 2, 4)])
    book, metrics, top = am.book_and_metrics_json(st.instrument, st.pipeline)
    assert (book, metrics) == am.book_and_metrics_read(st.instrument, st.pipeline)
    assert top == (book["bids"][0][0], book["asks"][0][0])  # type: ignore[index]
