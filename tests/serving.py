"""``orderflow serve`` in a process of its own, on a folder of its own: what the restart and
chaos tests start, kill with SIGKILL and start again on the same folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from orderflow.server.threaded import free_port
from tests.conftest import PROJECT_ROOT

__all__ = ["Serve", "free_port", "fresh_connections", "http", "manual_trading", "write_config"]

#: this checkout's code first: an installed (editable) orderflow elsewhere must not be served
PYTHONPATH = os.pathsep.join([str(PROJECT_ROOT / "src"), str(PROJECT_ROOT)])


def until(what: Callable[[], Any], timeout_s: float = 20.0, every_s: float = 0.1) -> Any:
    """``what()`` once it is truthy (the page follows the stream at its own pace); its last
    value when the time is up, for the assertion to show."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = what()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every_s)


def fresh_connections(**kwargs: Any) -> httpx.Client:
    """An httpx client that opens a new connection for every request, as ``httpx.get`` does,
    for a loop that polls a server or sends it hundreds of requests: ``httpx.get`` builds a
    client each call, and with it a TLS context from certifi's bundle (about 20 ms of CPU, so
    a poll every 0.1 s kept a fifth of a core busy)."""
    return httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), **kwargs)


@cache
def http() -> httpx.Client:
    """The test process's one client (:func:`fresh_connections`: a new connection for every
    request, as ``httpx.get`` opens) for the chaos tests' one-off requests to the servers they
    start: ``httpx.get``/``httpx.post`` would build a client and a TLS context per request
    (70-90 ms of CPU each under the suite's load). Pass ``timeout=`` per request."""
    return fresh_connections()


def write_config(folder: Path, config: dict[str, Any] | None = None, **risk: Any) -> Path:
    """``folder/config.yaml`` with the recordings and the journal inside ``folder``, sessions
    off (the calendar follows the wall clock: a test must not depend on the hour) and ``risk``
    merged into ``trading.risk``; ``config`` is merged on top, one level deep."""
    base: dict[str, Any] = {
        "server": {"record_dir": str(folder / "recordings"), "command_timeout_s": 30.0},
        "trading": {
            "journal": str(folder / "journal" / "orderflow.sqlite"),
            "server": {"use_sessions": False},
            "risk": {"book_stale_ms": 0.0, "kill_on_disconnect": False,
                     "max_consecutive_losses": 3, **risk},
        },
    }  # fmt: skip
    for key, value in (config or {}).items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    path = folder / "config.yaml"
    path.write_text(json.dumps(base))  # JSON is YAML
    return path


def manual_trading(**risk: Any) -> dict[str, Any]:
    """``create_app`` keyword arguments for a server whose trading is switched off
    (``trading.server.enabled: false``: no strategy, API orders only), every API order still
    through the desk and the risk checks: sessions off (a test must not depend on the hour),
    no automatic kill (book staleness, disconnect, crossed book; a test's own book is thin and
    its connections come and go), and position and order-size limits of 10 unless ``risk``
    says otherwise."""
    from orderflow.trading.params import ServerTradingParams, TradingParams
    from orderflow.trading.risk import RiskParams

    limits: dict[str, Any] = {"book_stale_ms": 0.0, "kill_on_disconnect": False,
                              "kill_on_crossed_book": False, "max_position": 10,
                              "max_order_size": 10, **risk}  # fmt: skip
    return {"trading": TradingParams(risk=RiskParams(**limits)),
            "trading_server": ServerTradingParams(enabled=False, use_sessions=False)}  # fmt: skip


class Serve:
    """``orderflow --config FILE serve`` started in ``folder`` (its working directory), waited
    for until ``/health`` answers. ``expect_exit=True`` waits instead for the process to end
    (a start that must fail): its exit code is ``returncode`` and its output ``output()``."""

    def __init__(
        self,
        folder: Path,
        port: int | None = None,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        expect_exit: bool = False,
        timeout_s: float = 60.0,
    ) -> None:
        self.folder, self.port = folder, port or free_port()
        self.http = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}/ws"
        self.log_path = folder / f"serve-{time.time_ns()}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115
        base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orderflow.cli.main", "--config", str(folder / "config.yaml"),
             "serve", "--port", str(self.port), *args],
            cwd=folder, env={**base, "PYTHONPATH": PYTHONPATH, **(env or {})},
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.returncode: int | None = None
        if expect_exit:
            self.returncode = self.proc.wait(timeout_s)
            self.log.close()
            return
        deadline = time.monotonic() + timeout_s
        with fresh_connections(timeout=1) as http:
            while True:
                assert self.proc.poll() is None, self.output()
                try:
                    if http.get(f"{self.http}/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() >= deadline:  # not left running beside the next tests
                    self.kill()
                    raise AssertionError(f"orderflow serve did not start in {timeout_s} s: "
                                         f"{self.output()[-2000:]}")  # fmt: skip
                time.sleep(0.1)

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or a power cut of the process."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.log.close()

    def stop(self) -> None:
        """SIGINT: the orderly shutdown an operator's Ctrl-C gives."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
