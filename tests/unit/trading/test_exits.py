"""The order-flow exits, the targets at structure and the reversal, through the host on
scripted sequences: each rule fires at the exact decision and price its rule says, and stays
quiet just below each threshold. The detectors' signals are the real detectors' output on
scripted book and trade events where the rule reads them (absorption, pulling); the other
inputs (cumulative delta, the imbalance of each event group, POC, value area, VWAP bands,
clusters) are given as the pipeline would show them. NinjaTrader's reports are given by hand."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import msgspec
import pytest

from orderflow.analytics.clusters import LiquidityCluster
from orderflow.core.errors import ParameterError
from orderflow.model.enums import Side as BookSide
from orderflow.protocol import Command, encode
from orderflow.server.outbox import Outbox
from orderflow.signals.accumulate import AccumulatedSignal
from orderflow.signals.detectors_l2 import L2Detector, L2Params
from orderflow.signals.detectors_pull import PullDetector, PullParams
from orderflow.signals.model import Signal
from orderflow.trading.exit_reasons import journal_exit_reasons, order_exit_code, with_reasons
from orderflow.trading.exits import ExitParams, exit_code
from orderflow.trading.host import StrategyHost
from orderflow.trading.journal import Journal, trade_rows
from orderflow.trading.orders import OrderAction, OrderType
from orderflow.trading.risk import RiskParams
from orderflow.trading.strategy import StrategyContext
from tests.unit.signals.test_detectors_l2 import BUY, lv
from tests.unit.trading.test_strategy import (
    ASK,
    BID,
    ES,
    T0,
    Reports,
    entered,
    host,
    market,
    signal,
)

S = 1_000_000_000
STOP = ASK - 8  # a long filled at the ask (19241) has its stop 8 ticks under: 19233


def long_one(risk: RiskParams | None = None, **exits: object) -> tuple[StrategyHost, Reports, str]:
    """A host with the given exit rules, long 1 ES filled at 19241 (stop 19233, target
    19249), every leg working."""
    h = host(contracts=1, risk=risk, exits=ExitParams(**exits))  # type: ignore[arg-type]
    r = Reports(h)
    bid = entered(h, r)
    b = h.desk.brackets.brackets[bid]
    assert (b.stop_ticks, b.target_ticks, h.position) == (STOP, ASK + 8, 1)
    return h, r, bid


def ctx(t: int, *sigs: AccumulatedSignal, **kw: object) -> StrategyContext:
    fields = {k: kw.pop(k) for k in list(kw) if k in (
        "detections", "metrics", "imbalance_groups", "value_area", "vwap_bands")}  # fmt: skip
    return dataclasses.replace(market(t, *sigs, **kw), **fields)  # type: ignore[arg-type]


def closed(h: StrategyHost, bid: str, cmds: list, reason: str) -> None:
    """The step closed the entry: its legs cancelled, the bracket flattening for ``reason``."""
    assert sorted(c.cid for c in cmds) == [f"{bid}.stop", f"{bid}.tgt"]
    assert all(c.op == "cancel" for c in cmds)
    b = h.desk.brackets.brackets[bid]
    assert (b.status, b.reason) == ("flattening", reason)
    assert h.decisions[-1].intent == "exit" and h.decisions[-1].detail == reason


def absorption(price: int, volume: int = 60) -> Signal:
    """The real L2 detector's absorption at the offer ``price``: buyers lift ``volume`` against
    an ask that holds (sellers absorb: against a long)."""
    det = L2Detector("ESH4", L2Params(absorption_min_volume=50))
    bids = [(price - 1, 10), (price - 2, 10)]
    det.on_group(T0, [], [], [], *lv(bids, [(price, 20), (price + 1, 20)]))
    (sig,) = det.on_group(T0 + 1, [price], [volume], [BUY], *lv(bids, [(price, 20),
                                                                   (price + 1, 20)]))  # fmt: skip
    assert (sig.detector, sig.direction, sig.price) == ("absorption", -1, price)
    return sig


# ---- absorption / iceberg against the position near the stop ------------------------------
def test_absorption_against_the_long_within_reach_of_the_stop_exits_it() -> None:
    h, r, bid = long_one(absorption="exit", absorption_near_stop_ticks=4, absorption_min_score=0.5)
    far = absorption(STOP + 5)  # 5 ticks from the stop: out of reach
    assert far.score == 0.6
    assert h.step(ctx(T0 + S, detections=(far,), last=STOP + 4)) == []
    weak = msgspec.structs.replace(absorption(STOP + 4), score=0.49)
    assert h.step(ctx(T0 + 2 * S, detections=(weak,), last=STOP + 3)) == []
    for_us = msgspec.structs.replace(absorption(STOP + 4), direction=1)
    assert h.step(ctx(T0 + 3 * S, detections=(for_us,), last=STOP + 3)) == []
    sig = absorption(STOP + 4)
    cmds = h.step(ctx(T0 + 4 * S, detections=(sig,), last=STOP + 3))
    closed(h, bid, cmds, f"absorption_against absorption {STOP + 4}")
    flat = r.work(cmds, T0 + 4 * S)
    assert [(c.action, c.order_type, c.quantity) for c in flat] == [
        (OrderAction.SELL, OrderType.MARKET, 1)]  # fmt: skip
    # the order that closes carries the reason to NinjaTrader (the protocol's command)
    why = f"absorption_against absorption {STOP + 4}"
    assert flat[0].reason == why and flat[0].fields(ES)["reason"] == why
    sent = Outbox().issue("nt8", flat[0].fields(ES), "ES 03-24")
    assert (sent.cid, sent.reason) == (flat[0].cid, why)
    assert msgspec.json.decode(encode(sent), type=Command).reason == why  # what the bridge reads
    r.work(flat, T0 + 4 * S)
    r.fill(flat[0].cid, STOP + 3, 1, T0 + 5 * S)
    b = h.desk.brackets.brackets[bid]
    assert (h.position, b.status, exit_code(b.reason)) == (0, "done", "absorption_against")


def test_absorption_can_tighten_the_stop_instead() -> None:
    h, _r, bid = long_one(absorption="tighten", absorption_tighten_ticks=2)
    sig = absorption(STOP + 4)
    # the last price 2 ticks over the stop: tightening would not move it forward
    assert h.step(ctx(T0 + S, detections=(sig,), last=STOP + 2)) == []
    (cmd,) = h.step(ctx(T0 + 2 * S, detections=(sig,), last=STOP + 5))
    assert (cmd.op, cmd.cid, cmd.stop_ticks) == ("change", f"{bid}.stop", STOP + 3)
    assert h.decisions[-1].detail == f"absorption_tighten absorption {STOP + 4}"
    assert h.desk.brackets.brackets[bid].status == "protected"


# ---- cumulative-delta divergence ----------------------------------------------------------
def divergence_run(delta_at_new_high: float) -> tuple[StrategyHost, str, list]:
    h, _r, bid = long_one(delta_divergence=True, divergence_min_ticks=2, divergence_min_delta=50)
    steps = [(ASK, 100.0), (ASK + 3, 140.0), (ASK + 4, 10.0), (ASK + 5, delta_at_new_high)]
    out = []
    for i, (last, delta) in enumerate(steps, 1):
        out.append(h.step(ctx(T0 + i * S, last=last, metrics={"cumulative_delta": delta})))
    return h, bid, out


def test_a_new_high_on_weaker_delta_exits_the_long() -> None:
    # 19244 with delta 140 is the high to beat; 19245 is 1 tick beyond it (not 2): no exit
    # though delta fell by 130, and it does not replace the high; 19246 with delta 90 is
    # 2 ticks beyond, delta 50 weaker: exit at the 4th decision
    h, bid, out = divergence_run(90.0)
    assert out[:3] == [[], [], []]
    closed(h, bid, out[3], "delta_divergence 2 ticks 50 delta")


def test_delta_one_contract_short_of_the_divergence_is_quiet() -> None:
    h, bid, out = divergence_run(91.0)
    assert out == [[], [], [], []]
    assert h.desk.brackets.brackets[bid].status == "protected"


# ---- the protecting cluster pulled --------------------------------------------------------
def pulled_bids(low_size: int) -> Signal:
    """The real pulling detector on bids 19240 x 40, 19239 x 150, 19238 x 150: the next group
    takes 19239 and 19238 away without a print (19238 leaves ``low_size``)."""
    det = PullDetector("ESH4", PullParams(min_size=200, near_ticks=4))
    asks = [(ASK, 30), (ASK + 1, 30), (ASK + 2, 30)]
    det.on_group(T0, [], [], [], *lv([(BID, 40), (BID - 1, 150), (BID - 2, 150)], asks))
    out = det.on_group(T0 + 1, [], [], [], *lv([(BID, 40), (BID - 2, low_size)], asks))
    (sig,) = out
    assert (sig.detector, sig.direction, sig.evidence["side"]) == ("pulling", -1, "bid")
    return sig


GUARD = LiquidityCluster(BookSide.BID, BID - 3, BID - 1, 450, 30, T0, 0, 3.0, 2.0)


def test_the_bid_cluster_guarding_the_stop_pulled_exits_the_long() -> None:
    h, _r, bid = long_one(cluster_pulled=True)
    assert h.strategy.needs_liquidity  # type: ignore[attr-defined]
    assert h.step(ctx(T0 + S, liquidity=(GUARD,))) == []  # seen between the stop and the bid
    sig = pulled_bids(0)
    assert (sig.evidence["low"], sig.evidence["high"], sig.evidence["size"]) == (
        BID - 2, BID - 1, 300)  # fmt: skip
    # pulled, but a cluster is still shown there: not gone
    still = GUARD._replace(size=150)
    assert h.step(ctx(T0 + 2 * S, detections=(sig,), liquidity=(still,))) == []
    cmds = h.step(ctx(T0 + 3 * S, detections=(sig,), liquidity=()))
    closed(h, bid, cmds, f"cluster_pulled {BID - 3}-{BID - 1} 300")


def test_no_pulling_signal_or_one_elsewhere_keeps_the_long() -> None:
    sig = pulled_bids(0)
    elsewhere = msgspec.structs.replace(sig, evidence={**sig.evidence, "low": BID, "high": BID})
    asks = msgspec.structs.replace(sig, evidence={**sig.evidence, "side": "ask"})
    for detections in ((), (elsewhere,), (asks,)):  # the cluster went each time
        h, _r, bid = long_one(cluster_pulled=True)
        assert h.step(ctx(T0 + S, liquidity=(GUARD,))) == []
        assert h.step(ctx(T0 + 2 * S, detections=detections, liquidity=())) == []
        assert h.desk.brackets.brackets[bid].status == "protected"


# ---- book imbalance flipping ----------------------------------------------------------------
FILL = T0 + 1  # entered() fills at T0 + 1


def test_imbalance_against_the_long_for_n_groups_exits_it() -> None:
    h, _r, bid = long_one(imbalance_flip=0.5, imbalance_flip_groups=3)
    groups = [(FILL + 10, -0.5), (FILL + 11, -0.6), (FILL + 12, -0.4999)]
    assert h.step(ctx(T0 + S, imbalance_groups=tuple(groups))) == []  # the 3rd not past
    groups.append((FILL + 13, -0.9))  # the last 3 groups: -0.6, -0.4999, -0.9: not all
    assert h.step(ctx(T0 + 2 * S, imbalance_groups=tuple(groups))) == []
    groups += [(FILL + 14, -0.5), (FILL + 15, -0.5)]
    cmds = h.step(ctx(T0 + 3 * S, imbalance_groups=tuple(groups)))
    closed(h, bid, cmds, "imbalance_flip -0.500")


def test_groups_from_before_the_fill_do_not_count() -> None:
    h, _r, bid = long_one(imbalance_flip=0.5, imbalance_flip_groups=3)
    before = ((FILL - 1, -0.9), (FILL, -0.9), (FILL + 1, -0.9))
    assert h.step(ctx(T0 + S, imbalance_groups=before)) == []
    cmds = h.step(ctx(T0 + 2 * S, imbalance_groups=(*before, (FILL + 2, -0.9))))
    closed(h, bid, cmds, "imbalance_flip -0.900")


# ---- targets at structure ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("anchor", "extra", "distance"),
    [
        ("poc", {"poc": ASK + 9}, 8),  # POC 19250, a tick in front: 19249
        ("poc", {"poc": ASK + 3}, 2),  # 2 ticks: exactly the minimum
        ("value_area", {"value_area": (ASK - 10, ASK + 6)}, 5),  # VAL under us: VAH - 1
        ("vwap_band", {"vwap": ASK - 2.6, "vwap_bands": ((ASK - 5.0, ASK + 3.7),
                                                          (ASK - 9.0, ASK + 9.2))}, 2),
        ("cluster", {"liquidity": (
            LiquidityCluster(BookSide.ASK, ASK + 9, ASK + 12, 300, 9, T0, 0, 2.0, 1.0),
            LiquidityCluster(BookSide.ASK, ASK + 4, ASK + 6, 300, 9, T0, 0, 2.0, 1.0),
            LiquidityCluster(BookSide.BID, BID - 9, BID - 6, 300, 9, T0, 0, 2.0, 1.0))}, 3),
    ],
)  # fmt: skip
def test_a_target_at_structure_is_one_target_at_the_level(anchor, extra, distance) -> None:  # type: ignore[no-untyped-def]
    h = host(contracts=2, exits=ExitParams(target_anchor=anchor, target_offset_ticks=1,
                                           target_min_ticks=2))  # fmt: skip
    r = Reports(h)
    (cmd,) = h.step(ctx(T0, signal(T0, 1), **extra))
    r.work([cmd], T0)
    legs = r.fill(cmd.cid, ASK, 2, T0 + 1)
    stop, target = sorted(legs, key=lambda c: c.order_type != OrderType.STOP_MARKET)
    assert (stop.stop_ticks, stop.quantity) == (STOP, 2)
    assert (target.order_type, target.limit_ticks, target.quantity) == (
        OrderType.LIMIT, ASK + distance, 2)  # fmt: skip


def test_a_level_too_near_or_missing_keeps_the_tick_targets() -> None:
    for extra in ({"poc": ASK + 2}, {}):  # 1 tick in front of 19243 is under the minimum
        h = host(contracts=3, exits=ExitParams(target_anchor="poc", target_min_ticks=2))
        r = Reports(h)
        (cmd,) = h.step(ctx(T0, signal(T0, 1), **extra))
        r.work([cmd], T0)
        legs = r.fill(cmd.cid, ASK, 3, T0 + 1)
        targets = sorted(c.limit_ticks for c in legs if c.order_type == OrderType.LIMIT)
        assert targets == [ASK + 8, ASK + 16, ASK + 24]
        assert h.strategy.counters["target_fallback"] == 1  # type: ignore[attr-defined]


# ---- reversal ---------------------------------------------------------------------------------
def test_a_strong_opposite_signal_reverses_once_flat_through_the_risk_checks() -> None:
    h, r, bid = long_one(reversal=True, reversal_score=2.5)
    cmds = h.step(ctx(T0 + S, signal(T0 + S, -1, score=2.5)))
    closed(h, bid, cmds, "reversal 2.50")
    flat = r.work(cmds, T0 + S)
    assert h.step(ctx(T0 + S + 1)) == []  # still long: no new entry yet
    r.work(flat, T0 + S + 2)
    r.fill(flat[0].cid, BID, 1, T0 + S + 3)
    assert h.position == 0
    # flat: the short goes, 1 s after the last entry (spacing 60 s does not hold it back)
    (short,) = h.step(ctx(T0 + 2 * S))
    assert (short.op, short.action, short.order_type, short.quantity) == (
        "submit", OrderAction.SELL_SHORT, OrderType.MARKET, 1)  # fmt: skip
    assert h.decisions[-1].detail.startswith("1 Market reversal")
    assert h.step(ctx(T0 + 3 * S)) == []  # once


def test_below_the_reversal_score_it_only_exits() -> None:
    h, r, bid = long_one(reversal=True, reversal_score=2.5)
    cmds = h.step(ctx(T0 + S, signal(T0 + S, -1, score=2.49)))
    closed(h, bid, cmds, "opposite_signal 2.49")
    flat = r.work(cmds, T0 + S)
    r.work(flat, T0 + S + 2)
    r.fill(flat[0].cid, BID, 1, T0 + S + 3)
    assert h.step(ctx(T0 + 2 * S)) == []


def test_a_reversal_refused_by_risk_sends_nothing() -> None:
    """One entry a day: the reversal's entry is refused like any other."""
    risk = RiskParams(max_position=3, max_order_size=3, book_stale_ms=0, max_trades_per_day=1)
    h, r, bid = long_one(risk=risk, reversal=True, reversal_score=2.0)
    cmds = h.step(ctx(T0 + S, signal(T0 + S, -1, score=3.0)))
    closed(h, bid, cmds, "reversal 3.00")
    flat = r.work(cmds, T0 + S)
    r.work(flat, T0 + S + 2)
    r.fill(flat[0].cid, BID, 1, T0 + S + 3)
    assert h.position == 0
    assert h.step(ctx(T0 + 2 * S)) == []
    assert [k for k in h.strategy.counters if k.startswith("skip_max_trades")] == [  # type: ignore[attr-defined]
        "skip_max_trades_per_day:1 today"]  # fmt: skip


