"""``orderflow run --serve``: the product working end to end on one machine. It starts the
server on 127.0.0.1, feeds it a recording as NinjaTrader depth events at replay speed (as
NinjaTrader's market replay would), and shows what a trader watches as it goes."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from rich.live import Live
from rich.table import Table

from orderflow.cli.output import console
from orderflow.core.time import ns_to_iso

__all__ = ["serve_and_feed"]


def _panel(hub: Any, key: str, sent: int, total: int, label: str) -> Table:
    """The live view: feed progress, top of book, the headline metrics, the latest signals."""
    t = Table(title=f"orderflow live: {label}", show_header=False, box=None)
    t.add_column(style="bold")
    t.add_column()
    st = hub.instruments.get(key)
    t.add_row("fed", f"{sent:,} / {total:,} batches")
    if st is None or not st.pipeline.groups:
        return t
    pipe, px = st.pipeline, st.instrument.to_price
    top = pipe.book.top()
    m = pipe.metrics
    bid = f"{px(top.bid_price)} x {top.bid_size}" if top.bid_price is not None else "-"
    ask = f"{px(top.ask_price)} x {top.ask_size}" if top.ask_price is not None else "-"
    vw = pipe.vwap.value()
    t.add_row("time", ns_to_iso(pipe.last_ts))
    t.add_row("book", f"bid {bid}   ask {ask}" + ("   [yellow]STALE[/]" if st.stale else ""))
    t.add_row("imbalance", f"{m.imbalance:+.3f}   momentum {pipe.momentum.score:+.3f}")
    vwap = f"{vw.vwap * float(st.instrument.tick_size):.2f}" if vw.volume else "-"
    t.add_row("delta / VWAP", f"{pipe.delta.value:+,}   VWAP {vwap}   volume {pipe.volume:,}")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(pipe.signal_counts.items())) or "none yet"
    t.add_row("signals", counts)
    for s in pipe.signals[-3:]:
        side = "long" if s.direction > 0 else "short"
        t.add_row("", f"{ns_to_iso(s.ts_event)[11:23]} {s.detector} {side} at {px(s.price)}"
                      f" (score {s.score:.2f})")  # fmt: skip
    return t


def serve_and_feed(
    stream: Any, params: Any, speed: float | None, quiet: bool, label: str
) -> tuple[Any, dict[str, Any]]:
    """Start the server in this process, feed ``stream`` (a LoadedStream of MBO or NinjaTrader
    depth) through a real WebSocket at ``speed`` (None: as fast as possible) while showing the
    live view, then stop. Returns the instrument's pipeline and the feed's figures."""
    from orderflow.client.feed import build_batches, feed_batches
    from orderflow.server.app import create_app
    from orderflow.server.threaded import ThreadedServer

    app = create_app(params)
    served = ThreadedServer(app)
    base = served.http
    if not quiet:
        console.print(
            f"[bold]server[/] on {base}: API docs {base}/docs, health {base}/health, "
            f"metrics {base}/metrics, WebSocket {served.ws}"
        )
    batches = build_batches(stream)
    hub = app.state.hub
    key = stream.instrument.contract or stream.instrument.symbol
    sent = [0]
    result: dict[str, Any] = {}

    def progress(done: int, total: int) -> None:
        sent[0] = done

    def feed() -> None:
        url = served.ws
        result["summary"] = asyncio.run(
            feed_batches(batches, url, speed=speed, encoding="msgpack", client="run",
                         progress=progress)
        )  # fmt: skip

    worker = threading.Thread(target=feed, daemon=True)
    t0 = time.perf_counter()
    worker.start()
    try:
        if quiet:
            worker.join()
        else:
            with Live(_panel(hub, key, 0, len(batches), label), console=console,
                      refresh_per_second=4) as live:  # fmt: skip
                while worker.is_alive():
                    worker.join(0.25)
                    live.update(_panel(hub, key, sent[0], len(batches), label))
    finally:
        served.stop()
    s = result.get("summary")
    figures = {
        "batches": len(batches),
        "acks": s.acks if s else 0,
        "errors": s.errors if s else 0,
        "elapsed_s": round(time.perf_counter() - t0, 3),
        "speed": speed,
        "health": hub.health(),
    }
    st = hub.instruments.get(key)
    return (st.pipeline if st else None), figures
