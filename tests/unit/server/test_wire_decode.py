"""A WebSocket frame to the engine's arrays, every way the bridge may send it: MessagePack or
JSON, depth as rows or as columns. The four forms give identical arrays on ESH4; a bad value
of any field refuses the batch naming that field, in every form; and a batch with a bad value
anywhere (fuzzed) never half-applies: the book, the metrics and the conversion's state stay
as they were."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import numpy as np
import pytest

from orderflow.core.errors import RequestError
from orderflow.protocol import Batch, check_batch, columnar, decode_client
from orderflow.server.hub import Hub
from orderflow.server.wire import convert_batch, convert_exact, undo_of
from tests.integration.test_server import esh4_batches

pytestmark = pytest.mark.slow

#: the fields of the engine's arrays that come from the wire (ts_recv is the receive time)
DEPTH_FIELDS = ("ts_event", "price", "size", "position", "operation", "side", "flags",
                "sequence")  # fmt: skip
TRADE_FIELDS = ("ts_event", "price", "size", "side", "sequence")


def frame(batch: Batch | dict[str, Any], encoding: str) -> bytes | str:
    """A WebSocket frame as a client sends it: JSON text or MessagePack bytes."""
    if encoding == "json":
        return json.dumps(batch) if isinstance(batch, dict) else msgspec.json.encode(batch).decode()
    return msgspec.msgpack.encode(batch)


def as_dict(batch: Batch, columns: bool) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(columnar(batch) if columns else batch)
    return out


@pytest.fixture(scope="module")
def batches() -> list[Batch]:
    return [msgspec.structs.replace(b, instrument="ES 03-24", seq=i)
            for i, b in enumerate(esh4_batches()[0], start=1)]  # fmt: skip


def test_rows_and_columns_in_either_encoding_give_identical_arrays(batches):
    hubs = {form: Hub() for form in ("msgpack rows", "msgpack columns", "json rows",
                                     "json columns")}  # fmt: skip
    for b in batches:
        got = {}
        for form, hub in hubs.items():
            encoding, shape = form.split()
            msg = decode_client(frame(columnar(b) if shape == "columns" else b, encoding))
            assert isinstance(msg, Batch)
            got[form] = convert_batch(hub.state(msg.instrument), msg)
        depth, trades = got["msgpack rows"]
        assert len(depth) == len(b.depth) and len(trades) == len(b.ticks)
        for form, (d, t) in got.items():
            for f in DEPTH_FIELDS:
                assert np.array_equal(d[f], depth[f]), (form, f)
            for f in TRADE_FIELDS:
                assert np.array_equal(t[f], trades[f]), (form, f)
    # and the prices are the exchange's: ticks back to prices equal what was sent
    inst = next(iter(hubs.values())).state("ES 03-24").instrument
    last = batches[-1]
    d, _ = convert_batch(Hub().state("ES 03-24"), last)
    assert [inst.to_price(int(p)) for p in d["price"]] == [e.price for e in last.depth]


def test_the_compiled_passes_equal_the_exact_way_on_esh4(batches):
    """Every ESH4 batch, rows and columns: the compiled passes give the exact way's arrays
    (every field, ts_recv aside), move the plausibility reference and the aggressor memory the
    same way, and count nothing."""
    for columns in (False, True):
        fast, exact = Hub().state("ES 03-24"), Hub().state("ES 03-24")
        for b in batches:
            msg = columnar(b) if columns else b
            d1, t1 = convert_batch(fast, msg)
            d2, t2 = convert_exact(exact, msg)
            for f in DEPTH_FIELDS:
                assert np.array_equal(d1[f], d2[f]), (columns, b.seq, f)
            for f in TRADE_FIELDS:
                assert np.array_equal(t1[f], t2[f]), (columns, b.seq, f)
            assert undo_of(fast) == undo_of(exact)
        assert not fast.rejected


def test_odd_prices_and_quotes_go_the_exact_way_with_its_result():
    """A quote off the grid or missing is no price (it only steers the aggressor), a price
    the compiled pass cannot prove (huge, or a float that is not the decimal it prints as)
    is decided by the exact way: the results are the exact way's."""
    from orderflow.protocol import Depth, Tick

    t = 1_703_500_000_000_000_000
    cases = [
        Batch("ES 03-24", seq=1, depth=[Depth(t, "bid", "add", 0, 4770.25, 3)],
              ticks=[Tick(t, 4770.25, 1, None, 4770.3), Tick(t, 4770.5, 2, 4770.25, None)]),
        Batch("ES 03-24", seq=2, depth=[Depth(t, "ask", "add", 0, 4770.25 + 1e-12, 3)]),
        Batch("ES 03-24", seq=3, snapshot=True,
              depth=[Depth(t, "ask", "add", 0, 9_500_000.0, 3)]),  # beyond the fast bound
    ]  # fmt: skip
    for b in cases:
        for msg in (b, columnar(b)):
            fast, exact = Hub().state("ES 03-24"), Hub().state("ES 03-24")
            try:
                d2, t2 = convert_exact(exact, msg)
            except RequestError as e:
                with pytest.raises(RequestError) as err:
                    convert_batch(fast, msg)
                assert err.value.message == e.message
                continue
            d1, t1 = convert_batch(fast, msg)
            for f in DEPTH_FIELDS:
                assert np.array_equal(d1[f], d2[f]), (b.seq, f)
            for f in TRADE_FIELDS:
                assert np.array_equal(t1[f], t2[f]), (b.seq, f)


