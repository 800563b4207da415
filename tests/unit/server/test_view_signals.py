"""The dashboard takes the pipeline's new signals by count: each keeps its number (its id) as
the pipeline counted it, whether the view keeps up or fell behind the pipeline's bound (then
it gets the latest kept, numbered as they were, never renumbered from what it saw)."""

from __future__ import annotations

from dataclasses import dataclass

from orderflow.engine.pipeline import Pipeline, PipelineParams
from orderflow.model.instruments import Instrument, get_instrument
from orderflow.server.view import InstrumentView, ViewParams
from orderflow.signals.model import Signal

ES = get_instrument("ESH4")


@dataclass
class _State:  # what sync_signals reads of the hub's instrument state
    pipeline: Pipeline
    instrument: Instrument


def _signal(n: int) -> Signal:
    return Signal(instrument="ESH4", ts_event=1_000 + n, direction=1 if n % 2 else -1,
                  score=0.5, detector="sweep", price=19_240 + n)  # fmt: skip


def test_signal_ids_are_the_pipelines_count_kept_up_or_behind() -> None:
    st = _State(Pipeline(ES, "trades", PipelineParams(signals_kept=4)), ES)
    iv = InstrumentView.new(ViewParams(signals=10))
    st.pipeline.signals.extend(_signal(n) for n in range(3))
    iv.sync_signals(st)  # type: ignore[arg-type]
    assert [d["id"] for d in iv.signals] == [1, 2, 3]
    st.pipeline.signals.extend(_signal(n) for n in range(3, 5))
    iv.sync_signals(st)  # type: ignore[arg-type]
    assert [d["id"] for d in iv.signals] == [1, 2, 3, 4, 5]
    st.pipeline.signals.extend(_signal(n) for n in range(5, 12))  # 7 new, 4 kept
    iv.sync_signals(st)  # type: ignore[arg-type]
    assert [d["id"] for d in iv.signals] == [1, 2, 3, 4, 5, 9, 10, 11, 12]
    assert [d["ts_event"] for d in iv.signals][-4:] == [1_008, 1_009, 1_010, 1_011]
    assert iv.signals_seen == 12
    iv.sync_signals(st)  # type: ignore[arg-type]
    assert len(iv.signals) == 9
