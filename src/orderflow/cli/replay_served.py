"""``orderflow replay PATH --serve``: a server recording played into a server of its own over a
real WebSocket, paced by its event times and controlled from the dashboard (play, pause, speed,
seek; seek back drops the market state and plays from the start). The recording's refusal
markers carry no content and are skipped; every recorded batch is sent again as it came."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from orderflow.cli.output import console
from orderflow.protocol import column_list

__all__ = ["replay_served"]

TRADER = "replay"


def _times(batch: Any, recv_ns: int) -> tuple[int, int]:
    """A batch's first and last event time (depth, else prints, else bars; else receipt)."""
    ts: list[int] = []
    if batch.columns is not None:
        ts += column_list(batch.columns, "t")
    ts += [d.t for d in batch.depth] + [t.t for t in batch.ticks] + [b.t for b in batch.bars]
    return (min(ts), max(ts)) if ts else (recv_ns, recv_ns)


def replay_served(records: list[Any], label: str, params: Any, speed: float | None,
                  port: int | None, hold: bool, quiet: bool) -> Any:  # fmt: skip
    """Serve and feed ``records`` (sorted by receipt); returns the server's Hub when done."""
    from orderflow.cli.live import on_server_loop
    from orderflow.client.feed import FeedBatch, feed_batches
    from orderflow.server.app import create_app
    from orderflow.server.replay import Playback
    from orderflow.server.threaded import ThreadedServer, free_port

    port = port or free_port()
    if not quiet:
        console.print(f"[bold]dashboard[/] http://127.0.0.1:{port}/", soft_wrap=True)
    batches = [FeedBatch(r.batch, *_times(r.batch, r.recv_ns)) for r in records
               if r.refused is None]  # fmt: skip
    app = create_app(params)
    hub = app.state.hub

    def drop() -> None:
        for key in list(hub.instruments):
            hub.drop(key)

    start = min((b.t_first for b in batches), default=0)
    end = max((b.t_last for b in batches), default=0)
    served = ThreadedServer(app, port)
    playback = Playback(label, start, end, speed=speed, hold=hold,
                        on_restart=on_server_loop(served, drop))  # fmt: skip
    app.state.playback = playback
    result: dict[str, Any] = {}

    def feed() -> None:
        try:
            fed = feed_batches(batches, served.ws, encoding="msgpack", client=TRADER,
                               playback=playback, columns="rows")  # as it came  # fmt: skip
            result["summary"] = asyncio.run(fed)
        except BaseException as exc:  # shown by the caller
            result["error"] = exc

    worker = threading.Thread(target=feed, daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.25)
    finally:
        time.sleep(0.1)
        served.stop()
    if "error" in result:
        raise result["error"]
    return hub
