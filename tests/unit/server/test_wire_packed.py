"""Depth as packed columns (``protocol.PACKED``: t, pos, price and size as little-endian
arrays; MessagePack ``bin``, base64 in JSON) against the rows and the list columns: the same
engine arrays on every ESH4 batch in both encodings, the same acks one by one and applied
together, and every malformed column refused naming it with nothing of the batch applied."""

from __future__ import annotations

import json
import struct
import time
from typing import Any

import msgspec
import numpy as np
import pytest

from orderflow.core.errors import RequestError
from orderflow.protocol import (
    Batch,
    DepthColumns,
    check_batch,
    columnar,
    decode_client,
    packed,
    rows,
)
from orderflow.server.hub import Hub
from orderflow.server.wire import convert_batch, convert_exact, undo_of
from tests.integration.test_server import comparable, esh4_batches, in_process_acks
from tests.unit.server.test_wire_decode import DEPTH_FIELDS, TRADE_FIELDS, _state

pytestmark = pytest.mark.slow

ES = "ES 03-24"
FORMS = ("rows", "columns", "packed")


@pytest.fixture(scope="module")
def batches() -> list[Batch]:
    return [msgspec.structs.replace(b, instrument=ES, seq=i)
            for i, b in enumerate(esh4_batches()[0], start=1)]  # fmt: skip


def shaped(b: Batch, form: str) -> Batch:
    return {"rows": b, "columns": columnar(b), "packed": packed(b)}[form]


def frame(msg: Batch | dict[str, Any], encoding: str) -> bytes | str:
    """JSON text (bytes as base64) or MessagePack bytes (bytes as ``bin``)."""
    if encoding == "json":
        return msgspec.json.encode(msg).decode()
    return msgspec.msgpack.encode(msg)


def test_the_packed_layout_is_little_endian_and_lossless(batches):
    b = next(b for b in batches if any(e.reset for e in b.depth) or len(b.depth) > 50)
    c = packed(b).columns
    assert c is not None and c.packed and c.n == len(b.depth)
    assert isinstance(c.t, bytes) and isinstance(c.pos, bytes)
    assert isinstance(c.price, bytes) and isinstance(c.size, bytes)
    n = len(b.depth)
    assert c.t == struct.pack(f"<{n}q", *(e.t for e in b.depth))
    assert c.pos == struct.pack(f"<{n}i", *(e.pos for e in b.depth))
    assert c.price == struct.pack(f"<{n}d", *(e.price for e in b.depth))
    assert c.size == struct.pack(f"<{n}q", *(e.size for e in b.depth))
    for encoding in ("json", "msgpack"):
        msg = decode_client(frame(packed(b), encoding))
        assert msg == packed(b) and rows(msg) == b  # every value back, bit for bit
        assert msg.n_depth == len(b.depth) and msg.last_depth_t == b.depth[-1].t
    # a JSON client writes base64 (standard alphabet, padded)
    raw = json.loads(frame(packed(b), "json"))["columns"]
    assert raw["side"] == c.side and isinstance(raw["price"], str) and raw["price"].endswith("=")


def test_rows_lists_and_packed_give_identical_arrays_on_esh4(batches):
    """Every ESH4 batch in six forms (rows, list columns, packed columns; JSON, MessagePack)
    decoded as the server decodes a frame and converted: the same engine arrays, field for
    field (ts_recv aside), and the same conversion state after each batch."""
    forms = [(f, e) for f in FORMS for e in ("json", "msgpack")]
    hubs = {form: Hub() for form in forms}
    for b in batches:
        got = {}
        for (form, encoding), hub in hubs.items():
            msg = decode_client(frame(shaped(b, form), encoding))
            assert isinstance(msg, Batch)
            check_batch(msg, b.depth[-1].t)
            got[form, encoding] = convert_batch(hub.state(ES), msg)
        depth, trades = got["rows", "msgpack"]
        assert len(depth) == len(b.depth) and len(trades) == len(b.ticks)
        for key, (d, t) in got.items():
            for f in DEPTH_FIELDS:
                assert np.array_equal(d[f], depth[f]), (key, b.seq, f)
            for f in TRADE_FIELDS:
                assert np.array_equal(t[f], trades[f]), (key, b.seq, f)
    states = {undo_of(hub.state(ES))[:3] for hub in hubs.values()}
    assert len(states) == 1
    assert not any(hub.state(ES).rejected for hub in hubs.values())


