"""A decision's context reads its costlier fields only when the strategy reads them
(:class:`~orderflow.trading.lazy_context.LazyContext`): every value is the one the eager
context held (checked against the pipeline's own reads at decisions of an ESH4 backtest),
a context the strategy keeps holds its decision's values after the market moved on, and the
entry block is the one before any intent of the decision is applied."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from orderflow.backtest.run import BacktestOptions, run_backtest
from orderflow.trading.context import Quote, StrategyContext
from orderflow.trading.host import StrategyHost
from orderflow.trading.lazy_context import LAZY, LazyContext
from orderflow.trading.risk import RiskParams
from orderflow.trading.strategy import Enter, Intent, SignalStrategy
from tests.unit.trading.test_strategy import ASK, ES, T0, S, host, market

OPEN = 1_703_545_200_000_000_000


def _reference(pipe: Any, h: StrategyHost, now: int) -> dict[str, Any]:
    """Each lazy field worked out at once from the pipeline and the risk manager."""
    b, a = pipe.book.best_bid(), pipe.book.best_ask()
    prof = pipe.profiles.current
    va = prof.value_area() if prof is not None else None
    vw = pipe.vwap.value()
    m = pipe.metrics
    block = h.risk.entry_block(now, h.key)
    return {
        "quote": Quote(
            b[0] if b else None, a[0] if a else None, int(b[1]) if b else 0, int(a[1]) if a else 0
        ),
        "poc_ticks": prof.poc if prof is not None else None,
        "vwap_ticks": pipe.vwap.vwap if pipe.vwap.volume else None,
        "liquidity": tuple(pipe.liquidity_clusters.clusters()),
        "long_score": pipe.accumulator.score(1, now),
        "short_score": pipe.accumulator.score(-1, now),
        "bars": tuple(s.bars().copy() for s in pipe.bars.series),
        "metrics": {
            "mid": float(m.mid),
            "imbalance": float(m.imbalance),
            "ofi": float(m.ofi),
            "momentum": float(pipe.momentum.score),
            "cumulative_delta": float(pipe.delta.value),
        },
        "entry_block": "" if block is None else block.code,
        "value_area": None if va is None else (va.val, va.vah),
        "vwap_bands": tuple(
            (float(lo), float(hi)) for lo, hi in zip(vw.lower, vw.upper, strict=True)
        )
        if vw.volume
        else (),
        "imbalance_groups": tuple(pipe.imbalances),
    }


def _same(got: dict[str, Any], want: dict[str, Any]) -> bool:
    for k in LAZY:
        if k == "bars":
            if len(got[k]) != len(want[k]) or not all(
                np.array_equal(x, y) for x, y in zip(got[k], want[k], strict=True)
            ):
                return False
        elif got[k] != want[k]:
            return False
    return True


@pytest.mark.slow
def test_every_lazy_field_is_the_decisions_value_read_now_or_kept_for_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.conftest import ES_MBO, need
    from tests.integration.test_parity import BUSY

    seen: dict[str, Any] = {"n": 0, "read": 0, "kept": []}
    real_on_market, real_init = StrategyHost.on_market, SignalStrategy.__init__

    def on_market(self: StrategyHost, pipeline: Any, series: Any = None) -> Any:
        seen["pipe"], seen["host"] = pipeline, self
        return real_on_market(self, pipeline, series)

    def init(self: SignalStrategy, *a: Any, **k: Any) -> None:
        real_init(self, *a, **k)
        self.needs_liquidity = self.needs_order_flow = True  # every field has a value
        self.market_reads = frozenset(LAZY)  # (and is read: the pipeline fed piece by piece)

    real_decide = SignalStrategy.decide

    def decide(self: SignalStrategy, ctx: StrategyContext) -> list[Intent]:
        assert isinstance(ctx, LazyContext) and ctx.pending() == LAZY  # nothing read yet
        want = _reference(seen["pipe"], seen["host"], ctx.ts_event)
        seen["n"] += 1
        if seen["n"] % 3 == 0:  # kept, not read: read after the market moved on
            seen["kept"].append((ctx, want))
        elif seen["n"] % 3 == 1:
            assert _same({k: getattr(ctx, k) for k in LAZY}, want)
            seen["read"] += 1
        return real_decide(self, ctx)

    real_materialise = LazyContext.materialise

    def materialise(self: LazyContext) -> None:
        seen["materialised"] = seen.get("materialised", 0) + 1
        real_materialise(self)

    monkeypatch.setattr(LazyContext, "materialise", materialise)
    monkeypatch.setattr(StrategyHost, "on_market", on_market)
    monkeypatch.setattr(SignalStrategy, "__init__", init)
    monkeypatch.setattr(SignalStrategy, "decide", decide)
    opts = BacktestOptions(decide_every=100, end_ns=OPEN + 1_200 * 10**9)
    res = run_backtest([need(ES_MBO)], trading=BUSY, options=opts)
    assert res.fills and seen["read"] > 25 and len(seen["kept"]) > 25
    assert seen["materialised"] == len(seen["kept"])  # the kept ones, and only those
    final = _reference(seen["pipe"], seen["host"], seen["kept"][-1][0].ts_event)
    moved = 0
    for ctx, want in seen["kept"]:
        assert _same({k: getattr(ctx, k) for k in LAZY}, want)
        moved += not _same(want, final)
    assert moved > 20  # the market did move on: a value read late would differ


def test_the_entry_block_is_the_one_before_the_decisions_intents_are_applied() -> None:
    """A strategy answering with a generator reads the entry block after its entry: it is
    the block of the decision (none), not the one the entry made (max trades per day)."""
    from orderflow.engine.pipeline import Pipeline
    from orderflow.trading.orders import OrderType
    from tests.unit.trading.test_host_reuse import _prints

    h = host(risk=RiskParams(max_position=3, max_order_size=3, book_stale_ms=0,
                             max_trades_per_day=1))  # fmt: skip
    got: list[str] = []

    class Generating:
        needs_liquidity = needs_order_flow = False

        def decide(self, ctx: StrategyContext) -> Iterator[Intent]:
            yield Enter(1, OrderType.MARKET, None, 8, ((8, 1),), 1, reason="test")
            got.append(ctx.entry_block)

    h.strategy = Generating()  # type: ignore[assignment]  # a generator, not a sequence
    pipe = Pipeline(ES, "trades")
    pipe.process_trades(_prints([ASK, ASK + 1], 0))
    assert h.on_market(pipe) and got == [""]  # the decision's: nothing blocked an entry then
    assert h._entry_block(T0 + 10 * S).startswith("max_trades_per_day")  # after it


def test_a_lazy_context_replaced_or_compared_is_an_ordinary_context() -> None:
    h = host()
    values = dataclasses.asdict(h.context(market(T0, last=ASK)))

    def const(v: Any) -> Callable[[Any], Any]:
        return lambda _: v

    lazy = LazyContext.build(
        {k: v for k, v in values.items() if k not in LAZY}, {k: const(values[k]) for k in LAZY}
    )
    assert lazy.pending() == LAZY
    # each field that is not lazy holds its own value (set through its slot's setter)
    own = {k: object() for k in values if k not in LAZY}
    marked = LazyContext.build(own, {k: const(values[k]) for k in LAZY})
    assert all(getattr(marked, k) is v for k, v in own.items())
    # a lazy field's name among the values (the one-by-one path): the others set as above,
    # the lazy field its maker's
    mixed = LazyContext.of({**own, "quote": Quote(1, 2)}, {k: const(values[k]) for k in LAZY},
                           None)  # fmt: skip
    assert mixed.quote == values["quote"] and all(getattr(mixed, k) is v for k, v in own.items())
    assert lazy.quote == values["quote"] and lazy.pending() == LAZY[1:]
    moved = dataclasses.replace(lazy, last_ticks=ASK + 1)
    assert isinstance(moved, LazyContext) and moved.pending() == ()
    assert moved.last_ticks == ASK + 1 and moved.bars == values["bars"]
    for other in (copy.copy(lazy), pickle.loads(pickle.dumps(lazy))):
        assert other.quote == lazy.quote and other.signals == lazy.signals
        assert all(np.array_equal(a, b) for a, b in zip(other.bars, values["bars"], strict=True))
    with pytest.raises(dataclasses.FrozenInstanceError):
        lazy.quote = Quote(None, None)  # type: ignore[misc]
    with pytest.raises(Exception, match="every field"):
        LazyContext.build(values, {})
