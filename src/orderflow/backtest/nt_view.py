"""A backtest that sees what the live server saw: the NinjaTrader view of an MBO file.

The live path gives the server NinjaTrader's depth events for the top levels in the bridge's
batches, never the order-by-order data; the server's pipeline makes one event group per batch
and the strategy decides after each. A plain backtest of the same MBO file sees more (every
exchange event, the L3 detectors), so it cannot decide the same. This driver replays the file
the way the live path does, with the same functions:

- :func:`~orderflow.io.nt_feed.nt_batches` cuts the file into the bridge's batches (the ones
  ``orderflow feed`` and :func:`orderflow.client.trade.trade_batches` send);
- each batch goes through :meth:`Pipeline.process_batch` (what the server's Hub calls) with
  the prints classified by the bid/ask rule (the Hub's classifier);
- the simulated venue replays the MBO records (exact L3 queues) up to where each batch
  reaches, before the batch, as the live client's simulated account does;
- the venue's reports since the previous batch reach the
  :class:`~orderflow.trading.node.TradingNode` as one batch of reports
  (:meth:`TradingNode.reports`, the method the server calls: every order update first, then
  every execution), at the server's data clock (the previous batch's last event time); each
  command the node returns is executed at the venue's clock and acknowledged ``done``, as the
  bridge does;
- after each batch the strategy is asked (:meth:`TradingNode.market`), as the server does.

So a strategy run through the live path (server + client feeding the file + simulated
account) and through this backtest sends the same orders and gets the same fills
(``tests/integration/test_parity.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from orderflow.analytics.trades import AggressorClassifier
from orderflow.backtest.model import Delivery
from orderflow.backtest.venue import SimVenue
from orderflow.core.errors import ArgumentError
from orderflow.engine.pipeline import Pipeline, PipelineParams
from orderflow.io.formats import LoadedStream
from orderflow.io.nt_feed import nt_batches
from orderflow.trading.host import StrategyHost
from orderflow.trading.node import TradingNode
from orderflow.trading.orders import Fill, OrderCommand, OrderEvent

__all__ = ["NtViewRun", "run_nt_view"]


@dataclasses.dataclass
class NtViewRun:
    """One file's NinjaTrader-view replay: the pipeline, the venue and what went between."""

    pipeline: Pipeline
    venue: SimVenue
    batches: int
    commands: list[OrderCommand]
    fills: list[Fill]


def run_nt_view(
    stream: LoadedStream,
    node: TradingNode | StrategyHost,
    pipeline: PipelineParams | None = None,
    *,
    levels: int = 10,
    batch_events: int = 100,
    venue_kw: dict[str, object] | None = None,
    flatten_at_end: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> NtViewRun:
    """Replay an ``mbo`` stream as the live path does (module docstring), ``node`` deciding
    (a host is driven by a node of its own: :meth:`TradingNode.for_host`). ``venue_kw`` go
    to :class:`SimVenue` (latencies, queue model); the venue keeps its own L3 book of the
    source records."""
    if stream.kind != "mbo":
        raise ArgumentError(f"the NinjaTrader view replays an MBO file, not {stream.kind!r}")
    if isinstance(node, StrategyHost):
        node = TradingNode.for_host(node)
    inst = stream.instrument
    key = inst.contract or inst.symbol
    source = stream.array
    cut = nt_batches(stream, levels, batch_events)
    pipe = Pipeline(inst, "nt_depth", pipeline)
    venue = SimVenue(inst, "mbo", broker=node.broker, **(venue_kw or {}))  # type: ignore[arg-type]
    rule = AggressorClassifier("bidask")
    commands: list[OrderCommand] = []
    fills: list[Fill] = []
    held: list[Delivery] = []

    def send(cmds: list[OrderCommand], now: int) -> None:
        for c in cmds:
            c = dataclasses.replace(c, t=venue.now)  # executed at the venue's clock
            commands.append(c)
            held.extend(venue.send(c))
            node.acknowledge(c.ref, "done", "", now)  # as the bridge answers

    def reports(now: int) -> None:
        """The reports since the last batch, as the server applies one batch of them (what
        the commands they cause make the venue say at once goes with the next batch)."""
        if not held:
            return
        # one batch per contract, as the bridge sends them (a micro's beside the chart's)
        groups: dict[str, tuple[list[OrderEvent], list[Fill]]] = {}
        for d in held:
            o = venue.orders.get(d.report.cid)
            updates, got = groups.setdefault((o.instrument if o else "") or key, ([], []))
            if isinstance(d.report, OrderEvent):
                updates.append(d.report)
            else:
                got.append(d.report)
        held.clear()
        for k, (updates, got) in groups.items():
            fills.extend(got)
            send(node.reports(now, k, updates, got), now)

    at = 0
    for k, nb in enumerate(cut):
        if nb.source_end > at:
            held.extend(venue.on_market(source[at : nb.source_end]))
            at = nb.source_end
        reports(pipe.last_ts)
        trades = nb.trades.copy()
        trades["side"] = rule.classify(trades["price"], nb.bid, nb.ask)
        pipe.process_batch(nb.depth, trades)
        send(node.market(inst, pipe, pipe.last_ts), pipe.last_ts)
        if progress is not None:
            progress(k + 1, len(cut))
    if at < len(source):
        held.extend(venue.on_market(source[at:]))
    reports(pipe.last_ts)
    if flatten_at_end:
        end = max(pipe.last_ts, venue.now)
        send(node.close_entries(end, "end_of_data"), end)
        for _ in range(100):
            held.extend(venue.advance(end))
            if not held:
                break
            reports(end)
    return NtViewRun(pipe, venue, len(cut), commands, fills)
