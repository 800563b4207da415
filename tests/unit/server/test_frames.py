"""A MessagePack batch's depth events and prints left in the frame's bytes
(``server.frames``): taken only when the one decoding (``protocol.decode_client``) would give
the same events and prints, and then the same batch, the same recording bytes, the same acks
and the same refusals; any other form, any value out of bounds and any fault go to the one
decoding, whose message or refusal is the answer."""

from __future__ import annotations

import struct
from typing import Any

import msgspec
import pytest

from orderflow.core.errors import RequestError
from orderflow.protocol import (
    Batch,
    Depth,
    RawRows,
    RawTicks,
    Tick,
    decode_client,
    encode,
    packed,
)
from orderflow.server.frames import RawBatch, decode_frame
from orderflow.server.hub import Hub
from orderflow.server.recording import _ENC, _Frame
from tests.integration.test_server import esh4_batches

T = 1_703_500_000_000_000_000


def _decoded(decode: Any, frame: bytes | str) -> Any:
    """What ``decode`` gives for ``frame``: the message (and, for a batch, the bytes the
    recording writes for it) or the refusal's field and message."""
    try:
        msg = decode(frame)
    except RequestError as exc:
        return "refused", exc.details.get("field"), exc.message
    recorded = _ENC.encode(_Frame(1, "c", msg)) if isinstance(msg, Batch) else None
    return msg, recorded


def _outcome(frame: bytes | str) -> Any:
    return _decoded(decode_frame, frame)


def _one_way(frame: bytes | str) -> Any:
    return _decoded(decode_client, frame)


def test_every_esh4_batch_is_read_from_its_frame_as_the_one_decoding_gives_it():
    batches = esh4_batches()[0]
    for b in batches:
        frame = msgspec.msgpack.encode(b)
        got, want = decode_frame(frame), decode_client(frame)
        assert type(got.depth) is RawRows and type(got.ticks) is RawTicks, b.seq
        assert got == want and want == got
        assert list(got.depth) == want.depth and got.depth[-1] == want.depth[-1]
        assert list(got.ticks) == want.ticks and len(got.ticks) == len(want.ticks)
        if want.ticks:  # what the Hub reads of the prints without their objects
            assert got.ticks.last_price == want.ticks[-1].price
            assert got.ticks.latest_t == max(k.t for k in want.ticks)
            assert got.ticks.times.tolist() == [k.t for k in want.ticks]
        else:
            assert (got.ticks.last_price, got.ticks.latest_t) == (0.0, 0)
        assert (got.n_depth, got.last_depth_t, got.any_reset) == (
            want.n_depth, want.last_depth_t, want.any_reset)  # fmt: skip
        assert _outcome(frame) == _one_way(frame)
    # IsReset and every side and operation
    b = batches[3]
    ops = ("add", "update", "remove")
    ev = [msgspec.structs.replace(e, reset=k % 2 == 0, side=("bid", "ask")[k % 2], op=ops[k % 3])
          for k, e in enumerate(b.depth)]  # fmt: skip
    frame = msgspec.msgpack.encode(msgspec.structs.replace(b, depth=ev))
    got = decode_frame(frame)
    assert type(got.depth) is RawRows and got.any_reset and got == decode_client(frame)


def _frame(depth: list[dict[str, Any]] | Any, **batch: Any) -> bytes:
    """A batch's frame laid out as msgspec writes one (every field in its order; ``batch``
    changes a field's value in place, or adds one at the end)."""
    return msgspec.msgpack.encode({"type": "batch", "instrument": "ES 03-24", "seq": 1,
                                   "snapshot": False, "depth": depth, "columns": None,
                                   "ticks": [], "bars": [], "orders": [], "executions": [],
                                   "positions": [], **batch})  # fmt: skip


def _print(**change: Any) -> dict[str, Any]:
    return {"t": T, "price": 4800.25, "size": 2, "bid": 4800.0, "ask": 4800.25, **change}


def _with_print(**change: Any) -> bytes:
    """The good frame with a second print, changed."""
    return _frame(GOOD_DEPTH, ticks=[_print(), _print(**change)])


def _event(**change: Any) -> dict[str, Any]:
    return {"t": T, "side": "bid", "op": "add", "pos": 0, "price": 4800.25, "size": 3,
            "reset": False, **change}  # fmt: skip