NAN, INF = float("nan"), float("inf")
#: (form, where, bad value, the field the refusal names); ``where`` is a path into the batch's
#: dict (an int: that element); JSON cannot carry NaN or an infinity, MessagePack can
REFUSALS = [
    ("rows", ("depth", 3, "t"), 5, "depth[3].t"),
    ("rows", ("depth", 3, "side"), "mid", "depth[3].side"),
    ("rows", ("depth", 3, "op"), "delete", "depth[3].op"),
    ("rows", ("depth", 3, "pos"), 10_001, "depth[3].pos"),
    ("rows", ("depth", 3, "pos"), -1, "depth[3].pos"),
    ("rows", ("depth", 3, "price"), 4770.3, "depth[3].price"),
    ("rows", ("depth", 3, "price"), 2e9, "depth[3].price"),
    ("rows", ("depth", 3, "price"), 9000.0, "depth[3].price"),  # implausibly far
    ("rows", ("depth", 3, "price"), "4770.25", "depth[3].price"),
    ("rows", ("depth", 3, "size"), -1, "depth[3].size"),
    ("rows", ("depth", 3, "size"), 2_000_000_000, "depth[3].size"),
    ("rows", ("depth", 3, "volume"), 1, "depth[3].volume"),
    ("rows", ("depth", 3, "reset"), "yes", "depth[3].reset"),
    ("msgpack rows", ("depth", 3, "price"), NAN, "depth[3].price"),
    ("msgpack rows", ("depth", 3, "price"), INF, "depth[3].price"),
    ("msgpack rows", ("ticks", 0, "bid"), NAN, "ticks[0].bid"),
    ("msgpack columns", ("columns", "price", 3), NAN, "columns.price[3]"),
    ("msgpack columns", ("columns", "price", 3), -INF, "columns.price[3]"),
    ("columns", ("columns", "t", 3), 5, "columns.t[3]"),
    ("columns", ("columns", "t", 3), -5, "columns.t[3]"),
    ("columns", ("columns", "pos", 3), 10_001, "columns.pos[3]"),
    ("columns", ("columns", "price", 3), 4770.3, "columns.price[3]"),
    ("columns", ("columns", "price", 3), 9000.0, "columns.price[3]"),
    ("columns", ("columns", "size", 3), -1, "columns.size[3]"),
    ("columns", ("columns", "side"), "bxa", "columns.side"),
    ("columns", ("columns", "op"), "aud", "columns.op"),
    ("columns", ("columns", "size"), [1, 2], "columns"),  # not one entry per event
    ("columns", ("columns", "reset"), [100_000], "columns"),  # beyond the events
    ("columns", ("columns", "volume"), [], "columns.volume"),
    ("both", ("ticks", 0, "price"), 4770.3, "ticks[0].price"),
    ("both", ("ticks", 0, "size"), 0, "ticks[0].size"),
    ("both", ("ticks", 0, "t"), 5, "ticks[0].t"),
    ("both", ("ticks", 0, "ask"), 2e9, "ticks[0].ask"),
    ("both", ("seq",), -1, "seq"),
    ("both", ("instrument",), "../ES", "instrument"),
]


def _set(d: dict[str, Any], where: tuple[Any, ...], value: Any) -> None:
    for key in where[:-1]:
        d = d[key]
    d[where[-1]] = value


def _state(hub: Hub, name: str) -> tuple[Any, ...]:
    """What applying a batch changes: the ladder, the pipeline's metrics, the conversion's
    state (plausibility reference, aggressor memory), the counts and the client's sequence."""
    st = hub.state(name)
    rows = tuple(a.tolist() for a in st.pipeline.book.top_rows(10))
    snap = json.dumps(st.pipeline.snapshot(), sort_keys=True, default=str)
    return (rows, snap, st.pipeline.groups, st.ref_ticks, st.classifier.side,
            st.classifier.last_price, st.depth_events, st.ticks, st.batches)  # fmt: skip


def _forms(form: str) -> list[tuple[str, bool]]:
    encodings = ["json", "msgpack"]
    if form.startswith(("json", "msgpack")):
        encodings = [form.split()[0]]
        form = form.split()[1]
    shapes = {"rows": [False], "columns": [True], "both": [False, True]}[form]
    return [(e, c) for e in encodings for c in shapes]


@pytest.mark.parametrize(("form", "where", "value", "field"), REFUSALS,
                         ids=[f"{r[0]}:{r[3]}={r[2]!r}" for r in REFUSALS])  # fmt: skip
