"""An answer's clusters, profile and metrics read the plain way: the trackers' ``clusters()``
(named tuples, a pass in Python), the profile's summary with its value area at every check,
each book metric's own property and the VWAP's ``value()``. The reference the compiled reads
of ``orderflow.server.answer_reads`` and ``answer_metrics.metrics`` are held to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orderflow.analytics.clusters import ClusterIds
from orderflow.analytics.profile import ValueArea
from orderflow.engine.pipeline import Pipeline
from orderflow.model.enums import Side
from orderflow.model.instruments import Instrument
from orderflow.server.answers import Answers, InstrumentAnswers, profile_answer, strength01
from orderflow.server.bands import Flow
from orderflow.server.wire import json_float

_BOOK_SIDE = {int(Side.BID): "bid", int(Side.ASK): "ask"}
#: a volume cluster's side is its dominant aggressor (TRADE_DTYPE: BID = buyers lifted)
_AGGRESSOR = {int(Side.BID): "buy", int(Side.ASK): "sell", int(Side.NONE): "none"}


@dataclass(slots=True)
class ReferenceInstrumentAnswers(InstrumentAnswers):
    """:class:`InstrumentAnswers` reading every part the plain way."""

    #: the volume clusters' ids as ``ClusterIds`` gives them
    plain_vol_ids: ClusterIds = field(default_factory=ClusterIds)

    def read_liquidity(self, pipe: Pipeline, now: int) -> tuple[list[dict[str, Any]], list[Flow]]:
        tracker, px = pipe.liquidity_clusters, pipe.instrument.to_price
        found = tracker.clusters()
        ids = self.liq_ids.assign([(int(c.side), c.low, c.first_ns) for c in found])
        orders = pipe.kind == "mbo"  # a ladder (NinjaTrader's L2) counts no orders
        out = []
        flows = [Flow(c.low, c.high, 0, 0) for c in found]
        for n, c in zip(ids, found, strict=True):
            side = _BOOK_SIDE[int(c.side)]
            out.append({"id": f"liq-{side}-{n}", "kind": "liquidity", "low": px(c.low),
                        "high": px(c.high), "size": c.size, "side": side,
                        "strength": strength01(c.strength),
                        "orders": c.orders if orders else None,
                        "first_seen_ns": c.first_ns, "last_seen_ns": now})  # fmt: skip
        return out, flows

    def read_volume(self, pipe: Pipeline, now: int) -> tuple[list[dict[str, Any]], list[Flow]]:
        tracker, px = pipe.volume_clusters, pipe.instrument.to_price
        found = tracker.clusters()
        ids = self.plain_vol_ids.assign([(v.low, v.first_ns) for v in found])
        out = []
        flows = [Flow(v.low, v.high, v.buy, v.sell) for v in found]
        for n, v in zip(ids, found, strict=True):
            out.append({"id": f"vol-{n}", "kind": "volume", "low": px(v.low), "high": px(v.high),
                        "size": v.volume, "side": _AGGRESSOR[int(v.side)],
                        "strength": strength01(v.strength), "orders": None,
                        "first_seen_ns": v.first_ns, "last_seen_ns": now})  # fmt: skip
        return out, flows

    def value_area(self, prof: Any, pseen: tuple[int, int]) -> ValueArea | None:
        self.profile_checked = pseen  # computed at every check
        self.profile_checked_va = prof.value_area() if prof is not None else None
        return self.profile_checked_va

    def read_profile(
        self, pipe: Pipeline, prof: Any, va: ValueArea | None
    ) -> dict[str, Any] | None:
        return profile_answer(pipe)


class ReferenceAnswers(Answers):
    """:class:`Answers` whose instruments read the plain way."""

    kind = ReferenceInstrumentAnswers


def metrics_reference(inst: Instrument, pipe: Pipeline) -> dict[str, Any]:
    """``answer_metrics.metrics`` from each reader's own properties (the book metrics', the
    VWAP's ``value()``, the pipeline's ``bid_ask_ratios``)."""
    if not pipe.groups:
        return {}
    m = pipe.metrics
    tick = float(inst.tick_size)
    vw = pipe.vwap.value()
    return {
        "spread": None if m.spread is None else m.spread * tick,
        "mid": json_float(m.mid, tick),
        "microprice": json_float(m.microprice, tick),
        "imbalance": json_float(m.imbalance),
        "ofi": m.ofi,
        "ofi_window": m.ofi_sum,
        "cumulative_delta": pipe.delta.value,
        "vwap": json_float(vw.vwap, tick),
        "vwap_bands": [
            {"k": float(k), "upper": json_float(u, tick), "lower": json_float(lo, tick)}
            for k, u, lo in zip(pipe.params.vwap.multipliers, vw.upper, vw.lower, strict=True)
        ]
        if vw.volume
        else [],
        "momentum": json_float(pipe.momentum.score),
        "bid_ask_ratio": pipe.bid_ask_ratios(),
    }
