"""An answer that goes out as MessagePack has its book and metrics written as MessagePack by the
compiled call (``answer_metrics.book_and_metrics_msgpack``, ``_answer_kernels.ack_msgpack``):
the bytes msgspec gives for the dicts the other answers carry, on every ESH4 batch (one by
one and coalesced, the ask side removed at the end: nulls), with other depths and bands (more
than 15 ratios: a MessagePack array 16), every integer size msgspec picks, and a price that
may not be exact (the dicts, as before); the crossed-book checks read the same best prices."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import pytest

from orderflow.analytics.params import VwapParams
from orderflow.engine.pipeline import PipelineParams
from orderflow.protocol import Ack, Batch, Depth, encode
from orderflow.server import answer_metrics as am
from orderflow.server._msgpack_kernels import put_int as _put_int
from orderflow.server.hub import Hub
from tests.integration.test_server import esh4_batches
from tests.unit.server.test_answer_numbers import asks_gone


def wire(ack: Ack) -> bytes:
    return encode(msgspec.structs.replace(ack, processing_us=0.0), "msgpack")


def fed(params: PipelineParams | None, batches: list[Batch]) -> tuple[list[Any], int]:
    """Each batch (a list: applied together) through a Hub answering MessagePack and one
    answering dicts: the pairs of acks, and how many came as MessagePack's bytes."""
    fast, slow, out, raw = Hub(params), Hub(params), [], 0
    fast.acks_as = "msgpack"
    for run in batches:
        got = fast.apply_many(run, "nt8")
        want = slow.apply_many(run, "nt8")
        for (_, a, _, ea), (_, b, _, eb) in zip(got, want, strict=True):
            assert (ea, eb) == (None, None) and a is not None and b is not None
            out.append((a, b))
            raw += isinstance(a.book, msgspec.Raw) and isinstance(a.metrics, msgspec.Raw)
        assert fast._top == am.book_top(want[-1][1].book)  # type: ignore[union-attr]
    assert [x.detail for x in fast.alerts.items if x.kind != "latency_spike"] == [
        x.detail for x in slow.alerts.items if x.kind != "latency_spike"
    ]
    return out, raw


def test_every_esh4_answer_as_messagepack_is_the_dicts_bytes() -> None:
    batches = esh4_batches()[0]
    runs = [[b] for b in batches[:200]] + [batches[i : i + 7] for i in range(200, len(batches), 7)]
    runs.append([asks_gone_after(batches)])
    other = PipelineParams(ratio_levels=tuple(range(1, 18)),
                           vwap=VwapParams(multipliers=(0.5, 1.25, 3.0)))  # fmt: skip
    for params in (None, other):
        pairs, raw = fed(params, runs)
        assert raw == len(pairs) and len(pairs) > 200  # every answer took the compiled way
        for a, b in pairs:
            assert wire(a) == wire(b)
            assert encode(a, "json") != b""  # (a JSON client never gets these)
        last = msgspec.msgpack.decode(pairs[-1][0].metrics)
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
    hubs[0].acks_as = "msgpack"
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
