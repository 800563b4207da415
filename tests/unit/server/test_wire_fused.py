"""The one compiled call of a batch (depth, prints and their aggressor sides together) takes
every ESH4 batch in both depth forms, without falling back to the exact way, and gives the
exact way's arrays and state; the tick rule's classifier, which the call leaves to Python,
too."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from orderflow.analytics.trades import AggressorClassifier
from orderflow.core.errors import InstrumentOwnedError, RequestError
from orderflow.model.enums import Flags, NtOperation, Side
from orderflow.protocol import FUTURE_NS, RawRows, columnar, packed
from orderflow.server._wire_kernels import PRINT_FIELDS, ROW_FIELDS
from orderflow.server.frames import decode_frame
from orderflow.server.hub import Hub
from orderflow.server.wire import (
    _PRINT,
    _ROW,
    _convert_fast,
    convert_exact,
    fast_conversion,
    undo_of,
)
from tests.integration.test_server import esh4_batches
from tests.unit.server.test_wire_decode import DEPTH_FIELDS, TRADE_FIELDS, _state

pytestmark = pytest.mark.slow


def _frame_rows(b):
    """``b`` as a MessagePack session decodes it: rows left in the frame's bytes."""
    msg = decode_frame(msgspec.msgpack.encode(b))
    assert type(msg.depth) is RawRows or not b.depth
    return msg


FORMS = {"rows": lambda b: b, "columns": columnar, "packed": packed, "frame": _frame_rows}


@pytest.mark.parametrize("rule", ["bidask", "tick"])
@pytest.mark.parametrize("form", ["rows", "columns", "packed", "frame"])
def test_every_esh4_batch_goes_through_the_one_call_with_the_exact_result(form, rule):
    """Rows, list columns and packed columns (their bytes into the call as decoded)."""
    batches = esh4_batches()[0]
    fast, exact = Hub().state("ES 03-24"), Hub().state("ES 03-24")
    fast.classifier, exact.classifier = AggressorClassifier(rule), AggressorClassifier(rule)
    prints = 0
    for b in batches:
        msg = FORMS[form](b)
        got = _convert_fast(fast, msg)
        assert got is not None, b.seq  # the compiled call proved it: no fallback
        d1, t1 = got
        d2, t2 = convert_exact(exact, msg)
        for f in DEPTH_FIELDS:
            assert np.array_equal(d1[f], d2[f]), (b.seq, f)
        for f in TRADE_FIELDS:
            assert np.array_equal(t1[f], t2[f]), (b.seq, f)
        assert undo_of(fast) == undo_of(exact)  # reference, aggressor memory, counts
        prints += len(t1)
    assert prints > 1000 and not fast.rejected


@pytest.mark.parametrize("form", ["rows", "columns", "packed", "frame"])
def test_every_side_operation_and_reset_code_equals_the_exact_way(form):
    """Each of the twelve (reset, side, operation) combinations, in an ESH4 batch's events,
    through the one call: the same side, operation and flags as the exact way."""
    batch = next(b for b in esh4_batches()[0] if len(b.depth) >= 12 and not b.snapshot)
    combos = [(r, s, o) for r in (False, True) for s in ("bid", "ask")
              for o in ("add", "update", "remove")]  # fmt: skip
    depth = [msgspec.structs.replace(e, reset=r, side=s, op=o)
             for e, (r, s, o) in zip(batch.depth, combos, strict=False)]  # fmt: skip
    msg = msgspec.structs.replace(batch, depth=depth, ticks=[])
    msg = FORMS[form](msg)
    fast, exact = Hub().state("ES 03-24"), Hub().state("ES 03-24")
    got = _convert_fast(fast, msg)
    assert got is not None
    d2, _ = convert_exact(exact, msg)
    for f in DEPTH_FIELDS:
        assert np.array_equal(got[0][f], d2[f]), f
    bid, ask = int(Side.BID), int(Side.ASK)
    assert got[0]["side"][:12].tolist() == [bid] * 3 + [ask] * 3 + [bid] * 3 + [ask] * 3
    ops = [int(NtOperation.ADD), int(NtOperation.UPDATE), int(NtOperation.REMOVE)]
    assert got[0]["operation"][:12].tolist() == ops * 4
    reset = got[0]["flags"][:12] & int(Flags.RESET)
    assert reset.tolist() == [0] * 6 + [int(Flags.RESET)] * 6


def _owned_hub(batches, form):
    """A hub whose ES is fed by client ``a`` (five batches applied), in the depth form."""
    hub = Hub()
    hub.feeds.connect("a")
    for b in batches[:5]:
        hub.apply(form(b), "a")
    return hub