def test_the_compiled_pass_equals_the_exact_way_on_packed_columns(batches):
    fast, exact = Hub().state(ES), Hub().state(ES)
    for b in batches:
        msg = decode_client(frame(packed(b), "msgpack"))
        assert isinstance(msg, Batch)
        d1, t1 = convert_batch(fast, msg)
        d2, t2 = convert_exact(exact, msg)
        for f in DEPTH_FIELDS:
            assert np.array_equal(d1[f], d2[f]), (b.seq, f)
        for f in TRADE_FIELDS:
            assert np.array_equal(t1[f], t2[f]), (b.seq, f)
        assert undo_of(fast) == undo_of(exact)


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_packed_batches_get_the_acks_rows_get_one_by_one_and_together(chunk):
    """The acks of the packed form equal the rows' (the in-process answers to ESH4), one by
    one; applied together (a pipelining client) a run's ack equals its last batch's, and the
    run's packed columns are joined as bytes and converted in one pass."""
    batches = [packed(b) for b in esh4_batches()[0]]
    one = {a["seq"]: a for a in in_process_acks()}
    hub = Hub()
    acks = []
    for i in range(0, len(batches), chunk):
        msgs = [decode_client(frame(b, "msgpack")) for b in batches[i : i + chunk]]
        for batch, ack, request, error in hub.apply_many(msgs, "nt8"):
            assert error is None and request is None and ack is not None
            assert ack.seq == batch.seq
            acks.append(comparable(msgspec.to_builtins(ack)))
    covered = [s for a in acks for s in range(a["first_seq"] or a["seq"], a["seq"] + 1)]
    assert covered == [b.seq for b in batches]
    if chunk == 1:
        assert acks == in_process_acks()
    else:
        assert hub.counters["coalesced"] > len(batches) // 2
        for a in acks:
            last = one[a["seq"]]
            assert (a["book"], a["metrics"], a["stale"]) == (last["book"], last["metrics"], False)


def _packed_dict(b: Batch) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(packed(b), builtin_types=(bytes,))
    return out


def _with(col: bytes, fmt: str, i: int, value: Any) -> bytes:
    """A packed column with value ``i`` replaced."""
    size = struct.calcsize(fmt)
    return col[: i * size] + struct.pack(fmt, value) + col[(i + 1) * size :]


NAN, INF = float("nan"), float("inf")
#: (what, the column, how it is spoiled, the field the refusal names): each in JSON and in
#: MessagePack; the structural faults are refused when the frame is decoded, the values when
#: the batch is converted, before anything of it is applied
MALFORMED: list[tuple[str, str, Any, str]] = [
    ("one value short", "price", lambda c: c[:-8], "columns.price"),
    ("odd byte count", "price", lambda c: c[:-3], "columns.price"),
    ("odd byte count", "pos", lambda c: c + b"\x00", "columns.pos"),
    ("odd byte count", "t", lambda c: c[:-1], "columns.t"),
    ("empty", "size", lambda c: b"", "columns.size"),
    ("oversize", "size", lambda c: c + c[:8], "columns.size"),
    ("oversize", "pos", lambda c: c * 2, "columns.pos"),
    ("not base64 / not bin", "price", lambda c: "not base64!", "columns.price"),
    ("NaN price", "price", lambda c: _with(c, "<d", 3, NAN), "columns.price[3]"),
    ("infinite price", "price", lambda c: _with(c, "<d", 3, INF), "columns.price[3]"),
    ("-infinite price", "price", lambda c: _with(c, "<d", 3, -INF), "columns.price[3]"),
    ("price beyond 1e9", "price", lambda c: _with(c, "<d", 3, 2e9), "columns.price[3]"),
    ("off-grid price", "price", lambda c: _with(c, "<d", 3, 4770.3), "columns.price[3]"),
    ("implausible price", "price", lambda c: _with(c, "<d", 3, 9000.0), "columns.price[3]"),
    ("negative position", "pos", lambda c: _with(c, "<i", 3, -1), "columns.pos[3]"),
    ("position beyond 10000", "pos", lambda c: _with(c, "<i", 3, 10_001), "columns.pos[3]"),
    ("negative size", "size", lambda c: _with(c, "<q", 3, -1), "columns.size[3]"),
    ("size beyond 1e9", "size", lambda c: _with(c, "<q", 3, 2 * 10**9), "columns.size[3]"),
    ("time in seconds", "t", lambda c: _with(c, "<q", 3, 1_703_500_000), "columns.t[3]"),
    ("negative time", "t", lambda c: _with(c, "<q", 3, -5), "columns.t[3]"),
    ("side code", "side", lambda s: s[:3] + "x" + s[4:], "columns.side"),
    ("op code", "op", lambda s: s[:3] + "d" + s[4:], "columns.op"),
    ("side code short", "side", lambda s: s[:-1], "columns"),
    ("reset beyond the events", "reset", lambda r: [10_000], "columns"),
]