def _patched(frame: bytes, old: bytes, new: bytes) -> bytes:
    assert frame.count(old) == 1, old
    return frame.replace(old, new)


GOOD_DEPTH = [_event(), _event(side="ask", pos=1, price=4800.5, size=200)]
GOOD = _frame(GOOD_DEPTH)
PRINTS = _frame(GOOD_DEPTH, ticks=[_print(), _print(bid=None, size=1_000_000_000)])
F64 = struct.pack(">d", 4800.25)


@pytest.mark.parametrize(
    ("name", "frame"),
    [
        # forms msgspec decodes but does not write: the one decoding (its objects, its bytes)
        ("an integer wider than it needs", _patched(GOOD, b"\xa3pos\x00", b"\xa3pos\xcd\0\0")),
        ("a size as uint16 under 256", _patched(GOOD, b"\xa4size\xcc\xc8", b"\xa4size\xcd\0\xc8")),
        ("a price as float32", _patched(GOOD, b"\xcb" + F64, b"\xca" + struct.pack(">f", 4800.25))),
        ("a price as an integer", _frame([_event(price=4800)])),
        ("fields in another order", msgspec.msgpack.encode({"type": "batch", "instrument": "ES",
            "depth": [{"side": "bid", "t": T, "op": "add", "pos": 0, "price": 1.0, "size": 1,
                       "reset": False}]})),
        ("IsReset left out", _frame([{k: v for k, v in _event().items() if k != "reset"}])),
        ("an array16 of one event", _patched(_frame([_event()]), b"\xa5depth\x91",
                                             b"\xa5depth\xdc\x00\x01")),
        ("a key as str8", _patched(GOOD, b"\xa4side\xa3bid", b"\xd9\x04side\xa3bid")),
        # faults: the one decoding's refusal, naming the field
        ("a position beyond the ladder", _frame([_event(), _event(pos=10_001)])),
        ("a size beyond the bound", _frame([_event(size=1_000_000_001)])),
        ("a negative size", _frame([_event(size=-1)])),
        ("a price beyond the bound", _frame([_event(price=1e9 * 1.0000001)])),
        ("a price below the bound", _frame([_event(price=-1e9 * 1.0000001)])),
        ("a NaN price", _frame([_event(), _event(price=float("nan"))])),
        ("an infinite price", _frame([_event(price=float("inf"))])),
        ("a time past int64", _frame([_event(t=1 << 63)])),
        ("another side", _frame([_event(side="bix")])),
        ("another operation", _frame([_event(op="adx")])),
        ("an operation of another length", _frame([_event(op="delete")])),
        ("IsReset not a bool", _frame([_event(reset=1)])),
        ("an unknown field", _frame([{**_event(), "volume": 1}])),
        ("a field missing", _frame([{k: v for k, v in _event().items() if k != "size"}])),
        ("depth not a list", _frame({"t": T})),
        ("depth null", _frame(None)),
        ("an event not a map", _frame([[T, "bid"]])),
        ("the list's count above its events", _patched(GOOD, b"\xa5depth\x92", b"\xa5depth\x93")),
        ("the list's count below its events", _patched(GOOD, b"\xa5depth\x92", b"\xa5depth\x91")),
        ("cut inside the last event", GOOD[: GOOD.index(b"\xa7columns") - 3]),
        ("cut inside a price", GOOD[: GOOD.rindex(b"\xcb") + 4]),
        ("a depth list and columns", _frame([_event()], columns={"t": [T], "side": "b",
            "op": "a", "pos": [0], "price": [1.0], "size": [1]})),
        ("another field at fault after the depth", _frame([_event()], ticks=[{"t": T}])),
        ("a bad instrument before it", _frame([_event()], instrument="../x")),
        ("no depth", _frame([])),
        # the batch's own fields around the list
        ("fields in another order before it", msgspec.msgpack.encode({"type": "batch",
            "seq": 1, "instrument": "ES 03-24", "snapshot": False, "depth": [_event()]})),
        ("snapshot left out", msgspec.msgpack.encode({"type": "batch", "instrument": "ES",
            "seq": 1, "depth": [_event()]})),
        ("a depth key inside the instrument's string",
         _frame([_event()], instrument="E\u00a5depth\u00dc")),
        ("a second depth key", _patched(_frame([_event()], ticks=[]), b"\xa5ticks\x90",
                                        b"\xa5depth\x90")),
        ("a second depth key with events", _patched(_frame([_event()], ticks=[_event()]),
                                                    b"\xa5ticks", b"\xa5depth")),
        ("a sequence number beyond 2**53", _frame([_event()], seq=1 << 53)),
        ("a sequence number as uint64", _patched(_frame([_event()]), b"\xa3seq\x01",
                                                 b"\xa3seq\xcf" + (1).to_bytes(8, "big"))),
        ("a map16 header", b"\xde\x00\x05" + _frame([_event()])[1:]),
        ("snapshot not a bool", _frame([_event()], snapshot=0)),
        ("an instrument of 32 characters", _frame([_event()], instrument="E" * 32)),
        ("an instrument of 33 characters", _frame([_event()], instrument="E" * 33)),
        ("an unknown field after the list", _frame([_event()], volume=1)),
        ("a tick after the list", _frame([_event()], ticks=[_print(t=0, bid=-1e9, ask=1e9)])),
        ("no prints", _frame([_event()])),
        # the prints: forms msgspec decodes but does not write, and faults
        ("a print without its quotes", _frame([_event()], ticks=[{"t": T, "price": 4800.25,
                                                                 "size": 1}])),
        ("a print's quote as float32", _patched(_with_print(bid=4800.5),
                                                b"\xa3bid\xcb" + struct.pack(">d", 4800.5),
                                                b"\xa3bid\xca" + struct.pack(">f", 4800.5))),
        ("a print's quote as an integer", _with_print(ask=4801)),
        ("a print's price as an integer", _with_print(price=4801)),
        ("a print's size wider than it needs", _patched(_with_print(size=7), b"\xa4size\x07",
                                                        b"\xa4size\xcc\x07")),
        ("a print's fields reordered", _frame(GOOD_DEPTH, ticks=[{"price": 4800.25, "t": T,
                                                                   "size": 1, "bid": None,
                                                                   "ask": None}])),
        ("a print of size 0", _with_print(size=0)),
        ("a print's size beyond the bound", _with_print(size=1_000_000_001)),
        ("a print's negative size", _with_print(size=-2)),
        ("a print's NaN price", _with_print(price=float("nan"))),
        ("a print's infinite price", _with_print(price=float("-inf"))),
        ("a print's price beyond the bound", _with_print(price=1e9 * 1.0000001)),
        ("a print's NaN bid", _with_print(bid=float("nan"))),
        ("a print's ask beyond the bound", _with_print(ask=-1e9 * 1.0000001)),
        ("a print's time past int64", _with_print(t=1 << 63)),
        ("a print's negative time", _with_print(t=-1)),
        ("a print's quote a string", _with_print(ask="4800.25")),
        ("a print's unknown field", _frame(GOOD_DEPTH, ticks=[{**_print(), "side": 1}])),
        ("a print's quote left out", _frame(GOOD_DEPTH, ticks=[{k: v for k, v in _print()
                                                                 .items() if k != "ask"}])),
        ("the prints' count above them", _patched(PRINTS, b"\xa5ticks\x92", b"\xa5ticks\x93")),
        ("the prints' count below them", _patched(PRINTS, b"\xa5ticks\x92", b"\xa5ticks\x91")),
        ("the prints as an array16", _patched(PRINTS, b"\xa5ticks\x92", b"\xa5ticks\xdc\x00\x02")),
        ("cut inside the prints", PRINTS[: PRINTS.index(b"\xa4bars") - 3]),
        ("prints not a list", _frame([_event()], ticks=_print())),
        ("prints null", _frame([_event()], ticks=None)),
        ("a second prints key", _patched(PRINTS, b"\xa4bars\x90", b"\xa5ticks\x90")),
        ("a second prints key with prints", _patched(_frame(GOOD_DEPTH, ticks=[_print()],
                                                            bars=[_print()]),
                                                     b"\xa4bars", b"\xa5ticks")),
        ("columns after the prints", msgspec.msgpack.encode({"type": "batch",
            "instrument": "ES", "seq": 1, "snapshot": False, "depth": [_event()],
            "ticks": [_print()], "columns": None})),
        ("the map's count below its keys", bytes((PRINTS[0] - 2,)) + PRINTS[1:]),
        ("the map's count above its keys", bytes((PRINTS[0] + 1,)) + PRINTS[1:]),
        ("a print's bid beyond the bound", _with_print(bid=1e10)),
        ("not a batch", msgspec.msgpack.encode({"type": "heartbeat", "t": 1})),
        ("not MessagePack", b"\xc1\x00"),
        ("JSON", msgspec.json.encode({"type": "batch", "instrument": "ES", "depth": [_event()]})
         .decode()),
        ("the good frame", GOOD),
        ("the good frame with prints", PRINTS),
    ],
)  # fmt: skip
def test_each_form_and_fault_gives_the_one_decodings_message_or_refusal(name, frame):
    """The same message and recording bytes, or the same refusal; only msgspec's own form
    within the bounds is kept as the frame's bytes."""
    assert _outcome(frame) == _one_way(frame), name
    got = _outcome(frame)[0]
    if isinstance(got, Batch) and got.depth:  # only msgspec's own form is read from bytes
        assert (type(got.depth) is RawRows) == (name in READ), name
        assert (type(got.ticks) is RawTicks) == (name in READ), name
    else:
        assert name not in READ, name


