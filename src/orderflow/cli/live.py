"""``orderflow run``: the product working end to end on one machine. It starts the server on
127.0.0.1, feeds it a recording (or the simulated market) as NinjaTrader depth events over a
real WebSocket at replay speed, as NinjaTrader's market replay would, and shows what a trader
watches as it goes: the ladder, imbalance, liquidity clusters, delta and VWAP, the latest
signals, and where the server's API docs, health and metrics are.

On a terminal the view is a rich Live panel; when stdout is not a terminal (CI, a pipe, a log
file) it is one plain progress line every few seconds instead, so nothing is redrawn."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from orderflow.cli.output import console, rich_console
from orderflow.cli.progress import PLAIN_EVERY_S
from orderflow.core.time import ns_to_iso

__all__ = ["final_ladder", "pacing_start_s", "serve_and_feed"]

LADDER_ROWS = 5  # levels per side in the live panel
TRADER = "run"  # the feeding client's name: its desk, risk manager and strategy on the server
#: says where the fills of ``orderflow run``'s account come from, wherever they show
SIM_ACCOUNT = "simulated account: orders filled by orderflow's venue on the recorded book"
SIM_ACCOUNT_SIMULATED = (
    "simulated account: orders filled by orderflow's venue on the SIMULATED market's book"
)


def pacing_start_s(batches: list[Any]) -> float:
    """Event time (s) from the first batch to the first one with a print: the pre-open before
    it holds no trades and goes by at full speed (a replay fast-forwarded to the open)."""
    for fb in batches:
        if fb.batch.ticks:
            return max(0.0, float(fb.batch.ticks[0].t - batches[0].t_first) / 1e9)
    return 0.0


def on_server_loop(served: Any, fn: Callable[[], None]) -> Callable[[], None]:
    """``fn`` made to run on the served app's event loop (where the engine runs) and waited
    for: the feeder's thread must never change the engine's state under a running request."""

    async def call() -> None:
        fn()

    def run() -> None:
        loop = served.server.servers[0].get_loop()
        asyncio.run_coroutine_threadsafe(call(), loop).result(30)

    return run


def _playback(served: Any, hub: Any, label: str, batches: list[Any], start_s: float,
              speed: float | None, trade: bool, hold: bool, key: str) -> Any:  # fmt: skip
    """The replay's controls for the dashboard: the batches' range, the pre-open before
    ``start_s`` at full speed, a seek back (only without trading) that drops the market
    state."""
    from orderflow.server.replay import Playback

    start = batches[0].t_first if batches else 0
    end = batches[-1].t_last if batches else 0
    return Playback(label, start, end, speed=speed, can_seek_back=not trade, hold=hold,
                    pace_from_ts=start + int(start_s * 1e9),
                    on_restart=on_server_loop(served, lambda: hub.drop(key)))  # fmt: skip


def _state(hub: Any, key: str) -> Any:
    st = hub.instruments.get(key)
    if st is None or not st.pipeline.groups:
        return None
    return st


def _ladder(st: Any, rows: int) -> Table:
    pipe, px = st.pipeline, st.instrument.format
    d = pipe.book.depth(rows)
    t = Table(show_header=True, header_style="bold", box=None, padding=(0, 1))
    t.add_column("bid size", justify="right", style="bold green")
    t.add_column("price", justify="right", style="bold")
    t.add_column("ask size", justify="right", style="bold red")
    for i in reversed(range(rows)):
        if d["ask_size"][i] > 0:
            t.add_row("", px(int(d["ask_price"][i])), f"{int(d['ask_size'][i]):,}")
    for i in range(rows):
        if d["bid_size"][i] > 0:
            t.add_row(f"{int(d['bid_size'][i]):,}", px(int(d["bid_price"][i])), "")
    return t


def _clusters(st: Any, levels: int = 10) -> list[str]:
    """Where the resting size sits: the largest bucket (the pipeline's cluster granularity,
    one ES point) per side in the top ``levels``, with its size over the mean bucket's; the
    ones the pipeline flags as liquidity clusters (at least ``min_ratio`` times the mean) say so."""
    import numpy as np

    from orderflow.analytics.clusters import ClusterParams, liquidity_clusters

    pipe, fmt = st.pipeline, st.instrument.format
    tracker = pipe.liquidity_clusters.params
    d = pipe.book.depth(levels)
    rows = []
    for side in ("bid", "ask"):
        keep = d[f"{side}_size"] > 0
        rows.append(np.stack([d[f"{side}_price"][keep], d[f"{side}_size"][keep]], axis=1))
    found = liquidity_clusters(rows[0], rows[1], ClusterParams(tracker.granularity, 0, 0))
    out = []
    for sd in (0, 1):
        mine = [c for c in found if c.side == sd]
        if not mine:
            continue
        c = max(mine, key=lambda c: c.size)
        flag = "  cluster" if tracker.min_ratio and c.strength >= tracker.min_ratio else ""
        out.append(f"{c.side.name.lower()} {fmt(c.low)}-{fmt(c.high)}: {c.size:,} "
                   f"({c.strength:.1f}x mean){flag}")  # fmt: skip
    return out


def _headline(st: Any) -> dict[str, str]:
    """The figures both views show, formatted."""
    pipe, inst = st.pipeline, st.instrument
    px = inst.format
    top = pipe.book.top()
    m = pipe.metrics
    vw = pipe.vwap.value()
    bid = f"{px(top.bid_price)} x {top.bid_size}" if top.bid_price is not None else "-"
    ask = f"{px(top.ask_price)} x {top.ask_size}" if top.ask_price is not None else "-"
    counts = ", ".join(f"{k} {v}" for k, v in sorted(pipe.signal_counts.items()))
    return {
        "time": ns_to_iso(pipe.last_ts)[:23],
        "book": f"bid {bid}   ask {ask}" + ("   STALE" if st.stale else ""),
        "imbalance": f"{m.imbalance:+.3f}   momentum {pipe.momentum.score:+.3f}",
        "delta / VWAP": f"delta {pipe.delta.value:+,}   VWAP "
        + (f"{vw.vwap * float(inst.tick_size):.2f}" if vw.volume else "-")
        + f"   volume {pipe.volume:,} in {pipe.trades:,} trades",
        "signals": f"{len(pipe.signals):,} ({counts})" if counts else "none yet",
    }


def trading_view(hub: Any, sim: Any, key: str, rows: bool = False) -> dict[str, Any] | None:
    """The strategy's account so far (None without the trading engine): position, P&L,
    round trips, orders and the latest fills, from the server's desk; ``rows``: with the
    round trips themselves (``trades``) and the risk manager's status (``risk``)."""
    ct = hub.trading.clients.get(TRADER) if hub.trading is not None else None
    if ct is None or sim is None:
        return None
    from orderflow.trading.journal import performance, plain, trade_rows

    inst = sim.instrument
    pos = ct.desk.positions.position(ct.desk.orders.account, key)
    closed = [t for t in ct.desk.positions.trades if not t.open]
    entries = [c for c in sim.commands if c.op == "submit" and "." not in c.cid]
    fills = [f"{ns_to_iso(f.t)[11:23]} {f.side.lower()} {f.quantity} at "
             f"{inst.format(f.price_ticks)} ({f.cid})" for f in sim.fills[-3:]]  # fmt: skip
    return {
        "position": pos.quantity,
        "avg_price": (float(pos.avg_price_ticks or 0) * float(inst.tick_size)
                      if pos.quantity else None),
        "realised": float(pos.net_realized),
        "open_pnl": float(pos.unrealized()),
        "entries": len(entries), "orders": len(sim.commands), "fills": len(sim.fills),
        "stats": plain(performance(closed)),
        "latest_fills": fills,
        **({"trades": trade_rows(closed), "risk": ct.risk.status()} if rows else {}),
    }  # fmt: skip


