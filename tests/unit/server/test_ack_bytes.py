"""A WebSocket session's acks on ESH4, byte for byte, pinned: every one of ESH4's batches as the
bridge sends it (MessagePack rows, and JSON rows), decoded as a session decodes a frame
(:func:`.frames.decode_frame`), applied by a Hub answering in that encoding as a session has it
answer (``Hub.acks_as``) for a client that trades (its risk manager's book clock runs on every
batch), and the ack encoded as the session writes it. The SHA-256 of all the acks (their
``processing_us`` zeroed: the only wall-clock figure) was taken from the tree before the apply's
shortcuts; any byte that moves fails it. The prints the Hub hands to NinjaTrader's bars
without a copy are never written after (every array checked at the run's end)."""

from __future__ import annotations

import hashlib
from functools import cache

import msgspec
import numpy as np
import pytest

from orderflow.analytics.nt_bars import NtBars
from orderflow.protocol import Batch, encode
from orderflow.server.frames import decode_frame
from orderflow.server.hub import Hub
from tests.conftest import ES_MBO, need

#: the digests of the acks (see the module), per encoding
PINNED = {
    "msgpack": "e8916cb064da13b3cb4425e191cb784d3c5c5c3ac9946484463ae63484921c74",
    "json": "4ca9559e5c3a4607c36253da99389fec29866cf7ab72aee801e9c74df3443159",
}


@cache
def _batches() -> list[Batch]:
    from orderflow.client.feed import build_batches
    from orderflow.io.formats import load_stream

    return [fb.batch for fb in build_batches(load_stream(need(ES_MBO)), 10, 100)]


def acks_digest(encoding: str) -> tuple[str, int]:
    """The digest of a session's acks to ESH4's batches in ``encoding``, and how many."""
    hub = Hub()
    hub.trading.connected("nt8", False)  # a client with a desk: the risk manager's book clock
    digest = hashlib.sha256()
    n = 0
    for b in _batches():
        frame: bytes | str = (msgspec.msgpack.encode(b) if encoding == "msgpack"
                              else msgspec.json.encode(b).decode())  # fmt: skip
        msg = decode_frame(frame)
        assert isinstance(msg, Batch)
        hub.acks_as = encoding  # type: ignore[assignment]
        try:
            ack, _ = hub.apply(msg, "nt8")
        finally:
            hub.acks_as = None
        hub.after_ack.settle()
        digest.update(encode(msgspec.structs.replace(ack, processing_us=0.0), encoding))
        n += 1
    return digest.hexdigest(), n


@pytest.mark.parametrize("encoding", ["msgpack", "json"])
def test_session_acks_on_esh4_are_the_pinned_bytes(encoding: str) -> None:
    digest, n = acks_digest(encoding)
    assert n == len(_batches()) > 400
    assert digest == PINNED[encoding]


def test_the_prints_handed_to_the_bars_are_never_written_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Hub hands each batch's converted prints to NinjaTrader's bars without a copy
    (``NtBars.add_prints(..., owned=True)``): on ESH4, through the pipeline, the answers,
    the dashboard's view folded after each ack, every array the bars keep is still what it
    was when handed over, and is the very array handed over."""
    handed: list[tuple[np.ndarray, np.ndarray]] = []
    add = NtBars.add_prints

    def keep(self: NtBars, trades: np.ndarray, owned: bool = False) -> None:
        assert owned
        if len(trades):
            handed.append((trades, trades.copy()))
        add(self, trades, owned)

    monkeypatch.setattr(NtBars, "add_prints", keep)
    hub = Hub()
    hub.trading.connected("nt8", False)
    for b in _batches():
        hub.acks_as = "msgpack"
        try:
            hub.apply(decode_frame(msgspec.msgpack.encode(b)), "nt8")  # type: ignore[arg-type]
        finally:
            hub.acks_as = None
        hub.after_ack.settle()
        for iv in hub.view.of.values():
            iv.fold()
    kept = list(hub.instruments["ESH4"].bars._pending)
    assert len(handed) == len(kept) > 300
    for (arr, was), k in zip(handed, kept, strict=True):
        assert arr is k
        assert arr.tobytes() == was.tobytes()


def test_prints_not_handed_over_are_copied() -> None:
    from orderflow.model.dtypes import TRADE_DTYPE
    from orderflow.model.instruments import get_instrument

    bars = NtBars(get_instrument("ES 03-24"))
    a, b = np.zeros(3, dtype=TRADE_DTYPE), np.zeros(2, dtype=TRADE_DTYPE)
    a["price"], b["price"] = 7, 9
    bars.add_prints(a)
    bars.add_prints(b, owned=True)
    a["price"], b["price"] = 8, 10  # the caller writes its arrays again
    first, second = bars._pending
    assert first is not a and first["price"].tolist() == [7, 7, 7]
    assert second is b  # handed over: the caller's promise not to write it is what holds it


def test_a_batch_s_last_depth_time_is_its_converted_events_last_time() -> None:
    """The alert checks and the pre-open test take a batch's ``last_depth_t`` for the last
    ``ts_event`` of its converted depth: the same on every ESH4 batch in every form a batch
    comes in (rows, columns, packed columns, a MessagePack frame's rows, JSON), and for a
    batch whose last event is not its latest (the last, not the largest)."""
    from orderflow.protocol import Depth, columnar, decode_client, packed
    from orderflow.server.wire import convert_batch

    hub = Hub()
    st = hub.state("ES 03-24")
    batches = _batches()[:150]
    first = batches[0].depth[0]
    late = [Depth(first.t + 10, "bid", "add", 0, first.price, 1),
            Depth(first.t + 5, "bid", "remove", 0, first.price, 1)]  # fmt: skip
    odd = Batch(batches[0].instrument, depth=late)
    checked = 0
    for b in [*batches, odd]:
        if not b.n_depth:
            continue
        frames = (msgspec.msgpack.encode(b), msgspec.json.encode(b).decode())
        for form in (b, columnar(b), packed(b), decode_frame(frames[0]),
                     decode_client(frames[1])):  # fmt: skip
            assert isinstance(form, Batch)
            depth, _ = convert_batch(st, form)
            assert form.last_depth_t == int(depth["ts_event"][-1])
            checked += 1
    assert checked >= 5 * 100
    assert odd.last_depth_t == first.t + 5
