"""An answer's clusters and profile read in one compiled pass each, its metrics from one read
of each reader, and the checks and reads skipped while nothing changed (a tracker that found
no cluster and had no material change since is not read), give the same answers as the
reference reads (the trackers' ``clusters()``, the profile's summary, the value area at every
check, each metric's own property and the VWAP's ``value()``): on ESH4 as the bridge
sends it, batch by batch, with a client of coarser bands and state requests, with no refresh
interval, pipelined, and with a refused batch, a ladder-refused event and sequence gaps, every
ack encodes to the same bytes, JSON and MessagePack."""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec
import pytest

from orderflow.protocol import Ack, Batch, State, encode
from orderflow.server import answers
from orderflow.server.answers import InstrumentAnswers
from orderflow.server.hub import Hub
from tests.integration.test_server import esh4_batches
from tests.reference.answers import ReferenceAnswers, metrics_reference


def pair(refresh_ms: float = 30_000.0) -> tuple[Hub, Hub]:
    """A hub answering the fast way, and one answering the reference way."""
    fast, ref = Hub(cluster_refresh_ms=refresh_ms), Hub(cluster_refresh_ms=refresh_ms)
    ref.answers = ReferenceAnswers(refresh_ms)
    return fast, ref


def same(a: Ack | State | None, b: Ack | State | None, hub: Hub | None = None) -> int:
    """``a`` and ``b`` encode to the same bytes (an ack's own timing aside), and ``a``'s
    metrics are the reference's of ``hub``'s state now; 1 when ``a`` carried clusters in full
    (a read was sent), else 0."""
    assert (a is None) == (b is None)
    if a is None or b is None:
        return 0
    if hub is not None:
        st = hub.find(a.instrument)
        assert st is not None
        ref_metrics = metrics_reference(st.instrument, st.pipeline)
        assert a.metrics == ref_metrics
        b = msgspec.structs.replace(b, metrics=ref_metrics)
    if isinstance(a, Ack) and isinstance(b, Ack):
        a, b = (msgspec.structs.replace(x, processing_us=0.0) for x in (a, b))
    for encoding in ("json", "msgpack"):
        assert encode(a, encoding) == encode(b, encoding)
    return int(a.clusters is not None and a.clusters["state"] == "full")


def renamed(batches: list[Batch], instrument: str) -> list[Batch]:
    return [msgspec.structs.replace(b, instrument=instrument, seq=i)
            for i, b in enumerate(batches, start=1)]  # fmt: skip


def apply_both(fast: Hub, ref: Hub, batches: list[Batch], client: str) -> int:
    full = 0
    for b in batches:
        out = fast.apply_many([b], client), ref.apply_many([b], client)
        for (_, a, ra, ea), (_, b2, rb, eb) in zip(*out, strict=True):
            full += same(a, b2, fast)
            assert ra == rb and repr(ea) == repr(eb)
    return full


def test_every_esh4_answer_batch_by_batch_is_the_same_bytes_as_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batches = esh4_batches()[0]
    fast, ref = pair()
    due, read = Counter[str](), Counter[str]()
    for kind in ("liquidity", "volume"):
        method, items = f"read_{kind}", f"{kind}_items"
        monkeypatch.setattr(InstrumentAnswers, method, counted(
            getattr(InstrumentAnswers, method), due, kind))  # fmt: skip
        monkeypatch.setattr(answers, items, counted(getattr(answers, items), read, kind))
    full = apply_both(fast, ref, batches, "nt8")
    assert full >= 100  # clusters and profile were read and sent in full, often
    st = fast.find("ESH4")
    assert st is not None and st.pipeline.liquidity_clusters.changes > 400
    # a tracker that found no cluster at its last read and had no material change since is
    # not read again (most of ESH4's liquidity reads), and the answers are the reference's
    assert due["liquidity"] > 100 and read["liquidity"] < due["liquidity"] // 2
    assert 0 < read["volume"] <= due["volume"]


def counted(fn: Any, into: Counter[str], kind: str) -> Any:
    def call(*args: Any) -> Any:
        into[kind] += 1
        return fn(*args)

    return call


def test_coarse_bands_state_requests_and_no_refresh_answer_as_the_reference() -> None:
    batches = renamed(esh4_batches()[0], "MES 03-24")
    fast, ref = pair(refresh_ms=0.0)  # every change read
    for hub in (fast, ref):
        hub.answers.set_granularity("nt8", 8)
    full = 0
    for i, b in enumerate(batches):
        full += same(fast.apply(b, "nt8")[0], ref.apply(b, "nt8")[0], fast)
        if i % 37 == 0:
            same(fast.state_answer("MES 03-24", "nt8"), ref.state_answer("MES 03-24", "nt8"))
    assert full >= 300


def test_pipelined_runs_answer_as_the_reference() -> None:
    batches = renamed(esh4_batches()[0], "NQ 03-24")
    fast, ref = pair()
    full = 0
    for k in range(0, len(batches), 8):
        outs = fast.apply_many(batches[k : k + 8], "nt8"), ref.apply_many(batches[k : k + 8], "nt8")
        for (_, a, _, _), (_, b, _, _) in zip(*outs, strict=True):
            full += same(a, b)
    assert full >= 20 and fast.counters["coalesced"] > 300


def test_refusals_rejections_and_gaps_answer_as_the_reference() -> None:
    batches = renamed(esh4_batches()[0], "MNQ 03-24")[:260]
    feed: list[Batch] = []
    for i, b in enumerate(batches):
        if i == 100:  # an event at a row the ladder does not have: the ladder refuses it
            d = list(b.depth)
            d[-2] = msgspec.structs.replace(d[-2], op="update", pos=400)
            b = msgspec.structs.replace(b, depth=d)
        elif i == 110:  # a price off the grid: the whole batch is refused
            d = list(b.depth)
            d[3] = msgspec.structs.replace(d[3], price=d[3].price + 0.1)
            b = msgspec.structs.replace(b, depth=d)
        elif i in (115, 200):  # lost on the way: a gap
            continue
        elif i == 130:  # the snapshot the stale ladder asked for
            b = _snapshot_of(b)
        feed.append(b)
    fast, ref = pair()
    apply_both(fast, ref, feed, "nt8")
    assert fast.counters["refused"] == 1 and fast.counters["gaps"] == 2


def _snapshot_of(b: Batch) -> Any:
    return msgspec.structs.replace(b, snapshot=True, depth=[
        msgspec.structs.replace(d, op="add", pos=0) for d in b.depth[:1]])  # fmt: skip


def test_the_dashboard_sample_reads_what_each_metric_s_property_reads() -> None:
    """The view's sample of a batch (one read of the metrics' rows, the VWAP's state made a
    value when folded) holds what the properties and ``value()`` give, on ESH4."""
    from orderflow.server.view import take_sample

    hub, valued = Hub(), 0
    for b in esh4_batches()[0][:200]:
        hub.apply(b, "nt8")
        pipe = hub.instruments["ESH4"].pipeline
        ts, imbalance, microprice, mid, ofi, momentum, start, vw = take_sample(pipe)
        m = pipe.metrics
        ref = (pipe.last_ts, m.imbalance, m.microprice, m.mid, float(m.ofi), momentum)
        assert repr((ts, imbalance, microprice, mid, ofi, momentum)) == repr(ref)
        assert type(ofi) is float and type(mid) is float
        if start is not None:
            tracker, state = vw
            assert repr(tracker.value_of(state)) == repr(pipe.vwap.value())
            valued += 1
    assert valued > 100
