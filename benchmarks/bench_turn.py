"""The Python bookkeeping around a batch's pipeline pass, piece by piece: ESH4 fed to an
in-process Hub as NinjaTrader's batches (the bridge's batches of about 100 depth events, packed
columns as the bridge sends them), one client, ``perf_counter_ns`` around each step
``Hub.apply`` makes (the time-window check, the claim, the undo snapshot, the order-report
check, the conversion, the pipeline pass, the heal bookkeeping, the rest of the batch, the
refusal diff, the ack, the alerts and the strategy's turn). ``rest`` is the apply's own lines
between the steps. Run it on two trees to compare (interleaved, several runs):

    PYTHONPATH=src python benchmarks/bench_turn.py [repeats] [--trading] [--record]

``--trading``: the client has a trading desk (as a bridge that sent order reports has), with
no position: each batch's prints go to it. ``--record``: every batch is recorded (into a
temporary folder) before it is applied, as ``orderflow serve`` does by default.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import orderflow.server.hub as hub_module
from orderflow.client.feed import build_batches
from orderflow.engine.pipeline import Pipeline
from orderflow.io.formats import load_stream
from orderflow.protocol import packed
from orderflow.server.hub import Hub
from orderflow.server.recording import Recorder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ESH4 = DATA / "databento" / "es_mbo" / "esh4-glbx-mdp3-20231225.mbo.dbn.zst"
#: module functions Hub.apply calls by name, and Hub methods, timed in place
FUNCTIONS = ["check_batch", "undo_of", "check_batch_reports", "convert_batch", "fast_conversion",
             "commit_conversion"]  # fmt: skip
METHODS = ["_claim", "_record", "_ask_or_heal", "_count", "_rest_of", "_rejected", "_ack",
           "_check_alerts", "_decide"]  # fmt: skip
WARM = 50  # the first batches load the kernels


def _timed(fn: Callable[..., Any], into: list[int]) -> Callable[..., Any]:
    def timed(*a: Any, **k: Any) -> Any:
        t = time.perf_counter_ns()
        try:
            return fn(*a, **k)
        finally:
            into.append(time.perf_counter_ns() - t)

    return timed


def run(batches: list[Any], trading: bool = False, record: bool = False) -> dict[str, float]:
    hub = Hub(recorder=Recorder(tempfile.mkdtemp(prefix="bench-turn-")) if record else None)
    if trading:
        hub.trading.of("nt8")
    spent: dict[str, list[int]] = {}
    saved = {name: getattr(hub_module, name) for name in FUNCTIONS}
    for name in FUNCTIONS:
        setattr(hub_module, name, _timed(saved[name], spent.setdefault(name, [])))
    for name in METHODS:
        setattr(hub, name, _timed(getattr(hub, name), spent.setdefault(name, [])))
    for name in ("took", "applied"):  # the dashboard's view (inline unless deferred)
        setattr(hub.view, name, _timed(getattr(hub.view, name), spent.setdefault("view", [])))
    process_batch = Pipeline.process_batch
    pipe_ns = spent.setdefault("pipeline", [])
    Pipeline.process_batch = _timed(process_batch, pipe_ns)  # type: ignore[method-assign]
    total: list[int] = []
    try:
        for b in batches:
            t = time.perf_counter_ns()
            hub.apply(b, "nt8")
            total.append(time.perf_counter_ns() - t)
    finally:
        for name, fn in saved.items():
            setattr(hub_module, name, fn)
        Pipeline.process_batch = process_batch  # type: ignore[method-assign]
    n = len(batches) - WARM
    out = {k: sum(v[-n * (2 if k == "view" else 1) :]) / n / 1e3 for k, v in spent.items()}
    out["apply"] = float(np.mean(total[WARM:])) / 1e3
    out["rest"] = out["apply"] - sum(v for k, v in out.items() if k != "apply")
    return out


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    repeats = int(args[0]) if args else 3
    trading, record = "--trading" in sys.argv, "--record" in sys.argv
    batches = [packed(fb.batch) for fb in build_batches(load_stream(ESH4), 10, 100)]
    print(f"{len(batches)} batches, mean us per batch (best of {repeats})")
    runs = [run(batches, trading, record) for _ in range(repeats)]
    for key in runs[0]:
        print(f"{key:20s} {min(r[key] for r in runs):8.2f}")


if __name__ == "__main__":
    main()