def test_the_settings_are_bounded() -> None:
    for bad in ({"absorption": "sometimes"}, {"absorption_min_score": 1.5},
                {"imbalance_flip": -0.1}, {"imbalance_flip_groups": 0},
                {"imbalance_flip_groups": 257}, {"target_anchor": "moon"},
                {"delta_divergence": "yes"}, {"divergence_min_delta": 0},
                {"target_min_ticks": 0}, {"reversal_timeout_s": float("nan")}):  # fmt: skip
        with pytest.raises((ParameterError, ValueError)):
            ExitParams(**bad)  # type: ignore[arg-type]


def test_exit_codes_of_the_bracket_reasons() -> None:
    assert [exit_code(x) for x in ("closed by stop", "closed by target", "closed by targets",
            "opposite_signal 2.10", "reversal 2.50", "absorption_against iceberg 19240",
            "entry Cancelled unfilled", "time_stop", "")] == [
        "stop", "target", "target", "opposite_signal", "reversal", "absorption_against",
        "unfilled", "time_stop", "open"]  # fmt: skip


def test_the_exit_reason_is_journalled_with_the_decision_and_the_bracket_close(
    tmp_path: Path,
) -> None:
    """Through the node the server and the backtests drive: the journal's ``strategy`` record
    of the exit and the ``bracket`` close carry the reason; the flatten's ``command`` too; and
    the journal's trade list (``orderflow journal trades``) names it."""
    from orderflow.trading.node import ListSink, TradingNode
    from orderflow.trading.orders import Fill, OrderEvent, OrderState, Side

    h = host(contracts=1, exits=ExitParams(absorption="exit"))
    h.desk.brackets.op_log = []
    sink = ListSink()
    node = TradingNode.for_host(h, sink)

    def report(cmds: list, t: int) -> list:
        out = []
        for c in cmds:
            state = OrderState.CANCELLED if c.op == "cancel" else OrderState.WORKING
            o = h.desk.orders.orders[c.cid]
            out += node.order_update(t, OrderEvent(c.cid, state, t, o.quantity, o.filled,
                                                   c.limit_ticks, c.stop_ticks), h.key)  # fmt: skip
        return out

    (entry,) = node.decide(ctx(T0, signal(T0, 1)))
    report([entry], T0)
    node.order_update(T0 + 1, OrderEvent(entry.cid, OrderState.FILLED, T0 + 1, 1, 1), h.key)
    report(node.fill(T0 + 1, Fill("x1", entry.cid, T0 + 1, ASK, 1, Side.BUY), h.key), T0 + 2)
    cancels = node.decide(ctx(T0 + S, detections=(absorption(STOP + 4),), last=STOP + 3))
    flat = report(cancels, T0 + S)
    why = f"absorption_against absorption {STOP + 4}"
    # the decisions (the strategy's state records, intent "state", journalled beside them)
    decisions = [
        e.payload
        for e in sink.entries
        if e.kind == "strategy" and e.payload.get("intent") != "state"
    ]
    assert decisions[-1] == {"intent": "exit", "outcome": "sent", "entry_id": entry.cid,
                             "detail": why}  # fmt: skip
    closes = [e.payload for e in sink.entries if e.kind == "bracket" and e.payload["op"] == "close"]
    assert [(c["bracket"], c["reason"]) for c in closes] == [(entry.cid, why)]
    (cmd,) = flat
    sent = [e.payload for e in sink.entries if e.kind == "command" and e.cid == cmd.cid]
    assert sent[0]["reason"] == why and sent[0]["order_type"] == "Market"
    report(flat, T0 + S)
    node.order_update(T0 + S + 1, OrderEvent(cmd.cid, OrderState.FILLED, T0 + S + 1, 1, 1), h.key)
    node.fill(T0 + S + 1, Fill("x2", cmd.cid, T0 + S + 1, STOP + 3, 1, Side.SELL), h.key)
    assert h.position == 0
    with Journal(tmp_path / "j.sqlite") as j:
        j.append_many(sink.entries)
        rows = with_reasons(trade_rows(j.trades()), journal_exit_reasons(j))
    assert [(r["direction"], r["reason"]) for r in rows] == [("long", "absorption_against")]


