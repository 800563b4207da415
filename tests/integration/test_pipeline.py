"""The whole pipeline (book + analytics + signals) on the real ESH4 MBO hour: the same results
whatever the chunking (live groups or replay chunks), the same signals as the detectors run on
their own, and session numbers re-derived here from the raw records."""

from __future__ import annotations

from fractions import Fraction
from functools import cache

import numpy as np
import pytest

from orderflow.analytics.bars import BarKind, BarSpec
from orderflow.core.time import parse_time
from orderflow.engine import Pipeline, PipelineParams
from orderflow.engine.runner import run_stream, summarize
from orderflow.io.dbn import read_mbo
from orderflow.model.enums import Action, Flags
from orderflow.signals.detectors_pull import PullParams
from orderflow.signals.evaluate import evaluate_stream
from tests.conftest import ES_MBO, need

pytestmark = pytest.mark.slow

SESSION_OPEN = parse_time("2023-12-25T23:00:00Z")
#: every detector on, pulling/stacking included (what ``signals evaluate`` measures)
MEASURED = PipelineParams(keep_mid_path=True, pull=PullParams(enabled=True))


@cache
def data():  # type: ignore[no-untyped-def]
    return read_mbo(need(ES_MBO))


@cache
def whole() -> Pipeline:
    events, inst = data()
    return run_stream("mbo", events, inst, MEASURED)


def test_signals_equal_the_detectors_run_on_their_own():
    events, inst = data()
    report = evaluate_stream(events, inst)
    assert whole().signals == report.signals
    assert dict(whole().signal_counts) == {k: v for k, v in report.counts.items() if v}


@pytest.mark.parametrize("chunk", [777, 10_000])
def test_chunking_changes_nothing(chunk):
    events, inst = data()
    pipe = run_stream("mbo", events, inst, MEASURED, chunk=chunk)
    ref = whole()
    assert pipe.signals == ref.signals
    assert pipe.accumulated == ref.accumulated
    assert pipe.snapshot() == ref.snapshot()
    for k in range(len(ref.params.bars)):
        assert np.array_equal(pipe.bars.series[k].all_bars(), ref.bars.series[k].all_bars())
        assert np.array_equal(pipe.bars.series[k].cells(), ref.bars.series[k].cells())
    for a, b in zip(pipe.mid_path(), ref.mid_path(), strict=True):
        assert np.array_equal(a, b)


def test_group_by_group_like_a_live_feed_equals_the_batch():
    """The first 3,000 event groups fed one at a time, as the server will, then compared with
    one batch call over the same records."""
    events, inst = data()
    ends = np.flatnonzero((events["flags"] & (Flags.LAST | Flags.SNAPSHOT)) == Flags.LAST) + 1
    stop = int(ends[2_999])
    live = Pipeline(inst, "mbo", MEASURED)
    start = 0
    for end in ends[:3_000].tolist():
        live.process(events[start:end])
        start = end
        if live.groups % 1_000 == 0:  # a read joins the path so far; later reads go on from it
            live.mid_path()
    batch = Pipeline(inst, "mbo", MEASURED)
    batch.process(events[:stop])
    assert live.groups == batch.groups == 3_000
    assert live.signals == batch.signals
    assert live.snapshot() == batch.snapshot()
    for a, b in zip(live.mid_path(), batch.mid_path(), strict=True):
        assert np.array_equal(a, b) and a.dtype == b.dtype


def test_pulling_and_stacking_are_signalled_but_move_no_score_unless_asked():
    """With the detector on (not accumulated) the accumulated signals are the default
    pipeline's; with ``accumulate`` they count like any other detector's."""
    events, inst = data()
    default = run_stream("mbo", events, inst, PipelineParams())
    assert default.pull is None and "pulling" not in default.signal_counts
    assert whole().signal_counts["pulling"] == 37 and whole().signal_counts["stacking"] == 67
    assert whole().accumulated == default.accumulated
    asked = PipelineParams(pull=PullParams(enabled=True, accumulate=True))
    counted = run_stream("mbo", events, inst, asked)
    assert counted.signals == whole().signals and counted.accumulated != default.accumulated
    assert any(c.detector == "stacking" for a in counted.accumulated for c in a.contributions)


