"""The dashboard in a real browser while ESH4 replays (``orderflow run FILE --no-trade``).

Debian's ``chromium-headless-shell`` (``scripts/ensure_chromium.sh``) driven by Playwright
opens the page at 1600x1000 and the page itself reports its timings (``window.orderflowDash``:
``requestAnimationFrame`` timestamps, and for every stream frame the time from the server's
``wall_ns`` (else its arrival in the worker) to the end of the animation frame that drew it):

- ``first paint``: navigation start to the end of the first frame that drew the snapshot (the
  page opened in a fresh browser two seconds after the replay started pacing);
- ``fps at 60x``: animation frames per second while the file plays at 60x, and the longest
  frame (the largest gap between two frames after load);
- ``event-to-pixel at 1x``: p50/p99 of that lag while the file plays at 1x;
- ``JS heap after the whole file``: the page's used JS heap (after a garbage collection)
  once the whole file (70 minutes of data) has played at 600x, against the heap at load:
  bounded memory means the ring buffers cap it.

The browser renders without a GPU (software canvas) on the same cores as the server: the
figures are this machine's, not a trader's desktop. Nothing passes or fails on them.

    .venv/bin/python benchmarks/bench_dashboard.py [SECONDS]     (standalone)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Progress, Result

SUITE = "dashboard"
ROOT = Path(__file__).resolve().parents[1]
ESH4 = (
    ROOT.parent / "shared" / "data" / "databento" / "es_mbo" / "esh4-glbx-mdp3-20231225.mbo.dbn.zst"
)


@dataclass(slots=True)
class Task:
    label: str
    run: Callable[[Progress], list[Result]]


def _chromium() -> str:
    given = os.environ.get("ORDERFLOW_CHROMIUM")
    if given:
        return given
    out = subprocess.run(["bash", str(ROOT / "scripts" / "ensure_chromium.sh")],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


class _Run:
    """``orderflow run ESH4 --no-trade --hold`` on a free port."""

    def __init__(self, folder: Path, speed: float) -> None:
        from orderflow.server.threaded import free_port

        self.port = free_port()
        self.http = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
        self.log = open(folder / "run.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orderflow.cli.main", "run", str(ESH4), "--no-trade", "--hold",
             "--port", str(self.port), "--speed", str(speed)],
            cwd=folder, env=env, stdout=subprocess.PIPE, stderr=self.log, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError((folder / "run.log").read_text()[-2000:])
            try:
                if httpx.get(f"{self.http}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.proc.kill()  # (not left running)
                self.proc.wait(timeout=20)
                raise RuntimeError("orderflow run did not start serving within 120 s")
            time.sleep(0.1)

    def control(self, **body: Any) -> dict[str, Any]:
        r = httpx.post(f"{self.http}/api/replay", json=body, timeout=30)
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]

    def replay(self) -> dict[str, Any]:
        return httpx.get(f"{self.http}/api/replay", timeout=10).json()  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


def _frames(page: Any) -> np.ndarray:
    return np.asarray(page.evaluate("window.orderflowDash.frameTimes()"), dtype=float)


def _heap(cdp: Any) -> int:
    cdp.send("HeapProfiler.collectGarbage")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return int(metrics["JSHeapUsedSize"])


def measure(seconds: float, progress: Progress | None = None) -> dict[str, Any]:
    """Every figure of the module docstring, in one browser and one replay."""
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        run = _Run(Path(tmp), speed=60)
        browser = p.chromium.launch(executable_path=_chromium())
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            # the page opens once the replay paces (not while the run decodes and catches up)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                got = httpx.get(f"{run.http}/api/view/instruments", timeout=10).json()
                if got["instruments"] and (got.get("replay") or {}).get("playing"):
                    break
                time.sleep(0.2)
            time.sleep(2)
            page.goto(f"{run.http}/")
            page.wait_for_function("window.orderflowDash && window.orderflowDash.perf.firstPaint",
                                   timeout=60_000)  # fmt: skip
            out["first_paint_ms"] = page.evaluate("window.orderflowDash.perf.firstPaint")
            page.wait_for_timeout(1000)
            heap0 = _heap(cdp)
            # 60x: frames per second and the longest frame
            run.control(action="speed", speed=60)
            page.wait_for_timeout(500)
            page.evaluate(
                "(s => { for (const k in s) delete s[k]; })(window.orderflowDash.perf.slowest)"
            )
            n0 = page.evaluate("window.orderflowDash.perf.nframes")
            t0 = time.perf_counter()
            window = max(5.0, seconds * 2)
            page.wait_for_timeout(window * 1000)
            elapsed = time.perf_counter() - t0
            frames = _frames(page)
            n1 = page.evaluate("window.orderflowDash.perf.nframes")
            span = frames[-(n1 - n0) :] if n1 - n0 <= len(frames) else frames
            gaps = np.diff(span)
            out["fps_60x"] = (n1 - n0) / elapsed
            out["longest_frame_ms"] = float(gaps.max()) if len(gaps) else float("nan")
            out["frame_p99_ms"] = float(np.percentile(gaps, 99)) if len(gaps) else float("nan")
            out["slowest_ms"] = page.evaluate("window.orderflowDash.perf.slowest")
            # 1x: event-to-pixel lag
            run.control(action="speed", speed=1)
            page.wait_for_timeout(500)
            k0 = page.evaluate("window.orderflowDash.perf.nlags")
            page.wait_for_timeout(window * 1000)
            lags = np.asarray(page.evaluate("window.orderflowDash.lagTimes()"), dtype=float)
            k1 = page.evaluate("window.orderflowDash.perf.nlags")
            lags = lags[-(k1 - k0) :] if 0 < k1 - k0 <= len(lags) else lags
            out["lag_frames"] = int(k1 - k0)
            out["lag_p50_ms"] = float(np.percentile(lags, 50)) if len(lags) else float("nan")
            out["lag_p99_ms"] = float(np.percentile(lags, 99)) if len(lags) else float("nan")
            # the whole file at 600x: the heap stays bounded
            run.control(action="speed", speed=600)
            deadline = time.monotonic() + 180
            while not run.replay().get("finished") and time.monotonic() < deadline:
                time.sleep(0.5)
            page.wait_for_timeout(1500)
            out["finished"] = bool(run.replay().get("finished"))
            out["heap_load_bytes"] = heap0
            out["heap_end_bytes"] = _heap(cdp)
            out["page_errors"] = errors
        finally:
            browser.close()
            run.stop()
    return out


def _rows(seconds: float, progress: Progress | None = None) -> list[Result]:
    m = measure(seconds, progress)
    note = "" if not m["page_errors"] else f"page errors: {m['page_errors'][:2]}"
    return [
        Result(SUITE, "dashboard:paint", "reference", "first paint (navigation to snapshot drawn)",
               p50_ns=m["first_paint_ms"] * 1e6, lat_unit="load", note=note),
        Result(SUITE, "dashboard:fps", "reference", "animation frames at 60x replay",
               events_per_s=m["fps_60x"], unit="frames", p99_ns=m["frame_p99_ms"] * 1e6,
               lat_unit="frame", extra={"longest_frame_ms": m["longest_frame_ms"],
                                        "slowest_ms": m["slowest_ms"]}),
        Result(SUITE, "dashboard:lag", "reference", "event-to-pixel at 1x (server send to frame)",
               p50_ns=m["lag_p50_ms"] * 1e6, p99_ns=m["lag_p99_ms"] * 1e6, lat_unit="frame",
               extra={"frames": m["lag_frames"]}),
        Result(SUITE, "dashboard:heap", "reference", "JS heap: at load -> after the whole file",
               peak_bytes=m["heap_end_bytes"], retained_bytes=m["heap_load_bytes"],
               extra={"finished": m["finished"]}),
    ]  # fmt: skip


def tasks(streams: Any, seconds: float) -> tuple[list[Any], list[str]]:
    if not ESH4.exists():
        return [], [f"dashboard: {ESH4} not found"]
    try:
        import playwright  # noqa: F401
    except ImportError:
        return [], ["dashboard: playwright not installed (pip install -e '.[dev]')"]
    return [
        Task("dashboard: the page in chromium while ESH4 replays", lambda pr: _rows(seconds, pr))
    ], []


def summary(results: list[Result]) -> list[str]:
    by = {r.pair: r for r in results if r.suite == SUITE}
    if not by:
        return []
    lines = ["Dashboard (chromium-headless-shell, 1600x1000, software canvas):"]
    if "dashboard:paint" in by:
        lines.append(f"  first paint {by['dashboard:paint'].p50_ns / 1e6:,.0f} ms (goal < 1000)")
    if "dashboard:fps" in by:
        r = by["dashboard:fps"]
        longest = r.extra["longest_frame_ms"]
        lines.append(f"  {r.events_per_s:.1f} frames/s at 60x (goal >= 40); longest frame "
                     f"{longest:.0f} ms, p99 {r.p99_ns / 1e6:.0f} ms (goal <= 50)")  # fmt: skip
        slow = ", ".join(f"{k} {v:.0f}" for k, v in sorted(r.extra["slowest_ms"].items()))
        lines.append(f"  the page's own work at most (ms, in that window): {slow}")
    if "dashboard:lag" in by:
        r = by["dashboard:lag"]
        p50, p99 = r.p50_ns / 1e6, r.p99_ns / 1e6
        lines.append(f"  event-to-pixel at 1x: p50 {p50:.0f} ms, p99 {p99:.0f} ms"
                     f" over {r.extra['frames']} frames (goal p99 < 100)")  # fmt: skip
    if "dashboard:heap" in by:
        r = by["dashboard:heap"]
        at_load, at_end = r.retained_bytes / 2**20, r.peak_bytes / 2**20
        lines.append(f"  JS heap {at_load:.1f} MiB at load, {at_end:.1f} MiB after the whole "
                     f"file at 600x (finished: {r.extra['finished']})")  # fmt: skip
    return lines


def main() -> None:
    if not ESH4.exists():
        print(f"skipped: {ESH4} not found")
        return
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    for line in summary(_rows(seconds)):
        print(line)


if __name__ == "__main__":
    main()