#: the frames above whose depth and prints are read from their bytes
READ = ("the good frame", "an instrument of 32 characters", "a tick after the list",
        "no prints", "the good frame with prints")  # fmt: skip


def test_the_good_frame_is_kept_as_its_bytes_and_the_rest_of_the_batch_as_decoded():
    got = decode_frame(GOOD)
    assert type(got.depth) is RawRows and len(got.depth) == 2 and got.depth[1].size == 200
    got = decode_frame(PRINTS)
    assert type(got.ticks) is RawTicks and got.ticks[1] == Tick(T, 4800.25, 1_000_000_000,
                                                                 None, 4800.25)  # fmt: skip
    b = decode_frame(_frame([_event()], seq=9, snapshot=True,
                            ticks=[_print(size=1, bid=None, ask=None)]))  # fmt: skip
    assert isinstance(b, Batch) and type(b.depth) is RawRows and type(b.ticks) is RawTicks
    assert (b.seq, b.snapshot, b.ticks) == (9, True, [Tick(T, 4800.25, 1)])
    # a batch without depth (bars, reports): no bytes to keep
    assert decode_frame(_frame([])).depth == [] and type(decode_frame(_frame([])).depth) is list
    assert decode_frame(msgspec.msgpack.encode(packed(decode_client(GOOD)))) == packed(
        decode_client(GOOD)
    )


