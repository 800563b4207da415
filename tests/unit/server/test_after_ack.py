"""What the ack does not wait for, done after it (:mod:`orderflow.server.after_ack`): on ESH4
as the bridge sends it, one batch at a time and pipelined, with a refused batch, a sequence
gap (a stale ladder) and the strategy deciding, the dashboard's view and the alert checks
see exactly what they saw when they ran inside :meth:`Hub.apply`: the same calls, with the
same arguments and the same state of the book at each call, in the same order, batch for
batch, and after the ack (the answer) in the deferring hub; the same acks and commands; and
the same folded views, alerts and counters at the end. A held call that raises is logged
and counted, and the calls after it still run."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np

from orderflow.core.errors import OrderflowError
from orderflow.protocol import Ack, Batch, encode
from orderflow.server.after_ack import AfterAck
from orderflow.server.hub import Hub
from orderflow.server.view import HEAT_ROWS, take_sample
from orderflow.trading.params import ServerTradingParams, TradingParams
from tests.integration.test_server import esh4_batches

CLIENT = "nt8"


def _hub() -> Hub:
    hub = Hub(trading=TradingParams(),
              trading_server=ServerTradingParams(use_sessions=False, strategy=True,
                                                 clock="data"))  # fmt: skip
    hub.alerts.spike_us = float("inf")  # the one alert that is a timing
    return hub


def _plain(x: Any) -> Any:
    """A value as comparable data (arrays as bytes, the ack without its timing)."""
    if isinstance(x, np.ndarray):
        if x.dtype.names and "ts_recv" in x.dtype.names:  # the server's wall clock
            x = x.copy()
            x["ts_recv"] = 0
        return ("array", str(x.dtype), x.shape, x.tobytes())
    if isinstance(x, Ack):
        return encode(msgspec.structs.replace(x, processing_us=0.0), "msgpack")
    if isinstance(x, tuple | list):
        return tuple(_plain(v) for v in x)
    if hasattr(x, "state") and hasattr(x, "value_of"):  # the VWAP tracker in a sample
        return "vwap"
    return x


def _recorded(hub: Hub, log: list[Any]) -> None:
    """Log every call the Hub makes to the view and the alerts, with its arguments and the
    state of the instrument's book and metrics when it is made, then make it."""
    view, alerts = hub.view, hub.alerts
    took, applied, check = view.took, view.applied, alerts.check

    def took_(st: Any, trades: np.ndarray) -> None:
        log.append(("took", st.pipeline.name, _plain(trades)))
        took(st, trades)

    def applied_(st: Any, events: int, depth: np.ndarray | None = None) -> None:
        pipe = st.pipeline
        state = (_plain(pipe.book.top_rows(HEAT_ROWS)), _plain(take_sample(pipe)), st.stale)
        log.append(("applied", pipe.name, events, _plain(depth), state))
        applied(st, events, depth)

    def check_(instrument: str, ack: Ack, last_ns: int, recv_ns: int, top: Any, preopen: Any,
               warm: bool = True) -> None:  # fmt: skip
        log.append(("check", instrument, _plain(ack), last_ns, bool(preopen()), warm, top))
        check(instrument, ack, last_ns, recv_ns, top, preopen, warm)

    view.took, view.applied, alerts.check = took_, applied_, check_  # type: ignore[method-assign]


def _feed() -> list[list[Batch]]:
    """ESH4's first 160 bridge batches as frames received together: one at a time, then in
    runs of 6 (coalesced), with batch 100 refused inside a run (a price off the grid: the
    ladder is stale from then on, and the rest go one by one) and one sequence number
    skipped at batch 140 (a gap)."""
    batches = list(esh4_batches()[0][:160])
    bad = batches[100].depth[0]
    batches[100] = msgspec.structs.replace(
        batches[100], depth=[msgspec.structs.replace(bad, price=bad.price + 0.1),
                             *batches[100].depth[1:]])  # fmt: skip
    batches = [msgspec.structs.replace(b, seq=b.seq + (1 if i >= 140 else 0))
               for i, b in enumerate(batches)]  # fmt: skip
    return [[b] for b in batches[:60]] + [batches[i : i + 6] for i in range(60, 160, 6)]