def test_every_fields_refusal_is_named_in_every_form(batches, form, where, value, field):
    for encoding, columns in _forms(form):
        hub = Hub()
        for b in batches[:5]:
            hub.apply(b, "nt8")
        name = batches[0].instrument
        target = next(b for b in batches[5:]
                      if b.ticks and len(b.depth) > 3 and b.depth[3].op != "remove")  # fmt: skip
        d = as_dict(target, columns)
        _set(d, where, value)
        before = _state(hub, name)
        with pytest.raises(RequestError) as err:
            msg = decode_client(frame(d, encoding))
            assert isinstance(msg, Batch)
            hub.apply(msg, "nt8")
        assert err.value.details["field"] == field, (encoding, columns, err.value.message)
        assert err.value.message.startswith(field), err.value.message
        after = _state(hub, name)
        assert after[:6] == before[:6], (encoding, columns)  # nothing of it applied


def test_a_fuzzed_batch_never_half_applies(batches):
    """Batches of ESH4 with one bad value at a random place, in a random form: each is refused
    whole (RequestError), and the book, the metrics and the conversion's state are exactly as
    before it; the good batches between them apply as usual."""
    rng = np.random.default_rng(16)
    hub = Hub()
    name = batches[0].instrument
    bad_values = {
        "t": [0, 5, 10**18 * 9, -1],
        "price": [4770.3, 1e10, 0.1, None, "1"],
        "size": [-1, 10**10, 1.5, None],
        "pos": [-1, 10**6, None],
        "side": ["x", 1, None],
        "op": ["delete", 0, None],
        "bid": [1e10, -2e9, "b"],  # an off-grid or missing quote is not a refusal
    }
    refused = applied = 0
    seq = 0
    for i, b in enumerate(batches):
        seq += 1
        b = msgspec.structs.replace(b, seq=seq)
        if i < 20 or rng.random() < 0.5:
            hub.apply(b, "nt8")
            applied += 1
            continue
        columns = bool(rng.integers(2)) and b.n_depth > 0
        encoding = "msgpack" if rng.integers(2) else "json"
        d = as_dict(b, columns)
        kinds = ["depth"] * 3 + (["ticks"] if b.ticks else [])
        kind = kinds[int(rng.integers(len(kinds)))]
        if kind == "ticks":
            key = ["t", "price", "size", "bid"][int(rng.integers(4))]
            k = int(rng.integers(len(b.ticks)))
            where: tuple[Any, ...] = ("ticks", k, "ask" if key == "bid" else key)
        else:
            key = ["t", "price", "size", "pos", "side", "op"][int(rng.integers(6))]
            k = int(rng.integers(b.n_depth))
            if columns and key in ("side", "op"):
                s = d["columns"][key]
                bad_char = "x" if rng.integers(2) else "é"
                where, value = ("columns", key), s[:k] + bad_char + s[k + 1 :]
            elif columns:
                where = ("columns", key, k)
            else:
                where = ("depth", k, key)
        if not (columns and key in ("side", "op")):
            choices = bad_values[key]
            value = choices[int(rng.integers(len(choices)))]
        _set(d, where, value)
        before = _state(hub, name)
        with pytest.raises(RequestError):
            msg = decode_client(frame(d, encoding))
            assert isinstance(msg, Batch)
            hub.apply(msg, "nt8")
        assert _state(hub, name)[:6] == before[:6], (i, encoding, columns, where, value)
        refused += 1
        # the ladder lost that batch's depth: a snapshot of the book as it stands heals it
        bp, bs, ap, as_ = hub.state(name).pipeline.book.top_rows(10)
        if hub.state(name).stale:
            seq += 1
            inst = hub.state(name).instrument
            t = b.last_depth_t
            rows = [
                {
                    "t": t,
                    "side": "bid",
                    "op": "add",
                    "pos": j,
                    "price": inst.to_price(int(p)),
                    "size": int(q),
                }
                for j, (p, q) in enumerate(zip(bp, bs, strict=True))
            ]
            rows += [{"t": t, "side": "ask", "op": "add", "pos": j,
                      "price": inst.to_price(int(p)), "size": int(q)}
                     for j, (p, q) in enumerate(zip(ap, as_, strict=True))]  # fmt: skip
            snap = {"type": "batch", "instrument": name, "seq": seq, "snapshot": True,
                    "depth": rows}  # fmt: skip
            hub.apply(msgspec.convert(snap, Batch), "nt8")
            assert not hub.state(name).stale
    assert refused > 50 and applied > 50


def test_times_are_checked_before_anything_else_in_both_depth_forms(batches):
    b = batches[10]
    for form in (b, columnar(b)):
        check_batch(form, b.depth[-1].t)  # plausible: nothing raised
        with pytest.raises(RequestError) as err:
            check_batch(form, 0)  # every time more than a day after "receipt"
        assert err.value.details["field"] in ("depth[0].t", "columns.t[0]")
