"""The pipeline's own bookkeeping around a fused call (``Pipeline._fused_groups``: the counts,
the kept prints and imbalances, the delta extremes, the liquidity tracker's note of the latest
book rows) equals the separate path's after EVERY call of a backtest's 100-record pieces of
ESH4, and after prints fed without book records (``process_prints``)."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import numpy as np

from orderflow.analytics.trades import trades_from_mbo
from orderflow.engine import Pipeline
from tests.unit.engine import test_fused_esh4 as esh4
from tests.unit.engine.fused_support import PARAMS


def _kept(p: Pipeline) -> Any:
    n = p.trades
    lc = p.liquidity_clusters
    return (
        p.events, p.groups, p.trades, p.volume, p.delta_low, p.delta_high, p.first_ts,
        p.last_ts, lc._now, lc.changes, [r.tolist() for r in lc._last],
        list(p.imbalances),
        *(a.tolist() for c in (0, max(n - 300, 0), n - 1, n) for a in p.prints_since(c)),
    )  # fmt: skip


def test_every_piece_and_loose_prints_as_the_separate_path() -> None:
    s = esh4._stream()
    ev, inst = s.array[:30_000], s.instrument
    fused = Pipeline(inst, "mbo", PARAMS)
    sep = Pipeline(inst, "mbo", dataclasses.replace(PARAMS, fused=False))
    assert fused._fused is not None and sep._fused is None
    loose = trades_from_mbo(ev[:2_000])[:5]
    checked = 0
    for a in range(0, len(ev), 100):
        for p in (fused, sep):
            p.process(ev[a : a + 100])
            if a % 5_000 == 0:  # prints with no book records, over the book as it stands
                p.process_prints(loose, ts_event=p.last_ts)
        assert _kept(fused) == _kept(sep), a
        checked += 1
    assert checked == 300 and fused.trades > 1_000 and len(fused.imbalances) == 256
    assert np.array_equal(fused.prints_since(0)[1], sep.prints_since(0)[1])


def test_copies_keep_into_their_own_arrays() -> None:
    """A deep copy and a pickled copy of a fused pipeline: the kernel takes each one's prints
    and imbalances into ITS kept arrays (the table is rebuilt from the copy's own), and the
    original's are untouched by the copies' calls."""
    s = esh4._stream()
    ev, inst = s.array[:12_000], s.instrument
    p = Pipeline(inst, "mbo", PARAMS)
    ref = Pipeline(inst, "mbo", dataclasses.replace(PARAMS, fused=False))
    for q in (p, ref):
        q.process(ev[:6_000])
    copies = [copy.deepcopy(p), pickle.loads(pickle.dumps(p))]
    for q in copies:  # (the original has not seen these yet)
        for a in range(6_000, 9_000, 100):
            q.process(ev[a : a + 100])
    assert _kept(p) == _kept(ref)
    for a in range(6_000, len(ev), 100):
        for q in (p, ref) if a < 9_000 else (p, ref, *copies):
            q.process(ev[a : a + 100])
    assert _kept(p) == _kept(ref) == _kept(copies[0]) == _kept(copies[1])
