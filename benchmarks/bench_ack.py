"""The cost of an ack on the hot path: ESH4 fed to an in-process Hub as NinjaTrader's batches
(the bridge's batches of about 100 depth events), one client, timing every ``Hub.apply`` and
the ``Hub._ack`` inside it, and the size of each encoded ack. Run it on two trees to compare:

    PYTHONPATH=src python benchmarks/bench_ack.py [repeats] [--cpu [SLEEP_S]] [--json]

``--cpu``: instead, the stages after the pipeline on the thread's CPU clock (a stage probe
whose marks are ``time.thread_time_ns``, so time the process spends descheduled on a busy
machine does not count): the pipeline, "bars, order reports, ack built" (``engine_out`` to
``acked``), "alerts, dashboard view, strategy" (to ``applied``) and the MessagePack encoding,
p50 and mean per batch, the median over the repeats; ``SLEEP_S`` between batches (e.g.
0.001) makes each batch start with cold caches, as a request/response server's do. The Hub
answers as a WebSocket session of a MessagePack client has it answer (``Hub.acks_as``:
the book and metrics built as MessagePack's bytes), or with ``--json`` a JSON client's
(``Hub.acks_as``: as JSON's bytes), and the ack is encoded that way.
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
from orderflow.protocol import encode, packed
from orderflow.server import stages
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


class _CpuProbe(stages.StageProbe):
    """Marks on the thread's CPU clock."""

    def mark(self, stage: int) -> None:
        self.current[stage] = time.thread_time_ns()


def cpu_stages(batches: list[Any], sleep_s: float, encoding: str = "msgpack") -> dict[str, float]:
    """One pass of ``batches`` through a new Hub answering in ``encoding``, the stages after
    the pipeline in CPU us."""
    hub, probe = Hub(), _CpuProbe(len(batches) + 1)
    # as a session of a client of that encoding has it answer
    hub.acks_as = "msgpack" if encoding == "msgpack" else "json"
    stages.install(probe)
    try:
        for b in batches:
            if sleep_s:
                time.sleep(sleep_s)
            ack, _ = hub.apply(b, "nt8")
            probe.mark(stages.WRITTEN_IN)
            encode(ack, encoding)
            probe.mark(stages.ENCODED)
            probe.keep()
    finally:
        stages.install(None)
    rows = probe.kept()[50:]  # the first batches load the kernels
    out = {}
    for name, a, b in (("pipeline", stages.ENGINE_IN, stages.ENGINE_OUT),
                       ("ack built", stages.ENGINE_OUT, stages.ACKED),
                       ("alerts, view, strategy", stages.ACKED, stages.APPLIED),
                       (f"encode ({encoding})", stages.WRITTEN_IN, stages.ENCODED)):  # fmt: skip
        d = (rows[:, b] - rows[:, a]) / 1e3
        out[f"{name} p50"], out[f"{name} mean"] = float(np.median(d)), float(d.mean())
    return out


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] != "--cpu" else 3
    if "--cpu" in sys.argv:
        at = sys.argv.index("--cpu") + 1
        sleep_s = float(sys.argv[at]) if at < len(sys.argv) and sys.argv[at][0] != "-" else 0.0
        batches = [packed(fb.batch) for fb in build_batches(load_stream(_esh4()), 10, 100)]
        encoding = "json" if "--json" in sys.argv else "msgpack"
        runs = [cpu_stages(batches, sleep_s, encoding) for _ in range(repeats)]
        print(f"{len(batches)} packed batches, CPU us (median of {repeats}), sleep {sleep_s} s,"
              f" {encoding}")  # fmt: skip
        for key in runs[0]:
            print(f"{key:32s} {statistics.median(r[key] for r in runs):8.2f}")
        return
    batches = [fb.batch for fb in build_batches(load_stream(_esh4()), 10, 100)]
    print(f"{len(batches)} batches")
    runs = [run(batches) for _ in range(repeats)]
    for key in runs[0]:
        print(f"{key:16s} {min(r[key] for r in runs):10.1f}  (best of {repeats})")


if __name__ == "__main__":
    main()