def test_a_group_split_across_calls_waits_for_its_end():
    events, inst = data()
    ends = np.flatnonzero((events["flags"] & (Flags.LAST | Flags.SNAPSHOT)) == Flags.LAST) + 1
    cut = int(ends[100]) - 1  # one record short of the 101st boundary
    pipe = Pipeline(inst, "mbo")
    pipe.process(events[:cut])
    assert pipe.groups == 100
    pipe.process(events[cut : int(ends[100])])
    assert pipe.groups == 101


def test_session_numbers_match_a_direct_computation():
    events, _ = data()
    t = events[events["action"] == Action.TRADE]
    s = t[t["ts_event"] >= SESSION_OPEN]
    summary = summarize(whole())
    assert (summary["trades"], summary["volume"]) == (len(t), int(t["size"].sum()))
    assert (len(t), int(t["size"].sum())) == (2_973, 9_892)
    signed = np.where(t["side"] == 0, t["size"], np.where(t["side"] == 1, -t["size"], 0))
    assert summary["cumulative_delta"]["final"] == int(signed[t["ts_event"] >= SESSION_OPEN].sum())
    vw = Fraction(int((s["price"] * s["size"]).sum()), int(s["size"].sum()))
    assert summary["vwap"]["price"] == pytest.approx(float(vw) * 0.25, abs=1e-9)
    assert summary["session"]["volume"] == int(s["size"].sum())
    prof = whole().profiles.current
    assert prof is not None and prof.total == int(s["size"].sum())
    prices, counts = np.unique(s["price"], return_inverse=True)
    vol = np.bincount(counts, weights=s["size"])
    assert summary["profile"]["poc"] == prices[int(np.argmax(vol))] * 0.25 == 4810.0
    assert (summary["profile"]["val"], summary["profile"]["vah"]) == (4807.5, 4811.0)


def test_footprint_cells_sum_to_each_bar_volume():
    pipe = whole()
    for k in range(len(pipe.params.bars)):
        series = pipe.bars.series[k]
        bars = series.bars()
        for i in range(len(bars)):
            cells = series.bar_cells(i)
            total = int(cells["bid"].sum() + cells["ask"].sum() + cells["other"].sum())
            assert total == int(bars["volume"][i])


def test_confirmation_only_sees_closed_bars():
    events, inst = data()
    params = PipelineParams(
        bars=(BarSpec(BarKind.TIME, 60), BarSpec(BarKind.TIME, 300)), confirm_series=1
    )
    pipe = run_stream("mbo", events, inst, params)
    closed = pipe.bars.series[1].bars()
    for sig in pipe.signals[:50]:
        i = int(np.searchsorted(closed["ts_close"], sig.ts_event, side="right")) - 1
        want = 0 if i < 0 else int(np.sign(closed["close"][i] - closed["open"][i]))
        assert pipe._confirm_direction(sig.ts_event) == want
    assert pipe.accumulator.rejected["confirm"] > 0
    assert all(pipe._confirm_direction(a.ts_event) == a.direction for a in pipe.accumulated)


def test_the_imbalance_of_the_latest_groups_does_not_depend_on_the_chunking():
    """What the imbalance-flip exit reads: the book imbalance of each of the latest 256 event
    groups, the same fed in chunks of 777 records as in one call, the last one the metrics'."""
    events, inst = data()
    pipe = run_stream("mbo", events, inst, MEASURED, chunk=777)
    ref = whole()
    assert list(pipe.imbalances) == list(ref.imbalances) and len(ref.imbalances) == 256
    ts = [t for t, _ in ref.imbalances]
    assert ts == sorted(ts) and ts[-1] == ref.last_ts
    assert ref.imbalances[-1][1] == ref.metrics.imbalance
    assert all(-1.0 <= x <= 1.0 for _, x in ref.imbalances)
