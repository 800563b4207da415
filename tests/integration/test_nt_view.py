"""What the server saw, rebuilt without a server: the ESH4 hour cut into the bridge's batches
(``io.nt_feed.nt_batches``) and fed as arrays to a pipeline through ``Pipeline.process_batch``
with the bid/ask aggressor rule gives exactly the pipeline state, signals and accumulated
signals of the Hub that applied the same batches from the wire. A backtest that must match
the live path (live/backtest parity) stands on this."""

from __future__ import annotations

import numpy as np

from orderflow.analytics.trades import AggressorClassifier
from orderflow.client.feed import nt_name, to_wire
from orderflow.engine.pipeline import Pipeline
from orderflow.io.formats import load_stream
from orderflow.io.nt_feed import nt_batches
from orderflow.server.hub import Hub
from tests.conftest import ES_MBO, need


def test_the_bridges_batches_as_arrays_give_the_servers_pipeline_exactly() -> None:
    stream = load_stream(need(ES_MBO))
    inst = stream.instrument
    cut = nt_batches(stream, 10, 100)
    assert len(cut) == 439
    # the source records reached: increasing, ending at the file's last event boundary
    ends = np.array([nb.source_end for nb in cut])
    assert (np.diff(ends) > 0).all() and ends[-1] <= len(stream.array)
    name = nt_name(inst, cut[0].t_first)
    hub = Hub()
    for k, nb in enumerate(cut):
        hub.apply(to_wire(nb, inst, name, k + 1).batch, client="nt8")
    served = hub.instruments[inst.contract or inst.symbol].pipeline

    pipe = Pipeline(inst, "nt_depth")
    rule = AggressorClassifier("bidask")
    for nb in cut:
        trades = nb.trades.copy()
        trades["side"] = rule.classify(trades["price"], nb.bid, nb.ask)
        pipe.process_batch(nb.depth, trades)

    assert pipe.groups == served.groups and pipe.trades == served.trades == 2_973
    assert pipe.snapshot() == served.snapshot()
    assert [(s.ts_event, s.detector, s.direction, s.price) for s in pipe.signals] == [
        (s.ts_event, s.detector, s.direction, s.price) for s in served.signals
    ]
    assert len(pipe.accumulated) == len(served.accumulated) > 0
    assert pipe.delta.value == served.delta.value
