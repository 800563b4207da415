"""The one compiled call of a batch (depth, prints and their aggressor sides together) takes
every ESH4 batch in both depth forms, without falling back to the exact way, and gives the
exact way's arrays and state; the tick rule's classifier, which the call leaves to Python,
too."""

from __future__ import annotations

import numpy as np
import pytest

from orderflow.analytics.trades import AggressorClassifier
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