def _answers(hub: Hub, batches: list[Batch]) -> list[Any]:
    out = []
    hub.acks_as = "msgpack"
    for b in batches:
        try:
            ack, request = hub.apply(b, "nt")
        except RequestError as exc:
            out.append(("refused", exc.details.get("field"), exc.message))
            continue
        out.append((_bytes(ack), request))
    return out


def _bytes(ack: Any) -> bytes:
    """An ack's MessagePack bytes, its timing field zeroed."""
    return encode(msgspec.structs.replace(ack, processing_us=0.0), "msgpack")


def test_a_hub_answers_and_refuses_the_frames_rows_as_the_objects():
    """ESH4 with a price off the grid in one batch and an implausible one in another (the
    exact way names the event): every ack's bytes and every refusal the same
    from a hub fed the frames' bytes as from one fed the objects, and pipelined runs too."""
    batches = esh4_batches()[0]
    feed = list(batches)
    for i, k, e in ((150, 3, 0.1), (300, 7, 5000.0)):
        ev = list(feed[i].depth)
        ev[k] = msgspec.structs.replace(ev[k], price=ev[k].price + e, op="add")
        feed[i] = msgspec.structs.replace(feed[i], depth=ev)
    frames = [msgspec.msgpack.encode(b) for b in feed]
    decoded = [decode_frame(f) for f in frames]
    # the prints that mark a trading desk's positions: the same calls either way; and prints
    # as objects beside the frame's rows (a batch made otherwise) as their block
    hubs, marks = (Hub(), Hub()), ([], [])
    for hub, seen in zip(hubs, marks, strict=True):
        hub.trading.prints = lambda *a, seen=seen: seen.append(a)  # type: ignore[method-assign]
    mixed = [msgspec.structs.replace(b, ticks=list(b.ticks)) if i % 3 == 0 else b
             for i, b in enumerate(decoded)]  # fmt: skip
    got = _answers(hubs[0], mixed)
    want = _answers(hubs[1], [decode_client(f) for f in frames])
    assert got == want and marks[0] == marks[1] and len(marks[0]) > 400
    decoded = [decode_frame(f) for f in frames]
    assert _answers(Hub(), decoded) == want
    refused = [a for a in got if a[0] == "refused"]
    assert [r[1] for r in refused] == ["depth[3].price", "depth[7].price"], refused
    # no object made for an event or a print of a batch applied (a refusal is named from them)
    assert sum(len(b.ticks) for b in decoded) > 2000
    assert [i for i, b in enumerate(decoded) if b.ticks._events or b.depth._events] == [150, 300]
    # pipelined: runs of seven applied together, one with a time out of the window (the run
    # goes one by one, which names it); the times checked and the events converted from
    # the block read at decoding, no object made for an event
    hubs = Hub(), Hub()
    for hub in hubs:
        hub.acks_as = "msgpack"
    late = batches[60]
    ev = list(late.depth)
    ev[4] = msgspec.structs.replace(ev[4], t=5)
    frames[60] = msgspec.msgpack.encode(msgspec.structs.replace(late, depth=ev))
    # a print out of the window, and one after the batch's last event (not plain: alone)
    for i, t in ((80, 5), (30, batches[30].last_depth_t + 1)):
        ticks = [msgspec.structs.replace(k, t=t) if j == 1 else k
                 for j, k in enumerate(batches[i].ticks)]  # fmt: skip
        frames[i] = msgspec.msgpack.encode(msgspec.structs.replace(batches[i], ticks=ticks))
    named = []
    for i in range(0, 140, 7):
        run = [decode_frame(f) for f in frames[i : i + 7]]
        a = hubs[0].apply_many(run, "nt")
        named += [x[3].details["field"] for x in a if x[3] is not None]
        b = hubs[1].apply_many([decode_client(f) for f in frames[i : i + 7]], "nt")
        assert [_outcome_of(x) for x in a] == [_outcome_of(x) for x in b]
        assert all(x.depth._events is None and x.ticks._events is None for x in run)
    assert named == ["depth[4].t", "ticks[1].t"]
    assert hubs[0].counters == hubs[1].counters
    assert hubs[0].counters["coalesced"] > 50


