"""The cost of an ack on the hot path: ESH4 fed to an in-process Hub as NinjaTrader's batches
(the bridge's batches of about 100 depth events), one client, timing every ``Hub.apply`` and
the ``Hub._ack`` inside it, and the size of each encoded ack. Run it on two trees to compare:

    PYTHONPATH=src python benchmarks/bench_ack.py [repeats]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from orderflow.client.feed import build_batches
from orderflow.io.formats import load_stream
from orderflow.protocol import encode
from orderflow.server.hub import Hub

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _esh4() -> Path:
    path = DATA / "databento" / "es_mbo" / "esh4-glbx-mdp3-20231225.mbo.dbn.zst"
    if not path.exists():
        raise SystemExit(f"no ESH4 MBO file at {path}")
    return path


def run(batches: list[Any]) -> dict[str, float]:
    hub = Hub()
    ack_ns: list[int] = []
    inner = hub._ack

    def timed(*a: Any, **k: Any) -> Any:
        t = time.perf_counter_ns()
        out = inner(*a, **k)
        ack_ns.append(time.perf_counter_ns() - t)
        return out

    hub._ack = timed  # type: ignore[method-assign]
    apply_ns, size = [], []
    for b in batches:
        t = time.perf_counter_ns()
        ack, _ = hub.apply(b, "nt8")
        apply_ns.append(time.perf_counter_ns() - t)
        size.append(len(encode(ack)))
    warm = slice(50, None)  # the first batches load the kernels
    a, k = np.array(apply_ns[warm]) / 1e3, np.array(ack_ns[warm]) / 1e3
    return {
        "apply_p50_us": float(np.median(a)),
        "apply_mean_us": float(a.mean()),
        "ack_p50_us": float(np.median(k)),
        "ack_mean_us": float(k.mean()),
        "ack_p99_us": float(np.percentile(k, 99)),
        "ack_bytes_mean": statistics.mean(size),
    }


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    batches = [fb.batch for fb in build_batches(load_stream(_esh4()), 10, 100)]
    print(f"{len(batches)} batches")
    runs = [run(batches) for _ in range(repeats)]
    for key in runs[0]:
        print(f"{key:16s} {min(r[key] for r in runs):10.1f}  (best of {repeats})")


if __name__ == "__main__":
    main()
