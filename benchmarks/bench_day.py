"""A full trading day through ``orderflow backtest``: wall time, records per second, peak RSS.

The day is SIMULATED: 23 hours (a Globex ES day) of the queue-reactive market fitted to ES, its
intensities x25 (``--simulated-activity``, about 28 million records: the order of an active ES
day), generated chunk by chunk while the backtest reads it
(``orderflow backtest --simulated-hours 23``): memory is bounded by the chunk, not the day.

The real CLI runs as a subprocess (the reference strategy, default settings, deciding every 100
records, the report written to a temp folder); this process samples its resident memory every
second from ``/proc/<pid>/status`` and takes its peak from the kernel (``wait4``'s
``ru_maxrss``). Printed: the wall time, the records and records per second, the peak RSS and
the RSS at each quarter of the run, its growth per simulated hour (the slope over the replay,
the run being about linear in simulated time), and the CPU seconds (the machine may be shared:
records per CPU second shows what the run got). A day takes minutes, so ``run_all.py`` runs it
only when asked: ``--only day``.

    .venv/bin/python benchmarks/bench_day.py [hours]        (standalone; default 23)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import Progress, Result

SUITE = "day"
PAIR = "day:simulated"
HOURS = 23.0
ROOT = Path(__file__).resolve().parent.parent
#: run_all.py sets this when ``--only`` names the day (a day takes minutes)
ASKED = False


@dataclass(slots=True)
class Task:
    label: str
    run: Any


def _rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def run_day(hours: float = HOURS, activity: float = 25.0) -> dict[str, Any]:
    """One simulated day (``hours``) through the CLI; the figures as a dict."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    with tempfile.TemporaryDirectory(prefix="orderflow-day-") as tmp:
        cmd = [sys.executable, "-m", "orderflow.cli.main", "backtest", "--simulated-hours",
               str(hours), "--simulated-activity", str(activity), "--out", str(Path(tmp) / "out"),
               "--json"]  # fmt: skip
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        with open(Path(tmp) / "stdout", "wb") as out, open(Path(tmp) / "stderr", "wb") as err:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
            samples: list[tuple[float, int]] = []
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                kb = _rss_kb(proc.pid)
                if kb is not None:
                    samples.append((time.perf_counter() - t0, kb))
                time.sleep(1.0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError((Path(tmp) / "stderr").read_text()[-2000:])
        res = json.loads((Path(tmp) / "stdout").read_text())
    records = sum(f["events"] for f in res["files"])
    quarters = []
    for q in (0.25, 0.5, 0.75, 1.0):
        at = [kb for t, kb in samples if t <= q * wall]
        quarters.append(at[-1] if at else 0)
    # growth: the slope of RSS over the replay (10% to 90% of the wall time: the start loads
    # modules and kernels, the end writes the report), per simulated hour
    mid = [(t, kb) for t, kb in samples if 0.1 * wall <= t <= 0.9 * wall]
    growth = 0.0
    if len(mid) >= 2 and hours:
        (t0_, a), (t1_, b) = mid[0], mid[-1]
        growth = (b - a) / 1024 / ((t1_ - t0_) / wall * hours)
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "hours": hours, "activity": activity, "records": records, "wall_s": wall,
        "records_per_s": records / wall, "cpu_s": cpu, "records_per_cpu_s": records / cpu,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "rss_quarters_mb": [kb / 1024 for kb in quarters], "rss_growth_mb_per_h": growth,
        "trades": res["stats"].get("trades"), "net_pnl": res["stats"].get("net_pnl"),
        "label": res["files"][0]["path"], "load_start": load0, "load_end": os.getloadavg()[0],
    }  # fmt: skip


def _note(d: dict[str, Any]) -> str:
    q = ", ".join(f"{x:.0f}" for x in d["rss_quarters_mb"])
    return (
        f"{d['label']}: {d['records']:,} records in {d['wall_s']:.0f} s ({d['cpu_s']:.0f} s of "
        f"CPU: {d['records_per_cpu_s']:,.0f} records per CPU second), peak RSS "
        f"{d['peak_rss_mb']:.0f} MB (RSS at each quarter {q} MB; growth "
        f"{d['rss_growth_mb_per_h']:.1f} MB per simulated hour), {d['trades']} trades, load "
        f"{d['load_start']:.1f} -> {d['load_end']:.1f}"
    )


def tasks(streams: Any, seconds: float) -> tuple[list[Any], list[str]]:
    if not ASKED:
        return [], ["day: a 23-hour SIMULATED day through orderflow backtest (minutes): "
                    "run_all.py --only day"]  # fmt: skip

    def run(progress: Progress) -> list[Result]:
        d = run_day()
        return [
            Result(SUITE, PAIR, "ours", "backtest of a 23 h SIMULATED day (CLI)",
                   d["records_per_s"], unit="record", seconds=d["wall_s"], calls=d["records"],
                   peak_bytes=int(d["peak_rss_mb"] * 1024 * 1024), note=_note(d))
        ]  # fmt: skip

    return [Task("day: 23 h SIMULATED market through orderflow backtest", run)], []


def summary(results: list[Result]) -> list[str]:
    return [f"day: {r.note}" for r in results if r.pair == PAIR]


def main() -> None:
    hours = float(sys.argv[1]) if len(sys.argv) > 1 else HOURS
    d = run_day(hours)
    print(json.dumps(d, indent=1))
    print(_note(d))
    print(f"{d['records_per_s']:,.0f} records/s")


if __name__ == "__main__":
    main()
