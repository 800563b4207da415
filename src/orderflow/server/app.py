"""The HTTP and WebSocket server (FastAPI on uvicorn): the app is built here (its state, its
lifespan, its routers); the routes live per resource in :mod:`orderflow.server.routes`, the
WebSocket loop in :mod:`orderflow.server.ws`, what they share in :mod:`.state`.

Errors never carry a stack trace to a client: a bad request is a 4xx (or a WebSocket ``error``
frame) naming the field and the reason, its status the error class's (:mod:`.errors`);
anything unexpected is logged and answered 500 without details. One client's bad message
changes nothing for anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from fastapi import FastAPI

from orderflow import __version__
from orderflow.core.errors import ConfigError
from orderflow.engine.pipeline import PipelineParams
from orderflow.server import ws
from orderflow.server.auth import TokenGate, check_token
from orderflow.server.bounds import register_bounds
from orderflow.server.errors import install_error_handler
from orderflow.server.hub import Hub
from orderflow.server.journal_start import hold_if_missing, open_journal
from orderflow.server.limits import MAX_BODY as LIMITS_MAX_BODY
from orderflow.server.limits import Limits, RestLimiters
from orderflow.server.machine import Machine, MachineParams, machine_volumes
from orderflow.server.monitor import Monitor
from orderflow.server.outbox import COMMAND_MAX_AGE_NS
from orderflow.server.recording import Recorder, RecordingCollector, recording_files
from orderflow.server.routes import ROUTERS
from orderflow.server.routes.web import install_web
from orderflow.server.scheduler import FairScheduler
from orderflow.server.schemas import install_openapi
from orderflow.server.state import ServerState
from orderflow.server.trading import ServerTradingParams
from orderflow.server.view import ViewParams, Views
from orderflow.trading.journal import Journal
from orderflow.trading.orders import COMMAND_TIMEOUT_NS
from orderflow.trading.params import TradingParams

__all__ = ["MAX_BODY", "create_app"]

log = logging.getLogger("orderflow.server")

MAX_BODY = LIMITS_MAX_BODY  # largest request body or WebSocket message accepted (bytes)
#: how often commands nobody answered are expired and due snapshot requests sent
TICK_S = 0.25


def _open_file_limit() -> int | None:
    """The process's soft limit of open files (None: unlimited, or no such limit: Windows)."""
    try:
        import resource
    except ImportError:
        return None
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return None if soft == resource.RLIM_INFINITY else soft


async def _tick(state: ServerState) -> None:
    """Commands nobody answered become visible as timed out; due snapshot requests go out;
    the send queues in the metrics."""
    hub = state.hub
    while True:
        await asyncio.sleep(TICK_S)
        hub.outbox.expire()
        hub.trading.expire()
        state.drain()
        state.ask_snapshots()
        for name, conn in list(state.conns.items()):
            state.monitor.queue.labels(name).set(conn.queue.qsize())


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServerState = app.state.server
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(_tick(state)), loop.create_task(state.machine.run())]
    yield
    for task in tasks:
        task.cancel()
    state.close()


def _recover(hub: Hub, recorder: Recorder, journal: Journal | None, missing: bool) -> None:
    """A restart picks up where the recording of today ends (and a journal missing at start
    holds the kill switch: :mod:`.journal_start`)."""
    alerts = hub.alerts
    recorder.on_torn = lambda path, n: alerts.raise_(
        "recording_torn_tail", path.parent.name,
        f"{path}: a torn last frame ({n} bytes) was cut off")  # fmt: skip
    today = recorder.path_for("x", time.time_ns()).name
    files = [f for f in recording_files(recorder.root) if f.name == today]
    records = recorder.recover(files)
    hub.recover(records)
    if missing and journal is not None:
        hold_if_missing(hub.trading, journal.path, files, {r.client for r in records if r.client})


