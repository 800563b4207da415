"""An answer that goes out as MessagePack has its book and metrics written as MessagePack by the
compiled call (``answer_metrics.book_and_metrics_msgpack``, ``_answer_kernels.ack_msgpack``),
one that goes out as JSON its book as JSON (``_answer_kernels.ack_json_book``): the bytes
msgspec gives for the dicts the other answers carry, on every ESH4 batch (one by one and
coalesced, the ask side removed at the end: nulls), with other depths and bands (more than 15
ratios: a MessagePack array 16), every integer size msgspec picks, prices msgspec writes
plainly, and prices that may not be exact or not plain (the dicts, as before); the
crossed-book checks read the same best prices."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import pytest

from orderflow.analytics.params import VwapParams
from orderflow.engine.pipeline import PipelineParams
from orderflow.protocol import Ack, Batch, Depth, encode
from orderflow.server import answer_metrics as am
from orderflow.server._answer_kernels import _put_int, _put_json_int, _put_json_price
from orderflow.server.hub import Hub
from tests.integration.test_server import esh4_batches
from tests.unit.server.test_answer_numbers import asks_gone


def wire(ack: Ack, encoding: str = "msgpack") -> bytes:
    return encode(msgspec.structs.replace(ack, processing_us=0.0), encoding)


def fed(
    params: PipelineParams | None, batches: list[Batch], encoding: str
) -> tuple[list[Any], int]:
    """Each batch (a list: applied together) through a Hub answering in ``encoding`` and one
    answering dicts: the pairs of acks, and how many came with the book as bytes."""
    fast, slow, out, raw = Hub(params), Hub(params), [], 0
    fast.ack_encoding = encoding
    for run in batches:
        got = fast.apply_many(run, "nt8")
        want = slow.apply_many(run, "nt8")
        for (_, a, _, ea), (_, b, _, eb) in zip(got, want, strict=True):
            assert (ea, eb) == (None, None) and a is not None and b is not None
            out.append((a, b))
            raw += isinstance(a.book, msgspec.Raw) and isinstance(
                a.metrics, msgspec.Raw if encoding == "msgpack" else dict
            )
        assert fast._top == am.book_top(want[-1][1].book)  # type: ignore[union-attr]
    assert [x.detail for x in fast.alerts.items if x.kind != "latency_spike"] == [
        x.detail for x in slow.alerts.items if x.kind != "latency_spike"
    ]
    return out, raw


def test_every_esh4_answer_in_its_encoding_is_the_dicts_bytes() -> None:
    batches = esh4_batches()[0]
    runs = [[b] for b in batches[:200]] + [batches[i : i + 7] for i in range(200, len(batches), 7)]
    runs.append([asks_gone_after(batches)])
    other = PipelineParams(ratio_levels=tuple(range(1, 18)),
                           vwap=VwapParams(multipliers=(0.5, 1.25, 3.0)))  # fmt: skip
    for params, encoding in ((None, "msgpack"), (None, "json"), (other, "msgpack")):
        pairs, raw = fed(params, runs, encoding)
        assert raw == len(pairs) and len(pairs) > 200  # every answer took the compiled way
        for a, b in pairs:
            assert wire(a, encoding) == wire(b, encoding)
        last = pairs[-1][1].metrics
        assert last["mid"] is None and last["bid_ask_ratio"][0]["ratio"] is None


def asks_gone_after(batches: list[Batch]) -> Batch:
    hub = Hub()
    for b in batches:
        hub.apply(b, "nt8")
    return asks_gone(hub, batches[-1])


@pytest.mark.parametrize("edge", [0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32,
                                  2**63 - 1, -1, -32, -33, -128, -129, -32768, -32769,
                                  -(2**31), -(2**31) - 1, -(2**63)])  # fmt: skip
def test_integers_take_msgspecs_sizes(edge: int) -> None:
    for v in {edge, max(-(2**63), edge - 1), min(2**63 - 1, edge + 1)}:
        out = np.zeros(16, np.uint8)
        end = _put_int(out, 0, v)
        assert out[:end].tobytes() == msgspec.msgpack.encode(v)


def test_a_price_that_may_not_be_exact_gets_the_dicts_and_a_crossed_book_is_seen() -> None:
    hubs = Hub(), Hub()
    hubs[0].ack_encoding = "msgpack"
    for hub in hubs:
        for b in esh4_batches()[0][:30]:
            hub.apply(b, "nt8")
    st = hubs[0].find("ESH4")
    assert st is not None
    edge = 2**53 // st.instrument.tick_fixed  # beyond it a product may not be exact
    st.pipeline.book.apply_snapshot([(edge + 1, 3)], [(edge + 2, 4)])
    book, metrics, top = am.book_and_metrics_msgpack(st.instrument, st.pipeline)
    assert (book, metrics) == am.book_and_metrics_read(st.instrument, st.pipeline)
    assert top == (book["bids"][0][0], book["asks"][0][0])  # type: ignore[index]
    acks = []
    for hub in hubs:  # a crossed snapshot: the alert and the risk clock see it both ways
        last = hub.find("ESH4")
        assert last is not None
        px, t = last.instrument.to_price, last.pipeline.last_ts + 1
        snap = Batch(
            "ESH4",
            31,
            snapshot=True,
            depth=[
                Depth(t, "bid", "add", 0, px(19_001), 3),
                Depth(t, "ask", "add", 0, px(19_000), 4),
            ],
        )
        acks.append(hub.apply(snap, "nt8")[0])  # fmt: skip
    assert isinstance(acks[0].book, msgspec.Raw) and wire(acks[0]) == wire(acks[1])
    assert hubs[0]._top == (4750.25, 4750.0)
    kinds = [[a.kind for a in h.alerts.items if a.kind != "latency_spike"] for h in hubs]
    assert kinds[0] == kinds[1] and "crossed_book" in kinds[0]


@pytest.mark.parametrize("seed", [1, 2])
def test_prices_and_sizes_as_json_are_msgspecs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scale = 10**9
    edges = [0, scale // 10_000, 10**15 - 1, scale, 25 * 10**7, 4_785_250_000_000, 10**14]
    prices = edges + [int(x) for x in rng.integers(scale // 10_000, 10**15, 3000)]
    prices += [
        int(10 ** rng.uniform(5, 15)) // 10**k * 10**k for k in range(10) for _ in range(200)
    ]
    out = np.zeros(64, np.uint8)
    for p in prices + [-p for p in prices]:
        end = _put_json_price(out, 0, p)
        assert out[:end].tobytes() == msgspec.json.encode(float(p) / scale), p
    for v in [0, 9, 10, 99, 100, -1, -10, 2**63 - 1, -(2**63), *rng.integers(-(2**62), 2**62, 500)]:
        end = _put_json_int(out, 0, int(v))
        assert out[:end].tobytes() == msgspec.json.encode(int(v))


def test_a_price_not_plain_in_json_gets_the_dicts() -> None:
    hub = Hub()
    for b in esh4_batches()[0][:30]:
        hub.apply(b, "nt8")
    st = hub.find("ESH4")
    assert st is not None
    plain_max = 10**15 // st.instrument.tick_fixed  # from here 16 digits: not written here
    for bids, asks in (([(plain_max, 3)], [(plain_max + 1, 4)]),
                       ([(plain_max - 2, 3)], [(plain_max - 1, 4)])):  # fmt: skip
        st.pipeline.book.apply_snapshot(bids, asks)
        book, metrics, top = am.book_metrics_top(st.instrument, st.pipeline, 10, "json")
        ref = am.book_and_metrics_read(st.instrument, st.pipeline, 10)
        assert isinstance(book, dict) == (bids[0][0] == plain_max)
        assert encode([book, metrics], "json") == encode(list(ref), "json")
        assert top == am.book_top(ref[0])