def _run(deferring: bool) -> tuple[Hub, list[Any], list[Any]]:
    hub, log, answers = _hub(), [], []
    _recorded(hub, log)
    for frames in _feed():
        log.append(("frames", tuple(b.seq for b in frames)))
        hub.after_ack.deferring = deferring
        try:
            outcomes = hub.apply_many(frames, CLIENT)
        finally:
            hub.after_ack.deferring = False
        log.append(("answered",))  # where a session writes the answers
        hub.after_ack.settle()
        for b, ack, request, error in outcomes:
            answers.append((b.seq, _plain(ack), request, type(error).__name__ if error else None))
        answers.append(("commands", [(name, msgspec.structs.replace(c, t=0))  # t: wall clock
                                     for name, c in hub.trading.outbox]))  # fmt: skip
    return hub, log, answers


def _state(obj: Any) -> Any:
    return {k: _plain(v) for k, v in vars(obj).items() if k not in ("params", "pending", "heat")}


def test_the_view_and_the_alerts_see_what_they_saw_batch_for_batch_after_the_answer():
    inline, log_in, answers_in = _run(deferring=False)
    late, log_late, answers_late = _run(deferring=True)
    assert answers_late == answers_in  # the same acks, refusals, snapshot requests, commands
    assert [e for e in log_late if e != ("answered",)] == [e for e in log_in if e != ("answered",)]
    # inline, nothing comes between a batch's answer and the next frames; deferred, the
    # view's and the alerts' calls all do
    kinds_in = [e[0] for e in log_in]
    kinds_late = [e[0] for e in log_late]
    after_in = [kinds_in[i + 1] for i, k in enumerate(kinds_in[:-1]) if k == "answered"]
    assert set(after_in) == {"frames"}
    between: list[str] = []
    for i, k in enumerate(kinds_late):
        if k == "answered":
            j = i + 1
            while j < len(kinds_late) and kinds_late[j] != "frames":
                between.append(kinds_late[j])
                j += 1
    # held and done after the answer: the work of each frame's (or run's) last batch, the
    # batches before it in the same frames being settled as the next one is applied
    answered = [o for o in answers_in if o[0] != "commands"]
    last_acked = sum(1 for frames in _feed() for o in answered
                     if o[0] == frames[-1].seq and o[1] is not None)  # fmt: skip
    assert last_acked == 60 + 17  # 60 alone, 17 runs
    assert between.count("took") == between.count("applied") == between.count("check")
    assert between.count("applied") == last_acked
    assert kinds_in.count("applied") > 100
    # what they were fed met a refusal, a gap and coalesced runs
    assert inline.counters["refused"] == 1 and inline.counters["gaps"] == 1
    assert inline.counters["coalesced"] > 0
    assert [e[4][2] for e in log_in if e[0] == "applied"][-1] is True  # stale at the end
    # the folded views, the alerts and the counters at the end
    for key in inline.view.of:
        a, b = inline.view.read(key), late.view.read(key)
        assert _state(a) == _state(b)
        assert _state(a.heat) == _state(b.heat)
    alerts = [(x.kind, x.instrument, x.detail) for x in inline.alerts.items]
    assert alerts == [(x.kind, x.instrument, x.detail) for x in late.alerts.items]
    assert "stale_book" in inline.alerts.counts
    assert inline.alerts.counts == late.alerts.counts
    assert dict(inline.counters) == dict(late.counters)
    assert late.after_ack.pending == 0 and late.after_ack.failures == 0


def test_whatever_is_held_is_settled_before_anything_else_is_applied():
    """A held batch's view and alerts run first when the Hub applies anything next (here a
    REST-style apply without deferring, as another client's batch would)."""
    batches = esh4_batches()[0][:3]
    hub, log = _hub(), []
    _recorded(hub, log)
    hub.apply(batches[0], CLIENT)
    hub.after_ack.deferring = True
    hub.apply_many([batches[1]], CLIENT)
    hub.after_ack.deferring = False
    assert hub.after_ack.pending == 3  # took, check, applied: held
    n = len(log)
    hub.apply(batches[2], CLIENT)
    assert [e[0] for e in log[n:]] == ["took", "check", "applied", "took", "check", "applied"]
    assert [e[3] for e in log[n:] if e[0] == "check"] == [
        int(batches[1].depth[-1].t), int(batches[2].depth[-1].t)]  # fmt: skip


def test_a_held_call_that_raises_is_counted_and_the_rest_still_run():
    later, ran = AfterAck(), []

    def boom() -> None:
        raise OrderflowError("a view broke")

    later.deferring = True
    later(ran.append, 1)
    later(boom)
    later(ran.append, 2)
    later.hold(ran.append, 3)
    assert ran == [] and later.pending == 4
    later.settle()
    assert ran == [1, 2, 3] and later.failures == 1 and later.pending == 0
    later.deferring = False
    later(ran.append, 4)  # not deferring: at once
    assert ran == [1, 2, 3, 4] and later.pending == 0
