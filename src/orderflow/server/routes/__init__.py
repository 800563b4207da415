"""The REST routes, one router per resource: ingest (the bridge's batches), commands and
orders, account and risk, market data, operations, the journal. Each gets the server's state
from the request (:mod:`orderflow.server.state`)."""

from __future__ import annotations

from fastapi import APIRouter

from orderflow.server.routes import account, commands, ingest, journal, market, ops, results, view

__all__ = ["ROUTERS"]

#: every router the app mounts, in the order of ``/docs``
ROUTERS: tuple[APIRouter, ...] = (
    ops.router,
    ingest.router,
    market.router,
    commands.router,
    account.router,
    journal.router,
    view.router,
    results.router,
)