def _trading_rows(t: Table, view: dict[str, Any] | None) -> None:
    if view is None:
        return
    s = view["stats"]
    t.add_row("strategy", f"position {view['position']:+d}   realised {view['realised']:+,.2f}"
              f"   open {view['open_pnl']:+,.2f}   {s['trades']} round trips, "
              f"{view['entries']} entries, {view['orders']} orders")  # fmt: skip
    for i, line in enumerate(view["latest_fills"]):
        t.add_row("fills" if i == 0 else "", line)


def _panel(hub: Any, key: str, sent: int, total: int, title: str, addresses: str,
           sim: Any = None) -> Group:  # fmt: skip
    """The live view: addresses, feed progress, ladder, headline metrics, clusters, signals
    and, with the trading engine, the strategy's account."""
    t = Table(show_header=False, box=None)
    t.add_column(style="bold")
    t.add_column()
    t.add_row("fed", f"{sent:,} / {total:,} batches")
    st = _state(hub, key)
    head = Text(title, style="bold yellow" if "SIMULATED" in title else "bold")
    parts: list[Any] = [head, Text(addresses, style="cyan"), t]
    if st is None:
        return Group(*parts)
    for name, value in _headline(st).items():
        t.add_row(name, value)
    for i, line in enumerate(_clusters(st)):
        t.add_row("liquidity" if i == 0 else "", line)
    px = st.instrument.format
    for i, s in enumerate(st.pipeline.signals[-4:]):
        side = "long" if s.direction > 0 else "short"
        what = f"{ns_to_iso(s.ts_event)[11:23]} {s.detector} {side} at {px(s.price)}"
        t.add_row("latest" if i == 0 else "", f"{what} (score {s.score:.2f})")
    _trading_rows(t, trading_view(hub, sim, key))
    grid = Table.grid(padding=(0, 3))
    grid.add_row(_ladder(st, LADDER_ROWS), t)
    return Group(head, parts[1], grid)


