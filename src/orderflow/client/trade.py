"""Feed a recorded MBO stream to a server as NinjaTrader would, with a simulated NinjaTrader
account executing the server's orders: the live path end to end, without NinjaTrader.

For each of the bridge's batches (:func:`~orderflow.io.nt_feed.nt_batches`) the client, in
this order:

1. replays the source records up to where the batch reaches into the simulated venue
   (:class:`~orderflow.client.simbroker.SimNinjaTrader`) and sends the venue's reports (order
   updates, executions) as a batch, as the bridge forwards ``OnOrderUpdate`` and
   ``OnExecutionUpdate``;
2. sends the batch's depth and prints and waits for its ack. The server sends the commands a
   batch caused before its ack, and the client executes each as it arrives, so when the ack
   is in, the venue holds every order the batch led to.

A backtest that runs the same batches through ``Pipeline.process_batch`` and the same venue
sees the same market, decides at the same points and fills the same way: the parity test
(``tests/integration/test_parity.py``) compares the two.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

from orderflow.client.feed import POLL_S, Pacer, due, nt_name, to_wire
from orderflow.client.simbroker import SimNinjaTrader
from orderflow.client.ws import Encoding, OrderflowClient
from orderflow.io.nt_feed import NtBatch
from orderflow.model.instruments import get_instrument
from orderflow.server.replay import Playback

__all__ = ["print_start_s", "trade_batches"]


def print_start_s(batches: list[NtBatch]) -> float:
    """Event time (s) from the first batch to the first with a print (the pre-open before it
    goes by at full speed, as ``orderflow run`` paces)."""
    for nb in batches:
        if len(nb.trades):
            return max(0.0, (int(nb.trades["ts_event"][0]) - batches[0].t_first) / 1e9)
    return 0.0


async def trade_batches(
    source: np.ndarray,
    batches: list[NtBatch],
    sim: SimNinjaTrader,
    url: str,
    *,
    client: str = "nt8",
    encoding: Encoding = "msgpack",
    progress: Callable[[int, int], None] | None = None,
    speed: float | None = None,
    start_s: float = 0.0,
    playback: Playback | None = None,
) -> OrderflowClient:
    """Play ``batches`` (cut from the MBO records ``source``) to the server at ``url`` with
    ``sim`` as the account (module docstring). ``speed``: paced by event time over this from
    ``start_s`` seconds of event time after the first batch (None: as fast as possible).
    With a playback that holds, it stays connected after the last batch until stopped.
    Returns the closed client (its stats)."""
    inst = sim.instrument
    name = nt_name(inst, batches[0].t_first if batches else None)
    c = OrderflowClient(url, client, encoding=encoding, on_command=sim.execute, resume=False)
    t0 = (batches[0].t_first if batches else 0) + int(start_s * 1e9)
    first = next((k for k, nb in enumerate(batches) if nb.t_last >= t0), len(batches))
    pacer = Pacer(speed, first, t0)
    async with c:

        async def reports() -> None:
            for key, updates, executions in sim.reports_by_instrument():
                if not (updates or executions):
                    continue
                sim.report_batches += 1
                at_name = name if key == sim.key else nt_name(get_instrument(key), t0)
                await c.add(at_name, orders=updates, executions=executions)
                await c.flush()
                await c.drain()

        at = 0
        for k, nb in enumerate(batches):
            if playback is not None:
                await due(playback, nb.t_last, c)  # a trading replay never seeks back
            elif (delay := pacer.delay(k, nb.t_last)) > 0:
                await asyncio.sleep(delay)
            if nb.source_end > at:
                sim.market(source[at : nb.source_end])
                at = nb.source_end
            await reports()
            await c.send_batch(to_wire(nb, inst, name, k + 1).batch)
            await c.drain()
            if playback is not None:
                playback.sent(nb.t_last)
            if progress is not None:
                progress(k + 1, len(batches))
        sim.market(source[at:])
        await reports()
        if playback is not None:
            playback.done()
            while playback.hold:  # the account stays connected while the dashboard is served
                await asyncio.sleep(POLL_S)
    return c
