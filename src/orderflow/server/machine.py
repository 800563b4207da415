"""The machine under the server: process CPU and memory, open files against their limit,
event-loop lag, and free disk of the recording and journal volumes.

A task on the event loop wakes every ``interval_s``; how late it wakes is the loop's lag (a
batch, a slow handler or a blocked call delaying every client). Each wake samples the process
(``/proc`` and :mod:`resource` where the system has them: Linux; elsewhere those figures are
``None``) and the volumes (:func:`shutil.disk_usage`), sets the Prometheus gauges and raises
the alerts (in ``/health`` and the log) once when a threshold is crossed, again only after
the condition cleared:

- ``disk_low``: a recording or journal volume has less than ``disk_min_free_mb`` free: batches
  and the journal will soon fail to be written; free space or move ``server.record_dir``;
- ``fds_near_limit``: open files reached ``fd_alert_ratio`` of the fd limit: new connections
  and files will be refused (EMFILE); find who holds them, or raise ``ulimit -n``;
- ``loop_lag``: the event loop ran a timer ``loop_lag_alert_ms`` late: every client's acks
  and ``/health`` were that late too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Gauge

__all__ = ["Machine", "MachineParams", "machine_volumes"]

log = logging.getLogger("orderflow.server")

try:  # POSIX only
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]


class AlertSink(Protocol):
    def raise_(self, kind: str, instrument: str, detail: str) -> None: ...


@dataclass(frozen=True, slots=True)
class MachineParams:
    """Sampling period and alert thresholds (``server.monitor_interval_s`` and the rest);
    ``volumes``: name and a path on each volume to watch."""

    interval_s: float = 1.0
    disk_min_free_mb: float = 1024.0
    fd_alert_ratio: float = 0.8
    loop_lag_alert_ms: float = 250.0
    volumes: tuple[tuple[str, Path], ...] = ()

    @classmethod
    def from_settings(
        cls, server: Any, volumes: tuple[tuple[str, Path], ...] = ()
    ) -> MachineParams:
        return cls(interval_s=server.monitor_interval_s, disk_min_free_mb=server.disk_min_free_mb,
                   fd_alert_ratio=server.fd_alert_ratio,
                   loop_lag_alert_ms=server.loop_lag_alert_ms, volumes=volumes)  # fmt: skip


def machine_volumes(
    record_dir: Path | str | None, journal: Path | str | None
) -> tuple[tuple[str, Path], ...]:
    """The volumes the server writes to: the recordings' folder and the journal's."""
    out: list[tuple[str, Path]] = []
    if record_dir is not None:
        out.append(("recordings", Path(record_dir)))
    if journal is not None:
        out.append(("journal", Path(journal).parent))
    return tuple(out)


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent (a folder not made yet is on its parent's
    volume)."""
    path = path.absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _open_fds() -> int | None:
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(folder)) - 1  # listdir's own descriptor
        except OSError:
            continue
    return None


def _fd_limit() -> int | None:
    if resource is None:
        return None
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return None if soft == resource.RLIM_INFINITY else int(soft)