@pytest.mark.parametrize(("what", "name", "spoil", "field"), MALFORMED,
                         ids=[f"{m[0]}:{m[3]}" for m in MALFORMED])  # fmt: skip
@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_a_malformed_packed_column_is_refused_naming_it(
    batches, what, name, spoil, field, encoding
):
    hub = Hub()
    for b in batches[:5]:
        hub.apply(packed(b), "nt8")
    target = next(b for b in batches[5:]
                  if b.ticks and len(b.depth) > 3 and b.depth[3].op != "remove")  # fmt: skip
    d = _packed_dict(target)
    d["columns"][name] = spoil(d["columns"][name])
    before = _state(hub, ES)
    with pytest.raises(RequestError) as err:
        msg = decode_client(frame(d, encoding))
        assert isinstance(msg, Batch)
        hub.apply(msg, "nt8")
    assert err.value.details["field"] == field, (what, err.value.message)
    assert err.value.message.startswith(field), err.value.message
    assert _state(hub, ES)[:6] == before[:6], what  # nothing of it applied
    assert hub.state(ES).depth_events == sum(len(b.depth) for b in batches[:5])


def test_columns_without_events_carry_no_depth_in_every_form():
    """A batch whose columns (lists or packed) hold no event is a batch without depth: its
    times are not looked at (an empty column has none) and its prints apply."""
    t = time.time_ns()
    tick = {"t": t, "price": 4770.25, "size": 1, "bid": 4770.0, "ask": 4770.25}
    lists = {"t": [], "side": "", "op": "", "pos": [], "price": [], "size": []}
    empty = {"t": b"", "side": "", "op": "", "pos": b"", "price": b"", "size": b""}
    for cols in (lists, empty):
        for encoding in ("json", "msgpack"):
            doc = {"type": "batch", "instrument": ES, "seq": 1, "columns": cols, "ticks": [tick]}
            msg = decode_client(frame(doc, encoding))
            assert isinstance(msg, Batch) and msg.n_depth == 0 and msg.last_depth_t == 0
            check_batch(msg, t)
            ack, _ = Hub().apply(msg, "nt8")
            assert ack.applied == {"depth": 0, "ticks": 1, "bars": 0}


def test_list_and_packed_columns_may_be_mixed_and_equal_rows(batches):
    b = batches[7]
    p, c = packed(b).columns, columnar(b).columns
    assert p is not None and c is not None
    cols = DepthColumns(t=p.t, side=c.side, op=c.op, pos=c.pos, price=p.price, size=c.size,
                        reset=c.reset)  # fmt: skip
    mixed = msgspec.structs.replace(columnar(b), columns=cols)
    for encoding in ("json", "msgpack"):
        msg = decode_client(frame(mixed, encoding))
        assert isinstance(msg, Batch) and rows(msg) == b
        d1, _ = convert_batch(Hub().state(ES), msg)
        d2, _ = convert_batch(Hub().state(ES), b)
        for f in DEPTH_FIELDS:
            assert np.array_equal(d1[f], d2[f]), f


def test_hostile_packed_columns_are_refused_whole_or_applied_never_half(batches):
    """Packed columns with random bytes flipped, cut or added, in random columns and
    encodings: each batch is refused with a RequestError leaving the book, the metrics and the
    conversion's state as they were, or applied whole; nothing else is ever raised."""
    rng = np.random.default_rng(1616)
    hub = Hub()
    for b in batches[:5]:
        hub.apply(packed(b), "nt8")
    refused = applied = 0
    for i, b in enumerate(batches[5:205], start=6):
        d = _packed_dict(msgspec.structs.replace(b, seq=i))
        for _ in range(int(rng.integers(1, 4))):
            name = ("t", "pos", "price", "size")[int(rng.integers(4))]
            col = bytearray(d["columns"][name])
            how = int(rng.integers(3))
            if how == 0 and col:  # a random byte changed
                col[int(rng.integers(len(col)))] = int(rng.integers(256))
            elif how == 1:  # cut
                col = col[: int(rng.integers(len(col) + 1))]
            else:  # bytes added
                col += bytes(rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8))
            d["columns"][name] = bytes(col)
        encoding = "msgpack" if rng.integers(2) else "json"
        before = _state(hub, ES)
        try:
            msg = decode_client(frame(d, encoding))
            assert isinstance(msg, Batch)
            hub.apply(msg, "nt8")
            applied += 1
        except RequestError as exc:
            assert exc.details["field"].startswith("columns"), exc.message
            assert _state(hub, ES)[:6] == before[:6], (i, exc.message)
            refused += 1
    assert refused > 100 and refused + applied == 200
