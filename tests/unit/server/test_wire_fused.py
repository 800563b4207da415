"""The one compiled call of a batch (depth, prints and their aggressor sides together) takes
every ESH4 batch in both depth forms, without falling back to the exact way, and gives the
exact way's arrays and state; the tick rule's classifier, which the call leaves to Python,
too."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from orderflow.analytics.trades import AggressorClassifier
from orderflow.model.enums import Flags, NtOperation, Side
from orderflow.protocol import columnar
from orderflow.server.hub import Hub
from orderflow.server.wire import _convert_fast, convert_exact, undo_of
from tests.integration.test_server import esh4_batches
from tests.unit.server.test_wire_decode import DEPTH_FIELDS, TRADE_FIELDS

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("rule", ["bidask", "tick"])
@pytest.mark.parametrize("columns", [False, True])
def test_every_esh4_batch_goes_through_the_one_call_with_the_exact_result(columns, rule):
    batches = esh4_batches()[0]
    fast, exact = Hub().state("ES 03-24"), Hub().state("ES 03-24")
    fast.classifier, exact.classifier = AggressorClassifier(rule), AggressorClassifier(rule)
    prints = 0
    for b in batches:
        msg = columnar(b) if columns else b
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


@pytest.mark.parametrize("columns", [False, True])
def test_every_side_operation_and_reset_code_equals_the_exact_way(columns):
    """Each of the twelve (reset, side, operation) combinations, in an ESH4 batch's events,
    through the one call: the same side, operation and flags as the exact way."""
    batch = next(b for b in esh4_batches()[0] if len(b.depth) >= 12 and not b.snapshot)
    combos = [(r, s, o) for r in (False, True) for s in ("bid", "ask")
              for o in ("add", "update", "remove")]  # fmt: skip
    depth = [msgspec.structs.replace(e, reset=r, side=s, op=o)
             for e, (r, s, o) in zip(batch.depth, combos, strict=False)]  # fmt: skip
    msg = msgspec.structs.replace(batch, depth=depth, ticks=[])
    msg = columnar(msg) if columns else msg
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