def create_app(
    params: PipelineParams | None = None,
    token: str | None = None,
    hub: Hub | None = None,
    record_dir: str | Path | None = None,
    *,
    limits: Limits | None = None,
    flags: dict[str, bool] | None = None,
    command_timeout_s: float = COMMAND_TIMEOUT_NS / 1e9,
    command_max_age_s: float = COMMAND_MAX_AGE_NS / 1e9,
    trading: TradingParams | None = None,
    trading_server: ServerTradingParams | None = None,
    journal: str | Path | Journal | None = None,
    rest_owner_silence_s: float | None = None,
    record_max_open: int = 256,
    machine: MachineParams | None = None,
    cluster_refresh_ms: float | None = None,
    view: ViewParams | None = None,
    work_after_ack: bool = False,
) -> FastAPI:
    """The application. ``token``: required from every client when set (always set it when
    the server binds to anything but 127.0.0.1). ``record_dir``: record every inbound batch
    there (see :mod:`orderflow.server.recording`). ``limits``: rate limits and queue sizes.
    ``flags``: the feature flags (``historical_only`` refuses every order command); they are
    told to each client in its welcome. ``trading`` / ``trading_server``: the trading
    engine's parameters (an order desk and risk manager per client, always: every command
    checked, fills and P&L tracked, reconciliation on connect); neither: the engine switched
    off (no strategy; the defaults for the rest).
    ``journal``: the trading journal (a SQLite file, or an open :class:`Journal`): the engine
    journals every order, report and risk decision there and restores its state from it at
    start; ``/api/journal/...`` read it. ``rest_owner_silence_s``: a REST client that fed an
    instrument owns it until it has been silent this long (``server.rest_owner_silence_s``).
    ``record_max_open``: recording files kept open at once (the least recently written is
    closed first). ``work_after_ack``: a WebSocket batch's dashboard view and alert checks
    after its ack is written (``server.work_after_ack``; :mod:`orderflow.server.after_ack`)."""
    limits = limits or Limits()
    flags = dict(flags or {})
    journal_missing = False  # a journal missing at start holds the kill switch (journal_start)
    if token is not None:
        check_token(token)
    if journal is not None and not isinstance(journal, Journal):
        journal, journal_missing = open_journal(journal)  # JournalError: one line, no start
    opened = journal if isinstance(journal, Journal) else None
    app = FastAPI(
        title="orderflow",
        version=__version__,
        description="Order-flow engine for NinjaTrader 8: books, analytics, signals, orders.",
        lifespan=_lifespan,
    )
    nofile = _open_file_limit()
    if record_dir is not None and nofile is not None and record_max_open > nofile // 2:
        raise ConfigError(
            f"server.record_max_open_files: {record_max_open} is more than half this process's "
            f"open-file limit ({nofile}); lower it, or raise the limit (ulimit -n)",
            field="server.record_max_open_files",
        )
    app.add_middleware(TokenGate, token=token)  # every route but /health needs the token
    recorder = Recorder(record_dir, record_max_open) if record_dir is not None else None
    if hub is None:
        hub = Hub(params, recorder, command_timeout_s=command_timeout_s,
                  historical_only=flags.get("historical_only", False),
                  command_max_age_s=command_max_age_s, trading=trading,
                  trading_server=trading_server, journal=journal)  # fmt: skip
        hub.flags = flags
        hub.view = Views(view)  # the dashboard's bounds (server.view)
        if recorder is not None:
            _recover(hub, recorder, opened, journal_missing)
    if rest_owner_silence_s is not None:
        hub.feeds.rest_silence_s = rest_owner_silence_s
    if cluster_refresh_ms is not None:  # server.cluster_refresh_ms (answers.py)
        hub.answers.refresh_ms = cluster_refresh_ms
    hub.after_ack.enabled = work_after_ack  # server.work_after_ack (after_ack.py)
    mon = Monitor()
    if hub.recorder is not None:
        mon.registry.register(RecordingCollector(hub.recorder))
    # the machine under the server: CPU, memory, files, loop lag, free disk (server.machine)
    volumes = machine_volumes(record_dir, opened.path if opened is not None else None)
    state = ServerState(
        hub=hub,
        monitor=mon,
        machine=Machine(
            replace(machine or MachineParams(), volumes=volumes), mon.registry, hub.alerts
        ),
        # one slice at a time into the engine, whatever the transport, shared fairly by clients
        scheduler=FairScheduler(
            limits.engine_slice_ms, limits.queue_events, limits.engine_max_wait_s
        ),
        limits=limits,
        rest_limits=RestLimiters(limits),
        token=token,
        journal=opened,
    )
    register_bounds(mon.registry, state.scheduler, state.conns, state.rest_limits, hub)
    app.state.server = state
    # the parts on their own too (``app.state.hub``: tests and ``orderflow live`` read it)
    app.state.hub, app.state.monitor = hub, mon
    app.state.machine, app.state.scheduler = state.machine, state.scheduler
    install_error_handler(app)
    for router in (*ROUTERS, ws.router):
        # the routes themselves, not the router (which FastAPI would keep as one entry):
        # ``app.routes`` lists every route, as the token matrix and the docs walk them
        app.router.routes.extend(router.routes)
    install_web(app)  # the dashboard: GET / and /static/ (routes/web.py)
    install_openapi(app)
    return app
