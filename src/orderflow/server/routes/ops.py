"""Operations: ``GET /health`` (open: liveness without the token) and ``/metrics``
(Prometheus)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from orderflow.server.auth import AUTH_KEY
from orderflow.server.state import Server

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/metrics")
async def metrics(state: Server) -> Response:
    """Prometheus metrics (text exposition format)."""
    return Response(state.monitor.render(), media_type="text/plain; version=0.0.4")


@router.get("/health")
async def health(state: Server, request: Request) -> dict[str, Any]:
    """Status, version, uptime, per instrument the book's staleness and counters, and the
    connected WebSocket clients with their send queues. With a token set, a caller without
    it gets the status only (liveness)."""
    hub = state.hub
    if state.token is not None and not request.scope.get(AUTH_KEY):
        return {"status": hub.health()["status"]}
    clients = {n: {"queued": c.queue.qsize(), "sent": c.sent} for n, c in state.conns.items()}
    out = {**hub.health(), "clients": clients}
    if hub.trading.writer is not None:
        out["journal"] = hub.trading.journal_status()
    out["machine"] = state.machine.status()
    stream = getattr(request.app.state, "view_stream", None)
    if stream is not None:  # the dashboard's viewers: how many, frames sent, dropped as slow
        out["viewers"] = stream.status()
    return out
