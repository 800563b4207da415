"""An answer's book and metrics are built from one read of the ladder's top rows: on ESH4 as
the bridge sends it (batch by batch, pipelined runs applied together, and a feed with a
refused batch, a ladder-refused event and a sequence gap) every ack encodes to the same bytes,
JSON and MessagePack, as one whose book and metrics are built the reference way (the
pipeline's ``bid_ask_ratios`` over the book's depth, ``price_levels`` of the top rows), and
the refusals name the same fields. The Prometheus children looked up once count the same."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from orderflow.core.errors import RequestError
from orderflow.engine.pipeline import PipelineParams
from orderflow.engine.pipeline import size_ratios as ratios
from orderflow.protocol import Ack, Batch, encode
from orderflow.server.answer_metrics import BOOK_LEVELS, book_and_metrics
from orderflow.server.answer_metrics import metrics as answer_metrics
from orderflow.server.hub import Hub, InstrumentState
from orderflow.server.monitor import Monitor
from orderflow.server.wire import price_levels
from tests.integration.test_server import esh4_batches


def reference_metrics(st: InstrumentState) -> dict[str, Any]:
    """The metrics with the ratios as answers carried them before the one read (the
    pipeline's own ``bid_ask_ratios`` over the book's depth); the other fields are the
    answers' own."""
    pipe = st.pipeline
    if not pipe.groups:
        return {}
    return {**answer_metrics(st.instrument, pipe), "bid_ask_ratio": pipe.bid_ask_ratios()}


def reference_book(st: InstrumentState) -> dict[str, Any]:
    inst = st.instrument
    bp, bs, ap, as_ = st.pipeline.book.top_rows(BOOK_LEVELS)
    tf, px = inst.tick_fixed, inst.to_price
    return {"bids": price_levels(bp, bs, tf, px), "asks": price_levels(ap, as_, tf, px)}


def same_bytes(hub: Hub, ack: Ack) -> None:
    """``ack`` encodes as the one with the reference book and metrics (the state it was built
    from is the hub's now: nothing moves the pipeline between an apply and the next)."""
    st = hub.find(ack.instrument)
    assert st is not None
    ref = msgspec.structs.replace(ack, book=reference_book(st), metrics=reference_metrics(st))
    for encoding in ("json", "msgpack"):
        assert encode(ack, encoding) == encode(ref, encoding)


def renamed(batches: list[Batch], instrument: str) -> list[Batch]:
    return [msgspec.structs.replace(b, instrument=instrument, seq=i)
            for i, b in enumerate(batches, start=1)]  # fmt: skip


def test_every_esh4_answer_is_the_same_bytes_as_the_reference() -> None:
    batches = esh4_batches()[0]
    hub = Hub()
    seen = {"ratios": 0, "none": 0, "metrics": 0}
    for b in batches:
        ack, _ = hub.apply(b, "nt8")
        same_bytes(hub, ack)
        if ack.metrics:
            seen["metrics"] += 1
            r = ack.metrics["bid_ask_ratio"]
            seen["ratios"] += len(r)
            seen["none"] += sum(x["ratio"] is None for x in r)
    assert seen["metrics"] == len(batches) and seen["ratios"] == 3 * len(batches)
    # pipelined: runs of 8 batches applied together, one ack each (the instrument's first
    # run one by one: a run is coalesced only on a ladder the hub already holds)
    together = 0
    run_of = renamed(batches, "MES 03-24")
    for k in range(0, len(batches) - 8, 8):
        outcomes = hub.apply_many(run_of[k : k + 8], "nt8b")
        assert all(error is None and ack is not None for _, ack, _, error in outcomes)
        last = outcomes[-1][1]  # the last answer: built from the state the hub holds now
        assert last is not None
        same_bytes(hub, last)
        together += last.seq > last.first_seq
    assert together >= len(batches) // 8 - 2 and hub.last_seq["nt8b"] == k + 8


def test_refusals_rejections_and_gaps_answer_as_before() -> None:
    batches = renamed(esh4_batches()[0], "NQ 03-24")[:120]
    hub = Hub()
    outcomes: list[tuple[int, Any]] = []
    for i, b in enumerate(batches):
        if i == 100:  # an event at a row the ladder does not have: the ladder refuses it
            d = list(b.depth)
            d[-2] = msgspec.structs.replace(d[-2], op="update", pos=400)
            b = msgspec.structs.replace(b, depth=d)
        elif i == 110:  # a price off the grid: the whole batch is refused, naming the event
            d = list(b.depth)
            d[3] = msgspec.structs.replace(d[3], price=d[3].price + 0.1)
            b = msgspec.structs.replace(b, depth=d)
        elif i == 115:  # lost on the way: the next batch is a gap
            continue
        for _, ack, request, error in hub.apply_many([b], "nt8"):
            outcomes.append((b.seq, error.details.get("field") if error else request))
            if ack is not None:
                same_bytes(hub, ack)
                if i == 100:
                    assert ack.rejected == {"position_out_of_range": 1}
    assert (111, "depth[3].price") in outcomes
    gap = next(req for seq, req in outcomes if seq == 117)
    assert gap.reason == "gap" and (gap.expected_seq, gap.got_seq) == (116, 117)
    with pytest.raises(RequestError):
        hub.apply(b, None, recv_ns=1)  # every time more than a day after receipt


def test_ratios_over_fewer_rows_than_asked_count_the_rows_there_are() -> None:
    assert ratios((1, 5, 10), [3, 4], [2, 0, 6]) == [
        {"levels": 1, "ratio": 1.5},
        {"levels": 5, "ratio": 7 / 8},
        {"levels": 10, "ratio": 7 / 8},
    ]
    assert ratios((1, 2), [5], [0, 4]) == [
        {"levels": 1, "ratio": None},
        {"levels": 2, "ratio": 1.25},
    ]
    assert ratios((), [1], [1]) == []


def test_a_ratio_deeper_than_the_book_reads_as_many_rows_as_it_needs() -> None:
    hub = Hub(PipelineParams(ratio_levels=(1, 12)))
    for b in esh4_batches()[0][:80]:
        ack, _ = hub.apply(b, "nt8")
        same_bytes(hub, ack)
    st = hub.find(ack.instrument)
    assert st is not None
    book, metrics = book_and_metrics(st.instrument, st.pipeline)
    assert len(book["bids"]) == len(book["asks"]) == BOOK_LEVELS
    assert [r["levels"] for r in metrics["bid_ask_ratio"]] == [1, 12]
    assert metrics == reference_metrics(st) == hub.metrics(st)


def test_a_child_looked_up_once_counts_as_labels_does() -> None:
    mon, ref = Monitor(), Monitor()
    for kind, n in [("depth", 100), ("ticks", 7), ("depth", 3)]:
        mon.child(mon.updates, kind).inc(n)
        ref.updates.labels(kind).inc(n)
    assert mon.child(mon.updates, "depth") is mon.updates.labels("depth")

    def counts(m: Monitor) -> list[tuple[str, dict[str, str], float]]:
        return [(x.name, x.labels, x.value) for metric in m.updates.collect()
                for x in metric.samples if x.name.endswith("_total")]  # fmt: skip

    assert (
        counts(mon)
        == counts(ref)
        == [
            ("orderflow_updates_total", {"kind": "depth"}, 103.0),
            ("orderflow_updates_total", {"kind": "ticks"}, 7.0),
        ]
    )