def _line(hub: Any, key: str, sent: int, total: int, elapsed: float, simulated: bool,
          sim: Any = None) -> str:  # fmt: skip
    """The progress line printed instead of the panel when stdout is not a terminal."""
    head = f"[{elapsed:5.1f} s] fed {sent:,}/{total:,} batches"
    st = _state(hub, key)
    if st is not None:
        h = _headline(st)
        head += (f"; {h['time'][11:]} {h['book']}; imbalance {h['imbalance'].split()[0]}; "
                 f"{h['delta / VWAP']}; signals {len(st.pipeline.signals):,}")  # fmt: skip
    view = trading_view(hub, sim, key)
    if view is not None:
        head += (f"; position {view['position']:+d}, realised {view['realised']:+,.2f} "
                 f"({view['stats']['trades']} round trips)")  # fmt: skip
    return head + ("  [SIMULATED]" if simulated else "")


def final_ladder(pipe: Any, levels: int) -> dict[str, Any]:
    """The pipeline's book as the dict :func:`~orderflow.cli.output.ladder_table` draws."""
    px = pipe.instrument.to_price
    d = pipe.book.depth(levels)

    def side(name: str) -> list[dict[str, Any]]:
        return [
            {"price": float(px(int(p))), "size": int(s), "count": None}
            for p, s in zip(d[f"{name}_price"], d[f"{name}_size"], strict=True)
            if s > 0
        ]

    return {"tick_size": float(pipe.instrument.tick_size), "bids": side("bid"), "asks": side("ask")}