@pytest.mark.parametrize("form", FORMS)
def test_the_one_call_before_the_claim_refuses_as_the_long_way(form):
    """The times, prices and events of a market-data batch are checked by the compiled call
    before the instrument is claimed; whatever it cannot prove goes the long way, so every
    refusal is the long way's, in its order: a time out of the window is refused naming it
    before the claim (another client's batch does not use up its sequence number, an unknown
    instrument is not named), a batch of another client's instrument is refused with the
    conversion's state untouched, and a refused batch applies nothing."""
    shape = FORMS[form]
    batches = [msgspec.structs.replace(b, seq=i)
               for i, b in enumerate(esh4_batches()[0][:12], start=1)]  # fmt: skip
    hub = _owned_hub(batches, shape)
    b = next(x for x in batches[5:] if x.ticks and len(x.depth) > 3)
    st = hub.state("ES 03-24")
    depth_t = "columns.t[2]" if form in ("columns", "packed") else "depth[2].t"
    cases = [  # (batch, client, the field named, the error)
        (_with_t(b, depth=2, t=5), "a", depth_t, RequestError),
        (_with_t(b, tick=0, t=b.depth[-1].t + 2 * FUTURE_NS), "a", "ticks[0].t", RequestError),
        (_with_t(b, tick=0, t=5), "b", "ticks[0].t", RequestError),  # not the claim's refusal
        (msgspec.structs.replace(_with_t(b, depth=2, t=5), instrument="ZZ 03-24"), "a",
         depth_t, RequestError),  # the time first, as check_batch names it
        (msgspec.structs.replace(b, instrument="ZZ 03-24"), "a", "instrument", RequestError),
        (b, "b", "instrument", InstrumentOwnedError),
    ]  # fmt: skip
    for bad, client, field, error in cases:
        msg = shape(bad)
        before = _state(hub, "ES 03-24"), dict(hub.last_seq), undo_of(st)
        with pytest.raises(error) as err:
            hub.apply(msg, client, recv_ns=b.depth[-1].t)
        assert err.value.details["field"] == field, err.value.message
        assert err.value.message.startswith(field), err.value.message
        assert _state(hub, "ES 03-24") == before[0], field  # nothing of it applied
        assert undo_of(st) == before[2], field  # the conversion's state as it was
        if error is RequestError:  # refused before the claim: no sequence number used
            assert hub.last_seq == before[1], field
    assert hub.feeds.owner("ESH4") == "a"
    hub.apply(shape(b), "a", recv_ns=b.depth[-1].t)  # the good batch still applies


def _with_t(b, *, t, depth=None, tick=None):
    """``b`` with depth event ``depth``'s or print ``tick``'s time made ``t``."""
    if depth is not None:
        ev = list(b.depth)
        ev[depth] = msgspec.structs.replace(ev[depth], t=t)
        return msgspec.structs.replace(b, depth=ev)
    ks = list(b.ticks)
    ks[tick] = msgspec.structs.replace(ks[tick], t=t)
    return msgspec.structs.replace(b, ticks=ks)


@pytest.mark.parametrize("form", ["rows", "packed", "frame"])
def test_each_event_and_print_record_keeps_its_fields_in_place(form):
    """Rows go into the call one record an event and prints one record a print: missing
    quotes, IsReset on the first and last events, and the last event's and last print's
    fields reach the engine as the exact way has them; a bad value in the last record is
    found there (refused naming it), not read into a neighbour's field."""
    assert _ROW.size == 8 * ROW_FIELDS and _PRINT.size == 8 * PRINT_FIELDS
    b = next(x for x in esh4_batches()[0] if len(x.ticks) >= 3 and len(x.depth) >= 12)
    ks = list(b.ticks)
    ks[0] = msgspec.structs.replace(ks[0], bid=None)
    ks[1] = msgspec.structs.replace(ks[1], ask=None)
    ks[-1] = msgspec.structs.replace(ks[-1], bid=None, ask=None)
    ev = list(b.depth)
    ev[0] = msgspec.structs.replace(ev[0], reset=True)
    ev[-1] = msgspec.structs.replace(ev[-1], reset=True)
    good = msgspec.structs.replace(b, depth=ev, ticks=ks)
    for rule in ("bidask", "tick"):
        fast, exact = Hub().state("ES 03-24"), Hub().state("ES 03-24")
        fast.classifier, exact.classifier = AggressorClassifier(rule), AggressorClassifier(rule)
        got = _convert_fast(fast, FORMS[form](good))
        assert got is not None
        d2, t2 = convert_exact(exact, FORMS[form](good))
        for f in DEPTH_FIELDS:
            assert np.array_equal(got[0][f], d2[f]), f
        for f in TRADE_FIELDS:
            assert np.array_equal(got[1][f], t2[f]), f
        assert undo_of(fast) == undo_of(exact)
        assert got[0]["flags"][[0, -1]].tolist() == list(d2["flags"][[0, -1]])
    n, m = len(ev), len(ks)
    last_price = "columns.price" if form == "packed" else "depth"
    cases = [  # the last event's price off the grid, the last print's, its bid (no refusal)
        (msgspec.structs.replace(good, depth=[*ev[:-1], msgspec.structs.replace(
            ev[-1], price=ev[-1].price + 0.1)]), f"{last_price}[{n - 1}]"),
        (msgspec.structs.replace(good, ticks=[*ks[:-1], msgspec.structs.replace(
            ks[-1], price=ks[-1].price + 0.1)]), f"ticks[{m - 1}].price"),
        (msgspec.structs.replace(good, ticks=[*ks[:-1], msgspec.structs.replace(
            ks[-1], bid=ks[-1].price + 0.1)]), None),
    ]  # fmt: skip
    for bad, field in cases:
        st = Hub().state("ES 03-24")
        before = undo_of(st)
        assert fast_conversion(st, FORMS[form](bad)) is None, field  # the exact way decides
        assert undo_of(st) == before
        if field is None:  # an off-grid quote only steers the aggressor: converted
            convert_exact(st, FORMS[form](bad))
            continue
        with pytest.raises(RequestError) as err:
            convert_exact(st, FORMS[form](bad))
        assert err.value.details["field"].startswith(field), err.value.details