class Machine:
    """Samples the machine on the event loop; gauges in ``registry``, alerts to ``alerts``."""

    def __init__(self, params: MachineParams, registry: CollectorRegistry, alerts: AlertSink):
        self.params = params
        self.alerts = alerts
        r = registry
        self.g_cpu_s = Gauge("orderflow_process_cpu_seconds", "CPU time used (user+system)",
                             registry=r)  # fmt: skip
        self.g_cpu = Gauge("orderflow_process_cpu_percent", "CPU use since the last sample "
                           "(100 = one core)", registry=r)  # fmt: skip
        self.g_rss = Gauge("orderflow_process_rss_bytes", "Resident memory", registry=r)
        self.g_fds = Gauge("orderflow_open_fds", "Open file descriptors", registry=r)
        self.g_fd_limit = Gauge("orderflow_fd_limit", "File descriptor limit (soft)", registry=r)
        self.g_lag = Gauge("orderflow_event_loop_lag_seconds", "How late the monitor's timer ran",
                           registry=r)  # fmt: skip
        self.g_lag_max = Gauge("orderflow_event_loop_lag_max_seconds", "Largest lag seen",
                               registry=r)  # fmt: skip
        self.g_free = Gauge("orderflow_disk_free_bytes", "Free space of a volume written to",
                            ["volume"], registry=r)  # fmt: skip
        self.g_total = Gauge("orderflow_disk_total_bytes", "Size of a volume written to",
                             ["volume"], registry=r)  # fmt: skip
        self.g_alert = Gauge("orderflow_machine_alert", "1 while a machine alert holds",
                             ["kind", "target"], registry=r)  # fmt: skip
        self.active: dict[tuple[str, str], str] = {}
        self.last: dict[str, Any] = {}
        self.lag_s = 0.0
        self.lag_max_s = 0.0
        self._cpu = (time.monotonic(), self._cpu_s())
        self.sample()

    @staticmethod
    def _cpu_s() -> float:
        t = os.times()
        return t.user + t.system

    def _flag(self, kind: str, target: str, on: bool, detail: str) -> None:
        """Raise ``kind`` when it starts to hold; keep its latest detail while it does."""
        key = (kind, target)
        if on:
            if key not in self.active:
                self.alerts.raise_(kind, target, detail)
            self.active[key] = detail
        else:
            self.active.pop(key, None)
        self.g_alert.labels(kind, target).set(1 if on else 0)

    def sample(self, lag_s: float | None = None) -> dict[str, Any]:
        """Measure now, set the gauges, raise or clear the alerts; returns the figures."""
        p = self.params
        now, cpu = time.monotonic(), self._cpu_s()
        t0, c0 = self._cpu
        self._cpu = (now, cpu)
        percent = 100.0 * (cpu - c0) / (now - t0) if now > t0 else 0.0
        rss, fds, limit = _rss_bytes(), _open_fds(), _fd_limit()
        self.g_cpu_s.set(cpu)
        self.g_cpu.set(percent)
        if rss is not None:
            self.g_rss.set(rss)
        if fds is not None:
            self.g_fds.set(fds)
        if limit is not None:
            self.g_fd_limit.set(limit)
        if fds is not None and limit:
            self._flag("fds_near_limit", "process", fds >= p.fd_alert_ratio * limit,
                       f"{fds} files open of a limit of {limit}")  # fmt: skip
        if lag_s is not None:
            self.lag_s = max(0.0, lag_s)
            self.lag_max_s = max(self.lag_max_s, self.lag_s)
            self.g_lag.set(self.lag_s)
            self.g_lag_max.set(self.lag_max_s)
            self._flag("loop_lag", "event_loop", self.lag_s * 1e3 > p.loop_lag_alert_ms,
                       f"the event loop ran {self.lag_s * 1e3:.1f} ms late")  # fmt: skip
        disks: dict[str, Any] = {}
        for name, path in p.volumes:
            try:
                usage = shutil.disk_usage(_existing(path))
            except OSError as exc:
                disks[name] = {"path": str(path), "error": str(exc)}
                continue
            disks[name] = {"path": str(path), "free_bytes": usage.free, "total_bytes": usage.total}
            self.g_free.labels(name).set(usage.free)
            self.g_total.labels(name).set(usage.total)
            self._flag("disk_low", name, usage.free < p.disk_min_free_mb * 1024 * 1024,
                       f"{usage.free / 2**20:.0f} MB free on the volume of {path} "
                       f"(alert below {p.disk_min_free_mb:g} MB)")  # fmt: skip
        self.last = {
            "cpu_percent": round(percent, 1),
            "cpu_seconds": round(cpu, 3),
            "rss_bytes": rss,
            "open_fds": fds,
            "fd_limit": limit,
            "loop_lag_ms": round(self.lag_s * 1e3, 3),
            "loop_lag_max_ms": round(self.lag_max_s * 1e3, 3),
            "disks": disks,
        }
        return self.last

    def status(self) -> dict[str, Any]:
        """What ``/health`` shows: the last sample and the alerts holding now."""
        held = [{"kind": k, "target": t, "detail": d} for (k, t), d in self.active.items()]
        return {**self.last, "alerts": held}

    async def run(self) -> None:
        """Sample every ``interval_s`` until cancelled; the wake-up delay is the loop lag."""
        loop = asyncio.get_running_loop()
        while True:
            t0 = loop.time()
            await asyncio.sleep(self.params.interval_s)
            lag = loop.time() - t0 - self.params.interval_s
            try:
                self.sample(lag)
            except Exception:  # a failed sample never stops the monitor
                log.exception("machine sample failed")