def _outcome_of(out: Any) -> Any:
    _, ack, request, error = out
    if error is not None:
        return error.details.get("field"), error.message
    return _bytes(ack), request


def test_rows_read_as_a_list_are_the_objects_decoded_once():
    b = decode_frame(PRINTS)
    rows = b.depth
    assert type(rows) is RawRows
    first = list(rows)
    assert first == [Depth(T, "bid", "add", 0, 4800.25, 3),
                     Depth(T, "ask", "add", 1, 4800.5, 200)]  # fmt: skip
    assert rows.events() is rows.events() and rows[0] is first[0]
    assert repr(rows) == repr(first) and rows != first[:1]
    with pytest.raises(TypeError):
        hash(rows)
    with pytest.raises(TypeError):
        msgspec.json.encode(b)  # only MessagePack writes the frame's bytes
    ticks = b.ticks  # the prints: the same kind of list
    assert type(ticks) is RawTicks and ticks._events is None
    assert ticks.last_price == 4800.25 and ticks.times.tolist() == [T, T] == [ticks.latest_t] * 2
    assert list(ticks) == [Tick(T, 4800.25, 2, 4800.0, 4800.25),
                           Tick(T, 4800.25, 1_000_000_000, None, 4800.25)]  # fmt: skip
    assert ticks.events() is ticks.events() and ticks != rows and ticks == list(ticks)
    with pytest.raises(TypeError):
        hash(ticks)


def test_the_first_decodings_batch_has_every_field_of_a_batch_but_depth_and_ticks_as_bytes():
    """Its fields as the batch's (names, order, types, defaults): a field added to one and
    not the other fails here."""
    raw, full = msgspec.structs.fields(RawBatch), msgspec.structs.fields(Batch)
    assert [f.name for f in raw] == [f.name for f in full]
    for a, b in zip(raw, full, strict=True):
        if a.name not in ("depth", "ticks"):
            assert (a.type, a.default, a.default_factory) == (b.type, b.default, b.default_factory)
    assert RawBatch.__struct_config__.tag == Batch.__struct_config__.tag == "batch"