def serve_and_feed(
    stream: Any,
    params: Any,
    speed: float | None,
    quiet: bool,
    label: str,
    simulated: bool = False,
    trading: Any = None,
    use_sessions: bool = True,
    port: int | None = None,
    hold: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """Start the server in this process, feed ``stream`` (a LoadedStream of MBO or NinjaTrader
    depth) through a real WebSocket at ``speed`` (None: as fast as possible; pacing starts at
    the first print) while showing the live view, then stop. Returns the instrument's pipeline
    and the feed's figures.

    ``trading`` (TradingParams), for an MBO stream: the server runs the trading engine with
    the reference strategy on the data's clock, and the feeding client is a simulated
    NinjaTrader account whose orders the backtest's venue fills on the MBO records
    (``orderflow.client.trade``); the figures then hold ``trading``.

    The dashboard (``http://127.0.0.1:PORT/``) controls the replay (play, pause, speed, seek:
    ``/api/replay``); a replay that does not trade can seek back. ``hold``: at the end keep
    serving (for the dashboard) until interrupted."""
    from orderflow.client.feed import build_batches, feed_batches
    from orderflow.server.app import create_app
    from orderflow.server.threaded import ThreadedServer

    trade = trading is not None and stream.kind == "mbo"
    engine: dict[str, Any] = {}
    scratch = None
    if trade:
        import tempfile

        from orderflow.server.trading import ServerTradingParams

        # the run's own journal, fresh and removed at the end (a replay's simulated account
        # restores nothing and leaves nothing behind): /api/journal/* answer for the run
        scratch = tempfile.TemporaryDirectory(prefix="orderflow-run-")
        engine = {"trading": trading, "trading_server": ServerTradingParams(
            strategy=True, clock="data", use_sessions=use_sessions),
            "journal": Path(scratch.name) / "journal.sqlite"}  # fmt: skip
    app = create_app(params, **engine)
    key = stream.instrument.contract or stream.instrument.symbol
    app.state.hub.view.simulated_market = simulated
    app.state.hub.view.simulated_account = True  # the run's account is SimNinjaTrader's
    served = ThreadedServer(app, port)
    base = served.http
    urls = {"dashboard": f"{base}/", "docs": f"{base}/docs", "health": f"{base}/health",
            "metrics": f"{base}/metrics", "websocket": served.ws}  # fmt: skip
    addresses = (f"API docs {urls['docs']}   health {urls['health']}   "
                 f"metrics {urls['metrics']}")  # fmt: skip
    if not quiet:
        console.print(f"[bold]server[/] on {base}: {addresses}, WebSocket {served.ws}",
                      soft_wrap=True)  # fmt: skip
    hub = app.state.hub
    sent = [0]
    result: dict[str, Any] = {}
    title = f"orderflow live: {label}" + (f" at {speed:g}x" if speed else " at full speed")
    sim: Any = None
    account = SIM_ACCOUNT_SIMULATED if simulated else SIM_ACCOUNT

    def progress(done: int, total: int) -> None:
        sent[0] = done

    if trade:
        from orderflow.client.simbroker import SimNinjaTrader
        from orderflow.client.trade import print_start_s, trade_batches
        from orderflow.io.nt_feed import nt_batches

        cut = nt_batches(stream)
        total = len(cut)
        start_s = print_start_s(cut) if speed is not None else 0.0
        playback = _playback(served, hub, label, cut, start_s, speed, trade, hold, key)
        sim = SimNinjaTrader(stream.instrument, broker=trading.broker.build())
        title += f"; {account}"

        async def play() -> Any:
            c = await trade_batches(stream.array, cut, sim, served.ws, client=TRADER,
                                    speed=speed, start_s=start_s, progress=progress,
                                    playback=playback)  # fmt: skip
            return c.stats
    else:
        batches = build_batches(stream)
        total = len(batches)
        start_s = pacing_start_s(batches) if speed is not None else 0.0
        playback = _playback(served, hub, label, batches, start_s, speed, trade, hold, key)

        async def play() -> Any:
            return await feed_batches(
                batches, served.ws, speed=speed, start_s=start_s, encoding="msgpack",
                client=TRADER, progress=progress, playback=playback,
            )  # fmt: skip

    app.state.playback = playback

    def feed() -> None:
        try:
            result["summary"] = asyncio.run(play())
        except BaseException as exc:  # shown by the caller, not lost in the thread
            result["error"] = exc

    worker = threading.Thread(target=feed, daemon=True)
    t0 = time.perf_counter()
    worker.start()
    try:
        if quiet:
            while worker.is_alive():
                worker.join(0.25)
        elif console.is_terminal:
            with Live(_panel(hub, key, 0, total, title, addresses, sim),
                      console=rich_console(console), refresh_per_second=4) as live:  # fmt: skip
                while worker.is_alive():
                    worker.join(0.25)
                    live.update(_panel(hub, key, sent[0], total, title, addresses, sim))
        else:
            next_line = time.perf_counter() + PLAIN_EVERY_S
            while worker.is_alive():
                worker.join(0.25)
                if time.perf_counter() >= next_line and worker.is_alive():
                    console.print(_line(hub, key, sent[0], total, time.perf_counter() - t0,
                                        simulated, sim),
                                  highlight=False, soft_wrap=True)  # fmt: skip
                    next_line += PLAIN_EVERY_S
    finally:
        served.stop()
        if scratch is not None:
            scratch.cleanup()
    if "error" in result:
        raise result["error"]
    s = result.get("summary")
    reports = sim.report_batches if sim is not None else 0  # the account's order reports
    figures: dict[str, Any] = {
        "batches": total,
        "acks": (s.acks - reports) if s else 0,
        "report_batches": reports,
        "errors": s.errors if s else 0,
        "elapsed_s": round(time.perf_counter() - t0, 3),
        "speed": speed,
        "paced_from_s": round(start_s, 3),
        "urls": urls,
        "health": hub.health(),
    }
    view = trading_view(hub, sim, key, rows=True)
    if view is not None:
        figures["trading"] = {"account": account, **view}
    st = hub.instruments.get(key)
    return (st.pipeline if st else None), figures