def test_journal_reasons_of_stops_targets_and_orders_of_no_bracket() -> None:
    brackets, closes = {"of-1", "of-2", "of-3"}, {"of-2": "time_stop", "of-9": "x"}
    codes = [order_exit_code(c, brackets, closes) for c in (
        "of-1.stop", "of-1.tgt", "of-1.tgt3", "of-2.flat1", "of-3.flat1", "of-1", "of-9.flat1",
        "api-7")]  # fmt: skip
    assert codes == ["stop", "target", "target", "time_stop", "flatten", "", "", ""]


# ---- a short: the same rules mirrored ---------------------------------------------------------
def test_a_short_exits_on_bid_absorption_near_its_stop_and_on_buying_imbalance() -> None:
    from tests.unit.signals.test_detectors_l2 import SELL

    def short_one(**exits: object) -> tuple[StrategyHost, str]:
        h = host(contracts=1, exits=ExitParams(**exits))  # type: ignore[arg-type]
        r = Reports(h)
        (cmd,) = h.step(market(T0, signal(T0, -1)))
        assert cmd.action == OrderAction.SELL_SHORT
        r.work([cmd], T0)
        r.work(r.fill(cmd.cid, BID, 1, T0 + 1), T0 + 2)
        assert h.desk.brackets.brackets[cmd.cid].stop_ticks == BID + 8
        return h, cmd.cid

    det = L2Detector("ESH4", L2Params(absorption_min_volume=50))
    price = BID + 5  # 3 ticks under the short's stop 19248
    asks = [(price + 1, 10), (price + 2, 10)]
    det.on_group(T0, [], [], [], *lv([(price, 20), (price - 1, 20)], asks))
    (sig,) = det.on_group(T0 + 1, [price], [60], [SELL], *lv([(price, 20), (price - 1, 20)], asks))
    assert (sig.detector, sig.direction) == ("absorption", 1)
    h, bid = short_one(absorption="exit")
    assert h.step(ctx(T0 + S, detections=(msgspec.structs.replace(sig, direction=-1),))) == []
    cmds = h.step(ctx(T0 + 2 * S, detections=(sig,)))
    closed(h, bid, cmds, f"absorption_against absorption {price}")

    h, bid = short_one(imbalance_flip=0.5, imbalance_flip_groups=2)
    assert h.step(ctx(T0 + S, imbalance_groups=((FILL + 5, -0.9), (FILL + 6, 0.49)))) == []
    cmds = h.step(ctx(T0 + 2 * S, imbalance_groups=((FILL + 6, 0.5), (FILL + 7, 0.6))))
    closed(h, bid, cmds, "imbalance_flip 0.600")


