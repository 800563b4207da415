"""``orderflow warmup``: compile every jitted kernel the server and ``orderflow run`` use into
numba's cache once (``make setup`` runs it), so a fresh install starts warm.

Numba caches a kernel per argument types, so the kernels are warmed by running the real code
paths, not by naming signatures: a throwaway hub is fed synthetic NinjaTrader batches that touch
every branch of the ladder (adds, updates, removes, an IsReset, refused events, prints, bars),
and when the default recording is there (``data.dir``/``data.default_file``) it is replayed
whole as ``orderflow run --no-serve`` does and fed, as batches, through the hub as ``orderflow
run`` does; ``orderflow warmup`` also runs the built-in simulated market's generator, which
``orderflow run`` uses where no recording is. ``orderflow serve`` runs the same warm-up (not
the simulated market's) in a worker thread at start (its ``/health`` says ``warming``
meanwhile).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["compiled_kernels", "warm_kernels", "warmup"]

_INSTRUMENT = "ES 03-24"
_TICK = 0.25


def compiled_kernels() -> dict[str, int]:
    """Every numba kernel of orderflow loaded in this process, with how many type signatures
    it has compiled (or loaded from the cache) so far."""
    from numba.core.dispatcher import Dispatcher

    out: dict[str, int] = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith("orderflow.") or module is None:
            continue
        for value in list(vars(module).values()):
            if isinstance(value, Dispatcher):
                fn = value.py_func
                out[f"{fn.__module__}.{fn.__qualname__}"] = len(value.signatures)
    return out


def _synthetic_batches(t0_ns: int) -> list[dict[str, Any]]:
    """NinjaTrader batches touching each ladder branch: a reset, a 10-row build-up on both
    sides, updates and removes, prints with quotes, bars of two series, refused events."""
    px = 4800.0
    seq = 0
    out: list[dict[str, Any]] = []

    def batch(
        depth: list[Any], ticks: list[Any] | None = None, bars: list[Any] | None = None
    ) -> None:
        nonlocal seq
        seq += 1
        out.append({"instrument": _INSTRUMENT, "seq": seq, "depth": depth,
                    "ticks": ticks or [], "bars": bars or []})  # fmt: skip

    t = t0_ns
    build = []
    for pos in range(10):
        for side, sign in (("bid", -1), ("ask", 1)):
            t += 1000
            build.append({"t": t, "side": side, "op": "add", "pos": pos, "reset": pos == 0,
                          "price": px + sign * _TICK * (pos + 1), "size": 5 + pos})  # fmt: skip
    batch(build)
    for k in range(12):
        t += 20_000_000_000  # time bars close along the way
        depth = [
            {"t": t, "side": "bid", "op": "update", "pos": 0, "price": px - _TICK, "size": 7 + k},
            {"t": t, "side": "ask", "op": "remove", "pos": 9, "price": px + 10 * _TICK, "size": 1},
            {"t": t, "side": "ask", "op": "add", "pos": 9, "price": px + 10 * _TICK, "size": 3},
            {"t": t, "side": "bid", "op": "add", "pos": 10, "price": px - 11 * _TICK, "size": 2},
            {"t": t, "side": "bid", "op": "remove", "pos": 10, "price": px - 11 * _TICK,
             "size": 2},
        ]  # fmt: skip
        ticks = [{"t": t + j, "price": px + _TICK * (1 if (k + j) % 2 else -1), "size": 1 + j,
                  "bid": px - _TICK, "ask": px + _TICK} for j in range(k % 3)]  # fmt: skip
        if k % 4 == 3:  # prints alone, and prints before the depth of their moment
            batch([], ticks)
            ticks = [{**tick, "t": tick["t"] - 2} for tick in ticks]
        bars = [{"series": s, "t": t, "open": px, "high": px + _TICK, "low": px - _TICK,
                 "close": px, "volume": 10 + k, "closed": k % 2 == 1}
                for s in (0, 1) if k >= 10]  # NinjaTrader's own bars last  # fmt: skip
        batch(depth, ticks, bars)
    t += 1_000_000
    refused = [
        {"t": t, "side": "bid", "op": "update", "pos": 400, "price": px, "size": 1},
        {"t": t, "side": "ask", "op": "update", "pos": 0, "price": px - 5, "size": 1},
    ]
    batch(refused)
    return out


@contextlib.contextmanager
def _quieted(logger: str, level: int) -> Iterator[None]:
    """``logger`` below ``level`` silenced meanwhile (a throwaway run's records are not the
    operator's), its own level put back after."""
    log = logging.getLogger(logger)
    before = log.level
    log.setLevel(level)
    try:
        yield
    finally:
        log.setLevel(before)


def _warm_server(params: Any, ready: Callable[[], None] | None = None, steps: str = "all") -> int:
    """Feed the synthetic batches through a throwaway hub; the batches applied. ``ready`` is
    called once the first batch is applied (the fused step's kernels compiled or loaded).
    ``steps``: ``all``; ``batches``, the batches and their depth forms only; ``sessions``, the
    sessions' encodings and the dashboard's steps only (two processes share the warm-up:
    :mod:`orderflow.cli.warmup_jobs`)."""
    import orjson

    from orderflow.core.errors import OrderflowError
    from orderflow.protocol import columnar, decode_batch, encode, packed
    from orderflow.server.frames import decode_frame
    from orderflow.server.hub import Hub

    with _quieted("orderflow.server", logging.ERROR):  # the throwaway hub's alerts
        hub = Hub(params)
        applied = 0
        docs = _synthetic_batches(time.time_ns() - 1_000_000_000)
        batches = steps != "sessions"
        for doc in docs if batches else ():
            try:
                hub.apply(decode_batch(orjson.dumps(doc)), "warmup")
                applied += 1
            except OrderflowError:
                pass  # the refused events are part of the warm-up
            if ready is not None:
                ready()
                ready = None
        # depth as packed columns (their own compiled pass over the decoded bytes) and as
        # list columns (the general pass), answered as duplicates of the batches above
        for doc in docs[:3] if batches else ():
            for form in (packed, columnar):
                with contextlib.suppress(OrderflowError):
                    hub.apply(form(decode_batch(orjson.dumps(doc))), "warmup")
        if steps == "batches":
            return applied
        # answered as a MessagePack session and a JSON session have them answered (the book
        # and metrics as that encoding's bytes: their own compiled calls)
        # (a MessagePack session's batches decoded from their frames: rows read from the
        # frame's bytes, server.frames)
        for encoding in ("msgpack", "json"):
            hub.acks_as = encoding
            try:
                for doc in docs[:3]:
                    batch: Any = decode_batch(orjson.dumps(doc))
                    if encoding == "msgpack":
                        batch = decode_frame(encode(batch, "msgpack"))
                    with contextlib.suppress(OrderflowError):
                        hub.apply(batch, "warmup")
            finally:
                hub.acks_as = None
        from orderflow.server.view_frames import bars_between

        for st in hub.instruments.values():  # the dashboard's footprint imbalances
            bars_between(st, 0, 2**63 - 1, 10)
        _warm_heat()
        return applied


def _warm_heat() -> None:
    """The dashboard's heatmap step (a stale synthetic ladder never reaches it)."""
    heat = _warm_heat_columns()
    # the viewer stream's heat columns and prints written as MessagePack
    import numpy as np

    from orderflow.model.dtypes import TRADE_DTYPE
    from orderflow.model.instruments import get_instrument
    from orderflow.server.view import (
        PRINT_DTYPE,
        InstrumentView,
        ViewParams,
        heat_packed,
        prints_packed,
    )

    inst = get_instrument("ES")
    heat_packed(heat.block(0, 2), inst)
    prints_packed(np.zeros(1, dtype=PRINT_DTYPE), inst.to_price)
    # the view's fold: a batch's prints into its ring
    InstrumentView.new(ViewParams(prints=1000)).take_prints(np.zeros(2, dtype=TRADE_DTYPE))


def _warm_heat_columns() -> Any:
    """The heatmap's own kernels (no server module loaded); the heat columns."""
    import numpy as np

    from orderflow.analytics.heatmap import HeatColumns
    from orderflow.model.dtypes import NT_DEPTH_DTYPE, TRADE_DTYPE

    rows = np.array([4800, 4799], dtype=np.int64), np.array([5, 7], dtype=np.int64)
    HeatColumns(1, 4, 2).update(0, *rows, *rows)
    # the exact columns of a batch of depth events, with the types the viewer hands it (field
    # views of NinjaTrader depth and print records)
    heat = HeatColumns(1, 4, 2)
    heat.resync((*rows, *rows))
    depth = np.zeros(2, dtype=NT_DEPTH_DTYPE)
    depth["ts_event"] = [1, 2]
    depth["price"], depth["size"] = 4800, [6, 8]
    # a batch with prints (strided field views) and one without (an empty view is contiguous);
    # and the same as records, in one call (the view's fold)
    for n in (2, 0):
        prints = np.zeros(n, dtype=TRADE_DTYPE)
        prints["ts_event"], prints["price"] = 2, 4800
        heat.apply_depth(depth, prints["ts_event"], prints["price"], (*rows, *rows))
        depth["ts_event"] += 2
        heat.apply_batch(depth, prints, (*rows, *rows))
    return heat


def _warm_run(params: Any, path: Path) -> int:
    """``orderflow run`` on ``path``: the in-process replay, and its batches through a hub."""
    from orderflow.client.feed import build_batches
    from orderflow.core.errors import OrderflowError
    from orderflow.engine.runner import run_file
    from orderflow.io.formats import load_stream
    from orderflow.server.hub import Hub

    run_file(path, params)
    stream = load_stream(path)
    if stream.kind not in ("mbo", "nt_depth"):
        return 0
    with _quieted("orderflow.server", logging.ERROR):
        hub = Hub(params)
        batches = build_batches(stream)
        for fb in batches:
            with contextlib.suppress(OrderflowError):
                hub.apply(fb.batch, "warmup")
        return len(batches)


def _warm_simulated() -> int:
    """The built-in simulated market's generator (``orderflow run`` where no recording is):
    a few thousand records, its kernels typed as for an hour of it. Returns the records."""
    from orderflow.io.simulated import simulate_mbo

    with _quieted("orderflow.io.simulated", logging.WARNING):  # its "records generated"
        return len(simulate_mbo(2_000))


def warm_kernels(
    params: Any = None, data_file: Path | None = None, simulated: bool = False
) -> dict[str, Any]:
    """Compile (or load from numba's cache) the kernels the server and ``orderflow run`` use
    (``simulated``: also the simulated market's, which ``orderflow run`` without a recording
    uses and the server does not); returns what was done: kernels, batches, seconds."""
    t0 = time.perf_counter()
    from orderflow.engine.pipeline import PipelineParams

    params = params if params is not None else PipelineParams()
    # the pulling/stacking kernel too, off or not: switching it on later starts warm as well
    params = dataclasses.replace(params, pull=dataclasses.replace(params.pull, enabled=True))
    server = _warm_server(params)
    run = _warm_run(params, data_file) if data_file is not None and data_file.is_file() else 0
    sim = _warm_simulated() if simulated else 0
    kernels = compiled_kernels()
    return {
        "kernels": sum(1 for n in kernels.values() if n),
        "kernels_loaded": len(kernels),
        "server_batches": server,
        "run_batches": run,
        "data_file": str(data_file) if data_file is not None and run else None,
        "simulated_records": sim,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def warmup(
    json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    data: Annotated[
        bool, typer.Option("--data/--no-data", help="Also replay the default recording.")
    ] = True,
) -> None:
    """Compile the jitted kernels into numba's cache (NUMBA_CACHE_DIR, else __pycache__ beside
    the sources) so the next start of `orderflow serve` or `orderflow run` (the recording's or
    the simulated market) is warm."""
    from orderflow.cli.context import settings
    from orderflow.cli.output import console, print_json
    from orderflow.settings import pipeline_params

    s = settings()
    out = warm_kernels(pipeline_params(s), s.data.dir / s.data.default_file if data else None,
                       simulated=True)  # fmt: skip
    if json:
        print_json(out)
        return
    console.print(
        f"warm: {out['kernels']} kernels compiled or loaded from numba's cache in "
        f"{out['seconds']:.1f} s ({out['server_batches']} server batches"
        + (f", {out['run_batches']} batches of {out['data_file']}" if out["run_batches"] else "")
        + f", {out['simulated_records']:,} simulated records)"
    )


if __name__ == "__main__":  # what `orderflow serve` runs in a child process (see cli.serve)
    import json as _json

    print(_json.dumps(warm_kernels()))