def test_an_exit_goes_before_a_tighten_and_a_bare_yaml_off_is_off() -> None:
    h, _r, bid = long_one(absorption="tighten", imbalance_flip=0.5, imbalance_flip_groups=1)
    cmds = h.step(ctx(T0 + S, detections=(absorption(STOP + 4),), last=STOP + 5,
                      imbalance_groups=((FILL + 1, -0.5),)))  # fmt: skip
    closed(h, bid, cmds, "imbalance_flip -0.500")
    assert ExitParams(absorption=False).absorption == "off"  # type: ignore[arg-type]


# ---- the rules' memory across a restart ---------------------------------------------------
def test_the_rules_memory_is_in_the_hosts_state_and_restored_exactly() -> None:
    """The delta divergence's extreme to beat and a pending reversal travel in the host's
    journalled state; a host made after a restart with it exits at the same decision as the
    first; one without it (or with a wrong value, refused and counted) does not."""
    import copy

    from orderflow.trading.strategy import SignalStrategy

    h, _bid, out = divergence_run(91.0)  # the new high 19246 confirmed, delta 91: the one to beat
    assert out == [[], [], [], []]
    st = h.state()
    (track,) = st["strategy"]["exits"]["tracks"].values()
    assert (track["ext"], track["ext_delta"], track["protect"]) == (ASK + 5, 91.0, [])

    def again(state: dict | None) -> StrategyHost:
        desk, risk = copy.deepcopy((h.desk, h.risk))  # each host its own copy of the desk
        h2 = StrategyHost(ES, SignalStrategy(h.strategy.params), h.params,  # type: ignore[attr-defined]
                          desk=desk, risk=risk)  # fmt: skip
        if state is not None:
            h2.restore(state)
        return h2

    step = ctx(T0 + 5 * S, last=ASK + 7, metrics={"cumulative_delta": 41.0})
    first = copy.deepcopy(h).step(step)  # the uninterrupted host: 2 ticks beyond, 50 weaker
    assert first
    restored = again(copy.deepcopy(st))
    assert restored.state()["strategy"] == st["strategy"]
    assert [(c.op, c.cid) for c in restored.step(step)] == [(c.op, c.cid) for c in first]
    assert restored.decisions[-1].detail == "delta_divergence 2 ticks 50 delta"
    forgot = again(None)  # no memory: 19248 becomes the first extreme, nothing fires
    assert forgot.step(step) == []
    wrong = copy.deepcopy(st)
    next(iter(wrong["strategy"]["exits"]["tracks"].values()))["ext_delta"] = float("nan")
    refused = again(wrong)
    assert refused.counters["strategy_state_refused"] == 1
    assert "strategy" not in refused.state()  # nothing half restored


def test_observe_drops_the_tracks_of_ended_entries_only() -> None:
    """A track lives while its entry does: a decision with every tracked entry live keeps
    them all (no pruning pass), one without an entry drops that entry's track alone, one
    with none left drops the rest (it fails when the shortcut skips a needed pruning)."""
    from orderflow.trading.exits import OrderFlowExits, _Track
    from orderflow.trading.strategy import EntryView

    def view(eid: str) -> EntryView:
        return EntryView(eid, 1, "protected", OrderType.LIMIT, ASK, 1, 1, 1, False, float(ASK),
                         ASK, T0, T0, STOP, (ASK + 8,), ASK)  # fmt: skip

    ex = OrderFlowExits(ExitParams())
    ex._tracks.update({"a": _Track(), "b": _Track()})
    both = dataclasses.replace(market(T0), entries=(view("a"), view("b")))
    ex.observe(both)
    assert set(ex._tracks) == {"a", "b"}
    ex.observe(dataclasses.replace(both, entries=(view("b"),)))
    assert set(ex._tracks) == {"b"}
    ex.observe(dataclasses.replace(both, entries=(view("c"),)))  # an untracked live entry
    assert ex._tracks == {}
